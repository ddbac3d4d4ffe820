//! `MemoryRegistry`: the conformance suite, and what only an in-process
//! registry can be asked.
//!
//! - it passes `minirpc::testkit::check_registry` on a manual clock and on
//!   the system clock (short real TTLs);
//! - the suite itself catches registries that break a property (one that
//!   ignores versions, one whose registrations never expire), so a pass
//!   means something;
//! - many providers and consumers at once, from threads, agree on the end
//!   state, and every snapshot on the way is sorted and inside its group;
//! - registering an instance again replaces it, and the older registration
//!   can no longer remove it; a registration no lookup could find is
//!   refused with what to do instead;
//! - a dropped subscription costs the registry nothing, and one that is
//!   never read holds only the latest list;
//! - expiry follows the manual clock: advance it, and subscribers hear,
//!   with no registry call in between and no sleep.
//!
//! No test sleeps to order events: they wait on subscriptions and
//! barriers, each wait bounded by `PATIENCE`.

use minirpc::discovery::{
    Instance, Lease, MemoryRegistry, Registration, Registry, Snapshot, Subscription,
};
use minirpc::testkit::{check_registry, registry_failures, Time};
use minirpc::time::ManualClock;
use minirpc::RpcError;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any wait may take before the test calls it a hang.
const PATIENCE: Duration = Duration::from_secs(5);

const TTL: Duration = Duration::from_secs(30);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn arith(port: u16) -> Instance {
    Instance::new("Arith", addr(port))
}

fn ports(s: &Snapshot) -> Vec<u16> {
    s.instances.iter().map(|i| i.addr.port()).collect()
}

/// The next snapshot, or a failure naming what we waited for.
fn next(sub: &Subscription, what: &str) -> Snapshot {
    sub.next_timeout(PATIENCE)
        .unwrap_or_else(|| panic!("no snapshot within {PATIENCE:?} after {what}"))
}

// ---- the conformance suite ---------------------------------------------------

#[test]
fn memory_registry_passes_the_conformance_suite_on_a_manual_clock() {
    let clock = ManualClock::new();
    let c = clock.clone();
    check_registry(
        move || Box::new(MemoryRegistry::with_clock(c.clone())),
        Time::Manual(clock),
    );
}

#[test]
fn memory_registry_passes_the_conformance_suite_on_the_system_clock() {
    // Real TTLs, short: this runs the reaper's "sleep until the next
    // expiry" path. The suite polls for expiry, bounded; nothing is timed.
    let ttl = Duration::from_millis(200);
    check_registry(|| Box::new(MemoryRegistry::new()), Time::Real { ttl });
}

/// A registry that answers every lookup and subscription as if `"*"` had
/// been asked: versions leak into each other.
struct IgnoresVersion(MemoryRegistry);

impl Registry for IgnoresVersion {
    fn register(&self, i: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        self.0.register(i, ttl)
    }
    fn lookup(&self, s: &str, g: &str, _v: &str) -> Result<Vec<Instance>, RpcError> {
        self.0.lookup(s, g, "*")
    }
    fn subscribe(&self, s: &str, g: &str, _v: &str) -> Result<Subscription, RpcError> {
        self.0.subscribe(s, g, "*")
    }
}

/// A registry whose registrations outlive their providers: an abandoned
/// registration is kept alive forever instead of expiring.
struct NeverExpires {
    inner: MemoryRegistry,
    kept: Arc<Mutex<Vec<Registration>>>,
}

struct Immortal {
    inner: Option<Registration>,
    kept: Arc<Mutex<Vec<Registration>>>,
}

impl Lease for Immortal {
    fn revoke(&mut self) -> Result<(), RpcError> {
        self.inner.take().map_or(Ok(()), Registration::deregister)
    }
}

impl Drop for Immortal {
    fn drop(&mut self) {
        if let Some(r) = self.inner.take() {
            self.kept.lock().unwrap().push(r);
        }
    }
}

impl Registry for NeverExpires {
    fn register(&self, i: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        let inner = self.inner.register(i, ttl)?;
        let lease = Immortal {
            inner: Some(inner),
            kept: Arc::clone(&self.kept),
        };
        Ok(Registration::new(i.clone(), Box::new(lease)))
    }
    fn lookup(&self, s: &str, g: &str, v: &str) -> Result<Vec<Instance>, RpcError> {
        self.inner.lookup(s, g, v)
    }
    fn subscribe(&self, s: &str, g: &str, v: &str) -> Result<Subscription, RpcError> {
        self.inner.subscribe(s, g, v)
    }
}

#[test]
fn the_suite_catches_a_registry_that_lets_versions_leak() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let failures = registry_failures(
        move || Box::new(IgnoresVersion(MemoryRegistry::with_clock(c.clone()))),
        &Time::Manual(clock),
    );
    let broken: Vec<&str> = failures.iter().map(|f| f.property).collect();
    assert_eq!(broken, ["groups and versions are isolated"], "{failures:?}");
    // The message names the call and both lists, so a learner can act.
    let m = &failures[0].message;
    assert!(m.contains("lookup(") && m.contains("\"1.0.0\")") && m.contains("expected"));
}

#[test]
fn the_suite_catches_a_registry_whose_registrations_never_expire() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let failures = registry_failures(
        move || {
            Box::new(NeverExpires {
                inner: MemoryRegistry::with_clock(c.clone()),
                kept: Arc::default(),
            })
        },
        &Time::Manual(clock),
    );
    let broken: Vec<&str> = failures.iter().map(|f| f.property).collect();
    assert_eq!(
        broken,
        [
            "an abandoned registration expires after its TTL, a held one does not",
            "an instance can register again after it expired",
        ],
        "{failures:?}"
    );
    assert!(failures[0].message.contains("TTL ran out"), "{failures:?}");
}

// ---- one instance, one key ----------------------------------------------------

#[test]
fn registering_the_same_instance_again_outlives_the_first_registration() {
    // A provider restarted on the same address registers again before the
    // old registration is dropped: the old one must not take the new one
    // with it.
    let registry = MemoryRegistry::new();
    let old = registry.register(&arith(1), TTL).unwrap();
    let new = registry.register(&arith(1).weight(50), TTL).unwrap();
    drop(old);
    let found = registry.lookup("Arith", "default", "*").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].weight, 50);
    drop(new);
    assert!(registry.lookup("Arith", "default", "*").unwrap().is_empty());
}

#[test]
fn bad_registrations_are_refused_with_what_to_do() {
    let registry = MemoryRegistry::new();
    let star = registry.register(&arith(1).version("*"), TTL).unwrap_err();
    assert!(star.message.contains("concrete version"), "{star}");
    let zero = registry.register(&arith(1), Duration::ZERO).unwrap_err();
    assert!(zero.message.contains("Duration::from_secs"), "{zero}");
}

// ---- many at once ------------------------------------------------------------

#[test]
fn many_providers_and_consumers_at_once_agree_on_the_end_state() {
    const PROVIDERS: u16 = 8;
    const EACH: u16 = 6;
    const CONSUMERS: usize = 6;
    let registry = Arc::new(MemoryRegistry::new());
    let start = Arc::new(Barrier::new(PROVIDERS as usize + CONSUMERS));
    let done = Arc::new(Barrier::new(PROVIDERS as usize + 1));

    // Provider p registers EACH instances (even ports in "blue", odd in
    // "green"), keeps the first half and drops the rest.
    let providers: Vec<_> = (0..PROVIDERS)
        .map(|p| {
            let (registry, start, done) = (registry.clone(), start.clone(), done.clone());
            thread::spawn(move || {
                start.wait();
                let mut held: Vec<Registration> = (0..EACH)
                    .map(|k| {
                        let port = 1000 + p * 100 + k;
                        let group = if port % 2 == 0 { "blue" } else { "green" };
                        registry.register(&arith(port).group(group), TTL).unwrap()
                    })
                    .collect();
                held.truncate(EACH as usize / 2);
                done.wait(); // keep the rest registered until the end
                held
            })
        })
        .collect();

    let kept = |group_parity: u16| -> Vec<u16> {
        let mut v: Vec<u16> = (0..PROVIDERS)
            .flat_map(|p| (0..EACH / 2).map(move |k| 1000 + p * 100 + k))
            .filter(|port| port % 2 == group_parity)
            .collect();
        v.sort();
        v
    };
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let (registry, start) = (registry.clone(), start.clone());
            let (group, parity) = if c % 2 == 0 {
                ("blue", 0)
            } else {
                ("green", 1)
            };
            let want = kept(parity);
            thread::spawn(move || {
                let sub = registry.subscribe("Arith", group, "*").unwrap();
                start.wait();
                let deadline = Instant::now() + PATIENCE;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let s = sub
                        .next_timeout(left)
                        .unwrap_or_else(|| panic!("{group}: never saw {want:?}"));
                    let got = ports(&s);
                    assert!(got.windows(2).all(|w| w[0] < w[1]), "unsorted: {got:?}");
                    assert!(s.instances.iter().all(|i| i.group == group), "{s:?}");
                    if got == want {
                        return;
                    }
                }
            })
        })
        .collect();

    for c in consumers {
        c.join().expect("a consumer failed");
    }
    done.wait();
    let held: Vec<Vec<Registration>> = providers.into_iter().map(|p| p.join().unwrap()).collect();
    let blue: Vec<u16> = registry
        .lookup("Arith", "blue", "*")
        .unwrap()
        .iter()
        .map(|i| i.addr.port())
        .collect();
    assert_eq!(blue, kept(0));
    drop(held);
    assert!(registry.lookup("Arith", "blue", "*").unwrap().is_empty());
    assert!(registry.lookup("Arith", "green", "*").unwrap().is_empty());
}

// ---- subscriptions cost what they hold -----------------------------------------

#[test]
fn a_dropped_subscription_costs_the_registry_nothing() {
    let registry = MemoryRegistry::new();
    for _ in 0..1000 {
        drop(registry.subscribe("Arith", "default", "*").unwrap());
    }
    // Its Debug output counts what it keeps.
    assert!(format!("{registry:?}").contains("subscribers: 0"));
    let _r = registry.register(&arith(1), TTL).unwrap();
    assert!(format!("{registry:?}").contains("instances: 1, subscribers: 0"));
}

#[test]
fn a_subscription_that_is_never_read_holds_only_the_latest_list() {
    let registry = MemoryRegistry::new();
    let sub = registry.subscribe("Arith", "default", "*").unwrap();
    let mut held = Vec::new();
    for port in 1..=300 {
        held.push(registry.register(&arith(port), TTL).unwrap());
    }
    held.truncate(3);
    // Nearly 600 changes happened; one snapshot waits, the last.
    assert_eq!(ports(&next(&sub, "600 changes")), [1, 2, 3]);
    assert_eq!(sub.try_next(), None);
}

#[test]
fn dropping_the_registry_ends_every_subscription() {
    let registry = MemoryRegistry::new();
    let mut sub = registry.subscribe("Arith", "default", "*").unwrap();
    assert_eq!(sub.next().map(|s| s.instances.len()), Some(0));
    drop(registry);
    assert_eq!(sub.next(), None);
}

// ---- expiry on a manual clock ----------------------------------------------------

#[test]
fn expiry_follows_the_manual_clock_and_reaches_subscribers_without_a_call() {
    let clock = ManualClock::new();
    let registry = MemoryRegistry::with_clock(clock.clone());
    let _a = registry.register(&arith(1), TTL).unwrap();
    registry.register(&arith(2), TTL).unwrap().abandon();
    let sub = registry.subscribe("Arith", "default", "*").unwrap();
    assert_eq!(ports(&next(&sub, "subscribing")), [1, 2]);

    clock.advance(TTL - Duration::from_millis(1));
    assert_eq!(registry.lookup("Arith", "default", "*").unwrap().len(), 2);
    assert_eq!(sub.try_next(), None, "nothing changed yet");
    clock.advance(Duration::from_millis(1));
    // No registry call in between: the reaper saw the clock move.
    assert_eq!(ports(&next(&sub, "the TTL ran out")), [1]);
}

#[test]
fn a_held_registration_survives_any_jump_of_the_clock() {
    let clock = ManualClock::new();
    let registry = MemoryRegistry::with_clock(clock.clone());
    let _a = registry.register(&arith(1), TTL).unwrap();
    clock.advance(Duration::from_secs(1_000_000));
    assert_eq!(registry.lookup("Arith", "default", "*").unwrap().len(), 1);
}

#[test]
fn a_paused_provider_disappears_one_ttl_later_and_its_late_drop_is_harmless() {
    let clock = ManualClock::new();
    let registry = MemoryRegistry::with_clock(clock.clone());
    let hung = registry.register(&arith(1), TTL).unwrap();
    let sub = registry.subscribe("Arith", "default", "*").unwrap();
    assert_eq!(ports(&next(&sub, "subscribing")), [1]);
    assert_eq!(registry.pause_renewal(addr(1)), 1);
    clock.advance(TTL);
    assert_eq!(
        ports(&next(&sub, "the paused lease ran out")),
        Vec::<u16>::new()
    );

    // The provider comes back and registers again; then its old, hung
    // registration is finally dropped. That must not remove the new one.
    let _back = registry.register(&arith(1), TTL).unwrap();
    assert_eq!(ports(&next(&sub, "registering again")), [1]);
    drop(hung);
    assert_eq!(registry.lookup("Arith", "default", "*").unwrap().len(), 1);
}

// ---- groups: a canary by configuration ------------------------------------------

/// What a consumer reads from its configuration (a file, an environment
/// variable, a command-line flag): the group and version to call. Only
/// this differs between a stable consumer and a canary one.
struct Target {
    group: String,
    version: String,
}

impl Target {
    /// `"group=canary,version=2.0.0"`; a missing group is `default`, a
    /// missing version is `*`.
    fn parse(config: &str) -> Target {
        let mut t = Target {
            group: "default".into(),
            version: "*".into(),
        };
        for pair in config.split(',') {
            match pair.trim().split_once('=') {
                Some(("group", g)) => t.group = g.into(),
                Some(("version", v)) => t.version = v.into(),
                _ => {}
            }
        }
        t
    }
}

/// The consumer's code, the same whatever its configuration says.
fn providers_for(registry: &dyn Registry, config: &str) -> Vec<u16> {
    let t = Target::parse(config);
    let sub = registry.subscribe("Arith", &t.group, &t.version).unwrap();
    ports(&next(&sub, "subscribing"))
}

#[test]
fn a_consumer_moves_to_the_canary_by_configuration_alone() {
    let registry = MemoryRegistry::new();
    let v1 = |port| arith(port).group("stable").version("1.0.0");
    let v2 = |port| arith(port).group("canary").version("2.0.0");
    let _stable = [v1(1), v1(2)].map(|i| registry.register(&i, TTL).unwrap());
    let canary = registry.register(&v2(3), TTL).unwrap();

    assert_eq!(
        providers_for(&registry, "group=stable,version=1.0.0"),
        [1, 2]
    );
    assert_eq!(providers_for(&registry, "group=canary,version=2.0.0"), [3]);
    assert_eq!(providers_for(&registry, "group=canary"), [3]);
    // With the canary gone, a canary consumer has nobody to call: it
    // never falls back to the stable group.
    drop(canary);
    assert!(providers_for(&registry, "group=canary").is_empty());
}
