//! The consumer's health checks in the `discovery` example: a `Prober`
//! that pings each instance on the `HealthTracker`'s schedule, and the
//! health transitions that its pings and the registry's lists cause.
//!
//! Article: 原理 › 服务发现 › 健康检查. A node that only looks alive (假死)
//! misses a heartbeat and is suspected (亚健康); a few more and it is dead;
//! a dead node is probed (探活) now and then in case it came back. The one
//! idea to take away: **the tracker decides, the prober only pings and
//! reports**, so the rules are tested without a network (`tests/health.rs`)
//! and the prober stays a loop a reader can follow.
//!
//! ```text
//!  one round:  tracker.due_for_probe() ── ping ──► ProbeSucceeded / ProbeFailed ─┐
//!              healthy and suspect     ── ping ──► HeartbeatAnswered / Missed ───┼─► tracker.record
//!                                                                                └─► Transition
//! ```

use super::{HEARTBEAT, PING_TIMEOUT};
use minirpc::discovery::{Event, Health, HealthTracker, Snapshot};
use minirpc::{Client, RpcError};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

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

impl Transition {
    fn new(addr: SocketAddr, from: Health, to: Health, why: impl Into<String>) -> Transition {
        let why = why.into();
        Transition {
            addr,
            from,
            to,
            why,
        }
    }
}

/// The health of every instance the tracker knows.
fn healths(tracker: &HealthTracker) -> BTreeMap<SocketAddr, Health> {
    tracker.states().into_iter().collect()
}

/// Give a subscription's snapshot to the tracker; the transitions it
/// caused (an instance that left the list is dead at once).
pub fn apply_snapshot(tracker: &HealthTracker, snapshot: &Snapshot) -> Vec<Transition> {
    let before = healths(tracker);
    tracker.update(snapshot);
    tracker
        .states()
        .into_iter()
        .filter_map(|(addr, to)| {
            let from = *before.get(&addr)?;
            (from != to).then(|| Transition::new(addr, from, to, "the registry no longer lists it"))
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
        let before = healths(tracker);
        for addr in tracker.due_for_probe() {
            if let Some(&from) = before.get(&addr) {
                out.push(Transition::new(
                    addr,
                    from,
                    Health::Probing,
                    "a probe is due",
                ));
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
    match tracker.record(addr, event) {
        Some(to) if to != from => out.push(Transition::new(addr, from, to, why)),
        _ => {}
    }
}
