//! The check of ex10_fixed_window: the count per window and the honest
//! `retry_after`, the burst at the boundary that every fixed window lets
//! through, then every property of `check_rate_limiter`.

use crate::exercises::ex10_fixed_window::FixedWindowLimiter;
use crate::exercises::{broke, unfinished};
use minirpc::flow::{Decision, RateLimiter};
use minirpc::testkit::rate_limiter_failures;
use std::time::{Duration, Instant};

const NAME: &str = "ex10_fixed_window";

/// What the starting point fails with.
pub const UNFINISHED: &str = "try_acquire() still allows every call (20 of 20 at one instant on a limit of 10 per second); count the calls in the current window and refuse past the limit";

const MS: Duration = Duration::from_millis(1);
const US: Duration = Duration::from_micros(1);

fn allowed(l: &dyn RateLimiter, n: u32, now: Instant) -> u32 {
    (0..n).filter(|_| l.try_acquire(now).is_allow()).count() as u32
}

fn retry_after(l: &dyn RateLimiter, now: Instant) -> Option<Duration> {
    match l.try_acquire(now) {
        Decision::Deny { retry_after } => Some(retry_after),
        Decision::Allow => None,
    }
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let t0 = Instant::now();
    let w = FixedWindowLimiter::new(10, Duration::from_secs(1));
    match allowed(&w, 20, t0) {
        10 => {}
        20 => return Err(unfinished(NAME, UNFINISHED)),
        n => return Err(broke(NAME, format!("20 calls at one instant on a new limiter of 10 per second: {n} passed, expected 10"))),
    }
    match retry_after(&w, t0 + 400 * MS) {
        // Within a microsecond, for an answer that computes in floating point.
        Some(d) if d.abs_diff(600 * MS) <= US => {}
        got => return Err(broke(NAME, format!("a call refused 400 ms into a full window of 1 s got retry_after {got:?}, expected Some(600ms): the time left until the window ends"))),
    }
    // The boundary: one call opens the window, nine just before its end,
    // ten more just after. A fixed window forgets at the boundary.
    let w = FixedWindowLimiter::new(10, Duration::from_secs(1));
    allowed(&w, 1, t0);
    let before = allowed(&w, 20, t0 + 900 * MS);
    let after = allowed(&w, 20, t0 + 1000 * MS);
    if (before, after) != (9, 10) {
        return Err(broke(NAME, format!("with a call at 0 ms, 20 tried at 900 ms passed {before} (expected 9, the rest of the first window) and 20 tried at 1000 ms passed {after} (expected 10: a new window starts exactly one window after the first call)")));
    }
    // So 19 calls passed within 100 ms on a limit of 10 per second: the
    // edge that the sliding window and the token bucket remove.
    // Windows stay on the grid of the first call, even after a quiet spell.
    let w = FixedWindowLimiter::new(10, Duration::from_secs(1));
    allowed(&w, 1, t0);
    let later = t0 + 3500 * MS;
    let n = allowed(&w, 20, later);
    let wait = retry_after(&w, later);
    let on_time = wait.is_some_and(|d| d.abs_diff(500 * MS) <= US);
    if n != 10 || !on_time {
        return Err(broke(NAME, format!("after a first call at 0 ms and quiet until 3.5 s, 20 calls passed {n} and the next was told {wait:?}; expected 10 and Some(500ms): the window that holds 3.5 s runs from 3 s to 4 s")));
    }
    let tiny = FixedWindowLimiter::new(0, Duration::ZERO);
    if allowed(&tiny, 3, t0) != 1 {
        return Err(broke(
            NAME,
            "FixedWindowLimiter::new(0, 0 s) should allow 1 call per 1 ms (a limit of 0 is 1, a window under 1 ms is 1 ms)",
        ));
    }
    match rate_limiter_failures(&|limit, period| Box::new(FixedWindowLimiter::new(limit, period)))
        .first()
    {
        None => Ok(()),
        Some(f) => Err(broke(NAME, f)),
    }
}
