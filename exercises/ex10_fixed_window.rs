//! Exercise ex10_fixed_window (chapter 10): the simplest rate limiter, and
//! the edge that makes the others necessary.
//!
//! A fixed window counts calls in back-to-back windows of length `window`
//! and allows at most `limit` in each. The first call opens the first
//! window at its `now`; the next windows follow it end to end (start,
//! start + window, start + 2 × window, …), whether or not calls came in
//! between. A refused call's `retry_after` is the time left until the
//! current window ends, when the count starts again from zero. Take a
//! `limit` of 0 as 1 and a `window` under 1 ms as 1 ms. Read time only
//! from the `now` you are given, and let many threads call at once. So
//! far `try_acquire` allows every call. Check it with
//! `cargo test --features exercises --test exercises -- ex10_fixed_window`.
//! The check also shows what a fixed window does at its boundary.

use minirpc::flow::{Decision, RateLimiter};
use std::time::{Duration, Instant};

/// At most `limit` calls in each fixed window of length `window`.
pub struct FixedWindowLimiter {}

impl FixedWindowLimiter {
    /// A limiter that has seen no calls.
    pub fn new(limit: u32, window: Duration) -> FixedWindowLimiter {
        let _ = (limit, window);
        FixedWindowLimiter {}
    }
}

impl RateLimiter for FixedWindowLimiter {
    fn try_acquire(&self, now: Instant) -> Decision {
        let _ = now;
        Decision::Allow
    }

    fn describe(&self) -> String {
        "fixed window (unfinished)".into()
    }
}
