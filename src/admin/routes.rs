//! The admin's HTTP routes: the page, the JSON API, and the one action.
//!
//! ```text
//!   GET  /                  the page (HTML, refreshes itself)
//!   GET  /api/overview      everything below at once
//!   GET  /api/services      services, instances, weight, health
//!   GET  /api/metrics       every managed method's counters and latency
//!   GET  /api/limits        rate-limit rules and their rejections
//!   GET  /api/rates         calls per second, oldest first
//!   GET  /api/calls         the call table ($minirpc.describe)
//!   POST /api/weight        addr=…&weight=… with the token: take an
//!                           instance out of rotation (0) or back
//! ```
//!
//! The one idea to take away: **reading is open, changing needs proof**.
//! Anyone who can reach the page may look (bind it to a trusted network);
//! a change needs the operator's token, compared in constant time, and is
//! only ever a POST — never a GET, which browsers, proxies and link
//! previews feel free to repeat (RFC 9110 §9.2.1, safe methods).

use super::page;
use super::watch::Board;
use crate::auth::hmac::constant_time_eq;
use crate::http::{HttpHandler, HttpRequest, HttpResponse};
use crate::json::write_string;
use crate::server::ServerControl;
use crate::sync::lock;
use std::net::SocketAddr;
use std::sync::Arc;

/// The admin's [`HttpHandler`].
pub(crate) struct Routes {
    pub(crate) board: Arc<Board>,
    pub(crate) servers: Vec<ServerControl>,
    pub(crate) token: Option<String>,
    pub(crate) refresh_secs: u64,
}

impl HttpHandler for Routes {
    fn handle(&self, req: &HttpRequest) -> HttpResponse {
        let overview = lock(&self.board.overview)
            .clone()
            .unwrap_or_else(super::view::Overview::empty);
        let get = req.method == "GET" || req.method == "HEAD";
        match (req.path(), get) {
            ("/", true) => HttpResponse::new(
                200,
                "text/html; charset=utf-8",
                page::render(&overview, self.refresh_secs),
            ),
            ("/api/overview", true) => HttpResponse::json(200, overview.to_json()),
            ("/api/services", true) => HttpResponse::json(200, overview.services_json()),
            ("/api/metrics", true) => HttpResponse::json(200, overview.metrics.to_json()),
            ("/api/limits", true) => HttpResponse::json(200, overview.limits_json()),
            ("/api/rates", true) => HttpResponse::json(200, overview.rates_json()),
            ("/api/calls", true) => HttpResponse::json(200, overview.calls_json()),
            ("/api/weight", false) if req.method == "POST" => self.set_weight(req),
            ("/api/weight", _) => {
                error(405, "use POST for /api/weight").with_header("Allow", "POST")
            }
            (_, true) => error(404, "no such page: try / or /api/overview"),
            (_, false) => error(405, "this page is read-only: use GET").with_header("Allow", "GET"),
        }
    }
}

impl Routes {
    /// `POST /api/weight`: check the token, find the managed server, and
    /// publish it with the new weight.
    fn set_weight(&self, req: &HttpRequest) -> HttpResponse {
        let form = match std::str::from_utf8(&req.body) {
            Ok(text) => parse_form(text),
            Err(_) => return error(400, "the form is not UTF-8"),
        };
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        // An empty token is no token: it would match an empty `token=`
        // field, so anyone could change weights.
        let Some(expected) = self.token.as_deref().filter(|t| !t.is_empty()) else {
            return error(
                403,
                "changes are turned off: this admin was started without a token, or with an empty one (see AdminBuilder::token)",
            );
        };
        let given = req
            .header("authorization")
            // The scheme is case-insensitive (RFC 9110 §11.1): curl users write "bearer".
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim_start())
            .or_else(|| field("token"));
        match given {
            None => return error(401, "this action needs the admin token (a token form field, or Authorization: Bearer <token>)"),
            // In constant time, as signatures are (chapter 12): the time a wrong
            // guess takes must not tell how many leading bytes were right.
            Some(t) if !constant_time_eq(t.as_bytes(), expected.as_bytes()) => {
                return error(401, "the admin token is wrong")
            }
            Some(_) => {}
        }
        let Some(addr) = field("addr").and_then(|a| a.parse::<SocketAddr>().ok()) else {
            return error(400, "addr must be a socket address such as 127.0.0.1:7000");
        };
        let Some(weight) = field("weight").and_then(|w| w.parse::<u32>().ok()) else {
            return error(
                400,
                "weight must be a whole number (0 takes the instance out of rotation)",
            );
        };
        let Some(server) = self.servers.iter().find(|s| s.serves_at(addr)) else {
            return error(
                404,
                &format!("{addr} is not a server this admin manages (see AdminBuilder::manage)"),
            );
        };
        if let Err(e) = server.set_weight(weight) {
            return error(409, &e.to_string());
        }
        // A browser's form goes back to the page; a script gets JSON.
        if req.header("authorization").is_none() {
            return HttpResponse::new(303, "text/plain; charset=utf-8", "see /\n")
                .with_header("Location", "/");
        }
        HttpResponse::json(200, format!("{{\"addr\":\"{addr}\",\"weight\":{weight}}}"))
    }
}

/// A JSON error body: `{"error": message}`.
fn error(status: u16, message: &str) -> HttpResponse {
    let mut body = String::from("{\"error\":");
    write_string(&mut body, message);
    body.push('}');
    HttpResponse::json(status, body)
}

/// `application/x-www-form-urlencoded`: `a=1&b=two+words` → pairs, with
/// `+` as a space and `%XX` escapes decoded (a bad escape is kept as is).
fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).map(|h| u8::from_str_radix(h, 16)) {
                    Ok(Ok(b)) => {
                        out.push(b);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent_escapes() {
        assert_eq!(
            parse_form("addr=10.0.0.1%3A7&weight=0&token=a+b&bad=%zz&end=%4"),
            vec![
                ("addr".into(), "10.0.0.1:7".into()),
                ("weight".into(), "0".into()),
                ("token".into(), "a b".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
    }
}
