//! Service discovery, health checks and a canary, watched as they happen.
//!
//! Article: 原理 › 服务发现 (providers publish, consumers subscribe, and a
//! consumer should notice a change within seconds, 秒级), its 健康检查 part
//! (a node that only looks alive, 假死, is suspected, 亚健康, then found
//! dead; a probe, 探活, checks it again), and 原理 › 分组部署 (业务分组: a
//! call never crosses groups). Chapters: `docs/07-discovery.md` and
//! `docs/11-groups.md`.
//!
//! ```text
//! cargo run --example discovery                                  # MemoryRegistry, consumer in group stable
//! cargo run --example discovery -- --group canary                # the same consumer, switched to the canary
//! MINIRPC_GROUP=canary cargo run --example discovery             # ... by environment instead of a flag
//! cargo run --example discovery -- --etcd http://127.0.0.1:2379  # the same against a real etcd
//! ```
//!
//! What it does, in one process, in about three seconds:
//!
//! ```text
//!  consumer: subscribe(Arith, <group>, "*") ──► watcher thread: prints every list pushed to it,
//!                                                  feeds it to a HealthTracker
//!                                               prober thread: every 200 ms, pings (Client::ping)
//!                                                  whom the tracker believes in (a heartbeat) and
//!                                                  whom it asks to probe; prints each transition
//!  providers: A stable 1.0.0 ─ ServerHandle::publish ─┐
//!             B stable 1.0.0 ─ registry.register ─────┼──► the registry (TTL 2 s)
//!             C canary 2.0.0 ─ ServerHandle::publish ─┘
//!  then:      A stops cleanly: shutdown() deregisters first, the consumer hears at once
//!             B "crashes": its registration is abandoned (never deregistered) and its
//!               server goes; the prober finds it dead after 3 missed heartbeats, and
//!               the registry drops it when its TTL runs out
//! ```
//!
//! The consumer's group is configuration (`--group`, or `MINIRPC_GROUP`),
//! not code: with `canary` the same program calls version 2 only and never
//! hears of A and B at all. Each event is timed from the moment it happened
//! to the moment the consumer saw it, and a table at the end puts each time
//! beside what bounds it. The one idea to take away: **a clean stop is
//! heard at once (push), a crash is found by the consumer's own heartbeats
//! well before the registry's lease runs out, and the lease is the safety
//! net for consumers that do not check**.
//!
//! The pieces are small functions and types (`Provider`, `Prober`,
//! `Consumer`, `Timeline`) that `tests/discovery_scenarios.rs` drives on a
//! manual clock, so the properties printed here are also tested.

use minirpc::discovery::{
    EtcdRegistry, Event, Health, HealthConfig, HealthTracker, Instance, MemoryRegistry,
    Registration, Registry, Snapshot,
};
use minirpc::time::SystemClock;
use minirpc::{Client, RpcError, Server, ServerHandle};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ---- the settings of the demonstration ----------------------------------------

/// The service every provider offers.
pub const SERVICE: &str = "Arith";

/// How long a registration lives once its renewals stop. Short, so the
/// demonstration ends quickly; 2 s is also etcd's smallest lease.
pub const TTL: Duration = Duration::from_secs(2);

/// How often the consumer pings each instance (its heartbeat), and looks
/// for probes that are due.
pub const HEARTBEAT: Duration = Duration::from_millis(200);

/// How long one ping may take before it counts as missed.
pub const PING_TIMEOUT: Duration = Duration::from_millis(150);

/// The longest the demonstration waits for anything it expects to see
/// (beyond the bound that explains it).
pub const PATIENCE: Duration = Duration::from_secs(3);

/// The health thresholds: suspect after one missed heartbeat, dead after
/// three, the first probe half a second after an instance left `Healthy`.
/// (The library's defaults are seconds, fitted to a 5 s heartbeat; these are
/// the same rules, faster.)
pub fn health_config() -> HealthConfig {
    HealthConfig {
        misses_to_suspect: 1,
        misses_to_dead: 3,
        probe_backoff: Duration::from_millis(500),
        probe_backoff_max: TTL,
        probe_timeout: PING_TIMEOUT,
        ..HealthConfig::default()
    }
}

/// How a provider of the demonstration leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// `shutdown()`: it deregisters, then stops.
    StopsCleanly,
    /// It stops answering and never deregisters.
    Crashes,
    /// It serves until the end of the demonstration.
    Stays,
}

/// One provider of the demonstration.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// A short name, kept in the instance's metadata (`name`).
    pub name: &'static str,
    /// Its group (分组).
    pub group: &'static str,
    /// The version it serves.
    pub version: &'static str,
    /// How it leaves.
    pub fate: Fate,
}

/// The three providers: two of version 1 in `stable`, one of version 2 in
/// `canary`.
pub const FLEET: [Spec; 3] = [
    Spec {
        name: "A",
        group: "stable",
        version: "1.0.0",
        fate: Fate::StopsCleanly,
    },
    Spec {
        name: "B",
        group: "stable",
        version: "1.0.0",
        fate: Fate::Crashes,
    },
    Spec {
        name: "C",
        group: "canary",
        version: "2.0.0",
        fate: Fate::Stays,
    },
];

// ---- the timeline: what happened when, printed and kept ------------------------

/// Something the consumer saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The first list of its subscription arrived.
    FirstList,
    /// A list with this address, after one without it.
    Listed(SocketAddr),
    /// A list without this address, after one with it.
    Unlisted(SocketAddr),
    /// Its tracker moved this address to this health.
    Became(SocketAddr, Health),
}

/// The demonstration's clock and log: every line is stamped with the
/// milliseconds since the start, and every [`Seen`] is kept with its
/// instant so the main thread can wait for it and time it.
pub struct Timeline {
    start: Instant,
    print: bool,
    seen: Mutex<Vec<(Instant, Seen)>>,
    changed: Condvar,
    names: Mutex<BTreeMap<SocketAddr, String>>,
}

impl Timeline {
    /// A timeline starting now; `print: false` keeps it quiet (tests).
    pub fn new(print: bool) -> Arc<Timeline> {
        Arc::new(Timeline {
            start: Instant::now(),
            print,
            seen: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            names: Mutex::new(BTreeMap::new()),
        })
    }

    /// Print one line: `[  123 ms] who       what`.
    pub fn say(&self, who: &str, what: impl fmt::Display) {
        if self.print {
            let ms = self.start.elapsed().as_millis();
            out(format!("[{ms:>5} ms] {who:<9} {what}"));
        }
    }

    /// Keep `seen`, which happened at `at`, and wake whoever waits for it.
    pub fn note(&self, at: Instant, seen: Seen) {
        guard(&self.seen).push((at, seen));
        self.changed.notify_all();
    }

    /// When `seen` first happened, waiting for it at most `timeout`.
    pub fn wait_for(&self, seen: Seen, timeout: Duration) -> Option<Instant> {
        let find = |v: &[(Instant, Seen)]| v.iter().find(|(_, s)| *s == seen).map(|(t, _)| *t);
        let entries = guard(&self.seen);
        let (entries, _) = self
            .changed
            .wait_timeout_while(entries, timeout, |v| find(v).is_none())
            .unwrap_or_else(|p| p.into_inner());
        find(&entries)
    }

    /// Whether `seen` has happened yet.
    pub fn has_seen(&self, seen: Seen) -> bool {
        guard(&self.seen).iter().any(|(_, s)| *s == seen)
    }

    /// Remember the name behind an address (from its instance's metadata).
    pub fn name_address(&self, addr: SocketAddr, name: &str) {
        guard(&self.names).insert(addr, name.to_owned());
    }

    /// The name of an address, or the address itself.
    pub fn name(&self, addr: SocketAddr) -> String {
        guard(&self.names)
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| addr.to_string())
    }
}

/// A lock that a panic elsewhere does not poison for us.
fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---- providers -----------------------------------------------------------------

/// A Multiply server, also answering `Version` with the version it serves
/// (so a caller can see which fleet answered).
pub fn multiply_server(version: &str) -> Server {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument(format!("{l} * {r} overflows i32")))
    });
    let version = version.to_owned();
    server.register("Version", move |(): ()| Ok(version.clone()));
    server
}

/// A running provider: a server on `127.0.0.1:0`, published in a registry.
pub struct Provider {
    /// What it registered.
    pub instance: Instance,
    /// The moment just before it registered.
    pub registering_at: Instant,
    /// How it will leave.
    pub fate: Fate,
    server: ServerHandle,
    /// A provider that will crash holds its registration here, outside the
    /// server, so that it can abandon it instead of deregistering.
    held: Option<Registration>,
}

impl Provider {
    /// Start `spec`'s server on `127.0.0.1:0`, not registered yet.
    pub fn serve(spec: &Spec) -> Result<Provider, RpcError> {
        let server = multiply_server(spec.version)
            .serve("127.0.0.1:0")
            .map_err(|e| RpcError::from_io("cannot start a provider on 127.0.0.1:0", &e))?;
        let instance = Instance::new(SERVICE, server.local_addr())
            .group(spec.group)
            .version(spec.version)
            .meta("name", spec.name);
        Ok(Provider {
            instance,
            registering_at: Instant::now(),
            fate: spec.fate,
            server,
            held: None,
        })
    }

    /// Register in `registry` with `ttl`. A provider that stops cleanly or
    /// stays is published by its server (`ServerHandle::publish`, which
    /// deregisters first on shutdown); one that will crash registers
    /// through `registry.register` and keeps the [`Registration`] itself.
    pub fn register(&mut self, registry: &dyn Registry, ttl: Duration) -> Result<(), RpcError> {
        self.registering_at = Instant::now();
        match self.fate {
            Fate::Crashes => self.held = Some(registry.register(&self.instance, ttl)?),
            Fate::StopsCleanly | Fate::Stays => {
                self.server.publish(registry, &self.instance, ttl)?;
            }
        }
        Ok(())
    }

    /// [`serve`](Provider::serve), then [`register`](Provider::register).
    pub fn start(
        registry: &dyn Registry,
        spec: &Spec,
        ttl: Duration,
    ) -> Result<Provider, RpcError> {
        let mut p = Provider::serve(spec)?;
        p.register(registry, ttl)?;
        Ok(p)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.instance.addr
    }

    /// A clean stop: deregister (consumers hear it now), then stop serving.
    pub fn stop(self) {
        if let Some(r) = self.held {
            let _ = r.deregister();
        }
        self.server.shutdown();
    }

    /// A crash, as the rest of the world sees one: the registration is
    /// never renewed again but nobody removes it (so it lingers until its
    /// TTL runs out), and the server stops answering.
    pub fn crash(self) {
        if let Some(r) = self.held {
            r.abandon();
        }
        // Published through the server, its shutdown would deregister it
        // first: only a provider started with `Fate::Crashes` crashes
        // silently.
        self.server.shutdown();
    }
}

// ---- the consumer's health checks ------------------------------------------------

/// One change of an instance's health, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The instance's address.
    pub addr: SocketAddr,
    /// Its health before.
    pub from: Health,
    /// Its health after.
    pub to: Health,
    /// What caused it.
    pub why: String,
}

/// Give a subscription's snapshot to the tracker; the transitions it
/// caused (an instance that left the list is dead at once).
pub fn apply_snapshot(tracker: &HealthTracker, snapshot: &Snapshot) -> Vec<Transition> {
    let before: BTreeMap<SocketAddr, Health> = tracker.states().into_iter().collect();
    tracker.update(snapshot);
    tracker
        .states()
        .into_iter()
        .filter_map(|(addr, to)| {
            let from = *before.get(&addr)?;
            (from != to).then(|| Transition {
                addr,
                from,
                to,
                why: "the registry no longer lists it".to_owned(),
            })
        })
        .collect()
}

/// The consumer's pinger: one client per instance, pings only.
#[derive(Default)]
pub struct Prober {
    clients: BTreeMap<SocketAddr, Client>,
}

impl Prober {
    /// One round, the tracker's schedule: first the probes it says are
    /// due (探活, for suspect and dead instances whose backoff ran out),
    /// then a heartbeat ping to every instance still healthy or suspect.
    /// Every ping ends within [`PING_TIMEOUT`]. Returns the transitions.
    pub fn round(&mut self, tracker: &HealthTracker) -> Vec<Transition> {
        let mut out = Vec::new();
        let before: BTreeMap<SocketAddr, Health> = tracker.states().into_iter().collect();
        for addr in tracker.due_for_probe() {
            if let Some(&from) = before.get(&addr) {
                out.push(Transition {
                    addr,
                    from,
                    to: Health::Probing,
                    why: "a probe is due".to_owned(),
                });
            }
            let (event, why) = match self.ping(addr) {
                Ok(rtt) => (
                    Event::ProbeSucceeded,
                    format!("probe answered in {rtt:.1?}"),
                ),
                Err(e) => (Event::ProbeFailed, format!("probe failed: {}", e.status)),
            };
            record(tracker, addr, event, why, &mut out);
        }
        for (addr, health) in tracker.states() {
            if !matches!(health, Health::Healthy | Health::Suspect) {
                continue;
            }
            let (event, why) = match self.ping(addr) {
                Ok(_) => (Event::HeartbeatAnswered, String::new()),
                Err(e) => {
                    let misses = tracker.state(addr).map_or(0, |s| s.misses) + 1;
                    let of = tracker.config().misses_to_dead;
                    let why = format!("heartbeat missed, {misses} of {of}: {}", e.status);
                    (Event::HeartbeatMissed, why)
                }
            };
            record(tracker, addr, event, why, &mut out);
        }
        // Close the connections of instances the tracker has forgotten.
        let known: BTreeSet<SocketAddr> = tracker.states().into_iter().map(|(a, _)| a).collect();
        self.clients.retain(|a, _| known.contains(a));
        out
    }

    /// Ping `addr` once, connecting first if needed; bounded by
    /// [`PING_TIMEOUT`] either way.
    fn ping(&mut self, addr: SocketAddr) -> Result<Duration, RpcError> {
        let client = match self.clients.entry(addr) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(
                Client::builder()
                    .connect_timeout(PING_TIMEOUT)
                    .call_timeout(PING_TIMEOUT)
                    .reconnect_backoff(HEARTBEAT / 4, HEARTBEAT)
                    .heartbeat(None) // the prober is the heartbeat here
                    .connect(addr)?,
            ),
        };
        client.ping(PING_TIMEOUT)
    }
}

/// Record `event` for `addr`; note the transition if it caused one.
fn record(
    tracker: &HealthTracker,
    addr: SocketAddr,
    event: Event,
    why: String,
    out: &mut Vec<Transition>,
) {
    let Some(from) = tracker.health(addr) else {
        return;
    };
    if let Some(to) = tracker.record(addr, event) {
        if to != from {
            out.push(Transition {
                addr,
                from,
                to,
                why,
            });
        }
    }
}

// ---- the consumer ------------------------------------------------------------------

/// A consumer of [`SERVICE`] in one group: a watcher thread that takes each
/// list the registry pushes, and a prober thread that pings on the
/// tracker's schedule. Both print to the [`Timeline`] and stop within one
/// heartbeat when the consumer is stopped or dropped.
pub struct Consumer {
    /// What this consumer believes about each instance.
    pub tracker: Arc<HealthTracker>,
    group: String,
    ever_listed: Arc<Mutex<BTreeMap<SocketAddr, Instance>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Consumer {
    /// Subscribe to [`SERVICE`] in `group`, any version, and start watching
    /// and probing.
    pub fn start(
        registry: &dyn Registry,
        group: &str,
        timeline: Arc<Timeline>,
    ) -> Result<Consumer, RpcError> {
        let subscription = registry.subscribe(SERVICE, group, "*")?;
        let mut consumer = Consumer {
            tracker: Arc::new(HealthTracker::new(health_config(), Arc::new(SystemClock))),
            group: group.to_owned(),
            ever_listed: Arc::new(Mutex::new(BTreeMap::new())),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        let (tracker, tl, stop) = (
            Arc::clone(&consumer.tracker),
            Arc::clone(&timeline),
            Arc::clone(&consumer.stop),
        );
        let ever = Arc::clone(&consumer.ever_listed);
        consumer.spawn("consumer-watcher", move || {
            let mut last: Vec<Instance> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                // Bounded, so the stop flag is seen within 50 ms.
                let Some(snapshot) = subscription.next_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let at = Instant::now();
                for i in &snapshot.instances {
                    guard(&ever).insert(i.addr, i.clone());
                }
                take_list(&tracker, &tl, at, &last, &snapshot);
                last = snapshot.instances;
            }
        })?;
        let (tracker, tl, stop) = (
            Arc::clone(&consumer.tracker),
            timeline,
            Arc::clone(&consumer.stop),
        );
        consumer.spawn("consumer-prober", move || {
            let mut prober = Prober::default();
            while !stop.load(Ordering::SeqCst) {
                let round = Instant::now();
                for t in prober.round(&tracker) {
                    say_transition(&tl, &t);
                }
                // The next round one heartbeat after this one began.
                thread::sleep(HEARTBEAT.saturating_sub(round.elapsed()));
            }
        })?;
        Ok(consumer)
    }

    fn spawn(&mut self, name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), RpcError> {
        let t = thread::Builder::new()
            .name(name.to_owned())
            .spawn(f)
            .map_err(|e| RpcError::from_io(&format!("cannot start the {name} thread"), &e))?;
        self.threads.push(t);
        Ok(())
    }

    /// The group it was configured with.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Every instance that was ever in one of its lists.
    pub fn ever_listed(&self) -> Vec<Instance> {
        guard(&self.ever_listed).values().cloned().collect()
    }

    /// Stop both threads and wait for them (each within one heartbeat).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The watcher's work for one list: what joined and left, printed and
/// noted, and the health transitions it caused.
fn take_list(
    tracker: &HealthTracker,
    tl: &Timeline,
    at: Instant,
    last: &[Instance],
    snapshot: &Snapshot,
) {
    for i in &snapshot.instances {
        let name = i.metadata.get("name").map_or("?", String::as_str);
        tl.name_address(i.addr, name);
    }
    let was: BTreeSet<SocketAddr> = last.iter().map(|i| i.addr).collect();
    let now: BTreeSet<SocketAddr> = snapshot.instances.iter().map(|i| i.addr).collect();
    let first = !tl.has_seen(Seen::FirstList);
    let mut change = Vec::new();
    for &a in now.difference(&was) {
        tl.note(at, Seen::Listed(a));
        change.push(format!("+{}", tl.name(a)));
    }
    // A stale list is the last good one again: nothing really left.
    if !snapshot.stale {
        for &a in was.difference(&now) {
            tl.note(at, Seen::Unlisted(a));
            change.push(format!("-{}", tl.name(a)));
        }
    }
    let list: Vec<String> = snapshot
        .instances
        .iter()
        .map(|i| format!("{} {} {}", tl.name(i.addr), i.version, i.addr))
        .collect();
    let stale = if snapshot.stale {
        "  STALE: the registry is unreachable, the last good list is kept"
    } else {
        ""
    };
    tl.say(
        "consumer",
        format!(
            "list pushed: [{}]  ({}){stale}",
            list.join(", "),
            if first {
                "its first list".to_owned()
            } else if change.is_empty() {
                "no change".to_owned()
            } else {
                change.join(" ")
            }
        ),
    );
    for t in apply_snapshot(tracker, snapshot) {
        say_transition(tl, &t);
    }
    tl.note(at, Seen::FirstList);
}

fn say_transition(tl: &Timeline, t: &Transition) {
    tl.note(Instant::now(), Seen::Became(t.addr, t.to));
    let why = if t.why.is_empty() {
        String::new()
    } else {
        format!("  ({})", t.why)
    };
    tl.say(
        "health",
        format!("{} {} → {}{why}", tl.name(t.addr), t.from, t.to),
    );
}

// ---- the demonstration ----------------------------------------------------------

/// The registry in use, for the words of the summary.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Etcd,
}

/// One row of the summary: an event, what the consumer saw, how long after,
/// and what bounds that time.
struct Row {
    event: String,
    seen: String,
    after: Measured,
    bound: String,
}

enum Measured {
    After(Duration),
    /// Expected and not seen in time: the demonstration failed.
    Missing(Duration),
    /// Not expected: the instance is in another group.
    OtherGroup,
}

/// The demonstration's state: where it runs, and the rows measured so far.
struct Demo<'a> {
    registry: &'a dyn Registry,
    backend: Backend,
    group: String,
    tl: Arc<Timeline>,
    rows: Vec<Row>,
}

/// Run the whole demonstration against `registry` with a consumer in
/// `group`. `Ok(true)` if everything expected was seen in time.
fn demonstrate(registry: &dyn Registry, backend: Backend, group: &str) -> Result<bool, RpcError> {
    let mut demo = Demo {
        registry,
        backend,
        group: group.to_owned(),
        tl: Timeline::new(true),
        rows: Vec::new(),
    };
    let cfg = health_config();
    demo.tl.say(
        "setup",
        format!(
            "TTL {TTL:?}; heartbeat every {HEARTBEAT:?} (ping timeout {PING_TIMEOUT:?}); \
             suspect after {} miss, dead after {}",
            cfg.misses_to_suspect, cfg.misses_to_dead
        ),
    );
    demo.tl.say(
        "consumer",
        format!("subscribes to {SERVICE}/{group}/* (its group comes from configuration)"),
    );
    let consumer = Consumer::start(registry, group, Arc::clone(&demo.tl))?;
    if demo.tl.wait_for(Seen::FirstList, PATIENCE).is_none() {
        demo.tl
            .say("consumer", "no first list yet: is the registry answering?");
    }
    // 1. The providers start and register, one by one.
    let mut fleet = demo.start_fleet()?;
    // 2. A few heartbeats, all answered; the consumer calls whom it believes in.
    thread::sleep(2 * HEARTBEAT);
    call_each(&consumer, &demo.tl);
    // 3. One provider stops cleanly, 4. another crashes.
    let (Some(a), Some(b)) = (
        take(&mut fleet, Fate::StopsCleanly),
        take(&mut fleet, Fate::Crashes),
    ) else {
        return Err(RpcError::internal("FLEET needs a provider of each fate"));
    };
    demo.stop_cleanly(a);
    demo.crash(b);
    // 5. The end.
    demo.tl
        .say("step", "── the end: the other providers stop cleanly ──");
    for p in fleet {
        p.stop();
    }
    let listed = consumer.ever_listed();
    consumer.stop();
    Ok(demo.summary(&listed))
}

/// The provider of `fleet` with this fate, taken out of it.
fn take(fleet: &mut Vec<Provider>, fate: Fate) -> Option<Provider> {
    let i = fleet.iter().position(|p| p.fate == fate)?;
    Some(fleet.remove(i))
}

impl Demo<'_> {
    /// How a change travels to the consumer, in the summary's words.
    fn push(&self) -> &'static str {
        match self.backend {
            Backend::Memory => "push (published inside the call)",
            Backend::Etcd => "push (etcd's watch)",
        }
    }

    /// Add a row for `event`, measured from `since` to the consumer's
    /// `seen`, waiting at most `within` for it. If the instance is not in
    /// the consumer's group, nothing is expected and nothing is waited for.
    fn expect(
        &mut self,
        event: String,
        since: Instant,
        seen: (Seen, String),
        within: Duration,
        bound: String,
        in_group: bool,
    ) {
        let after = if !in_group {
            Measured::OtherGroup
        } else {
            match self.tl.wait_for(seen.0, within) {
                Some(t) => Measured::After(t.saturating_duration_since(since)),
                None => Measured::Missing(within),
            }
        };
        self.rows.push(Row {
            event,
            seen: seen.1,
            after,
            bound,
        });
    }

    /// Step 1: serve and register each provider of [`FLEET`], timing how
    /// soon the consumer lists it; then show the registry's two groups.
    fn start_fleet(&mut self) -> Result<Vec<Provider>, RpcError> {
        let mut fleet = Vec::new();
        for spec in &FLEET {
            let mut p = Provider::serve(spec)?;
            let how = match spec.fate {
                Fate::Crashes => "registry.register (it keeps the registration, to crash later)",
                _ => "ServerHandle::publish",
            };
            self.tl.name_address(p.addr(), spec.name);
            self.tl.say(
                "provider",
                format!(
                    "{} {SERVICE}/{}/{} up on {}; registers by {how}",
                    spec.name,
                    spec.group,
                    spec.version,
                    p.addr()
                ),
            );
            p.register(self.registry, TTL)?;
            let push = self.push().to_owned();
            self.expect(
                format!("{} registers", spec.name),
                p.registering_at,
                (Seen::Listed(p.addr()), format!("{} in the list", spec.name)),
                PATIENCE,
                push,
                spec.group == self.group,
            );
            fleet.push(p);
        }
        for g in ["stable", "canary"] {
            let names: Vec<String> = self
                .registry
                .lookup(SERVICE, g, "*")?
                .iter()
                .map(|i| format!("{} {}", self.tl.name(i.addr), i.version))
                .collect();
            self.tl
                .say("registry", format!("group {g}: [{}]", names.join(", ")));
        }
        Ok(fleet)
    }

    /// Step 3: `a` stops cleanly; time until its consumers no longer list it.
    fn stop_cleanly(&mut self, a: Provider) {
        let (name, addr) = (self.tl.name(a.addr()), a.addr());
        let in_group = a.instance.group == self.group;
        self.tl.say(
            "step",
            format!("── {name} stops cleanly: shutdown() deregisters it first ──"),
        );
        let at = Instant::now();
        a.stop();
        let bound = format!("{}; it deregisters before it stops", self.push());
        self.expect(
            format!("{name} stops cleanly"),
            at,
            (Seen::Unlisted(addr), format!("{name} gone from the list")),
            PATIENCE,
            bound,
            in_group,
        );
    }

    /// Step 4: `b` crashes; time until the consumer suspects it, finds it
    /// dead, and hears from the registry that it is gone.
    fn crash(&mut self, b: Provider) {
        let (name, instance) = (self.tl.name(b.addr()), b.instance.clone());
        let in_group = instance.group == self.group;
        self.tl.say(
            "step",
            format!(
                "── {name} crashes: its registration is abandoned (not deregistered), \
                 its server stops ──"
            ),
        );
        let at = Instant::now();
        b.crash();
        let cfg = health_config();
        let found_within = HEARTBEAT * cfg.misses_to_dead + PING_TIMEOUT + PATIENCE;
        let ttl_bound = match self.backend {
            Backend::Memory => format!("TTL {TTL:?} after renewal stopped, then {}", self.push()),
            Backend::Etcd => format!(
                "lease TTL {TTL:?} after the last keepalive (sent every TTL/3), then {}",
                self.push()
            ),
        };
        let addr = instance.addr;
        self.expect(
            format!("{name} crashes"),
            at,
            (
                Seen::Became(addr, Health::Suspect),
                format!("{name} suspect"),
            ),
            found_within,
            format!(
                "{} heartbeat ({HEARTBEAT:?}) + a ping timeout ({PING_TIMEOUT:?})",
                cfg.misses_to_suspect
            ),
            in_group,
        );
        self.expect(
            format!("{name} crashes"),
            at,
            (Seen::Became(addr, Health::Dead), format!("{name} dead")),
            found_within,
            format!(
                "{} heartbeats ({} × {HEARTBEAT:?}) + a ping timeout",
                cfg.misses_to_dead, cfg.misses_to_dead
            ),
            in_group,
        );
        self.expect(
            format!("{name} crashes"),
            at,
            (Seen::Unlisted(addr), format!("{name} gone from the list")),
            TTL + PATIENCE,
            ttl_bound,
            in_group,
        );
        if !in_group {
            self.watch_the_registry_drop(&instance, at + TTL + PATIENCE);
        }
    }

    /// For a consumer of another group: wait (until `until` at most) for
    /// the registry itself to drop `instance`, to show that the change
    /// never reached the consumer.
    fn watch_the_registry_drop(&self, instance: &Instance, until: Instant) {
        while Instant::now() < until
            && self
                .registry
                .lookup(SERVICE, &instance.group, "*")
                .is_ok_and(|l| l.contains(instance))
        {
            thread::sleep(Duration::from_millis(50));
        }
        self.tl.say(
            "registry",
            format!(
                "{}'s TTL ran out: group {} no longer lists it; this consumer (group {}) \
                 was never told",
                self.tl.name(instance.addr),
                instance.group,
                self.group
            ),
        );
    }

    /// Print the table; `true` if everything expected was seen and the
    /// consumer never listed an instance of another group.
    fn summary(&self, listed: &[Instance]) -> bool {
        let registry = match self.backend {
            Backend::Memory => "MemoryRegistry, in this process",
            Backend::Etcd => "etcd",
        };
        out(String::new());
        out(format!(
            "summary (registry: {registry}; consumer in group {}; one run)",
            self.group
        ));
        out(format!(
            "  {:<18} {:<22} {:>10}   bounded by",
            "event", "the consumer saw", "after"
        ));
        let mut ok = true;
        for r in &self.rows {
            let (after, bound) = match r.after {
                Measured::After(d) => (
                    format!("{:.1} ms", d.as_secs_f64() * 1000.0),
                    r.bound.as_str(),
                ),
                Measured::Missing(w) => {
                    ok = false;
                    (format!("not in {w:?}!"), r.bound.as_str())
                }
                Measured::OtherGroup => {
                    ("—".to_owned(), "another group: never sent to this consumer")
                }
            };
            out(format!(
                "  {:<18} {:<22} {after:>10}   {bound}",
                r.event, r.seen
            ));
        }
        let names: Vec<String> = listed.iter().map(|i| self.tl.name(i.addr)).collect();
        let foreign = listed.iter().filter(|i| i.group != self.group).count();
        ok &= foreign == 0;
        out(format!(
            "  every instance this consumer ever listed: [{}], {}",
            names.join(", "),
            if foreign == 0 {
                format!("all in group {}", self.group)
            } else {
                format!("BUT {foreign} from another group!")
            }
        ));
        ok
    }
}

/// Call every instance the consumer believes in: the answer says which
/// version served it (with `--group canary`, version 2).
fn call_each(consumer: &Consumer, tl: &Timeline) {
    let healthy = consumer.tracker.healthy();
    if healthy.is_empty() {
        tl.say(
            "consumer",
            format!(
                "no healthy instance in group {}: a call would fail Unavailable (a call \
                 never crosses groups)",
                consumer.group()
            ),
        );
    }
    for i in healthy {
        let answer = Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .call_timeout(Duration::from_secs(1))
            .connect(i.addr)
            .and_then(|c| {
                let product: i32 = c.call("Multiply", &(6, 7))?;
                let version: String = c.call("Version", &())?;
                Ok(format!(
                    "Multiply(6, 7) = {product}, served by version {version}"
                ))
            });
        let text = answer.unwrap_or_else(|e| e.to_string());
        tl.say("consumer", format!("calls {}: {text}", tl.name(i.addr)));
    }
}

/// Print a line to stdout; a closed stdout (`| head`) is not an error worth
/// a panic.
fn out(line: impl fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The same for stderr.
fn err(line: impl fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

// ---- the command line --------------------------------------------------------------

const USAGE: &str = "usage: discovery [--group GROUP] [--etcd URL]
  --group GROUP  the consumer's group: stable (default) or canary; also MINIRPC_GROUP
  --etcd URL     use the etcd at URL (e.g. http://127.0.0.1:2379) instead of a MemoryRegistry";

struct Args {
    group: String,
    etcd: Option<String>,
}

/// `Ok(None)`: help was asked for.
fn parse_args(
    mut args: impl Iterator<Item = String>,
    env_group: Option<String>,
) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        group: env_group
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| "stable".to_owned()),
        etcd: None,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--group" => parsed.group = value()?,
            "--etcd" => parsed.etcd = Some(value()?),
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(Some(parsed))
}

fn main() -> ExitCode {
    let args = match parse_args(
        std::env::args().skip(1),
        std::env::var("MINIRPC_GROUP").ok(),
    ) {
        Ok(Some(a)) => a,
        Ok(None) => {
            out(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            err(format!("discovery: {e}\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let (registry, backend): (Box<dyn Registry>, Backend) = match &args.etcd {
        None => {
            out(format!(
                "registry: MemoryRegistry (in this process); consumer group: {}",
                args.group
            ));
            (Box::new(MemoryRegistry::new()), Backend::Memory)
        }
        Some(url) => match EtcdRegistry::connect(url) {
            Ok(etcd) => {
                out(format!(
                    "registry: etcd {} at {url}; consumer group: {}",
                    etcd.server_version(),
                    args.group
                ));
                (Box::new(etcd), Backend::Etcd)
            }
            Err(e) => {
                err(format!("discovery: {e}"));
                err(
                    "\nTo run this example against etcd, start one first (in another terminal):\n\
                     \x20   etcd --data-dir /tmp/etcd-demo\n\
                     then run:\n\
                     \x20   cargo run --example discovery -- --etcd http://127.0.0.1:2379",
                );
                return ExitCode::FAILURE;
            }
        },
    };
    match demonstrate(registry.as_ref(), backend, &args.group) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            err("discovery: something expected was not seen in time (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            err(format!("discovery: {e}"));
            ExitCode::FAILURE
        }
    }
}
