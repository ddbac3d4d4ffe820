//! Counting calls in windows: the fixed window, and the sliding window
//! that fixes its edge.
//!
//! Article: 原理 › 流量控制 › 单节点限流. The one idea to take away: **a
//! fixed window forgets everything at its boundary**, so a caller can
//! spend a whole window's limit just before it and another just after:
//! twice the limit in a moment. A sliding window remembers the previous
//! window too.
//!
//! ```text
//!   limit 10 per 1 s                 boundary
//!   fixed:    |........ 10 calls ▼▼▼▼|▼▼▼▼ 10 calls ........|   20 in 0.2 s
//!   sliding:  |........ 10 calls ▼▼▼▼|▼ 1 call ✗✗✗✗ ........|   11 in 0.2 s
//!             0.0                0.9 1.0 1.1                2.0
//!   sliding estimate at 1.1 s = previous 10 × (1 − 0.1) + current 0 = 9 → room for 1
//! ```
//!
//! [`SlidingWindow`] is the **weighted two-window counter** (Cloudflare's
//! and nginx-style limiters use it; Sentinel's `LeapArray` is its
//! many-bucket cousin): it keeps only the previous and the current
//! window's counts, and weighs the previous one by how much of it still
//! overlaps the sliding window. Memory is three numbers per key,
//! whatever the rate. The exact alternative, a **sliding log**, keeps one
//! timestamp per call in the window (memory grows with the limit); the
//! weighted counter trades that exactness for a bounded, tiny state — it
//! assumes the previous window's calls were spread evenly.

use super::{secs, Decision, RateLimiter};
use crate::sync::lock;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Window state shared by both kinds: which window we are in and counts.
#[derive(Debug, Default)]
struct Counts {
    /// Start of the current window; `None` before the first call.
    start: Option<Instant>,
    current: u64,
    previous: u64,
}

impl Counts {
    /// Move the windows forward to the one that contains `now`.
    fn roll(&mut self, now: Instant, window: Duration) {
        let Some(start) = self.start else {
            self.start = Some(now);
            return;
        };
        let passed = now.saturating_duration_since(start);
        if passed < window {
            return;
        }
        let windows = passed.as_nanos() / window.as_nanos().max(1);
        // One window on: the current becomes the previous. Two or more:
        // both are empty.
        self.previous = if windows == 1 { self.current } else { 0 };
        self.current = 0;
        let step = window.saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX));
        self.start = Some(start + step);
    }

    fn elapsed(&self, now: Instant) -> Duration {
        self.start
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }
}

/// At most `limit` calls in any window of length `window`, estimated by the
/// weighted two-window counter (see the module docs).
///
/// ```
/// use minirpc::flow::{RateLimiter, SlidingWindow};
/// use std::time::{Duration, Instant};
///
/// let w = SlidingWindow::new(2, Duration::from_secs(1));
/// let t0 = Instant::now();
/// assert!(w.try_acquire(t0).is_allow());
/// assert!(w.try_acquire(t0).is_allow());
/// assert!(!w.try_acquire(t0 + Duration::from_millis(999)).is_allow());
/// ```
#[derive(Debug)]
pub struct SlidingWindow {
    limit: u64,
    window: Duration,
    counts: Mutex<Counts>,
}

impl SlidingWindow {
    /// At most `limit` calls (at least 1) per `window` (at least 1 ms).
    pub fn new(limit: u32, window: Duration) -> SlidingWindow {
        SlidingWindow {
            limit: u64::from(limit.max(1)),
            window: window.max(Duration::from_millis(1)),
            counts: Mutex::new(Counts::default()),
        }
    }

    /// The share of the previous window still inside the sliding one.
    fn weight(&self, elapsed: Duration) -> f64 {
        1.0 - (elapsed.as_secs_f64() / self.window.as_secs_f64()).min(1.0)
    }

    /// How long from now until `estimate + 1 <= limit`.
    fn retry_after(&self, c: &Counts, elapsed: Duration) -> Duration {
        let w = self.window.as_secs_f64();
        let room = |prev: u64, cur: u64| -> Option<f64> {
            // prev × (1 − t/w) + cur + 1 ≤ limit  ⇔  t ≥ w × (1 − (limit − 1 − cur) / prev)
            if cur + 1 > self.limit {
                return None;
            }
            if prev == 0 {
                return Some(0.0);
            }
            let t = w * (1.0 - (self.limit - 1 - cur) as f64 / prev as f64);
            Some(t.clamp(0.0, w))
        };
        match room(c.previous, c.current) {
            Some(t) => secs((t - elapsed.as_secs_f64()).max(0.0)),
            // Full for this window: in the next one, this window's count
            // is the previous.
            None => {
                let to_next = self.window.saturating_sub(elapsed);
                let t = room(c.current, 0).unwrap_or(w);
                to_next.saturating_add(secs(t))
            }
        }
    }
}

impl RateLimiter for SlidingWindow {
    fn try_acquire(&self, now: Instant) -> Decision {
        let mut c = lock(&self.counts);
        c.roll(now, self.window);
        let elapsed = c.elapsed(now);
        let estimate = c.previous as f64 * self.weight(elapsed) + c.current as f64;
        if estimate + 1.0 <= self.limit as f64 {
            c.current += 1;
            Decision::Allow
        } else {
            Decision::Deny {
                retry_after: self.retry_after(&c, elapsed),
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} per {:?} (sliding window)", self.limit, self.window)
    }

    fn is_idle(&self, now: Instant) -> bool {
        let mut c = lock(&self.counts);
        c.roll(now, self.window);
        c.current == 0 && c.previous == 0
    }
}

/// At most `limit` calls per fixed window of length `window`: the count
/// resets at each boundary. Simple and cheap, and it lets twice the limit
/// through around a boundary (see the module docs); it is here to show
/// that edge, and for callers who accept it.
#[derive(Debug)]
pub struct FixedWindow {
    limit: u64,
    window: Duration,
    counts: Mutex<Counts>,
}

impl FixedWindow {
    /// At most `limit` calls (at least 1) per `window` (at least 1 ms).
    pub fn new(limit: u32, window: Duration) -> FixedWindow {
        FixedWindow {
            limit: u64::from(limit.max(1)),
            window: window.max(Duration::from_millis(1)),
            counts: Mutex::new(Counts::default()),
        }
    }
}

impl RateLimiter for FixedWindow {
    fn try_acquire(&self, now: Instant) -> Decision {
        let mut c = lock(&self.counts);
        c.roll(now, self.window);
        if c.current < self.limit {
            c.current += 1;
            Decision::Allow
        } else {
            Decision::Deny {
                retry_after: self.window.saturating_sub(c.elapsed(now)),
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} per {:?} (fixed window)", self.limit, self.window)
    }

    fn is_idle(&self, now: Instant) -> bool {
        let mut c = lock(&self.counts);
        c.roll(now, self.window);
        c.current == 0
    }
}
