//! The check of ex10_gcra: the burst, the exact spacing after it and an
//! exact `retry_after`, no edge anywhere (a fixed window's boundary burst
//! fails here), idleness, then every property of `check_rate_limiter`.

use crate::exercises::ex10_gcra::Gcra;
use crate::exercises::{broke, unfinished};
use minirpc::flow::{Decision, RateLimiter};
use minirpc::testkit::rate_limiter_failures;
use std::time::{Duration, Instant};

const NAME: &str = "ex10_gcra";

/// What the starting point fails with.
pub const UNFINISHED: &str = "try_acquire() still allows every call (20 of 20 at one instant on 10 per second, burst 3); keep the theoretical arrival time and refuse a call that is earlier than the tolerance";

const MS: Duration = Duration::from_millis(1);
const US: Duration = Duration::from_micros(1);

fn allowed(l: &dyn RateLimiter, n: u32, now: Instant) -> u32 {
    (0..n).filter(|_| l.try_acquire(now).is_allow()).count() as u32
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let t0 = Instant::now();
    let g = Gcra::new(10, Duration::from_secs(1), 3);
    match allowed(&g, 20, t0) {
        3 => {}
        20 => return Err(unfinished(NAME, UNFINISHED)),
        n => return Err(broke(NAME, format!("20 calls at one instant on a new Gcra::new(10, 1 s, 3): {n} passed, expected the burst, 3"))),
    }
    if g.is_idle(t0) {
        return Err(broke(
            NAME,
            "is_idle() said true right after the burst was spent",
        ));
    }
    match g.try_acquire(t0 + 40 * MS) {
        // Within a microsecond, for an answer that computes in floating point.
        Decision::Deny { retry_after } if retry_after.abs_diff(60 * MS) <= US => {}
        d => return Err(broke(NAME, format!("40 ms after the burst of 3 was spent (one call per 100 ms), a call got {d:?}; expected Deny {{ retry_after: 60ms }}"))),
    }
    // After the burst: exactly one call per emission interval.
    for i in 1..=50u32 {
        let n = allowed(&g, 5, t0 + 100 * MS * i);
        if n != 1 {
            return Err(broke(NAME, format!("at {} ms, with one call due every 100 ms, 5 tries passed {n}; expected exactly 1", 100 * i)));
        }
    }
    // No edge: with demand at every 50 ms step, no period of 1 s passes
    // more than the rate plus the burst.
    let g = Gcra::new(10, Duration::from_secs(1), 3);
    let passed: Vec<u32> = (0..100u32)
        .map(|i| allowed(&g, 20, t0 + 50 * MS * i))
        .collect();
    for (i, w) in passed.windows(20).enumerate() {
        let n: u32 = w.iter().sum();
        if n > 13 {
            return Err(broke(NAME, format!("{n} calls passed in the second starting at {} ms; at 10 per second with a burst of 3 at most 13 may (a fixed window's boundary lets 20 through, GCRA has no boundary)", 50 * i)));
        }
    }
    let later = t0 + Duration::from_secs(10);
    if !g.is_idle(later) {
        return Err(broke(NAME, "is_idle() said false after 5 quiet seconds, when the theoretical arrival time had long passed"));
    }
    if allowed(&g, 10, later) != 3 {
        return Err(broke(
            NAME,
            "after it said it was idle, the limiter did not allow a full burst of 3",
        ));
    }
    let tiny = Gcra::new(0, Duration::from_secs(1), 0);
    if allowed(&tiny, 3, t0) != 1 {
        return Err(broke(
            NAME,
            "Gcra::new(0, 1 s, 0) should allow 1 call at once (a limit or burst of 0 counts as 1)",
        ));
    }
    let make = |limit: u32, period: Duration| -> Box<dyn RateLimiter> {
        Box::new(Gcra::new(limit, period, (limit / 10).max(1)))
    };
    match rate_limiter_failures(&make).first() {
        None => Ok(()),
        Some(f) => Err(broke(NAME, f)),
    }
}
