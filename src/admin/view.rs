//! What the admin page shows, as plain data: one [`Overview`], rebuilt by
//! the watcher every interval and read by every request, as HTML or JSON.
//!
//! The one idea to take away: **render from a snapshot, never from live
//! state**. A page request only reads the last overview the watcher built,
//! so a thousand reloads cost a thousand copies of a small struct — not a
//! thousand registry lookups or pings — and what one page shows was all
//! true at one moment.

use crate::json::write_string;
use crate::metrics::{MethodMetrics, MetricsSnapshot};
use crate::server::MethodDescription;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Everything the admin page shows.
#[derive(Clone, Debug)]
pub struct Overview {
    /// The watched services and their instances, as the registry lists
    /// them, with the health the admin's own probes measured.
    pub services: Vec<ServiceView>,
    /// Every managed server's method counters, added up.
    pub metrics: MetricsSnapshot,
    /// Calls per second over all managed servers, oldest first, one per
    /// sampling interval.
    pub rates: Vec<f64>,
    /// The managed servers' rate-limit rules and their rejections.
    pub limits: Vec<LimitView>,
    /// The managed servers' call tables (`$minirpc.describe`), one entry
    /// per call id, sorted.
    pub calls: Vec<MethodDescription>,
    /// How many times the watcher has built an overview (a page can tell a
    /// fresh one from the last).
    pub generation: u64,
}

/// One watched service (name, group, version) and its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceView {
    /// The service's name.
    pub name: String,
    /// The group watched.
    pub group: String,
    /// The version watched (`*` for any).
    pub version: String,
    /// Its instances, sorted by address.
    pub instances: Vec<InstanceView>,
    /// Why the registry could not be read this time, if it could not (the
    /// instances are then the last ones known).
    pub error: Option<String>,
}

/// One instance as the registry lists it, with its measured health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceView {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its group.
    pub group: String,
    /// Its version.
    pub version: String,
    /// Its weight; 0 means out of rotation.
    pub weight: u32,
    /// `healthy`, `suspect`, `probing` or `dead`, from the admin's pings.
    pub health: String,
    /// Whether this admin can change its weight (it manages the server).
    pub managed: bool,
}

/// One rate-limit rule of one managed server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitView {
    /// The server the rule is on.
    pub server: SocketAddr,
    /// The rule, in words (`Rule::describe`).
    pub rule: String,
    /// Calls the rule has refused so far.
    pub rejected: u64,
}

impl Overview {
    /// An overview with nothing in it yet.
    pub fn empty() -> Overview {
        Overview {
            services: Vec::new(),
            metrics: MetricsSnapshot {
                methods: Vec::new(),
                unknown: MethodMetrics::new().snapshot("(unknown)"),
            },
            rates: Vec::new(),
            limits: Vec::new(),
            calls: Vec::new(),
            generation: 0,
        }
    }

    /// The services and their instances as JSON (`GET /api/services`).
    pub fn services_json(&self) -> String {
        let mut out = String::from("[");
        for (i, s) in self.services.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"name\":");
            write_string(&mut out, &s.name);
            out.push_str(",\"group\":");
            write_string(&mut out, &s.group);
            out.push_str(",\"version\":");
            write_string(&mut out, &s.version);
            out.push_str(",\"error\":");
            match &s.error {
                Some(e) => write_string(&mut out, e),
                None => out.push_str("null"),
            }
            out.push_str(",\"instances\":[");
            for (j, inst) in s.instances.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"addr\":");
                write_string(&mut out, &inst.addr.to_string());
                out.push_str(",\"group\":");
                write_string(&mut out, &inst.group);
                out.push_str(",\"version\":");
                write_string(&mut out, &inst.version);
                let _ = write!(out, ",\"weight\":{},\"health\":", inst.weight);
                write_string(&mut out, &inst.health);
                let _ = write!(out, ",\"managed\":{}}}", inst.managed);
            }
            out.push_str("]}");
        }
        out.push(']');
        out
    }

    /// The limit rules as JSON (`GET /api/limits`).
    pub fn limits_json(&self) -> String {
        let mut out = String::from("[");
        for (i, l) in self.limits.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"server\":");
            write_string(&mut out, &l.server.to_string());
            out.push_str(",\"rule\":");
            write_string(&mut out, &l.rule);
            let _ = write!(out, ",\"rejected\":{}}}", l.rejected);
        }
        out.push(']');
        out
    }

    /// The call table as JSON (`GET /api/calls`).
    pub fn calls_json(&self) -> String {
        let mut out = String::from("[");
        for (i, c) in self.calls.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"call_id\":");
            write_string(&mut out, &c.call_id);
            out.push_str(",\"args\":");
            write_string(&mut out, &c.args);
            out.push_str(",\"result\":");
            write_string(&mut out, &c.result);
            let _ = write!(out, ",\"idempotent\":{}}}", c.idempotent);
        }
        out.push(']');
        out
    }

    /// The calls-per-second series as JSON (`GET /api/rates`).
    pub fn rates_json(&self) -> String {
        let parts: Vec<String> = self.rates.iter().map(|r| format!("{r:.1}")).collect();
        format!("[{}]", parts.join(","))
    }

    /// Everything at once (`GET /api/overview`).
    pub fn to_json(&self) -> String {
        format!(
            "{{\"generation\":{},\"services\":{},\"metrics\":{},\"rates\":{},\"limits\":{},\"calls\":{}}}",
            self.generation,
            self.services_json(),
            self.metrics.to_json(),
            self.rates_json(),
            self.limits_json(),
            self.calls_json()
        )
    }
}
