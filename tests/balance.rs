//! Load balancing (负载均衡): each algorithm's defining property.
//!
//! Random picks are spread evenly and weighted ones follow the weights
//! (fixed seeds, so the bounds are checked on one known sequence); smooth
//! round robin gives nginx's exact sequence; the consistent-hash ring
//! moves only the keys of an instance that leaves; the adaptive balancer
//! moves away from a slow instance and back when it recovers, on a manual
//! clock. Then every built-in balancer passes `testkit::check_balancer`,
//! and the checks fail balancers that break their promise. Nothing sleeps,
//! and nothing asserts on time.

use minirpc::balance::hash::{fnv1a64, ring_hash};
use minirpc::balance::{
    Adaptive, Balancer, ConsistentHash, Outcome, Random, RoundRobin, WeightedRandom,
};
use minirpc::discovery::Instance;
use minirpc::testkit::{balancer_failures, check_balancer, BalancerKind};
use minirpc::time::ManualClock;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 7000))
}

/// Instances 127.0.0.1, .2, … with these weights.
fn instances(weights: &[u32]) -> Vec<Instance> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Instance::new("Arith", addr(i as u8 + 1)).weight(w))
        .collect()
}

fn count(b: &dyn Balancer, list: &[Instance], picks: usize) -> Vec<u64> {
    let mut counts = vec![0; list.len()];
    for _ in 0..picks {
        counts[b.pick(list, None).unwrap()] += 1;
    }
    counts
}

/// Each count within five standard deviations of its binomial mean.
fn assert_shares(counts: &[u64], weights: &[u32]) {
    let n: u64 = counts.iter().sum();
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    for (&c, &w) in counts.iter().zip(weights) {
        let p = f64::from(w) / total as f64;
        let mean = n as f64 * p;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (c as f64 - mean).abs() <= 5.0 * sd,
            "counts {counts:?} for weights {weights:?}: {c} is more than 5 sd ({sd:.0}) from {mean:.0}"
        );
    }
}

/// The letter of each pick: instance 1 is `a`, 2 is `b` …
fn letters(b: &dyn Balancer, list: &[Instance], picks: usize) -> String {
    (0..picks)
        .map(|_| (b'a' + b.pick(list, None).unwrap() as u8) as char)
        .collect()
}

// ---- random ----------------------------------------------------------------------

#[test]
fn random_gives_every_instance_an_equal_share_whatever_the_weights() {
    let list = instances(&[5, 1, 1]);
    let counts = count(&Random::with_seed(1), &list, 100_000);
    assert_shares(&counts, &[1, 1, 1]);
}

#[test]
fn weighted_random_gives_shares_in_proportion_to_weight() {
    let list = instances(&[5, 1, 1]);
    let counts = count(&WeightedRandom::with_seed(1), &list, 100_000);
    assert_shares(&counts, &[5, 1, 1]);
    let list = instances(&[100, 0, 300, 100]);
    let counts = count(&WeightedRandom::with_seed(2), &list, 100_000);
    assert_eq!(counts[1], 0, "a zero weight is never picked");
    assert_shares(&counts, &[100, 0, 300, 100]);
}

#[test]
fn random_skips_a_drained_instance_and_still_picks_when_all_are_drained() {
    let list = instances(&[100, 0, 100]);
    let counts = count(&Random::with_seed(3), &list, 30_000);
    assert_eq!(counts[1], 0);
    assert_shares(&counts, &[1, 0, 1]);
    let all_drained = instances(&[0, 0, 0]);
    assert_shares(
        &count(&Random::with_seed(4), &all_drained, 30_000),
        &[1, 1, 1],
    );
}

#[test]
fn the_same_seed_gives_the_same_picks() {
    let list = instances(&[1, 2, 3, 4]);
    let first = letters(&WeightedRandom::with_seed(9), &list, 50);
    assert_eq!(first, letters(&WeightedRandom::with_seed(9), &list, 50));
    assert_ne!(first, letters(&WeightedRandom::with_seed(10), &list, 50));
}

// ---- smooth weighted round robin ----------------------------------------------------

#[test]
fn smooth_round_robin_gives_a_a_b_a_c_a_a_for_weights_5_1_1() {
    let rr = RoundRobin::new();
    let list = instances(&[5, 1, 1]);
    for cycle in 0..3 {
        assert_eq!(letters(&rr, &list, 7), "aabacaa", "cycle {cycle}");
    }
}

#[test]
fn round_robin_with_equal_weights_is_plain_round_robin() {
    let rr = RoundRobin::new();
    assert_eq!(letters(&rr, &instances(&[100, 100, 100]), 9), "abcabcabc");
}

#[test]
fn a_weight_change_takes_effect_at_the_next_pick_and_the_new_cycle_is_exact() {
    let rr = RoundRobin::new();
    let before = instances(&[5, 1, 1]);
    // Three picks into the cycle (current weights now 1, -4, 3), b's
    // weight goes up to 5. Each keeps its current weight; only the steps
    // change, so the sum stays zero and the new cycle of 11 is fair.
    assert_eq!(letters(&rr, &before, 3), "aab");
    let after = instances(&[5, 5, 1]);
    for cycle in 0..3 {
        assert_eq!(letters(&rr, &after, 11), "abcabababab", "cycle {cycle}");
    }
    // At the end of a whole cycle every current weight is zero again, so
    // a change there starts the new weights' own sequence.
    let rr = RoundRobin::new();
    assert_eq!(letters(&rr, &before, 7), "aabacaa");
    assert_eq!(letters(&rr, &instances(&[1, 1, 5]), 7), "ccacbcc");
}

#[test]
fn a_retry_on_fewer_instances_does_not_upset_round_robin_shares() {
    // A failover retry passes the list without the instance that failed.
    // `a` is absent from those picks and keeps its current weight, so it
    // still gets its 5 of every 7 picks made on the full list.
    let rr = RoundRobin::new();
    let full = instances(&[5, 1, 1]);
    let retry: Vec<Instance> = full[1..].to_vec();
    let mut to_a = 0;
    let mut full_picks = 0;
    for k in 0..1000 {
        if k % 10 == 9 {
            rr.pick(&retry, None).unwrap();
        } else {
            full_picks += 1;
            to_a += usize::from(rr.pick(&full, None) == Some(0));
        }
    }
    let fair = full_picks * 5 / 7;
    assert!(
        to_a.abs_diff(fair) <= 2,
        "a got {to_a} of {full_picks} full-list picks; fair is {fair}"
    );
}

// ---- consistent hash -----------------------------------------------------------------

fn owners(b: &dyn Balancer, list: &[Instance], keys: usize) -> Vec<SocketAddr> {
    (0..keys)
        .map(|k| list[b.pick(list, Some(format!("user-{k}").as_bytes())).unwrap()].addr)
        .collect()
}

#[test]
fn consistent_hash_sends_the_same_key_to_the_same_instance() {
    let ring = ConsistentHash::new();
    let list = instances(&[100; 5]);
    let first = owners(&ring, &list, 1000);
    assert_eq!(owners(&ring, &list, 1000), first);
    // The owner depends on the set of instances, not on the list's order,
    // and a different ring object (another consumer) agrees.
    let reversed: Vec<Instance> = list.iter().rev().cloned().collect();
    assert_eq!(owners(&ConsistentHash::new(), &reversed, 1000), first);
}

#[test]
fn removing_one_of_ten_instances_moves_only_its_keys_and_adding_it_back_restores_them() {
    const KEYS: usize = 10_000;
    let ring = ConsistentHash::new();
    let all = instances(&[100; 10]);
    let gone = all[3].addr;
    let nine: Vec<Instance> = all.iter().filter(|i| i.addr != gone).cloned().collect();

    let before = owners(&ring, &all, KEYS);
    let after = owners(&ring, &nine, KEYS);
    let moved: Vec<usize> = (0..KEYS).filter(|&k| after[k] != before[k]).collect();
    let its_own: Vec<usize> = (0..KEYS).filter(|&k| before[k] == gone).collect();
    assert_eq!(moved, its_own, "exactly the keys of {gone} moved");
    let share = moved.len() as f64 / KEYS as f64;
    eprintln!(
        "one of 10 instances left: {} of {KEYS} keys moved ({:.1} %)",
        moved.len(),
        share * 100.0
    );
    assert!((0.07..=0.13).contains(&share), "share {share}");
    // Its keys were spread over the others, not dumped on one neighbour.
    let mut heirs = BTreeMap::new();
    for &k in &moved {
        *heirs.entry(after[k]).or_insert(0) += 1;
    }
    assert!(heirs.len() >= 6, "its keys went to only {heirs:?}");

    assert_eq!(
        owners(&ring, &all, KEYS),
        before,
        "adding it back restores them"
    );
}

#[test]
fn a_drained_instance_loses_its_keys_exactly_as_if_it_had_left() {
    let ring = ConsistentHash::new();
    let all = instances(&[100; 10]);
    let mut drained = all.clone();
    drained[3].weight = 0;
    let nine: Vec<Instance> = all
        .iter()
        .filter(|i| i.addr != all[3].addr)
        .cloned()
        .collect();
    assert_eq!(owners(&ring, &drained, 5000), owners(&ring, &nine, 5000));
}

#[test]
fn a_keyless_call_goes_to_a_random_instance() {
    let ring = ConsistentHash::new().seed(5);
    let list = instances(&[100; 3]);
    assert_shares(&count(&ring, &list, 30_000), &[1, 1, 1]);
}

/// The fewest and the most of 10,000 keys owned by one of the 10
/// instances in `list`.
fn fewest_and_most(owner: &[SocketAddr], list: &[Instance]) -> (usize, usize) {
    let owned: Vec<usize> = list
        .iter()
        .map(|i| owner.iter().filter(|&&a| a == i.addr).count())
        .collect();
    (*owned.iter().min().unwrap(), *owned.iter().max().unwrap())
}

/// A bare ring written out here, so that the hash placing its points can
/// be swapped: the owner of each key among `list`, `replicas` points each.
fn bare_ring_owners(hash: fn(&[u8]) -> u64, list: &[Instance], replicas: usize) -> Vec<SocketAddr> {
    let mut points: Vec<(u64, SocketAddr)> = list
        .iter()
        .flat_map(|i| {
            (0..replicas).map(move |v| (hash(format!("{}#{v}", i.addr).as_bytes()), i.addr))
        })
        .collect();
    points.sort();
    (0..10_000)
        .map(|k| {
            let at = hash(format!("user-{k}").as_bytes());
            let next = points.partition_point(|&(p, _)| p < at);
            points.get(next).unwrap_or(&points[0]).1
        })
        .collect()
}

#[test]
fn virtual_nodes_and_a_well_mixed_hash_even_out_the_ring() {
    let list = instances(&[100; 10]);
    // One point per instance: the arcs between neighbours are uneven.
    let one = fewest_and_most(
        &owners(&ConsistentHash::with_replicas(1), &list, 10_000),
        &list,
    );
    // 160 points per instance (Dubbo's number): every share near 1,000.
    let many = fewest_and_most(&owners(&ConsistentHash::new(), &list, 10_000), &list);
    // 160 points placed by FNV-1a alone: "addr#0", "addr#1" … differ only
    // at the end, and without a finalizer their points bunch together.
    let unmixed = fewest_and_most(&bare_ring_owners(fnv1a64, &list, 160), &list);
    let mixed = fewest_and_most(&bare_ring_owners(ring_hash, &list, 160), &list);
    eprintln!("fewest/most keys of 10,000 on 10 instances: 1 point {one:?}, 160 points {many:?}, 160 points by FNV-1a alone {unmixed:?}");
    assert!(one.1 > 1500, "{one:?}");
    assert!(many.0 >= 850 && many.1 <= 1150, "{many:?}");
    assert!(unmixed.0 < 500 && unmixed.1 > 2000, "{unmixed:?}");
    assert_eq!(mixed, many, "the bare ring is the same ring");
}

/// `hash(key) % n`: the tempting shortcut, and what the ring replaces. A
/// name must not lie: this is hashing, but it is not consistent.
struct ModuloHash;

impl Balancer for ModuloHash {
    fn pick(&self, instances: &[Instance], key: Option<&[u8]>) -> Option<usize> {
        let n = instances.len() as u64;
        (n > 0).then(|| (ring_hash(key.unwrap_or_default()) % n) as usize)
    }
    fn name(&self) -> &'static str {
        "hash_mod_n"
    }
}

#[test]
fn hash_mod_n_moves_most_keys_when_one_of_ten_leaves_and_fails_the_hashing_checks() {
    let all = instances(&[100; 10]);
    let nine: Vec<Instance> = all
        .iter()
        .filter(|i| i.addr != all[3].addr)
        .cloned()
        .collect();
    let (before, after) = (
        owners(&ModuloHash, &all, 10_000),
        owners(&ModuloHash, &nine, 10_000),
    );
    let moved = (0..10_000).filter(|&k| after[k] != before[k]).count();
    eprintln!("hash % n, one of 10 left: {moved} of 10000 keys moved");
    assert!(moved > 8000, "{moved}");
    let failures = balancer_failures(&ModuloHash, BalancerKind::Hashing);
    let broken: Vec<&str> = failures.iter().map(|f| f.property).collect();
    assert!(
        broken.contains(
            &"removing one of 10 instances moves only its keys, and adding it back restores them"
        ),
        "{failures:?}"
    );
}

// ---- adaptive -------------------------------------------------------------------------

/// One caller making `calls` calls in a row: pick, start, let the
/// instance's latency pass on the clock, finish. Returns who got each call.
fn drive(
    b: &Adaptive,
    clock: &ManualClock,
    list: &[Instance],
    calls: usize,
    latency: impl Fn(SocketAddr) -> Duration,
) -> Vec<SocketAddr> {
    (0..calls)
        .map(|_| {
            let a = list[b.pick(list, None).unwrap()].addr;
            b.started(a);
            clock.advance(latency(a));
            b.finished(a, Outcome::success(latency(a)));
            a
        })
        .collect()
}

fn share(got: &[SocketAddr], a: SocketAddr) -> f64 {
    got.iter().filter(|&&x| x == a).count() as f64 / got.len() as f64
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn adaptive_sends_most_calls_to_the_faster_of_two_instances() {
    let clock = ManualClock::new();
    let b = Adaptive::new(clock.clone()).seed(1);
    let list = instances(&[100, 100]);
    let (fast, slow) = (addr(1), addr(2));
    let got = drive(&b, &clock, &list, 1000, |a| {
        if a == fast {
            5 * MS
        } else {
            20 * MS
        }
    });
    assert!(share(&got, fast) > 0.9, "fast got {}", share(&got, fast));
    assert!(
        got.contains(&slow),
        "the slow one is still probed now and then"
    );
    assert_eq!(b.latency(slow), Some(20 * MS));
}

#[test]
fn adaptive_moves_away_from_an_instance_that_slows_down_and_back_when_it_recovers() {
    let clock = ManualClock::new();
    let b = Adaptive::new(clock.clone()).seed(2);
    let list = instances(&[100, 100]);
    let (a, other) = (addr(1), addr(2));
    let normal = |x: SocketAddr| if x == a { 5 * MS } else { 20 * MS };

    let got = drive(&b, &clock, &list, 1000, normal);
    assert!(
        share(&got, a) > 0.9,
        "a, the faster, got {}",
        share(&got, a)
    );

    // a's handler slows down to 100 ms.
    let got = drive(&b, &clock, &list, 1000, |x| {
        if x == a {
            100 * MS
        } else {
            20 * MS
        }
    });
    assert!(
        share(&got, other) > 0.9,
        "while a is slow, the other got {}",
        share(&got, other)
    );

    // a recovers. It gets no calls until it is probed (within 2 s of the
    // clock), and the probe's answer brings it back at once.
    let got = drive(&b, &clock, &list, 1000, normal);
    assert!(
        share(&got[200..], a) > 0.9,
        "after recovering, a got {}",
        share(&got[200..], a)
    );
}

#[test]
fn adaptive_tries_a_long_unpicked_instance_once_and_its_answer_counts_at_once() {
    let clock = ManualClock::new();
    let b = Adaptive::new(clock.clone()).seed(3);
    let list = instances(&[100, 100]);
    let (fast, slow) = (addr(1), addr(2));
    for (x, latency) in [(fast, 5 * MS), (slow, 100 * MS)] {
        b.started(x);
        b.finished(x, Outcome::success(latency));
    }
    for _ in 0..10 {
        assert_eq!(list[b.pick(&list, None).unwrap()].addr, fast);
    }
    clock.advance(Duration::from_secs(2));
    // Not picked for 2 s: the slow one is probed, once.
    assert_eq!(list[b.pick(&list, None).unwrap()].addr, slow);
    b.started(slow);
    assert_eq!(
        list[b.pick(&list, None).unwrap()].addr,
        fast,
        "one probe, not a flood"
    );
    // It answers in 1 ms: that replaces its 100 ms average, not blends in.
    b.finished(slow, Outcome::success(MS));
    assert_eq!(b.latency(slow), Some(MS));
    assert_eq!(list[b.pick(&list, None).unwrap()].addr, slow);
}

#[test]
fn adaptive_does_not_mistake_an_instance_that_fails_fast_for_a_fast_one() {
    let clock = ManualClock::new();
    let b = Adaptive::new(clock.clone()).seed(4);
    let list = instances(&[100, 100]);
    let (broken, good) = (addr(1), addr(2));
    let got: Vec<SocketAddr> = (0..1000)
        .map(|_| {
            let x = list[b.pick(&list, None).unwrap()].addr;
            b.started(x);
            clock.advance(MS);
            // The broken one refuses in a microsecond; the good one
            // answers in 10 ms.
            if x == broken {
                b.finished(x, Outcome::failure(Duration::from_micros(1)));
            } else {
                b.finished(x, Outcome::success(10 * MS));
            }
            x
        })
        .collect();
    assert!(
        share(&got, good) > 0.95,
        "the good one got {}",
        share(&got, good)
    );
}

#[test]
fn adaptive_avoids_an_instance_whose_calls_pile_up() {
    let clock = ManualClock::new();
    let b = Adaptive::new(clock.clone()).seed(5);
    let list = instances(&[100, 100, 100]);
    for x in [addr(1), addr(2), addr(3)] {
        b.started(x);
        b.finished(x, Outcome::success(10 * MS));
    }
    // addr(1) stops answering: its calls stay in flight.
    let mut to_stuck = 0;
    for _ in 0..300 {
        let x = list[b.pick(&list, None).unwrap()].addr;
        b.started(x);
        if x == addr(1) {
            to_stuck += 1;
        } else {
            b.finished(x, Outcome::success(10 * MS));
        }
    }
    assert_eq!(b.in_flight(addr(1)), to_stuck);
    assert!(
        to_stuck <= 2,
        "{to_stuck} of 300 calls went to the stuck instance"
    );
}

// ---- conformance ----------------------------------------------------------------------

#[test]
fn random_passes_the_conformance_checks() {
    check_balancer(&Random::with_seed(11), BalancerKind::Uniform);
}

#[test]
fn weighted_random_passes_the_conformance_checks() {
    check_balancer(&WeightedRandom::with_seed(12), BalancerKind::Weighted);
}

#[test]
fn round_robin_passes_the_conformance_checks() {
    check_balancer(&RoundRobin::new(), BalancerKind::Weighted);
}

#[test]
fn consistent_hash_passes_the_conformance_checks() {
    check_balancer(&ConsistentHash::new().seed(13), BalancerKind::Hashing);
}

#[test]
fn adaptive_passes_the_conformance_checks() {
    let clock = ManualClock::new();
    check_balancer(&Adaptive::new(clock).seed(14), BalancerKind::LoadAware);
    check_balancer(&Adaptive::default(), BalancerKind::LoadAware);
}

/// Round robin that ignores weights: a plain cycle.
struct Cycle(std::sync::atomic::AtomicUsize);

impl Balancer for Cycle {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        let n = instances.len();
        (n > 0).then(|| self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n)
    }
    fn name(&self) -> &'static str {
        "cycle"
    }
}

#[test]
fn the_checks_catch_a_balancer_that_ignores_weights() {
    let failures = balancer_failures(&Cycle(Default::default()), BalancerKind::Weighted);
    let broken: Vec<&str> = failures.iter().map(|f| f.property).collect();
    assert!(
        broken.contains(&"a zero weight is never picked while another weight is positive")
            && broken.contains(&"shares follow the weights"),
        "{failures:?}"
    );
    // The message names the input and what came back.
    let shares = failures
        .iter()
        .find(|f| f.property == "shares follow the weights");
    assert!(
        shares.unwrap().message.contains("with weights [5, 1, 1]"),
        "{failures:?}"
    );
    // The same balancer keeps the promises of every balancer but that one.
    let any: Vec<&str> = balancer_failures(&Cycle(Default::default()), BalancerKind::Any)
        .iter()
        .map(|f| f.property)
        .collect();
    assert_eq!(
        any,
        ["a zero weight is never picked while another weight is positive"]
    );
}
