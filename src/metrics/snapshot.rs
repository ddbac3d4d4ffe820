//! Snapshots: the counters as plain numbers, to read, merge and render.
//!
//! Article: 框架 › 对比 (管理中心). The one idea to take away: **a snapshot
//! is data, not a view**: once taken it no longer changes, so a page can
//! render it, a test can compare it, and two of them (two servers, or one
//! server a minute apart) can be added up.
//!
//! The JSON ([`MetricsSnapshot::to_json`]) is what a management page or a
//! script reads:
//!
//! ```text
//! {"methods":[{"call_id":"Multiply","calls":3,"ok":2,"errors":1,
//!              "by_status":{"OK":2,"INVALID_ARGUMENT":1},"in_flight":0,
//!              "bytes_in":120,"bytes_out":73,
//!              "latency_ns":{"count":3,"mean":5100,"p50":4864,"p90":7680,"p99":7680}}],
//!  "unknown":{ ...the same fields, for call ids not in the table... }}
//! ```

use super::histogram::HistogramSnapshot;
use crate::error::Status;
use crate::json::write_string;
use std::fmt::Write as _;

/// One method's counters at one moment (see
/// [`MethodMetrics::snapshot`](super::MethodMetrics::snapshot)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodSnapshot {
    /// The call id counted (or a bucket's name, such as `"(unknown)"`).
    pub call_id: String,
    /// Calls that ended, whatever the status: the sum of `by_status`.
    pub calls: u64,
    /// Calls by the status they ended with (`Ok` included), non-zero only,
    /// in the order of the status codes.
    pub by_status: Vec<(Status, u64)>,
    /// Calls started and not yet ended.
    pub in_flight: u64,
    /// Bytes received for this method: whole frames, headers included.
    pub bytes_in: u64,
    /// Bytes sent for this method: whole frames, headers included.
    pub bytes_out: u64,
    /// How long the timed calls took (see the chapter for where the clock
    /// starts and stops on each side).
    pub latency: HistogramSnapshot,
}

impl MethodSnapshot {
    /// Calls that ended with `status`.
    pub fn status(&self, status: Status) -> u64 {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// Calls that succeeded.
    pub fn ok(&self) -> u64 {
        self.status(Status::Ok)
    }

    /// Calls that failed, whatever the status.
    pub fn errors(&self) -> u64 {
        self.calls - self.ok()
    }

    /// Add `other`'s counts to these (the same method on another server,
    /// say): counters add, histograms merge bucket by bucket.
    pub fn merge(&mut self, other: &MethodSnapshot) {
        self.calls += other.calls;
        for &(status, n) in &other.by_status {
            match self.by_status.iter_mut().find(|(s, _)| *s == status) {
                Some((_, mine)) => *mine += n,
                None => self.by_status.push((status, n)),
            }
        }
        self.by_status.sort_by_key(|(s, _)| s.code());
        self.in_flight += other.in_flight;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.latency.merge(&other.latency);
    }

    /// This method as one JSON object (the layout is in the module docs).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        out.push_str("{\"call_id\":");
        write_string(out, &self.call_id);
        let _ = write!(
            out,
            ",\"calls\":{},\"ok\":{},\"errors\":{},\"by_status\":{{",
            self.calls,
            self.ok(),
            self.errors()
        );
        for (i, (status, n)) in self.by_status.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            let _ = write!(out, "{comma}\"{}\":{n}", status.name());
        }
        let _ = write!(
            out,
            "}},\"in_flight\":{},\"bytes_in\":{},\"bytes_out\":{},\"latency_ns\":{{\"count\":{}",
            self.in_flight,
            self.bytes_in,
            self.bytes_out,
            self.latency.count()
        );
        let stats = [
            ("mean", self.latency.mean_nanos()),
            ("p50", self.latency.quantile_nanos(0.5)),
            ("p90", self.latency.quantile_nanos(0.9)),
            ("p99", self.latency.quantile_nanos(0.99)),
        ];
        for (name, v) in stats {
            match v {
                Some(v) => {
                    let _ = write!(out, ",\"{name}\":{v}");
                }
                None => {
                    let _ = write!(out, ",\"{name}\":null");
                }
            }
        }
        out.push_str("}}");
    }
}

/// Every method's counters at one moment: what
/// [`ServerHandle::metrics`](crate::ServerHandle::metrics) and
/// [`Client::metrics`](crate::Client::metrics) return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// One entry per method, sorted by call id. On a server: every method
    /// in the call table, called or not. On a client: every call id it has
    /// called (up to [`ClientMetrics::MAX_CALL_IDS`](super::ClientMetrics::MAX_CALL_IDS)).
    pub methods: Vec<MethodSnapshot>,
    /// On a server, calls whose call id is not in the table, or whose
    /// request could not be read far enough to know it, all in one bucket
    /// so invented names cannot grow memory. On a client, the call ids past
    /// the limit.
    pub unknown: MethodSnapshot,
}

impl MetricsSnapshot {
    /// The entry for `call_id`, if there is one.
    pub fn method(&self, call_id: &str) -> Option<&MethodSnapshot> {
        self.methods.iter().find(|m| m.call_id == call_id)
    }

    /// All methods added into one (the unknown bucket included), named
    /// `"(all)"`.
    pub fn total(&self) -> MethodSnapshot {
        let mut all = MethodSnapshot {
            call_id: "(all)".into(),
            ..self.unknown.clone()
        };
        for m in &self.methods {
            all.merge(m);
        }
        all
    }

    /// Add `other` (another server's, say) to this one: methods with the
    /// same call id merge, the others are added.
    pub fn merge(&mut self, other: &MetricsSnapshot) {
        for m in &other.methods {
            match self.methods.iter_mut().find(|x| x.call_id == m.call_id) {
                Some(mine) => mine.merge(m),
                None => self.methods.push(m.clone()),
            }
        }
        self.methods.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        self.unknown.merge(&other.unknown);
    }

    /// The snapshot as JSON text (the layout is in the module docs).
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"methods\":[");
        for (i, m) in self.methods.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            m.write_json(&mut out);
        }
        out.push_str("],\"unknown\":");
        self.unknown.write_json(&mut out);
        out.push('}');
        out
    }
}
