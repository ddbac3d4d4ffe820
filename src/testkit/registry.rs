//! The conformance suite of [`Registry`]: what every registry must do.
//!
//! Article: 原理 › 服务发现 and 分组部署. The one idea to take away: **the
//! properties a consumer relies on are few, and each one fits in a short
//! test**: an instance can be found while registered and not after; a
//! provider that dies disappears after its TTL, one that lives does not; a
//! subscriber sees the list first and then every change, in order; and a
//! lookup never crosses a group.
//!
//! The same suite runs against `MemoryRegistry`, on a manual clock it
//! steps ([`Time::Manual`]), and against a real etcd, on real time with
//! short TTLs ([`Time::Real`]): one property set, two ways of letting a
//! TTL pass. Each property gets a fresh registry from your `make` and its
//! own service names, so properties cannot disturb one another (even on
//! one shared etcd).

use crate::discovery::{Instance, Registration, Registry, Subscription};
use crate::time::ManualClock;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the suite lets a TTL pass.
#[derive(Clone, Debug)]
pub enum Time {
    /// The registry reads this clock (build it with the same one, e.g.
    /// `MemoryRegistry::with_clock`), and the suite advances it: nothing
    /// waits for a TTL in real time. The clock is stepped a quarter of a
    /// TTL at a time, and a registration that is held must survive any
    /// number of steps.
    Manual(Arc<ManualClock>),
    /// The registry runs on real time (etcd): registrations use `ttl`, and
    /// the suite polls, for at most three TTLs and 5 s more, for an expiry
    /// to show.
    Real {
        /// The TTL of every registration (2 s is a good value for etcd).
        ttl: Duration,
    },
}

impl Time {
    /// Real time, with TTLs of 2 s.
    pub fn real() -> Time {
        Time::Real {
            ttl: Duration::from_secs(2),
        }
    }

    fn ttl(&self) -> Duration {
        match self {
            Time::Manual(_) => Duration::from_secs(10),
            Time::Real { ttl } => *ttl,
        }
    }

    /// How long, in real time, to wait for something the registry should
    /// do by itself (a notification, an expiry).
    fn patience(&self) -> Duration {
        match self {
            Time::Manual(_) => Duration::from_secs(3),
            Time::Real { ttl } => ttl.saturating_mul(3) + Duration::from_secs(5),
        }
    }

    /// Move a manual clock forward by `quarters` quarters of a TTL (and a
    /// millisecond, to be past any deadline exactly that far away); real
    /// time passes by itself.
    fn pass(&self, quarters: u32) {
        if let Time::Manual(clock) = self {
            for _ in 0..quarters {
                clock.advance(self.ttl() / 4);
            }
            clock.advance(Duration::from_millis(1));
        }
    }
}

/// One property that an implementation broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The property, e.g. `"groups and versions are isolated"`.
    pub property: &'static str,
    /// What was done and what came back.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.message)
    }
}

type Property = fn(&dyn Registry, &Ctx) -> Result<(), String>;

/// Every property, by name, in the order they run.
const PROPERTIES: &[(&str, Property)] = &[
    ("register, lookup, deregister", register_lookup_deregister),
    ("dropping a registration deregisters", drop_deregisters),
    (
        "a subscription sees the list first, then each change in order",
        subscribe_in_order,
    ),
    (
        "an abandoned registration expires after its TTL, a held one does not",
        ttl_expiry,
    ),
    ("groups and versions are isolated", groups_and_versions),
    (
        "an instance can register again after it expired",
        reregister_after_expiry,
    ),
];

/// Run every property against registries from `make`, and panic with a
/// list of the broken ones. Call it from a test:
///
/// ```
/// use minirpc::discovery::MemoryRegistry;
/// use minirpc::testkit::{check_registry, Time};
/// use minirpc::time::ManualClock;
///
/// let clock = ManualClock::new();
/// let c = clock.clone();
/// check_registry(move || Box::new(MemoryRegistry::with_clock(c.clone())), Time::Manual(clock));
/// ```
pub fn check_registry(make: impl Fn() -> Box<dyn Registry>, time: Time) {
    let failures = registry_failures(make, &time);
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().map(|f| format!("- {f}")).collect();
        panic!(
            "the registry breaks {} of {} properties:\n{}",
            failures.len(),
            PROPERTIES.len(),
            list.join("\n")
        );
    }
}

/// The same checks, returning the broken properties instead of panicking.
pub fn registry_failures(make: impl Fn() -> Box<dyn Registry>, time: &Time) -> Vec<Failure> {
    let mut failures = Vec::new();
    for &(property, check) in PROPERTIES {
        let ctx = Ctx { time };
        failures.extend(super::run_property(property, || check(&*make(), &ctx)));
    }
    failures
}

// ---- the properties ------------------------------------------------------------

fn register_lookup_deregister(reg: &dyn Registry, ctx: &Ctx) -> Result<(), String> {
    let svc = ctx.service("basic");
    let a = inst(&svc, "g", "1.0.0", 7002).weight(7).meta("zone", "z1");
    let b = inst(&svc, "g", "1.0.0", 7001);
    expect_lookup(reg, (&svc, "g", "1.0.0"), &[], "before anything registered")?;
    let ra = ctx.register(reg, &a)?;
    expect_lookup(reg, (&svc, "g", "1.0.0"), &[&a], "after registering a")?;
    let _rb = ctx.register(reg, &b)?;
    expect_lookup(reg, (&svc, "g", "1.0.0"), &[&b, &a], "(sorted by address)")?;
    ra.deregister()
        .map_err(|e| format!("deregister of {a} failed: {e}"))?;
    expect_lookup(
        reg,
        (&svc, "g", "1.0.0"),
        &[&b],
        "right after deregistering a",
    )
}

fn drop_deregisters(reg: &dyn Registry, ctx: &Ctx) -> Result<(), String> {
    let svc = ctx.service("drop");
    let a = inst(&svc, "g", "1.0.0", 7001);
    let sub = ctx.subscribe(reg, (&svc, "g", "1.0.0"))?;
    ctx.expect_next(&sub, &[], &[], "subscribing")?;
    let ra = ctx.register(reg, &a)?;
    ctx.expect_next(&sub, &[&a], &[], "registering a")?;
    drop(ra);
    expect_lookup(
        reg,
        (&svc, "g", "1.0.0"),
        &[],
        "right after dropping a's registration",
    )?;
    ctx.expect_next(&sub, &[], &[&a], "dropping a's registration")
}

fn subscribe_in_order(reg: &dyn Registry, ctx: &Ctx) -> Result<(), String> {
    let svc = ctx.service("order");
    let (a, b) = (
        inst(&svc, "g", "1.0.0", 7001),
        inst(&svc, "g", "1.0.0", 7002),
    );
    let ra = ctx.register(reg, &a)?;
    let sub = ctx.subscribe(reg, (&svc, "g", "*"))?;
    ctx.expect_next(&sub, &[&a], &[], "subscribing while a was registered")?;
    let rb = ctx.register(reg, &b)?;
    ctx.expect_next(&sub, &[&a, &b], &[&a], "registering b")?;
    drop(ra);
    ctx.expect_next(&sub, &[&b], &[&a, &b], "dropping a")?;
    drop(rb);
    ctx.expect_next(&sub, &[], &[&b], "dropping b")
}

fn ttl_expiry(reg: &dyn Registry, ctx: &Ctx) -> Result<(), String> {
    let svc = ctx.service("ttl");
    let (a, b) = (
        inst(&svc, "g", "1.0.0", 7001),
        inst(&svc, "g", "1.0.0", 7002),
    );
    let _held = ctx.register(reg, &a)?;
    let doomed = ctx.register(reg, &b)?;
    let sub = ctx.subscribe(reg, (&svc, "g", "1.0.0"))?;
    ctx.expect_next(&sub, &[&a, &b], &[], "subscribing")?;
    doomed.abandon();
    ctx.time.pass(2);
    expect_lookup(
        reg,
        (&svc, "g", "1.0.0"),
        &[&a, &b],
        "after abandoning b, before its TTL ran out",
    )?;
    ctx.time.pass(2);
    ctx.expect_next(&sub, &[&a], &[&a, &b], "b's TTL ran out")?;
    expect_lookup(
        reg,
        (&svc, "g", "1.0.0"),
        &[&a],
        "b expired while a was held",
    )?;
    ctx.time.pass(12);
    expect_lookup(
        reg,
        (&svc, "g", "1.0.0"),
        &[&a],
        "a was held for three more TTLs",
    )
}

fn groups_and_versions(reg: &dyn Registry, ctx: &Ctx) -> Result<(), String> {
    let svc = ctx.service("groups");
    let other = ctx.service("groups-other");
    let s1 = inst(&svc, "stable", "1.0.0", 7001);
    let s2 = inst(&svc, "stable", "2.0.0", 7002);
    let c2 = inst(&svc, "canary", "2.0.0", 7003);
    let o1 = inst(&other, "stable", "1.0.0", 7004);
    let _held: Vec<Registration> = [&s1, &s2, &c2, &o1]
        .iter()
        .map(|i| ctx.register(reg, i))
        .collect::<Result<_, _>>()?;
    let why = "a version matches exactly, or any with \"*\", and never another group";
    expect_lookup(reg, (&svc, "stable", "1.0.0"), &[&s1], why)?;
    expect_lookup(reg, (&svc, "stable", "*"), &[&s1, &s2], why)?;
    expect_lookup(reg, (&svc, "canary", "*"), &[&c2], why)?;
    expect_lookup(reg, (&svc, "canary", "1.0.0"), &[], why)?;
    expect_lookup(reg, (&svc, "no-such-group", "*"), &[], why)?;
    expect_lookup(reg, (&other, "stable", "*"), &[&o1], "another service")?;
    let sub = ctx.subscribe(reg, (&svc, "canary", "*"))?;
    ctx.expect_next(&sub, &[&c2], &[], "subscribing to the canary group")?;
    let s5 = inst(&svc, "stable", "2.0.0", 7005);
    let c6 = inst(&svc, "canary", "2.0.0", 7006);
    let _s5 = ctx.register(reg, &s5)?;
    let _c6 = ctx.register(reg, &c6)?;
    let what = "registering one more stable, then one more canary instance";
    ctx.expect_next(&sub, &[&c2, &c6], &[&c2], what)
}

fn reregister_after_expiry(reg: &dyn Registry, ctx: &Ctx) -> Result<(), String> {
    let svc = ctx.service("again");
    let a = inst(&svc, "g", "1.0.0", 7001);
    let sub = ctx.subscribe(reg, (&svc, "g", "1.0.0"))?;
    ctx.expect_next(&sub, &[], &[], "subscribing")?;
    ctx.register(reg, &a)?.abandon();
    ctx.expect_next(&sub, &[&a], &[], "registering a (then abandoning it)")?;
    ctx.time.pass(4);
    ctx.expect_next(&sub, &[], &[&a], "a's TTL ran out")?;
    let again = ctx.register(reg, &a)?;
    expect_lookup(
        reg,
        (&svc, "g", "1.0.0"),
        &[&a],
        "registering a again after it expired",
    )?;
    ctx.expect_next(&sub, &[&a], &[], "registering a again after it expired")?;
    drop(again);
    ctx.expect_next(&sub, &[], &[&a], "dropping the second registration")
}

// ---- helpers ----------------------------------------------------------------------

/// What every property gets besides the registry.
struct Ctx<'a> {
    time: &'a Time,
}

/// service, group, version
type Query<'a> = (&'a str, &'a str, &'a str);

impl Ctx<'_> {
    /// A service name no other property (or earlier run) uses.
    fn service(&self, what: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("testkit-{}-{nanos}-{n}-{what}", std::process::id())
    }

    fn register(&self, reg: &dyn Registry, i: &Instance) -> Result<Registration, String> {
        let ttl = self.time.ttl();
        reg.register(i, ttl)
            .map_err(|e| format!("register({i}, ttl {ttl:?}) failed: {e}"))
    }

    fn subscribe(&self, reg: &dyn Registry, q: Query) -> Result<Subscription, String> {
        reg.subscribe(q.0, q.1, q.2)
            .map_err(|e| format!("subscribe{q:?} failed: {e}"))
    }

    /// Wait for the snapshot `want` after `what`. A repeat of `before` (the
    /// list before the change) may come first; anything else is a failure.
    fn expect_next(
        &self,
        sub: &Subscription,
        want: &[&Instance],
        before: &[&Instance],
        what: &str,
    ) -> Result<(), String> {
        let end = Instant::now() + self.time.patience();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Some(got) = sub.next_timeout(left) else {
                return Err(format!(
                    "after {what}, the subscription should deliver {}, but nothing came in {:?}",
                    show(want),
                    self.time.patience()
                ));
            };
            if same(&got.instances, want) {
                return Ok(());
            }
            if !same(&got.instances, before) {
                return Err(format!(
                    "after {what}, the subscription should deliver {}, but it delivered {}",
                    show(want),
                    show(&got.instances.iter().collect::<Vec<_>>())
                ));
            }
        }
    }
}

fn expect_lookup(
    reg: &dyn Registry,
    q: Query,
    want: &[&Instance],
    why: &str,
) -> Result<(), String> {
    let got = reg
        .lookup(q.0, q.1, q.2)
        .map_err(|e| format!("lookup{q:?} failed: {e}"))?;
    if same(&got, want) {
        return Ok(());
    }
    Err(format!(
        "lookup{q:?} returned {}, expected {} ({why})",
        show(&got.iter().collect::<Vec<_>>()),
        show(want)
    ))
}

fn inst(service: &str, group: &str, version: &str, port: u16) -> Instance {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Instance::new(service, addr).group(group).version(version)
}

/// Equal in everything a registry must keep (its registration time may be
/// the registry's own).
fn same(got: &[Instance], want: &[&Instance]) -> bool {
    let key = |i: &Instance| {
        let mut i = i.clone();
        i.registered_at_ms = 0;
        i
    };
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| key(g) == key(w))
}

fn show(list: &[&Instance]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|i| format!("{} {}/{}", i.addr, i.group, i.version))
        .collect();
    format!("[{}]", items.join(", "))
}
