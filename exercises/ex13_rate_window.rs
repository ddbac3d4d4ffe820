//! Exercise ex13_rate_window (chapter 13): a rate over the last samples,
//! from counters that only ever add up.
//!
//! A `MethodSnapshot` holds totals since the server started. A chart wants
//! "calls per second, and the share that failed, over the last minute":
//! keep the last `samples` snapshots of one method (with the instant each
//! was taken; at least 2 are kept, so a window of 1 is 2), and answer from
//! the increase of `calls` and of `errors()` between the oldest and the
//! newest kept. A server that restarts starts its totals again from zero:
//! when a counter is lower than in the sample before, it was reset, and
//! its increase over that step is its new value (Prometheus's `rate()`
//! does the same). `calls_per_sec` is the increase in calls divided by the
//! seconds between the oldest and the newest sample, `None` with fewer
//! than 2 samples or no time between them; `error_ratio` is the increase
//! in errors over the increase in calls, `None` when no call ended. So far
//! nothing is kept. Check it with
//! `cargo test --features exercises --test exercises -- ex13_rate_window`.

use minirpc::metrics::MethodSnapshot;
use std::time::Instant;

/// The last few snapshots of one method.
pub struct RateWindow {}

impl RateWindow {
    /// A window that keeps at most `samples` snapshots (at least 2).
    pub fn new(samples: usize) -> RateWindow {
        let _ = samples;
        RateWindow {}
    }

    /// Add the snapshot taken at `at` (instants only move forwards),
    /// forgetting the oldest when the window is full.
    pub fn push(&mut self, at: Instant, snapshot: &MethodSnapshot) {
        let _ = (at, snapshot);
    }

    /// How many snapshots are kept.
    pub fn len(&self) -> usize {
        0
    }

    /// Whether no snapshot is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls that ended per second over the window.
    pub fn calls_per_sec(&self) -> Option<f64> {
        None
    }

    /// The share of the calls over the window that failed.
    pub fn error_ratio(&self) -> Option<f64> {
        None
    }
}
