//! The conformance checks of [`RateLimiter`]: what every rate limiter must
//! do, whatever its algorithm.
//!
//! Article: 原理 › 流量控制 › 单节点限流. The one idea to take away: **a
//! limiter's promise is about time, so the checks drive time**. Each
//! property makes a fresh limiter of "`limit` calls per `period`" with your
//! constructor, and steps a manual instant: no sleeps, the same answer
//! every run.
//!
//! ```text
//!  your test ── check_rate_limiter(|limit, period| Box::new(YourLimiter::new(limit, period))) ──►
//!     for each property: a fresh limiter, an instant stepped by hand, many calls
//!     ◄── a panic naming every property that broke, and on what input
//! ```
//!
//! The properties: a fresh limiter allows a call; sustained demand gets
//! the limit's rate within ±10 %; no single period passes more than twice
//! the limit (a fixed window's worst edge, which every smoother algorithm
//! beats); a refusal's `retry_after` is honest (a call then is allowed,
//! within a millisecond); calls from four threads at one instant pass
//! exactly as many as from one; and a limiter that says it is idle
//! behaves as a new one.

use super::Failure;
use crate::flow::{Decision, RateLimiter};
use std::time::{Duration, Instant};

/// Makes a limiter of "`limit` calls per `period`".
pub type MakeRateLimiter<'a> = &'a dyn Fn(u32, Duration) -> Box<dyn RateLimiter>;

type Property = fn(MakeRateLimiter<'_>) -> Result<(), String>;

const PROPERTIES: &[(&str, Property)] = &[
    ("a fresh limiter allows a call", fresh_allows),
    (
        "sustained demand gets the limit's rate within 10 %",
        sustained_rate,
    ),
    ("no period passes more than twice the limit", at_most_twice),
    ("a refusal's retry_after is honest", honest_retry),
    (
        "four threads at one instant pass as many calls as one",
        concurrent,
    ),
    ("an idle limiter behaves as a new one", idle_is_new),
];

const LIMIT: u32 = 20;
const PERIOD: Duration = Duration::from_secs(1);

/// Check `make`'s limiters against every property; panics naming each
/// one that broke.
pub fn check_rate_limiter(make: MakeRateLimiter<'_>) {
    let failures = rate_limiter_failures(make);
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().map(|f| format!("- {f}")).collect();
        panic!(
            "the rate limiter {:?} breaks {} properties:\n{}",
            make(LIMIT, PERIOD).describe(),
            failures.len(),
            list.join("\n")
        );
    }
}

/// The same checks, returning the broken properties instead of panicking.
pub fn rate_limiter_failures(make: MakeRateLimiter<'_>) -> Vec<Failure> {
    PROPERTIES
        .iter()
        .filter_map(|&(property, check)| super::run_property(property, || check(make)))
        .collect()
}

/// Calls allowed out of `n` tried at `now`.
fn allowed(l: &dyn RateLimiter, n: u32, now: Instant) -> u32 {
    (0..n).filter(|_| l.try_acquire(now).is_allow()).count() as u32
}

fn fresh_allows(make: MakeRateLimiter<'_>) -> Result<(), String> {
    let l = make(LIMIT, PERIOD);
    match l.try_acquire(Instant::now()) {
        Decision::Allow => Ok(()),
        d => Err(format!("the first call to a new limiter got {d:?}")),
    }
}

fn sustained_rate(make: MakeRateLimiter<'_>) -> Result<(), String> {
    let l = make(LIMIT, PERIOD);
    let mut now = Instant::now();
    let step = PERIOD / 20;
    let periods = 30;
    let mut total = 0;
    // Ten times the limit, spread over each period.
    for _ in 0..periods * 20 {
        total += allowed(&*l, LIMIT / 2, now);
        now += step;
    }
    let want = f64::from(LIMIT * periods);
    let got = f64::from(total);
    if (got - want).abs() > want * 0.1 {
        return Err(format!(
            "{total} calls passed in {periods} periods of demand at 10× the limit; a limit of {LIMIT} per {PERIOD:?} means about {want}"
        ));
    }
    Ok(())
}

fn at_most_twice(make: MakeRateLimiter<'_>) -> Result<(), String> {
    let l = make(LIMIT, PERIOD);
    let start = Instant::now();
    let step = PERIOD / 20;
    // Calls at every step for 5 periods; count in every sliding period.
    let mut passed = Vec::new();
    for i in 0..100u32 {
        passed.push(allowed(&*l, LIMIT * 2, start + step * i));
    }
    for (i, w) in passed.windows(20).enumerate() {
        let n: u32 = w.iter().sum();
        if n > 2 * LIMIT {
            return Err(format!(
                "{n} calls passed in the period starting {:?} after the first; at most {} allowed",
                step * i as u32,
                2 * LIMIT
            ));
        }
    }
    Ok(())
}

fn honest_retry(make: MakeRateLimiter<'_>) -> Result<(), String> {
    let l = make(LIMIT, PERIOD);
    let now = Instant::now();
    allowed(&*l, LIMIT * 3, now);
    let Decision::Deny { retry_after } = l.try_acquire(now) else {
        return Err(format!(
            "{} calls at one instant all passed a limit of {LIMIT} per {PERIOD:?}",
            LIMIT * 3 + 1
        ));
    };
    if retry_after > PERIOD * 2 {
        return Err(format!(
            "retry_after {retry_after:?}; a limiter of {LIMIT} per {PERIOD:?} has room again within two periods"
        ));
    }
    let then = now + retry_after + Duration::from_millis(1);
    match l.try_acquire(then) {
        Decision::Allow => Ok(()),
        d => Err(format!(
            "refused with retry_after {retry_after:?}, but a call 1 ms after that got {d:?}"
        )),
    }
}

fn concurrent(make: MakeRateLimiter<'_>) -> Result<(), String> {
    let now = Instant::now();
    let one = allowed(&*make(LIMIT, PERIOD), LIMIT * 4, now);
    let shared = make(LIMIT, PERIOD);
    let total: u32 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| allowed(&*shared, LIMIT, now)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(u32::MAX)).sum()
    });
    if total != one {
        return Err(format!(
            "{} calls from 4 threads at one instant passed {total}; from one thread {one}",
            LIMIT * 4
        ));
    }
    Ok(())
}

fn idle_is_new(make: MakeRateLimiter<'_>) -> Result<(), String> {
    let l = make(LIMIT, PERIOD);
    let start = Instant::now();
    allowed(&*l, LIMIT * 3, start);
    let later = start + PERIOD * 10;
    if !l.is_idle(later) {
        // Never claiming idleness is allowed (the default): nothing to check.
        return Ok(());
    }
    let fresh = allowed(&*make(LIMIT, PERIOD), LIMIT * 3, later);
    let old = allowed(&*l, LIMIT * 3, later);
    if fresh != old {
        return Err(format!(
            "is_idle said true after 10 quiet periods, but it passed {old} of {} calls where a new one passes {fresh}",
            LIMIT * 3
        ));
    }
    Ok(())
}
