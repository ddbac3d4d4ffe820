//! The last few minutes of traffic, as calls per second: what the admin
//! page draws.
//!
//! The one idea to take away: **a rate is the difference of two counts**.
//! The server only ever counts calls up; every second the watcher writes
//! down the running total, and the rate over a second is this total minus
//! the last one. Nothing is reset, so two readers never disagree, and a
//! sample that comes late just covers a longer interval.
//!
//! ```text
//!   t:      0s    1s    2s    3s
//!   total:  100   180   180   420        (MetricsSnapshot::total().calls)
//!   rate:         80/s  0/s   240/s      (difference / elapsed seconds)
//! ```
//!
//! Bounded: at most `capacity` samples are kept; the oldest goes first.

use std::collections::VecDeque;
use std::time::Instant;

/// Running totals sampled over time, newest last.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    samples: VecDeque<(Instant, u64)>,
}

impl History {
    /// An empty history that keeps at most `capacity` samples (at least 2,
    /// the fewest that make one rate).
    pub fn new(capacity: usize) -> History {
        History {
            capacity: capacity.max(2),
            samples: VecDeque::new(),
        }
    }

    /// Write down the running `total` seen at `at`. A total lower than the
    /// last one (the servers watched changed) starts the history again,
    /// rather than showing a negative rate.
    pub fn record(&mut self, at: Instant, total: u64) {
        if self.samples.back().is_some_and(|&(_, last)| total < last) {
            self.samples.clear();
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back((at, total));
    }

    /// Calls per second between each pair of neighbouring samples, oldest
    /// first: one rate fewer than there are samples.
    pub fn rates(&self) -> Vec<f64> {
        let s = &self.samples;
        (1..s.len())
            .map(|i| {
                let (t0, n0) = s[i - 1];
                let (t1, n1) = s[i];
                let secs = t1.saturating_duration_since(t0).as_secs_f64();
                if secs > 0.0 {
                    (n1 - n0) as f64 / secs
                } else {
                    0.0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_are_differences_of_totals_over_elapsed_time() {
        let t0 = Instant::now();
        let mut h = History::new(10);
        h.record(t0, 100);
        h.record(t0 + Duration::from_secs(1), 180);
        h.record(t0 + Duration::from_secs(2), 180);
        h.record(t0 + Duration::from_secs(4), 420);
        assert_eq!(h.rates(), vec![80.0, 0.0, 120.0]);
    }

    #[test]
    fn the_oldest_sample_goes_first_and_a_lower_total_starts_again() {
        let t0 = Instant::now();
        let mut h = History::new(3);
        for i in 0..5u64 {
            h.record(t0 + Duration::from_secs(i), i * 10);
        }
        assert_eq!(
            h.rates(),
            vec![10.0, 10.0],
            "only the last 3 samples are kept"
        );
        h.record(t0 + Duration::from_secs(6), 5);
        assert!(h.rates().is_empty(), "a total that went down starts over");
    }
}
