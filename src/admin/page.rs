//! The admin page: one HTML document rendered on the server from an
//! [`Overview`], with an inline SVG chart. No JavaScript, no external
//! files: the page asks the browser to load it again every few seconds
//! (`<meta http-equiv="refresh">`), and its one action is a plain form.
//!
//! The one idea to take away: **everything that goes into HTML is
//! escaped**. Service names, metadata and error messages come from the
//! registry and the network, so a provider registered as
//! `<script>…` must show up as text, not run (the classic stored XSS of a
//! dashboard). [`escape`] is applied to every such value.

use super::view::{InstanceView, Overview, ServiceView};
use crate::metrics::MethodSnapshot;
use std::fmt::Write as _;
use std::time::Duration;

/// The page for `overview`, reloading itself every `refresh_secs`.
pub fn render(overview: &Overview, refresh_secs: u64) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{refresh_secs}\">\
         <title>minirpc management center</title><style>{STYLE}</style></head><body>\
         <h1>minirpc management center</h1>\
         <p class=\"note\">Refreshes every {refresh_secs} s · overview <span id=\"generation\">{}</span> · \
         JSON under <a href=\"/api/overview\">/api/</a></p>",
        overview.generation
    );
    services(&mut out, &overview.services);
    chart(&mut out, &overview.rates);
    methods(&mut out, overview);
    call_table(&mut out, overview);
    limits(&mut out, overview);
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1rem;max-width:60rem;color:#222}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}\
.wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}\
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd;white-space:nowrap}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.healthy{color:#176d17}.suspect,.probing{color:#9a6a00}.dead{color:#b00020}\
.note{color:#666;font-size:.85rem}form{display:flex;gap:.25rem;margin:0}\
input{width:7rem}svg{width:100%;height:auto;background:#fafafa;border:1px solid #ddd}";

/// Escape `text` for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn services(out: &mut String, services: &[ServiceView]) {
    out.push_str("<h2>Services and instances</h2>");
    if services.is_empty() {
        out.push_str("<p>No services are watched (see <code>AdminBuilder::watch</code>).</p>");
    }
    for s in services {
        let _ = write!(
            out,
            "<h3 class=\"service\">{} <span class=\"note\">group {} · version {}</span></h3>",
            escape(&s.name),
            escape(&s.group),
            escape(&s.version)
        );
        if let Some(e) = &s.error {
            let _ = write!(out, "<p class=\"dead\">{}</p>", escape(e));
        }
        if s.instances.is_empty() {
            out.push_str("<p>No instances are registered.</p>");
            continue;
        }
        out.push_str(
            "<div class=\"wrap\"><table><tr><th>address</th><th>group</th><th>version</th>\
             <th>weight</th><th>health</th><th>rotation</th></tr>",
        );
        for i in &s.instances {
            instance_row(out, i);
        }
        out.push_str("</table></div>");
    }
}

fn instance_row(out: &mut String, i: &InstanceView) {
    let addr = escape(&i.addr.to_string());
    let _ = write!(
        out,
        "<tr class=\"instance\"><td>{addr}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
         <td class=\"{h}\">{h}</td><td>",
        escape(&i.group),
        escape(&i.version),
        i.weight,
        h = escape(&i.health),
    );
    if i.managed {
        // Weight 0 takes it out of rotation; 100 (the default) brings it back.
        let (weight, label) = if i.weight == 0 {
            (100, "put back")
        } else {
            (0, "take out")
        };
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/api/weight\">\
             <input type=\"hidden\" name=\"addr\" value=\"{addr}\">\
             <input type=\"hidden\" name=\"weight\" value=\"{weight}\">\
             <input type=\"password\" name=\"token\" placeholder=\"token\" required>\
             <button>{label}</button></form>"
        );
    } else {
        out.push_str("<span class=\"note\">not managed here</span>");
    }
    out.push_str("</td></tr>");
}

/// Calls per second as an SVG line, newest at the right.
fn chart(out: &mut String, rates: &[f64]) {
    out.push_str("<h2>Calls per second</h2>");
    if rates.len() < 2 {
        out.push_str("<p class=\"note\">Collecting: the chart needs two samples.</p>");
        return;
    }
    let (w, h) = (600.0, 120.0);
    let max = rates.iter().cloned().fold(1.0_f64, f64::max);
    let step = w / (rates.len() - 1) as f64;
    let points: Vec<String> = rates
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{:.1},{:.1}", i as f64 * step, h - r / max * (h - 10.0)))
        .collect();
    let _ = write!(
        out,
        "<svg id=\"rate-chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-label=\"calls per second, last {n} samples\">\
         <polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"{}\"/>\
         <text x=\"4\" y=\"12\" font-size=\"10\">{max:.0}/s</text></svg>\
         <p class=\"note\">Last {n} samples; now {:.0} calls/s.</p>",
        points.join(" "),
        rates.last().copied().unwrap_or(0.0),
        n = rates.len(),
    );
}

fn methods(out: &mut String, overview: &Overview) {
    out.push_str("<h2>Methods</h2>");
    let m = &overview.metrics;
    if m.methods.is_empty() {
        out.push_str("<p>No managed server (see <code>AdminBuilder::manage</code>).</p>");
        return;
    }
    out.push_str(
        "<div class=\"wrap\"><table><tr><th>call id</th><th>calls</th><th>errors</th>\
         <th>in flight</th><th>bytes in</th><th>bytes out</th><th>p50</th><th>p90</th>\
         <th>p99</th></tr>",
    );
    for row in m.methods.iter().chain(std::iter::once(&m.unknown)) {
        method_row(out, row);
    }
    out.push_str("</table></div>");
}

fn method_row(out: &mut String, m: &MethodSnapshot) {
    let q = |p: f64| m.latency.quantile(p).map_or("–".to_owned(), human);
    let _ = write!(
        out,
        "<tr class=\"method\" data-call-id=\"{id}\"><td>{id}</td><td class=\"n calls\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
        m.calls,
        m.errors(),
        m.in_flight,
        m.bytes_in,
        m.bytes_out,
        q(0.50),
        q(0.90),
        q(0.99),
        id = escape(&m.call_id),
    );
}

/// What the managed servers offer, from `$minirpc.describe`.
fn call_table(out: &mut String, overview: &Overview) {
    if overview.calls.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Call table</h2><div class=\"wrap\"><table><tr><th>call id</th>\
         <th>arguments</th><th>result</th><th>idempotent</th></tr>",
    );
    for c in &overview.calls {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.call_id),
            escape(&c.args),
            escape(&c.result),
            if c.idempotent { "yes" } else { "no" }
        );
    }
    out.push_str("</table></div>");
}

fn limits(out: &mut String, overview: &Overview) {
    out.push_str("<h2>Rate limits</h2>");
    if overview.limits.is_empty() {
        out.push_str("<p>No rate-limit rules on the managed servers.</p>");
        return;
    }
    out.push_str(
        "<div class=\"wrap\"><table><tr><th>server</th><th>rule</th><th>rejected</th></tr>",
    );
    for l in &overview.limits {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&l.server.to_string()),
            escape(&l.rule),
            l.rejected
        );
    }
    out.push_str("</table></div>");
}

/// A latency as a person reads it: µs below a millisecond, else ms.
fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_registry_data_is_shown_as_text() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn the_chart_scales_to_its_highest_rate() {
        let mut out = String::new();
        chart(&mut out, &[0.0, 50.0, 100.0]);
        assert!(
            out.contains("points=\"0.0,120.0 300.0,65.0 600.0,10.0\""),
            "{out}"
        );
        assert!(out.contains("now 100 calls/s"), "{out}");
    }
}
