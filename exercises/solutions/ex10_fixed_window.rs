//! Reference solution of ex10_fixed_window: the start of the current
//! window and its count, behind one lock.

use minirpc::flow::{Decision, RateLimiter};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `limit` calls in each fixed window of length `window`.
pub struct FixedWindowLimiter {
    limit: u64,
    window: Duration,
    /// The current window's start (`None` before the first call) and count.
    state: Mutex<(Option<Instant>, u64)>,
}

impl FixedWindowLimiter {
    /// A limiter that has seen no calls.
    pub fn new(limit: u32, window: Duration) -> FixedWindowLimiter {
        FixedWindowLimiter {
            limit: u64::from(limit.max(1)),
            window: window.max(Duration::from_millis(1)),
            state: Mutex::new((None, 0)),
        }
    }
}

impl RateLimiter for FixedWindowLimiter {
    fn try_acquire(&self, now: Instant) -> Decision {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let start = *s.0.get_or_insert(now);
        let passed = now.saturating_duration_since(start);
        if passed >= self.window {
            // Skip whole windows: the new one starts on the grid.
            let whole = passed.as_nanos() / self.window.as_nanos();
            let step = self
                .window
                .saturating_mul(u32::try_from(whole).unwrap_or(u32::MAX));
            *s = (Some(start + step), 0);
        }
        let start = s.0.unwrap_or(now);
        if s.1 < self.limit {
            s.1 += 1;
            Decision::Allow
        } else {
            let end = start + self.window;
            Decision::Deny {
                retry_after: end.saturating_duration_since(now),
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} per {:?} (fixed window)", self.limit, self.window)
    }
}
