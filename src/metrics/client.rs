//! The client's side of the counters: one [`MethodMetrics`] per call id
//! the client has called, and a probe that times one call.
//!
//! Article: 框架 › 对比 (管理中心). The one idea to take away: **a client
//! has no call table, so its set of names must be bounded by hand**. A
//! server knows its methods up front; a client learns call ids as the
//! program uses them, so the first [`ClientMetrics::MAX_CALL_IDS`] get an
//! entry each and any further ones share one bucket.
//!
//! ```text
//!  call("Multiply") ─► probe: entry for "Multiply", in flight + 1, clock starts
//!      request.rs: bytes out ─► ... ─► the result is handed over: status,
//!      bytes in, latency; in flight − 1 (a probe dropped unfinished counts CANCELLED)
//! ```

use super::snapshot::MetricsSnapshot;
use super::MethodMetrics;
use crate::error::{RpcError, Status};
use crate::hash::FnvMap;
use crate::protocol::{Frame, HEADER_LEN};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The counters of one client, by call id (see [`crate::Client::metrics`]).
#[derive(Default)]
pub struct ClientMetrics {
    by_call_id: RwLock<FnvMap<String, Arc<MethodMetrics>>>,
    other: Arc<MethodMetrics>,
}

impl ClientMetrics {
    /// Call ids counted apart; calls to more distinct ids than this are
    /// counted together in [`MetricsSnapshot::unknown`].
    pub const MAX_CALL_IDS: usize = 256;

    /// Counters for no call yet.
    pub fn new() -> ClientMetrics {
        ClientMetrics::default()
    }

    /// The entry for `call_id`: a shared read of the map once it exists,
    /// the write lock only the first time a call id is seen.
    pub(crate) fn entry(&self, call_id: &str) -> Arc<MethodMetrics> {
        let read = self.by_call_id.read().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = read.get(call_id) {
            return Arc::clone(m);
        }
        drop(read);
        let mut write = self.by_call_id.write().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = write.get(call_id) {
            return Arc::clone(m);
        }
        if write.len() >= Self::MAX_CALL_IDS {
            return Arc::clone(&self.other);
        }
        let m = Arc::new(MethodMetrics::new());
        write.insert(call_id.to_owned(), Arc::clone(&m));
        m
    }

    /// Start timing one call to `call_id`.
    pub(crate) fn begin(&self, call_id: &str) -> CallProbe {
        self.begin_at(call_id, Instant::now())
    }

    /// [`begin`](Self::begin) with the clock already read (`started`), for
    /// a caller that needs the same moment for its deadline.
    pub(crate) fn begin_at(&self, call_id: &str, started: Instant) -> CallProbe {
        let entry = self.entry(call_id);
        entry.enter();
        CallProbe {
            entry,
            started,
            done: false,
        }
    }

    /// Every call id's counters as plain numbers.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let map = self.by_call_id.read().unwrap_or_else(|p| p.into_inner());
        let mut methods: Vec<_> = map.iter().map(|(id, m)| m.snapshot(id)).collect();
        methods.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        MetricsSnapshot {
            methods,
            unknown: self.other.snapshot("(other)"),
        }
    }
}

/// One call being timed on the client. [`finish`](CallProbe::finish) it
/// with the result; dropped unfinished (a future dropped before its
/// answer, a callback never run) it counts as `CANCELLED`. Either way the
/// call leaves the in-flight count exactly once.
pub(crate) struct CallProbe {
    entry: Arc<MethodMetrics>,
    started: Instant,
    done: bool,
}

impl CallProbe {
    /// The counters this call is counted on (its request's bytes go here).
    pub(crate) fn counter(&self) -> &Arc<MethodMetrics> {
        &self.entry
    }

    /// The call ended with `result`: the response frame (its bytes are
    /// counted in) or the error that ended it.
    pub(crate) fn finish<T>(mut self, frame: Option<&Frame>, result: &Result<T, RpcError>) {
        if let Some(f) = frame {
            self.entry
                .add_bytes_in(HEADER_LEN + f.header.body_len as usize);
        }
        let status = result.as_ref().map_or_else(|e| e.status, |_| Status::Ok);
        self.entry.finish(status, self.started.elapsed());
        self.done = true;
    }
}

impl Drop for CallProbe {
    fn drop(&mut self) {
        if !self.done {
            self.entry.finish(Status::Cancelled, self.started.elapsed());
        }
        self.entry.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_past_the_limit_share_one_bucket() {
        let m = ClientMetrics::new();
        for i in 0..ClientMetrics::MAX_CALL_IDS + 50 {
            m.begin(&format!("m{i}")).finish::<()>(None, &Ok(()));
        }
        let s = m.snapshot();
        assert_eq!(s.methods.len(), ClientMetrics::MAX_CALL_IDS);
        assert_eq!(s.unknown.calls, 50);
        assert_eq!(s.total().in_flight, 0);
    }

    #[test]
    fn a_probe_dropped_unfinished_counts_cancelled_and_leaves() {
        let m = ClientMetrics::new();
        let p = m.begin("M");
        assert_eq!(m.snapshot().methods[0].in_flight, 1);
        drop(p);
        let s = m.snapshot();
        assert_eq!(s.methods[0].in_flight, 0);
        assert_eq!(s.methods[0].status(Status::Cancelled), 1);
    }
}
