//! The conformance checks of [`Balancer`]: what every balancer must do,
//! and what each kind of balancer promises on top.
//!
//! Article: 原理 › 负载均衡. The one idea to take away: **a balancer's
//! promise is a statement about many picks, and a few hundred picks check
//! it**. Every balancer picks only among the instances it is given,
//! answers `None` for none, never picks a drained (zero-weight) instance
//! while another is available, and survives many threads at once. Then
//! each kind adds its defining property: equal shares, shares that follow
//! the weights, keys that stay put, or picks that avoid a slow instance.
//!
//! ```text
//!  your test ── check_balancer(&YourBalancer::new(), BalancerKind::Hashing) ──►
//!     for each property: instances of its own (fresh addresses), many picks
//!     ◄── a panic naming every property that broke, and on what input
//! ```
//!
//! The same balancer value runs every property in turn, so what it
//! remembers from one property (current weights, latencies) concerns
//! addresses no other property uses. The statistical bounds are five
//! standard deviations wide: a correct random balancer fails one about
//! once in a hundred thousand runs, and a seeded one gives the same
//! answer every run.

use super::Failure;
use crate::balance::{Balancer, Outcome};
use crate::discovery::Instance;
use std::net::SocketAddr;
use std::time::Duration;

/// What kind of balancer is checked: the properties it must have beyond
/// the ones every balancer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalancerKind {
    /// Only the promises of every [`Balancer`].
    Any,
    /// Each candidate gets an equal share, whatever the weights (like
    /// `Random`).
    Uniform,
    /// Shares follow the weights (like `WeightedRandom` and `RoundRobin`),
    /// also under concurrent picks.
    Weighted,
    /// The caller's key decides (like `ConsistentHash`): the same key goes
    /// to the same instance, keys are spread, and when one instance of 10
    /// leaves only its keys move.
    Hashing,
    /// Outcomes and calls in flight steer the picks (like `Adaptive`):
    /// most picks avoid an instance that answers slowly, and one with
    /// calls piling up.
    LoadAware,
}

type Property = fn(&dyn Balancer, u8) -> Result<(), String>;

/// Every property: its name, the kinds it applies to (empty: all), and
/// the check.
const PROPERTIES: &[(&str, &[BalancerKind], Property)] = &[
    ("an empty list gives None", &[], empty_list),
    ("a pick is one of the given instances", &[], in_range),
    (
        "an instance that left the list is never picked",
        &[],
        departed_never_picked,
    ),
    (
        "a zero weight is never picked while another weight is positive",
        &[],
        zero_weights,
    ),
    ("concurrent picks are safe", &[], concurrent),
    (
        "every instance gets an equal share, whatever its weight",
        &[BalancerKind::Uniform],
        equal_shares,
    ),
    (
        "shares follow the weights",
        &[BalancerKind::Weighted],
        weighted_shares,
    ),
    (
        "shares follow the weights under concurrent picks",
        &[BalancerKind::Weighted],
        weighted_shares_concurrently,
    ),
    (
        "the same key goes to the same instance, in any list order",
        &[BalancerKind::Hashing],
        same_key_same_instance,
    ),
    (
        "keys are spread over the instances",
        &[BalancerKind::Hashing],
        keys_spread,
    ),
    (
        "removing one of 10 instances moves only its keys, and adding it back restores them",
        &[BalancerKind::Hashing],
        minimal_movement,
    ),
    (
        "most picks avoid an instance that answers slowly",
        &[BalancerKind::LoadAware],
        avoids_slow,
    ),
    (
        "most picks avoid an instance with calls piling up",
        &[BalancerKind::LoadAware],
        avoids_busy,
    ),
];

/// Check `balancer` against every property of its `kind`, and panic with
/// a list of the broken ones. Call it from a test:
///
/// ```
/// use minirpc::balance::RoundRobin;
/// use minirpc::testkit::{check_balancer, BalancerKind};
///
/// check_balancer(&RoundRobin::new(), BalancerKind::Weighted);
/// ```
pub fn check_balancer(balancer: &dyn Balancer, kind: BalancerKind) {
    let failures = balancer_failures(balancer, kind);
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().map(|f| format!("- {f}")).collect();
        panic!(
            "the balancer {:?} ({kind:?}) breaks {} properties:\n{}",
            balancer.name(),
            failures.len(),
            list.join("\n")
        );
    }
}

/// The same checks, returning the broken properties instead of panicking.
pub fn balancer_failures(balancer: &dyn Balancer, kind: BalancerKind) -> Vec<Failure> {
    let mut failures = Vec::new();
    for (n, &(property, kinds, check)) in PROPERTIES.iter().enumerate() {
        if !kinds.is_empty() && !kinds.contains(&kind) {
            continue;
        }
        // Each property gets addresses of its own: 10.0.<n>.x.
        failures.extend(super::run_property(property, || check(balancer, n as u8)));
    }
    failures
}

// ---- the properties ------------------------------------------------------------

fn empty_list(b: &dyn Balancer, _: u8) -> Result<(), String> {
    for key in [None, Some(&b"key"[..])] {
        if let Some(i) = b.pick(&[], key) {
            return Err(format!("pick(&[], {}) returned Some({i})", show_key(key)));
        }
    }
    Ok(())
}

fn in_range(b: &dyn Balancer, p: u8) -> Result<(), String> {
    for n in [1usize, 2, 3, 7] {
        let list = instances(p, &vec![100; n]);
        for k in 0..200 {
            let key = format!("key-{k}");
            for key in [None, Some(key.as_bytes())] {
                match b.pick(&list, key) {
                    Some(i) if i < n => {}
                    got => {
                        return Err(format!(
                            "pick of {n} instances with {} returned {got:?}",
                            show_key(key)
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

fn departed_never_picked(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let all = instances(p, &[100; 5]);
    // The two survivors come in another order than they had in the list.
    let survivors = vec![all[4].clone(), all[1].clone()];
    for k in 0..200 {
        let key = format!("key-{k}");
        for key in [None, Some(key.as_bytes())] {
            if let Some(i) = b.pick(&all, key) {
                b.started(all[i % all.len()].addr);
                b.finished(
                    all[i % all.len()].addr,
                    Outcome::success(Duration::from_millis(1)),
                );
            }
            match b.pick(&survivors, key) {
                Some(i) if i < survivors.len() => {}
                got => {
                    return Err(format!(
                        "after picks among 5 instances, 3 of them left; a pick among the 2 \
                         left with {} returned {got:?} (only 0 or 1 may be picked: a balancer \
                         keeps what it learns by address, not by position)",
                        show_key(key)
                    ))
                }
            }
        }
    }
    Ok(())
}

fn zero_weights(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let weights = [0, 3, 0, 1];
    let list = instances(p, &weights);
    for k in 0..400 {
        let key = format!("key-{k}");
        for key in [None, Some(key.as_bytes())] {
            match b.pick(&list, key) {
                Some(1) | Some(3) => {}
                got => {
                    return Err(format!(
                        "with weights {weights:?} and {}, pick returned {got:?} (only 1 or 3 may be picked)",
                        show_key(key)
                    ))
                }
            }
        }
    }
    // All zero: nothing is preferred, but the call must still go somewhere.
    let zeros = instances(p, &[0, 0, 0]);
    for key in [None, Some(&b"key"[..])] {
        match b.pick(&zeros, key) {
            Some(i) if i < 3 => {}
            got => {
                return Err(format!(
                    "with weights [0, 0, 0] and {}, pick returned {got:?} (all zero: any of them, never None)",
                    show_key(key)
                ))
            }
        }
    }
    Ok(())
}

fn concurrent(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let list = instances(p, &[1, 2, 3, 4]);
    let counts = picks_from_threads(b, &list, 4, 1000)?;
    let total: u64 = counts.iter().sum();
    if total != 4000 {
        return Err(format!(
            "4 threads × 1000 picks, with started/finished around each, counted {total} picks"
        ));
    }
    Ok(())
}

fn equal_shares(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let weights = [5, 1, 1];
    let list = instances(p, &weights);
    let counts = picks(b, &list, 7000);
    within_bounds(&counts, &[1, 1, 1], &format!("with weights {weights:?}"))
}

fn weighted_shares(b: &dyn Balancer, p: u8) -> Result<(), String> {
    for weights in [&[5u32, 1, 1][..], &[1, 2, 3, 4], &[100, 0, 300]] {
        let list = instances(p, weights);
        let counts = picks(b, &list, 7000);
        within_bounds(&counts, weights, &format!("with weights {weights:?}"))?;
    }
    Ok(())
}

fn weighted_shares_concurrently(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let weights = [5, 1, 1];
    let list = instances(p, &weights);
    let counts = picks_from_threads(b, &list, 4, 1750)?;
    within_bounds(
        &counts,
        &weights,
        &format!("with weights {weights:?}, from 4 threads at once"),
    )
}

fn same_key_same_instance(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let list = instances(p, &[100; 5]);
    let reversed: Vec<Instance> = list.iter().rev().cloned().collect();
    let first = owners(b, &list, 1000)?;
    // Picks on another list in between must not disturb the owners.
    let _ = owners(b, &instances(p, &[100; 3]), 100)?;
    let again = owners(b, &list, 1000)?;
    let turned = owners(b, &reversed, 1000)?;
    for k in 0..1000 {
        if again[k] != first[k] {
            return Err(format!(
                "key \"key-{k}\" went to {} and then to {} (5 instances, same list)",
                first[k], again[k]
            ));
        }
        if turned[k] != first[k] {
            return Err(format!(
                "key \"key-{k}\" went to {}, and to {} when the same 5 instances came in reverse order",
                first[k], turned[k]
            ));
        }
    }
    Ok(())
}

fn keys_spread(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let list = instances(p, &[100; 10]);
    let owner = owners(b, &list, 10_000)?;
    for i in &list {
        let owned = owner.iter().filter(|&&a| a == i.addr).count();
        if !(500..=2000).contains(&owned) {
            return Err(format!(
                "{} owns {owned} of 10,000 keys among 10 instances (fair: 1,000; allowed 500 to 2,000; \
                 a ring needs many virtual nodes per instance to even out)",
                i.addr
            ));
        }
    }
    Ok(())
}

fn minimal_movement(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let all = instances(p, &[100; 10]);
    let gone = all[3].addr;
    let fewer: Vec<Instance> = all.iter().filter(|i| i.addr != gone).cloned().collect();
    let before = owners(b, &all, 10_000)?;
    let after = owners(b, &fewer, 10_000)?;
    let back = owners(b, &all, 10_000)?;
    for k in 0..10_000 {
        if before[k] != gone && after[k] != before[k] {
            return Err(format!(
                "removing {gone} (one of 10) moved key \"key-{k}\" from {} to {}, \
                 but only {gone}'s own keys may move (is it hash % n?)",
                before[k], after[k]
            ));
        }
        if back[k] != before[k] {
            return Err(format!(
                "after {gone} was removed and added back, key \"key-{k}\" went to {} instead of {}",
                back[k], before[k]
            ));
        }
    }
    Ok(())
}

fn avoids_slow(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let list = instances(p, &[100, 100]);
    let (fast, slow) = (list[0].addr, list[1].addr);
    let latency = |a: SocketAddr| {
        if a == slow {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(1)
        }
    };
    // Teach it: a few calls to each.
    for _ in 0..5 {
        for a in [fast, slow] {
            b.started(a);
            b.finished(a, Outcome::success(latency(a)));
        }
    }
    let mut to_slow = 0;
    for _ in 0..1000 {
        let a = list[b
            .pick(&list, None)
            .ok_or("pick returned None for 2 instances")?]
        .addr;
        to_slow += usize::from(a == slow);
        b.started(a);
        b.finished(a, Outcome::success(latency(a)));
    }
    if to_slow > 200 {
        return Err(format!(
            "{to_slow} of 1000 picks went to an instance answering in 50 ms, \
             while the other answered in 1 ms (at most 200 allowed)"
        ));
    }
    Ok(())
}

fn avoids_busy(b: &dyn Balancer, p: u8) -> Result<(), String> {
    let list = instances(p, &[100, 100]);
    let (free, busy) = (list[0].addr, list[1].addr);
    for _ in 0..5 {
        for a in [free, busy] {
            b.started(a);
            b.finished(a, Outcome::success(Duration::from_millis(5)));
        }
    }
    for _ in 0..20 {
        b.started(busy);
    }
    let mut to_busy = 0;
    for _ in 0..100 {
        let i = b
            .pick(&list, None)
            .ok_or("pick returned None for 2 instances")?;
        to_busy += usize::from(list[i].addr == busy);
    }
    for _ in 0..20 {
        b.finished(busy, Outcome::success(Duration::from_millis(5)));
    }
    if to_busy > 20 {
        return Err(format!(
            "{to_busy} of 100 picks went to an instance with 20 calls in flight, \
             while the other, as fast, had none (at most 20 allowed)"
        ));
    }
    Ok(())
}

// ---- helpers ----------------------------------------------------------------------

/// Instances 10.0.<p>.1, .2, … on port 7000, with these weights.
fn instances(p: u8, weights: &[u32]) -> Vec<Instance> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let addr = SocketAddr::from(([10, 0, p, i as u8 + 1], 7000));
            Instance::new("testkit.Balance", addr).weight(w)
        })
        .collect()
}

fn show_key(key: Option<&[u8]>) -> String {
    match key {
        None => "no key".into(),
        Some(k) => format!("key {:?}", String::from_utf8_lossy(k)),
    }
}

/// How many of `n` keyless picks went to each instance.
fn picks(b: &dyn Balancer, list: &[Instance], n: usize) -> Vec<u64> {
    let mut counts = vec![0; list.len()];
    for _ in 0..n {
        if let Some(i) = b.pick(list, None).filter(|&i| i < list.len()) {
            counts[i] += 1;
        }
    }
    counts
}

/// The same from `threads` threads at once, each reporting its calls.
fn picks_from_threads(
    b: &dyn Balancer,
    list: &[Instance],
    threads: usize,
    each: usize,
) -> Result<Vec<u64>, String> {
    let results: Vec<Result<Vec<u64>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut counts = vec![0u64; list.len()];
                    for k in 0..each {
                        let key = format!("key-{t}-{k}");
                        let key = (k % 2 == 0).then_some(key.as_bytes());
                        match b.pick(list, key) {
                            Some(i) if i < list.len() => {
                                counts[i] += 1;
                                b.started(list[i].addr);
                                b.finished(
                                    list[i].addr,
                                    Outcome::success(Duration::from_millis(1)),
                                );
                            }
                            got => {
                                return Err(format!(
                                    "thread {t}, pick {k} of {} instances returned {got:?}",
                                    list.len()
                                ))
                            }
                        }
                    }
                    Ok(counts)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|p| {
                    Err(format!("a thread panicked: {}", super::panic_text(&*p)))
                })
            })
            .collect()
    });
    let mut total = vec![0u64; list.len()];
    for counts in results {
        for (t, c) in total.iter_mut().zip(counts?) {
            *t += c;
        }
    }
    Ok(total)
}

/// The owner of "key-0" … "key-<n-1>".
fn owners(b: &dyn Balancer, list: &[Instance], n: usize) -> Result<Vec<SocketAddr>, String> {
    (0..n)
        .map(|k| {
            let key = format!("key-{k}");
            match b.pick(list, Some(key.as_bytes())) {
                Some(i) if i < list.len() => Ok(list[i].addr),
                got => Err(format!(
                    "pick of {} instances with key \"{key}\" returned {got:?}",
                    list.len()
                )),
            }
        })
        .collect()
}

/// Whether `counts` match shares in proportion to `weights`, each within
/// five standard deviations of a binomial draw.
fn within_bounds(counts: &[u64], weights: &[u32], what: &str) -> Result<(), String> {
    let n: u64 = counts.iter().sum();
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let expected: Vec<f64> = weights
        .iter()
        .map(|&w| n as f64 * f64::from(w) / total as f64)
        .collect();
    let slack: Vec<f64> = weights
        .iter()
        .map(|&w| {
            let p = f64::from(w) / total as f64;
            5.0 * (n as f64 * p * (1.0 - p)).sqrt() + 1.0
        })
        .collect();
    let off = counts
        .iter()
        .zip(&expected)
        .zip(&slack)
        .any(|((&c, &e), &s)| (c as f64 - e).abs() > s);
    if off {
        let round = |v: &[f64]| v.iter().map(|x| x.round() as u64).collect::<Vec<_>>();
        return Err(format!(
            "{what}, {n} picks gave {counts:?}; expected about {:?}, each within ±{:?}",
            round(&expected),
            round(&slack)
        ));
    }
    Ok(())
}
