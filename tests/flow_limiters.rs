//! The limiters of `minirpc::flow` on a manual clock: what each allows and
//! refuses, and when it says to retry. No sleeps: time moves only when a
//! test advances it.

use minirpc::flow::{
    FixedWindow, FlowControl, KeySlot, KeyedLimiters, RateLimiter, Rule, SlidingWindow, TokenBucket,
};
use minirpc::time::{Clock, ManualClock};
use minirpc::Status;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

/// Calls allowed by `l` out of `n` tried at `now`.
fn allowed(l: &dyn RateLimiter, n: u32, now: Instant) -> u32 {
    (0..n).filter(|_| l.try_acquire(now).is_allow()).count() as u32
}

fn retry_after(l: &dyn RateLimiter, now: Instant) -> Duration {
    match l.try_acquire(now) {
        minirpc::flow::Decision::Deny { retry_after } => retry_after,
        minirpc::flow::Decision::Allow => panic!("expected a refusal"),
    }
}

#[test]
fn a_full_token_bucket_allows_its_burst_at_once_and_then_nothing() {
    let clock = ManualClock::new();
    let b = TokenBucket::new(10.0, 5);
    assert_eq!(allowed(&b, 20, clock.now()), 5);
}

#[test]
fn a_token_bucket_refills_at_its_rate_and_says_when_the_next_token_is_due() {
    let clock = ManualClock::new();
    let b = TokenBucket::new(10.0, 5); // one token per 100 ms
    assert_eq!(allowed(&b, 5, clock.now()), 5);
    assert_eq!(retry_after(&b, clock.now()), 100 * MS);
    clock.advance(40 * MS);
    assert_eq!(retry_after(&b, clock.now()), 60 * MS);
    clock.advance(60 * MS);
    assert_eq!(allowed(&b, 3, clock.now()), 1, "one token after 100 ms");
    // Over 10 s of steady demand, exactly the rate passes: 100 calls.
    let mut total = 0;
    for _ in 0..100 {
        clock.advance(100 * MS);
        total += allowed(&b, 10, clock.now());
    }
    assert_eq!(total, 100);
}

#[test]
fn a_token_bucket_never_holds_more_than_its_burst() {
    let clock = ManualClock::new();
    let b = TokenBucket::new(10.0, 5);
    assert_eq!(allowed(&b, 5, clock.now()), 5);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        allowed(&b, 100, clock.now()),
        5,
        "an hour of quiet buys only the burst"
    );
    assert!(!b.is_idle(clock.now()));
    clock.advance(Duration::from_secs(1));
    assert!(
        b.is_idle(clock.now()),
        "full again: the same as a new bucket"
    );
}

#[test]
fn a_token_bucket_of_rate_zero_says_never() {
    let clock = ManualClock::new();
    let b = TokenBucket::new(0.0, 2);
    assert_eq!(allowed(&b, 5, clock.now()), 2);
    assert_eq!(retry_after(&b, clock.now()), Duration::MAX);
}

#[test]
fn a_fixed_window_lets_twice_its_limit_through_around_a_boundary() {
    // The edge the sliding window exists to remove, shown on the naive one.
    let clock = ManualClock::new();
    let w = FixedWindow::new(10, Duration::from_secs(1));
    assert_eq!(allowed(&w, 1, clock.now()), 1); // the window starts here
    clock.advance(900 * MS);
    assert_eq!(allowed(&w, 20, clock.now()), 9);
    clock.advance(200 * MS); // 1.1 s: a new window
    assert_eq!(allowed(&w, 20, clock.now()), 10);
    // 19 calls within 0.2 s against a limit of 10 per second.
}

#[test]
fn a_sliding_window_counts_a_burst_that_straddles_the_boundary() {
    let clock = ManualClock::new();
    let w = SlidingWindow::new(10, Duration::from_secs(1));
    assert_eq!(allowed(&w, 1, clock.now()), 1); // the window starts here
    clock.advance(900 * MS);
    assert_eq!(allowed(&w, 20, clock.now()), 9, "the first window fills");
    clock.advance(200 * MS); // 1.1 s: 90 % of the last window still counts
    assert_eq!(
        allowed(&w, 20, clock.now()),
        1,
        "10 × 0.9 = 9 are still in the window: room for 1, not for 10"
    );
    clock.advance(400 * MS); // 1.5 s: 10 × 0.5 + 1 = 6
    assert_eq!(allowed(&w, 20, clock.now()), 4);
    clock.advance(Duration::from_secs(2)); // both windows long gone
    assert!(w.is_idle(clock.now()));
    assert_eq!(allowed(&w, 20, clock.now()), 10);
}

#[test]
fn a_sliding_window_says_when_the_old_window_has_faded_enough() {
    let clock = ManualClock::new();
    let w = SlidingWindow::new(10, Duration::from_secs(1));
    assert_eq!(allowed(&w, 10, clock.now()), 10);
    // Full for this window: in the next one the 10 still weigh 1 − t, so
    // the first call fits when 10 × (1 − t) + 1 ≤ 10: t = 0.1 s into it.
    let wait = retry_after(&w, clock.now());
    assert_eq!(wait, 1100 * MS);
    clock.advance(wait - MS);
    assert_eq!(allowed(&w, 1, clock.now()), 0, "1 ms too early");
    clock.advance(MS);
    assert_eq!(allowed(&w, 1, clock.now()), 1, "on time");
}

#[test]
fn per_caller_keys_are_bounded_and_callers_past_the_bound_share_one_limiter() {
    let clock = ManualClock::new();
    let keys = KeyedLimiters::new(
        Arc::new(|| Arc::new(TokenBucket::new(1.0, 2)) as Arc<dyn RateLimiter>),
        3,
    );
    for name in ["a", "b", "c"] {
        let KeySlot::Own(l) = keys.get(name, clock.now()) else {
            panic!("{name} should get its own limiter");
        };
        assert_eq!(allowed(&*l, 1, clock.now()), 1);
    }
    // A hostile peer invents a thousand names: the table stays at 3 and
    // they all share one overflow limiter, whose burst is 2 in total.
    let mut passed = 0;
    for i in 0..1000 {
        match keys.get(&format!("made-up-{i}"), clock.now()) {
            KeySlot::Own(_) => panic!("made-up-{i} got its own limiter past the bound"),
            KeySlot::Overflow(l) => passed += allowed(&*l, 1, clock.now()),
        }
    }
    assert_eq!(keys.len(), 3);
    assert_eq!(passed, 2);
    // Once the known callers' buckets are full again they are forgotten
    // (a full bucket is a new bucket), and a newcomer gets its own.
    clock.advance(Duration::from_secs(5));
    assert!(matches!(keys.get("d", clock.now()), KeySlot::Own(_)));
    assert!(keys.len() <= 3);
}

#[test]
fn a_caller_name_too_long_to_keep_shares_the_overflow_limiter() {
    // Without a bound on a key's length, max_keys names of a frame's size
    // each would hold gigabytes.
    let clock = ManualClock::new();
    let keys = KeyedLimiters::new(
        Arc::new(|| Arc::new(TokenBucket::new(1.0, 1)) as Arc<dyn RateLimiter>),
        100,
    );
    let long = "x".repeat(minirpc::flow::MAX_KEY_BYTES + 1);
    assert!(matches!(keys.get(&long, clock.now()), KeySlot::Overflow(_)));
    assert_eq!(keys.len(), 0);
    let longest = "x".repeat(minirpc::flow::MAX_KEY_BYTES);
    assert!(matches!(keys.get(&longest, clock.now()), KeySlot::Own(_)));
}

#[test]
fn rules_match_a_call_id_a_service_pattern_or_everything() {
    let r = Rule::token_bucket("Arith.*", 1.0, 1);
    assert!(r.matches("Arith.Multiply"));
    assert!(!r.matches("Arithmetic"));
    assert!(!r.matches("Other.Multiply"));
    assert!(Rule::token_bucket("*", 1.0, 1).matches("anything"));
    let exact = Rule::token_bucket("Multiply", 1.0, 1);
    assert!(exact.matches("Multiply"));
    assert!(!exact.matches("Multiply2"));
    assert_eq!(
        Rule::token_bucket("Arith.*", 100.0, 20)
            .per_caller()
            .describe(),
        "Arith.* per caller: 100/s burst 20"
    );
}

#[test]
fn a_refusal_names_the_rule_the_caller_and_when_to_retry() {
    let clock = ManualClock::new();
    let flow = FlowControl::new(&[Rule::token_bucket("Arith.*", 100.0, 20)
        .per_caller()
        .clock(clock.clone())]);
    for _ in 0..20 {
        flow.check("Arith.Multiply", Some("noisy")).unwrap();
    }
    clock.advance(2 * MS); // 0.2 of a token back: the next is due in 8 ms
    let e = flow.check("Arith.Multiply", Some("noisy")).unwrap_err();
    assert_eq!(e.status, Status::ResourceExhausted);
    assert_eq!(
        e.message,
        "rate limit \"Arith.* per caller: 100/s burst 20\" exceeded for caller \"noisy\"; retry after 8 ms (see ServerBuilder::rate_limit)"
    );
    assert_eq!(e.retry_after(), Some(8 * MS));
    // Another caller has its own bucket; another service no rule at all.
    flow.check("Arith.Multiply", Some("quiet")).unwrap();
    flow.check("Other.Call", Some("noisy")).unwrap();
}

#[test]
fn a_rule_for_one_caller_leaves_the_others_alone() {
    let clock = ManualClock::new();
    let flow = FlowControl::new(&[Rule::sliding_window("Report", 1, Duration::from_secs(1))
        .for_caller("batch")
        .clock(clock.clone())]);
    flow.check("Report", Some("batch")).unwrap();
    assert!(flow.check("Report", Some("batch")).is_err());
    for _ in 0..10 {
        flow.check("Report", Some("web")).unwrap();
        flow.check("Report", None).unwrap();
    }
    assert_eq!(
        flow.report(),
        vec![(
            "Report for caller 'batch': 1 per 1s (sliding window)".to_owned(),
            1
        )],
        "the report counts each rule's refusals"
    );
}

// ---- the conformance checks (minirpc::testkit) ---------------------------------

#[test]
fn the_built_in_limiters_pass_the_conformance_checks() {
    use minirpc::testkit::check_rate_limiter;
    // A bucket of `limit` per `period` and a burst of a tenth of that.
    check_rate_limiter(&|limit, period| {
        let rate = f64::from(limit) / period.as_secs_f64();
        Box::new(TokenBucket::new(rate, (limit / 10).max(1)))
    });
    check_rate_limiter(&|limit, period| Box::new(SlidingWindow::new(limit, period)));
    check_rate_limiter(&|limit, period| Box::new(FixedWindow::new(limit, period)));
}

/// A limiter that allows everything: what the checks must catch.
struct AllowAll;

impl RateLimiter for AllowAll {
    fn try_acquire(&self, _: Instant) -> minirpc::flow::Decision {
        minirpc::flow::Decision::Allow
    }
    fn describe(&self) -> String {
        "no limit".into()
    }
}

/// A bucket that claims to be idle while it is empty.
struct LyingIdle(TokenBucket);

impl RateLimiter for LyingIdle {
    fn try_acquire(&self, now: Instant) -> minirpc::flow::Decision {
        self.0.try_acquire(now)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn is_idle(&self, _: Instant) -> bool {
        true
    }
}

#[test]
fn the_conformance_checks_catch_a_limiter_that_does_not_limit() {
    let broken: Vec<&str> = minirpc::testkit::rate_limiter_failures(&|_, _| Box::new(AllowAll))
        .iter()
        .map(|f| f.property)
        .collect();
    assert_eq!(
        broken,
        vec![
            "sustained demand gets the limit's rate within 10 %",
            "no period passes more than twice the limit",
            "a refusal's retry_after is honest",
        ]
    );
}

#[test]
fn the_conformance_checks_catch_a_limiter_that_lies_about_being_idle() {
    // A bucket that never refills (rate 0), claiming idleness when empty.
    let broken: Vec<&str> = minirpc::testkit::rate_limiter_failures(&|limit, _| {
        Box::new(LyingIdle(TokenBucket::new(0.0, limit)))
    })
    .iter()
    .map(|f| f.property)
    .collect();
    assert!(
        broken.contains(&"an idle limiter behaves as a new one"),
        "{broken:?}"
    );
}

#[test]
fn the_conformance_checks_catch_a_limiter_that_lets_a_burst_through() {
    // The right rate, and a burst of three periods' worth: the average is
    // right, but a quiet caller may spend 60 calls in an instant on a
    // limit of 20 per second.
    let broken: Vec<&str> = minirpc::testkit::rate_limiter_failures(&|limit, period| {
        let rate = f64::from(limit) / period.as_secs_f64();
        Box::new(TokenBucket::new(rate, limit * 3))
    })
    .iter()
    .map(|f| f.property)
    .collect();
    assert!(
        broken.contains(&"no period passes more than twice the limit"),
        "{broken:?}"
    );
}

/// A fixed window that tells a refused caller to come back at once.
struct RetryNow(FixedWindow);

impl RateLimiter for RetryNow {
    fn try_acquire(&self, now: Instant) -> minirpc::flow::Decision {
        match self.0.try_acquire(now) {
            minirpc::flow::Decision::Deny { .. } => minirpc::flow::Decision::Deny {
                retry_after: Duration::ZERO,
            },
            d => d,
        }
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

#[test]
fn the_conformance_checks_catch_a_limiter_whose_retry_after_lies() {
    let broken: Vec<&str> = minirpc::testkit::rate_limiter_failures(&|limit, period| {
        Box::new(RetryNow(FixedWindow::new(limit, period)))
    })
    .iter()
    .map(|f| f.property)
    .collect();
    assert_eq!(broken, vec!["a refusal's retry_after is honest"]);
}
