//! The watcher: the admin's one background thread. Every interval it reads
//! the registry, pings every instance, adds up the managed servers'
//! metrics and publishes a fresh [`Overview`].
//!
//! The one idea to take away: **a management center measures for itself**.
//! It does not trust that a listed instance is alive — the registry only
//! knows that its lease is renewed — so it pings each one (探活, the
//! `$minirpc.ping` call) through the same health state machine consumers
//! use (`crate::discovery::HealthTracker`), and shows what it saw.
//!
//! ```text
//!  every interval:
//!    subscription.try_next() ──► instances ──► HealthTracker.update
//!    for each instance: ping ──► HeartbeatAnswered / Missed (or Probe*)
//!    for each managed server: metrics() ──► merged ──► History (calls/s)
//!    ──► Overview (generation + 1) ──► the page and the API read it
//! ```
//!
//! Bounds: one thread; pings run one after another, each within
//! `ping_timeout`, so a tick takes at most instances × `ping_timeout`;
//! one cached client per listed instance, dropped when it leaves the list.

use super::history::History;
use super::view::{InstanceView, LimitView, Overview, ServiceView};
use crate::client::Client;
use crate::discovery::{
    Event, Health, HealthConfig, HealthTracker, Instance, Registry, Subscription,
};
use crate::server::ServerControl;
use crate::sync::lock;
use crate::time::SystemClock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One watched (service, group, version).
struct Watched {
    name: String,
    group: String,
    version: String,
    sub: Subscription,
    tracker: HealthTracker,
    instances: Vec<Instance>,
    error: Option<String>,
}

/// What the watcher thread owns.
pub(crate) struct Watcher {
    watched: Vec<Watched>,
    servers: Vec<ServerControl>,
    clients: HashMap<SocketAddr, Client>,
    history: History,
    ping_timeout: Duration,
    generation: u64,
}

/// The overview the watcher publishes and the requests read, and the flag
/// that stops the watcher.
#[derive(Default)]
pub(crate) struct Board {
    pub(crate) overview: Mutex<Option<Overview>>,
    pub(crate) stop: Mutex<bool>,
    pub(crate) wake: Condvar,
}

impl Watcher {
    pub(crate) fn new(
        registry: &dyn Registry,
        services: &[(String, String, String)],
        servers: Vec<ServerControl>,
        history: usize,
        ping_timeout: Duration,
    ) -> Result<Watcher, crate::RpcError> {
        let mut watched = Vec::new();
        for (name, group, version) in services {
            watched.push(Watched {
                name: name.clone(),
                group: group.clone(),
                version: version.clone(),
                sub: registry.subscribe(name, group, version)?,
                tracker: HealthTracker::new(HealthConfig::default(), Arc::new(SystemClock)),
                instances: Vec::new(),
                error: None,
            });
        }
        Ok(Watcher {
            watched,
            servers,
            clients: HashMap::new(),
            history: History::new(history),
            ping_timeout,
            generation: 0,
        })
    }

    /// Publish an overview every `interval` until the board says stop.
    pub(crate) fn run(mut self, board: &Board, interval: Duration) {
        loop {
            let overview = self.tick();
            *lock(&board.overview) = Some(overview);
            let stop = lock(&board.stop);
            let (stop, _) = board
                .wake
                .wait_timeout_while(stop, interval, |s| !*s)
                .unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
        }
    }

    /// One round: registry, pings, metrics; the overview they make.
    pub(crate) fn tick(&mut self) -> Overview {
        let mut services = Vec::new();
        let mut listed = Vec::new();
        for i in 0..self.watched.len() {
            self.refresh(i);
            let w = &self.watched[i];
            w.tracker.due_for_probe();
            let mut views = Vec::new();
            for inst in w.instances.clone() {
                listed.push(inst.addr);
                let health = self.probe(i, inst.addr);
                views.push(InstanceView {
                    addr: inst.addr,
                    group: inst.group.clone(),
                    version: inst.version.clone(),
                    weight: inst.weight,
                    health: health.to_string(),
                    // By listening or published address: a provider bound
                    // to 0.0.0.0 is listed under the address it publishes.
                    managed: self.servers.iter().any(|s| s.serves_at(inst.addr)),
                });
            }
            let w = &self.watched[i];
            services.push(ServiceView {
                name: w.name.clone(),
                group: w.group.clone(),
                version: w.version.clone(),
                instances: views,
                error: w.error.clone(),
            });
        }
        // A client per listed instance, and no more.
        self.clients.retain(|addr, _| listed.contains(addr));

        let mut metrics = Overview::empty().metrics;
        let mut limits = Vec::new();
        let mut calls: Vec<crate::server::MethodDescription> = Vec::new();
        for s in &self.servers {
            metrics.merge(&s.metrics());
            for d in s.describe() {
                if !calls.iter().any(|c| c.call_id == d.call_id) {
                    calls.push(d);
                }
            }
            for (rule, rejected) in s.limits() {
                limits.push(LimitView {
                    server: s.local_addr(),
                    rule,
                    rejected,
                });
            }
        }
        self.history.record(Instant::now(), metrics.total().calls);
        self.generation += 1;
        Overview {
            services,
            metrics,
            rates: self.history.rates(),
            limits,
            calls: {
                calls.sort_by(|a, b| a.call_id.cmp(&b.call_id));
                calls
            },
            generation: self.generation,
        }
    }

    /// Take the newest list from the subscription, if it changed.
    fn refresh(&mut self, i: usize) {
        let w = &mut self.watched[i];
        while let Some(snap) = w.sub.try_next() {
            w.tracker.update(&snap);
            w.error = snap.stale.then(|| {
                "the registry cannot be reached: these are the last instances it listed".to_owned()
            });
            w.instances = snap.instances;
        }
    }

    /// Ping `addr` once and step its health with what happened.
    fn probe(&mut self, i: usize, addr: SocketAddr) -> Health {
        let probing = self.watched[i].tracker.health(addr) == Some(Health::Probing);
        let answered = self.ping(addr);
        let tracker = &self.watched[i].tracker;
        let event = match (probing, answered) {
            (true, true) => Event::ProbeSucceeded,
            (true, false) => Event::ProbeFailed,
            (false, true) => Event::HeartbeatAnswered,
            (false, false) => Event::HeartbeatMissed,
        };
        tracker.record(addr, event).unwrap_or(Health::Dead)
    }

    /// Whether `addr` answers `$minirpc.ping` within the ping timeout, on a
    /// cached connection (made again next time if this one failed).
    fn ping(&mut self, addr: SocketAddr) -> bool {
        let t = self.ping_timeout;
        if let std::collections::hash_map::Entry::Vacant(slot) = self.clients.entry(addr) {
            let connected = Client::builder()
                .connect_timeout(t)
                .call_timeout(t)
                .heartbeat(None)
                .connect(addr);
            match connected {
                Ok(c) => {
                    slot.insert(c);
                }
                Err(_) => return false,
            }
        }
        let ok = self.clients[&addr].ping(t).is_ok();
        if !ok {
            self.clients.remove(&addr);
        }
        ok
    }
}
