//! The scenarios of `examples/discovery/`, as tests: the example's own
//! pieces (`Provider`, `Prober`, `Consumer`), driven on a `MemoryRegistry`.
//!
//! Where the example waits on the system clock and prints how long things
//! took, these tests step a `ManualClock` and check only what must be true
//! whatever the machine's speed: a crashed provider is found dead within
//! `misses_to_dead` probe rounds, while the registry still lists it; the
//! registry drops it once its TTL has passed; and a consumer in `canary`
//! never hears of an instance in `stable`. Every real wait is bounded and
//! only proves that nothing hung.

// The whole example, its `main` and its modules, as one module of this
// test. `dead_code` is allowed because the test uses only some of it (not
// `main`, the script in `demo.rs` or the command line).
#[allow(dead_code)]
#[path = "../examples/discovery/main.rs"]
mod example;

use example::consumer::Consumer;
use example::fleet::{Fate, Provider, Spec, FLEET};
use example::prober::Prober;
use example::timeline::{Seen, Timeline};
use example::{HEARTBEAT, SERVICE, TTL};
use minirpc::discovery::{Health, HealthTracker, MemoryRegistry, Registry, Snapshot};
use minirpc::time::ManualClock;
use std::time::Duration;

/// The longest any real wait may take: only a hang gets near it.
const PATIENCE: Duration = Duration::from_secs(10);

fn spec(fate: Fate) -> Spec {
    *FLEET
        .iter()
        .find(|s| s.fate == fate)
        .expect("FLEET has a provider of every fate")
}

fn next(sub: &minirpc::discovery::Subscription, what: &str) -> Snapshot {
    sub.next_timeout(PATIENCE)
        .unwrap_or_else(|| panic!("no list within {PATIENCE:?}: {what}"))
}

#[test]
fn a_crashed_provider_is_dead_within_misses_to_dead_rounds_and_leaves_after_its_ttl() {
    let clock = ManualClock::new();
    let registry = MemoryRegistry::with_clock(clock.clone());
    let b = Provider::start(&registry, &spec(Fate::Crashes), TTL).unwrap();
    let (addr, group) = (b.addr(), b.instance.group.clone());
    let sub = registry.subscribe(SERVICE, &b.instance.group, "*").unwrap();
    let tracker = HealthTracker::new(example::health_config(), clock.clone());
    tracker.update(&next(&sub, "subscribing"));
    let mut prober = Prober::default();
    assert!(
        prober.round(&tracker).is_empty(),
        "a provider that answers stays healthy"
    );
    assert_eq!(tracker.health(addr), Some(Health::Healthy));

    b.crash();
    let misses_to_dead = tracker.config().misses_to_dead;
    let mut rounds = 0;
    while tracker.health(addr) != Some(Health::Dead) && rounds < misses_to_dead {
        if rounds > 0 {
            clock.advance(HEARTBEAT);
        }
        prober.round(&tracker);
        rounds += 1;
    }
    assert_eq!(
        tracker.health(addr),
        Some(Health::Dead),
        "still {:?} after {rounds} heartbeat rounds",
        tracker.state(addr)
    );
    // The consumer found out by itself: the registry still lists it.
    assert!(HEARTBEAT * rounds < TTL);
    let listed = registry.lookup(SERVICE, &group, "*").unwrap();
    assert_eq!(listed.len(), 1, "the lease has not run out yet: {listed:?}");
    assert_eq!(sub.try_next(), None, "no list was pushed before the TTL");

    // One TTL after the crash, the registry drops it and says so.
    clock.advance(TTL);
    let after = next(&sub, "the TTL ran out");
    assert!(after.instances.is_empty(), "{after:?}");
    tracker.update(&after);
    let state = tracker.state(addr).expect("the tracker remembers it once");
    assert_eq!(state.health, Health::Dead);
    assert!(state.deregistered, "dead for good: never probed again");
    assert!(prober.round(&tracker).is_empty());
}

#[test]
fn a_consumer_in_canary_never_sees_a_stable_instance() {
    let clock = ManualClock::new();
    let registry = MemoryRegistry::with_clock(clock.clone());
    let canary = spec(Fate::Stays);
    assert_eq!(canary.group, "canary");
    let sub = registry.subscribe(SERVICE, canary.group, "*").unwrap();
    assert!(next(&sub, "subscribing").instances.is_empty());

    // The whole fleet registers: the canary consumer hears of C alone.
    let a = Provider::start(&registry, &spec(Fate::StopsCleanly), TTL).unwrap();
    let b = Provider::start(&registry, &spec(Fate::Crashes), TTL).unwrap();
    assert_eq!(sub.try_next(), None, "told of a stable provider");
    let c = Provider::start(&registry, &canary, TTL).unwrap();
    assert_eq!(
        next(&sub, "C registered").instances,
        vec![c.instance.clone()]
    );

    // Stable churns: a clean stop, a crash, its TTL. The registry publishes
    // each change inside the call that made it (the expiry inside the
    // lookup that finds it), so a change sent here would be waiting now.
    a.stop();
    assert_eq!(sub.try_next(), None, "told that a stable provider stopped");
    b.crash();
    clock.advance(TTL);
    assert!(registry.lookup(SERVICE, "stable", "*").unwrap().is_empty());
    assert_eq!(sub.try_next(), None, "told that a stable provider expired");

    // A canary change still arrives, and it holds only canary instances.
    let d = Provider::start(
        &registry,
        &Spec {
            name: "D",
            ..canary
        },
        TTL,
    )
    .unwrap();
    let last = next(&sub, "D registered");
    assert_eq!(last.instances.len(), 2, "{last:?}");
    assert!(last.instances.iter().all(|i| i.group == "canary"));
    d.stop();
    c.stop();
}

#[test]
fn the_example_consumer_lists_only_its_own_group() {
    // The example's consumer, threads and all, on the system clock.
    let registry = MemoryRegistry::new();
    let timeline = Timeline::new(false);
    let consumer = Consumer::start(&registry, "canary", timeline.clone()).unwrap();
    let fleet: Vec<Provider> = FLEET
        .iter()
        .map(|s| Provider::start(&registry, s, TTL).unwrap())
        .collect();
    let c = fleet.iter().find(|p| p.instance.group == "canary").unwrap();
    assert!(
        timeline
            .wait_for(Seen::Listed(c.addr()), PATIENCE)
            .is_some(),
        "the canary consumer never listed C"
    );
    let canary_addr = c.addr();
    for p in fleet {
        match p.fate {
            Fate::Crashes => p.crash(),
            _ => p.stop(),
        }
    }
    assert!(
        timeline
            .wait_for(Seen::Unlisted(canary_addr), PATIENCE)
            .is_some(),
        "C stopped cleanly, and the consumer was never told"
    );
    let listed = consumer.ever_listed();
    consumer.stop();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed.iter().all(|i| i.group == "canary"), "{listed:?}");
}
