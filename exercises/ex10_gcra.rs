//! Exercise ex10_gcra (chapter 10): a leaky bucket kept as one instant,
//! the generic cell rate algorithm (GCRA).
//!
//! A limit of `limit` calls per `period` means one call every
//! `T = period / limit` (the emission interval). Keep one instant, the
//! *theoretical arrival time* (TAT): when the next call would be due if
//! every call so far had come exactly on time. A call at `now` is early by
//! `TAT − now`; allow it if it is early by at most `T × (burst − 1)` (the
//! tolerance that lets `burst` calls through at once), and then move the
//! TAT on by `T` from `max(TAT, now)`. Refuse it otherwise, with
//! `retry_after` the time until it would be early by no more than the
//! tolerance. A `limit` or `burst` of 0 counts as 1. `is_idle` is true
//! once the TAT is not after `now`. Many threads call at once. So far
//! `try_acquire` allows every call. (ATM networks policed cells this way;
//! redis-cell and Rails' rate limiters do today.) Check it with
//! `cargo test --features exercises --test exercises -- ex10_gcra`.

use minirpc::flow::{Decision, RateLimiter};
use std::time::{Duration, Instant};

/// `limit` calls per `period`, up to `burst` at once.
pub struct Gcra {}

impl Gcra {
    /// A limiter that has seen no calls.
    pub fn new(limit: u32, period: Duration, burst: u32) -> Gcra {
        let _ = (limit, period, burst);
        Gcra {}
    }
}

impl RateLimiter for Gcra {
    fn try_acquire(&self, now: Instant) -> Decision {
        let _ = now;
        Decision::Allow
    }

    fn describe(&self) -> String {
        "GCRA (unfinished)".into()
    }
}
