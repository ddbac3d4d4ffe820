//! Reference solution of ex13_rate_window: a bounded queue of (instant,
//! calls, errors), and increases summed step by step so that a reset
//! counts as a fresh start.

use minirpc::metrics::MethodSnapshot;
use std::collections::VecDeque;
use std::time::Instant;

/// The last few snapshots of one method.
pub struct RateWindow {
    max: usize,
    samples: VecDeque<(Instant, u64, u64)>,
}

impl RateWindow {
    /// A window that keeps at most `samples` snapshots (at least 2).
    pub fn new(samples: usize) -> RateWindow {
        RateWindow {
            max: samples.max(2),
            samples: VecDeque::new(),
        }
    }

    /// Add the snapshot taken at `at` (instants only move forwards),
    /// forgetting the oldest when the window is full.
    pub fn push(&mut self, at: Instant, snapshot: &MethodSnapshot) {
        if self.samples.len() == self.max {
            self.samples.pop_front();
        }
        self.samples
            .push_back((at, snapshot.calls, snapshot.errors()));
    }

    /// How many snapshots are kept.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no snapshot is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The increase of one counter over the window, resets included.
    fn increase(&self, counter: impl Fn(&(Instant, u64, u64)) -> u64) -> u64 {
        let values: Vec<u64> = self.samples.iter().map(counter).collect();
        values
            .windows(2)
            .map(|w| if w[1] >= w[0] { w[1] - w[0] } else { w[1] })
            .sum()
    }

    /// Calls that ended per second over the window.
    pub fn calls_per_sec(&self) -> Option<f64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let secs = last.0.saturating_duration_since(first.0).as_secs_f64();
        (secs > 0.0).then(|| self.increase(|s| s.1) as f64 / secs)
    }

    /// The share of the calls over the window that failed.
    pub fn error_ratio(&self) -> Option<f64> {
        let calls = self.increase(|s| s.1);
        (calls > 0).then(|| self.increase(|s| s.2) as f64 / calls as f64)
    }
}
