//! The token bucket: a rate and a burst (平滑限流).
//!
//! Article: 原理 › 流量控制 › 单节点限流 (平滑限流算法). The one idea to
//! take away: **a bucket refills continuously, so the limit has no
//! edges**. Tokens drip in at `rate` per second up to `burst`; a call takes
//! one. A caller that was quiet may spend the whole burst at once, and
//! after that gets exactly the rate, spread evenly — there is no window
//! boundary where the count resets and twice the limit slips through.
//!
//! ```text
//!   rate 10/s, burst 3; a caller sending as fast as it can (▼ allowed, ✗ refused)
//!   tokens 3 ┤█
//!          0 ┤ ▼▼▼✗✗✗✗▼✗✗✗✗▼✗✗✗✗▼ ...
//!            └─0 s──────0.1────0.2────0.3 s──►
//!   the burst at once, then one call per 100 ms, evenly spaced
//! ```
//!
//! The state is two numbers (tokens and when they were counted), refilled
//! lazily on each call: no timer thread. Guava's `RateLimiter` and
//! Sentinel's warm-up controller are built on the same idea.

use super::{rate_text, secs, Decision, RateLimiter};
use crate::sync::lock;
use std::sync::Mutex;
use std::time::Instant;

/// A token bucket: `rate` calls per second on average, up to `burst` at
/// once. It starts full.
///
/// ```
/// use minirpc::flow::{RateLimiter, TokenBucket};
/// use std::time::{Duration, Instant};
///
/// let bucket = TokenBucket::new(10.0, 2); // 10/s, burst 2
/// let t0 = Instant::now();
/// assert!(bucket.try_acquire(t0).is_allow());
/// assert!(bucket.try_acquire(t0).is_allow());
/// assert!(!bucket.try_acquire(t0).is_allow()); // the burst is spent
/// assert!(bucket.try_acquire(t0 + Duration::from_millis(100)).is_allow()); // one token dripped in
/// ```
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    /// When `tokens` was last brought up to date; `None` before the first call.
    at: Option<Instant>,
}

impl TokenBucket {
    /// A bucket that refills at `rate_per_sec` (a negative or NaN rate is
    /// taken as 0: it never refills) and holds at most `burst` tokens (at
    /// least 1, or no call could ever pass).
    pub fn new(rate_per_sec: f64, burst: u32) -> TokenBucket {
        let rate = if rate_per_sec > 0.0 {
            rate_per_sec
        } else {
            0.0
        };
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(State {
                tokens: burst,
                at: None,
            }),
        }
    }

    /// The rate, in tokens per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The most tokens the bucket holds.
    pub fn burst(&self) -> u32 {
        self.burst as u32
    }

    /// Tokens in the bucket at `now` (after refilling), without taking one.
    pub fn available(&self, now: Instant) -> f64 {
        let mut s = lock(&self.state);
        self.refill(&mut s, now);
        s.tokens
    }

    /// Take up to `n` whole tokens at `now`; returns how many were taken.
    /// (The token server grants batches this way.)
    pub fn take_up_to(&self, n: u32, now: Instant) -> u32 {
        let mut s = lock(&self.state);
        self.refill(&mut s, now);
        let got = s.tokens.floor().min(f64::from(n)).max(0.0);
        s.tokens -= got;
        got as u32
    }

    /// How long from `now` until one whole token is in the bucket.
    pub fn time_to_next(&self, now: Instant) -> std::time::Duration {
        let mut s = lock(&self.state);
        self.refill(&mut s, now);
        self.wait_for_one(&s)
    }

    fn refill(&self, s: &mut State, now: Instant) {
        if let Some(at) = s.at {
            // `saturating_duration_since`: a `now` earlier than the last
            // one (two threads racing to the lock) adds nothing.
            let dt = now.saturating_duration_since(at).as_secs_f64();
            s.tokens = (s.tokens + dt * self.rate).min(self.burst);
        }
        if s.at.is_none_or(|at| now > at) {
            s.at = Some(now);
        }
    }

    fn wait_for_one(&self, s: &State) -> std::time::Duration {
        if s.tokens >= 1.0 {
            return std::time::Duration::ZERO;
        }
        if self.rate == 0.0 {
            return std::time::Duration::MAX;
        }
        secs((1.0 - s.tokens) / self.rate)
    }
}

impl RateLimiter for TokenBucket {
    fn try_acquire(&self, now: Instant) -> Decision {
        let mut s = lock(&self.state);
        self.refill(&mut s, now);
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            Decision::Allow
        } else {
            Decision::Deny {
                retry_after: self.wait_for_one(&s),
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} burst {}", rate_text(self.rate), self.burst)
    }

    fn is_idle(&self, now: Instant) -> bool {
        let mut s = lock(&self.state);
        self.refill(&mut s, now);
        s.tokens >= self.burst
    }
}
