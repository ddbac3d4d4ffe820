//! Metrics: what every method of a server, and every call id a client
//! uses, has done so far: calls, errors by status, calls in flight, bytes
//! in and out, and a latency histogram.
//!
//! Article: 框架 › 对比 (the 管理中心 row), 特点 › 优点 ("rich monitoring
//! and management"). The one idea to take away: **count on the hot path
//! with a few atomic adds, compute on the cold path**. A call touches only
//! its own method's counters (found with no map lookup on the server: the
//! entry lives next to the method in the call table); percentiles,
//! totals and JSON are worked out only when someone asks for a
//! [`MetricsSnapshot`].
//!
//! ```text
//!  server: dispatch ─ bytes in ─► run_call ─ in flight ± 1, status, bytes out, latency ─┐
//!  client: call ─ in flight + 1, bytes out ─► ... ─► result: status, bytes in, latency ─┤
//!                                                                                      ▼
//!                          MethodMetrics (atomics, one per method) ── snapshot() ──► MethodSnapshot
//!                                                  ServerHandle::metrics / Client::metrics ─► MetricsSnapshot ─► to_json()
//! ```
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`MethodMetrics`], the counters of one method |
//! | `histogram.rs` | [`Histogram`]: log-linear buckets, p50/p90/p99, merge |
//! | `client.rs` | [`ClientMetrics`]: a bounded set of counters per call id, and `CallProbe`, one call being timed |
//! | `snapshot.rs` | [`MetricsSnapshot`], [`MethodSnapshot`]: plain numbers, rendered as JSON |

mod client;
mod histogram;
mod snapshot;

pub(crate) use client::CallProbe;
pub use client::ClientMetrics;
pub use histogram::{Histogram, HistogramSnapshot, BUCKETS, RELATIVE_ERROR};
pub use snapshot::{MethodSnapshot, MetricsSnapshot};

use crate::error::Status;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Status codes go up to 16 (`Unauthenticated`): one counter each.
const STATUSES: usize = 17;

/// The live counters of one method (or of one bucket of methods, such as
/// the server's unknown call ids). Every update is one relaxed atomic add:
/// the counters are independent, so no ordering between them is needed,
/// and a snapshot taken mid-call may see a call's bytes before its status.
pub struct MethodMetrics {
    /// Answers (and oneway calls done) by status code; the sum is the calls.
    by_status: [AtomicU64; STATUSES],
    in_flight: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency: Histogram,
}

impl Default for MethodMetrics {
    fn default() -> MethodMetrics {
        MethodMetrics::new()
    }
}

impl MethodMetrics {
    /// All counters at zero.
    pub fn new() -> MethodMetrics {
        MethodMetrics {
            by_status: std::array::from_fn(|_| AtomicU64::new(0)),
            in_flight: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            latency: Histogram::new(),
        }
    }

    /// Count `n` bytes received (a request on the server, a response on
    /// the client), whole frames with their headers.
    pub(crate) fn add_bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count `n` bytes sent, whole frames with their headers.
    pub(crate) fn add_bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// One more call started; [`leave`](Self::leave) when it is done.
    pub(crate) fn enter(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// One call fewer in flight.
    pub(crate) fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A call that was in flight ended with `status` after `took`, its
    /// answer `bytes_out` long (0 for a oneway call): the server's one
    /// hook after the handler.
    pub(crate) fn answered(&self, status: Status, took: Duration, bytes_out: usize) {
        self.add_bytes_out(bytes_out);
        self.finish(status, took);
        self.leave();
    }

    /// Count one call that ended with `status` after `took`.
    pub(crate) fn finish(&self, status: Status, took: Duration) {
        self.count(status);
        self.latency.record_duration(took);
    }

    /// Count one request of `bytes_in` bytes refused with `status` before
    /// it ran (so it is not timed).
    pub(crate) fn refused(&self, bytes_in: usize, status: Status) {
        self.add_bytes_in(bytes_in);
        self.count(status);
    }

    /// Count one call that ended with `status` and was never timed (it
    /// was refused before it ran).
    pub(crate) fn count(&self, status: Status) {
        self.by_status[status.code() as usize % STATUSES].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as plain numbers, under the name `call_id`.
    pub fn snapshot(&self, call_id: &str) -> MethodSnapshot {
        let by_status: Vec<(Status, u64)> = (0..STATUSES as u8)
            .map(|code| (code, self.by_status[code as usize].load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .map(|(code, n)| (Status::from_code(code), n))
            .collect();
        MethodSnapshot {
            call_id: call_id.to_owned(),
            calls: by_status.iter().map(|(_, n)| n).sum(),
            by_status,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            latency: self.latency.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_counted_apart_and_add_up_to_the_calls() {
        let m = MethodMetrics::new();
        m.finish(Status::Ok, Duration::from_micros(5));
        m.finish(Status::Ok, Duration::from_micros(5));
        m.count(Status::Unauthenticated);
        let s = m.snapshot("M");
        assert_eq!(s.calls, 3);
        assert_eq!(s.ok(), 2);
        assert_eq!(s.errors(), 1);
        assert_eq!(s.status(Status::Unauthenticated), 1);
        assert_eq!(
            s.latency.count(),
            2,
            "only timed calls are in the histogram"
        );
    }
}
