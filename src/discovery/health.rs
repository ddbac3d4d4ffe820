//! Health checks (健康检查): what a consumer believes about each provider.
//!
//! Article: 原理 › 服务发现 (its 健康检查 part: a state machine moves a node
//! that only looks alive, 假死, towards dead through heartbeats, and 探活,
//! probing, checks it again). The one idea to take away: **the registry
//! says who is registered; only talking to a provider says who works**. A
//! provider can keep its lease while every call to it fails or hangs. So
//! each consumer keeps its own opinion of every instance, moved only by
//! what it has seen, and sends calls only to the instances it believes in.
//!
//! ```text
//!  new ─► HEALTHY ── 3 failed calls in a row, ─► SUSPECT ── 3 missed ──► DEAD
//!           ▲        or a missed heartbeat          │       heartbeats    │
//!           │                                       │ probe due           │ probe due
//!           │                                       ▼ (Tick)              │ (Tick)
//!           └─────── probe answered ─────────── PROBING ◄─────────────────┘
//!                                                   │ probe failed or timed out:
//!                                                   └─► SUSPECT, or DEAD at 3
//!                                                       misses; probed later
//!  any state ── Deregistered ──► DEAD, for good (never probed)
//! ```
//!
//! (SUSPECT is the article's 亚健康, PROBING its 探活.)
//!
//! Every arrow is [`HealthState::step`], a pure function of the state, an
//! [`Event`] and the time: no clock is read inside it, no thread runs it.
//! That is what lets `tests/health.rs` walk every arrow by stepping a
//! manual clock. [`HealthTracker`] applies it to many instances, reading
//! its [`Clock`], and tells the caller which instances to use and which to
//! probe. The probe itself, a ping call, is the caller's job: the tracker
//! does no I/O, so it can never block.

use super::{Instance, Snapshot};
use crate::sync::lock;
use crate::time::Clock;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a consumer believes about one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Health {
    /// Calls go here.
    Healthy,
    /// 亚健康: something went wrong; no calls until a probe says otherwise.
    Suspect,
    /// 探活: a probe is out; its answer decides.
    Probing,
    /// Silent for too long, or deregistered. Probed on a growing backoff,
    /// unless it was deregistered.
    Dead,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "healthy",
            Health::Suspect => "suspect",
            Health::Probing => "probing",
            Health::Dead => "dead",
        })
    }
}

/// Something a consumer saw happen to an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A call to it succeeded.
    CallSucceeded,
    /// A call to it failed in a way that blames the instance (unavailable,
    /// timed out), not the caller (invalid argument).
    CallFailed,
    /// A heartbeat went unanswered for one interval.
    HeartbeatMissed,
    /// A heartbeat was answered.
    HeartbeatAnswered,
    /// The probe sent after [`HealthTracker::due_for_probe`] was answered.
    ProbeSucceeded,
    /// That probe failed.
    ProbeFailed,
    /// The registry no longer lists it.
    Deregistered,
    /// Time passed: start a probe that is due, give up on one that took
    /// longer than [`HealthConfig::probe_timeout`].
    Tick,
}

/// The thresholds and times of the state machine.
///
/// The defaults fit the client's default heartbeat of 5 s × 3 misses
/// (`ClientBuilder::heartbeat`): one silent interval makes an instance
/// suspect, three make it dead, the moment the client would give up on
/// the connection anyway. `docs/07-discovery.md` puts them beside Dubbo's
/// and gRPC's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Failed calls in a row that make a healthy instance suspect. Default 3.
    pub failures_to_suspect: u32,
    /// Missed heartbeats in a row that make a healthy instance suspect.
    /// Default 1.
    pub misses_to_suspect: u32,
    /// Missed heartbeats (a failed probe counts as one) that make it dead.
    /// Default 3.
    pub misses_to_dead: u32,
    /// Wait before the first probe of an instance that left `Healthy`; it
    /// doubles after each failed probe. Default 1 s.
    pub probe_backoff: Duration,
    /// The most the wait between probes grows to. Default 30 s.
    pub probe_backoff_max: Duration,
    /// A probe not answered in this long counts as failed, so a lost
    /// answer cannot leave an instance `Probing` forever. Default 2 s.
    pub probe_timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            failures_to_suspect: 3,
            misses_to_suspect: 1,
            misses_to_dead: 3,
            probe_backoff: Duration::from_secs(1),
            probe_backoff_max: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(2),
        }
    }
}

impl HealthConfig {
    /// The wait before the probe that follows `failed` failed probes:
    /// `probe_backoff × 2^failed`, at most `probe_backoff_max`.
    pub fn backoff(&self, failed: u32) -> Duration {
        self.probe_backoff
            .saturating_mul(1 << failed.min(20))
            .min(self.probe_backoff_max.max(self.probe_backoff))
    }

    /// Thresholds of at least 1, and never dead before suspect.
    fn thresholds(&self) -> (u32, u32, u32) {
        let suspect = self.misses_to_suspect.max(1);
        (
            self.failures_to_suspect.max(1),
            suspect,
            self.misses_to_dead.max(suspect),
        )
    }
}

/// One instance's health, with the counters its next transition needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthState {
    /// The state.
    pub health: Health,
    /// When it entered that state.
    pub since: Instant,
    /// Failed calls in a row.
    pub failures: u32,
    /// Missed heartbeats and failed probes in a row.
    pub misses: u32,
    /// Failed probes since it was last healthy (sets the backoff).
    pub failed_probes: u32,
    /// `Suspect`/`Dead`: when the next probe is due. `Probing`: when the
    /// running probe times out.
    pub probe_at: Option<Instant>,
    /// It left the registry: dead for good, never probed.
    pub deregistered: bool,
}

impl HealthState {
    /// A new instance, healthy as of `now`.
    pub fn new(now: Instant) -> HealthState {
        HealthState {
            health: Health::Healthy,
            since: now,
            failures: 0,
            misses: 0,
            failed_probes: 0,
            probe_at: None,
            deregistered: false,
        }
    }

    /// The state after `event` at `now`: the whole state machine. An event
    /// that means nothing in the current state (a probe answer when no
    /// probe is out, a late call result) changes nothing.
    pub fn step(&self, event: Event, now: Instant, config: &HealthConfig) -> HealthState {
        use Event::*;
        use Health::*;
        let (failures_to_suspect, _, _) = config.thresholds();
        let mut s = self.clone();
        if s.deregistered {
            return s; // gone: a re-registration starts a new state
        }
        match (self.health, event) {
            (_, Deregistered) => {
                s.deregistered = true;
                s.probe_at = None;
                s.enter(Dead, now);
            }
            (_, Tick) => s.tick(now, config),
            (Healthy, CallSucceeded) => s.failures = 0,
            (Healthy, CallFailed) => {
                s.failures = s.failures.saturating_add(1);
                if s.failures >= failures_to_suspect {
                    s.fall(Suspect, now, config);
                }
            }
            (Healthy | Suspect | Dead, HeartbeatMissed) => {
                s.misses = s.misses.saturating_add(1);
                s.judge_misses(now, config);
            }
            // An answered heartbeat clears the count but restores nothing:
            // only a probe brings an instance back.
            (Healthy | Suspect, HeartbeatAnswered) => s.misses = 0,
            (Suspect, CallFailed) => s.failures = s.failures.saturating_add(1),
            (Probing, HeartbeatMissed) => s.misses = s.misses.saturating_add(1),
            (Probing, ProbeSucceeded) => s = HealthState::new(now),
            (Probing, ProbeFailed) => s.probe_failed(now, config),
            _ => {}
        }
        s
    }

    /// Whether calls should go to this instance.
    pub fn is_usable(&self) -> bool {
        self.health == Health::Healthy
    }

    fn enter(&mut self, health: Health, now: Instant) {
        if self.health != health {
            self.health = health;
            self.since = now;
        }
    }

    /// Leave `Healthy` (or get worse): a fresh probe schedule on leaving.
    fn fall(&mut self, to: Health, now: Instant, config: &HealthConfig) {
        if self.health == Health::Healthy {
            self.failed_probes = 0;
            self.probe_at = now.checked_add(config.backoff(0));
        }
        self.enter(to, now);
    }

    fn judge_misses(&mut self, now: Instant, config: &HealthConfig) {
        let (_, to_suspect, to_dead) = config.thresholds();
        if self.misses >= to_dead {
            self.fall(Health::Dead, now, config);
        } else if self.misses >= to_suspect && self.health == Health::Healthy {
            self.fall(Health::Suspect, now, config);
        }
    }

    fn tick(&mut self, now: Instant, config: &HealthConfig) {
        let due = self.probe_at.is_some_and(|t| t <= now);
        match self.health {
            Health::Suspect | Health::Dead if due => {
                self.enter(Health::Probing, now);
                self.probe_at = now.checked_add(config.probe_timeout);
            }
            Health::Probing if due => self.probe_failed(now, config),
            _ => {}
        }
    }

    /// A failed probe is a missed ping: back to suspect (or dead, once the
    /// misses add up), and the next probe waits longer.
    fn probe_failed(&mut self, now: Instant, config: &HealthConfig) {
        let (_, _, to_dead) = config.thresholds();
        self.failed_probes = self.failed_probes.saturating_add(1);
        self.misses = self.misses.saturating_add(1);
        let to = if self.misses >= to_dead {
            Health::Dead
        } else {
            Health::Suspect
        };
        self.enter(to, now);
        self.probe_at = now.checked_add(config.backoff(self.failed_probes));
    }
}

/// The health of every instance of one subscription, as one consumer sees
/// it: feed it snapshots and events, ask it whom to call and whom to probe.
///
/// ```
/// use minirpc::discovery::{Event, Health, HealthConfig, HealthTracker, Instance, Snapshot};
/// use minirpc::time::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let tracker = HealthTracker::new(HealthConfig::default(), clock.clone());
/// // An address to name the instance by; nothing connects to it here.
/// let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 4000));
/// tracker.update(&Snapshot { instances: vec![Instance::new("Arith", addr)], stale: false });
/// tracker.record(addr, Event::HeartbeatMissed);
/// assert_eq!(tracker.health(addr), Some(Health::Suspect));
/// clock.advance(Duration::from_secs(1)); // the first probe is due
/// assert_eq!(tracker.due_for_probe(), vec![addr]);
/// tracker.record(addr, Event::ProbeSucceeded);
/// assert_eq!(tracker.healthy().len(), 1);
/// ```
pub struct HealthTracker {
    clock: Arc<dyn Clock>,
    config: HealthConfig,
    table: Mutex<BTreeMap<SocketAddr, Tracked>>,
}

/// Health belongs to an address (one process), even when a `"*"`
/// subscription lists two versions there.
struct Tracked {
    instances: Vec<Instance>,
    state: HealthState,
}

impl HealthTracker {
    /// A tracker with `config`, reading time from `clock`.
    pub fn new(config: HealthConfig, clock: Arc<dyn Clock>) -> HealthTracker {
        HealthTracker {
            clock,
            config,
            table: Mutex::new(BTreeMap::new()),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Take a subscription's snapshot: new instances start healthy; one the
    /// list no longer has is `Dead` at once, and forgotten at the next
    /// update. A stale snapshot (the registry is unreachable) removes
    /// nothing: an outage of the registry is not an outage of providers.
    pub fn update(&self, snapshot: &Snapshot) {
        let now = self.clock.now();
        let mut listed: BTreeMap<SocketAddr, Vec<Instance>> = BTreeMap::new();
        for i in &snapshot.instances {
            listed.entry(i.addr).or_default().push(i.clone());
        }
        let mut table = lock(&self.table);
        if !snapshot.stale {
            table.retain(|addr, t| listed.contains_key(addr) || !t.state.deregistered);
            for (addr, t) in table.iter_mut() {
                if !listed.contains_key(addr) {
                    t.state = t.state.step(Event::Deregistered, now, &self.config);
                }
            }
        }
        for (addr, instances) in listed {
            let t = table.entry(addr).or_insert_with(|| Tracked {
                instances: Vec::new(),
                state: HealthState::new(now),
            });
            if t.state.deregistered {
                t.state = HealthState::new(now); // registered again
            }
            t.instances = instances;
        }
    }

    /// Apply `event` to the instance at `addr`; its health afterwards, or
    /// `None` if the tracker does not know that address.
    pub fn record(&self, addr: SocketAddr, event: Event) -> Option<Health> {
        let now = self.clock.now();
        let mut table = lock(&self.table);
        let t = table.get_mut(&addr)?;
        t.state = t.state.step(event, now, &self.config);
        Some(t.state.health)
    }

    /// Advance every instance to now (a [`Event::Tick`] each) and return
    /// the addresses that became `Probing`: ping each, then record
    /// [`Event::ProbeSucceeded`] or [`Event::ProbeFailed`]. Call it
    /// regularly, e.g. once per heartbeat interval.
    pub fn due_for_probe(&self) -> Vec<SocketAddr> {
        let now = self.clock.now();
        let mut due = Vec::new();
        for (addr, t) in lock(&self.table).iter_mut() {
            let before = t.state.health;
            t.state = t.state.step(Event::Tick, now, &self.config);
            if t.state.health == Health::Probing && before != Health::Probing {
                due.push(*addr);
            }
        }
        due
    }

    /// The health of the instance at `addr`, if known.
    pub fn health(&self, addr: SocketAddr) -> Option<Health> {
        lock(&self.table).get(&addr).map(|t| t.state.health)
    }

    /// The full state of the instance at `addr`, if known.
    pub fn state(&self, addr: SocketAddr) -> Option<HealthState> {
        lock(&self.table).get(&addr).map(|t| t.state.clone())
    }

    /// The instances calls should go to, sorted by address.
    pub fn healthy(&self) -> Vec<Instance> {
        lock(&self.table)
            .values()
            .filter(|t| t.state.is_usable())
            .flat_map(|t| t.instances.iter().cloned())
            .collect()
    }

    /// Every known address and its health, sorted by address.
    pub fn states(&self) -> Vec<(SocketAddr, Health)> {
        lock(&self.table)
            .iter()
            .map(|(a, t)| (*a, t.state.health))
            .collect()
    }
}

impl fmt::Debug for HealthTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthTracker")
            .field("config", &self.config)
            .field("states", &self.states())
            .finish()
    }
}
