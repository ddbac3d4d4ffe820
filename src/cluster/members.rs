//! The consumer's view of the cluster: the list, its health, and one
//! connection per instance.
//!
//! Article: 原理 › 服务发现 and 健康检查, as a cluster client uses them. The
//! one idea to take away: **every try is reported**: the balancer hears
//! `started` and `finished` for it, and the health tracker a success or a
//! failure, so the next pick already knows what this one learned.
//!
//! ```text
//!  Subscription ──► watch() ──► apply(): HealthTracker.update, drop the
//!                     │                  Clients of instances that left
//!                     └─ due_for_probe ─► Client::ping ─► Probe{Succeeded,Failed}
//!
//!  try_on(addr) ─► balancer.started ─► client(addr) ─► Client::call_timeout
//!                                                           │
//!                  report(): balancer.finished + tracker.record ◄┘
//! ```

use super::strategy::{RetryBudget, Strategy};
use crate::balance::{Balancer, Outcome};
use crate::client::Client;
use crate::codec::{Decode, Encode};
use crate::discovery::{Event, Health, HealthTracker, Instance, Snapshot, Subscription};
use crate::error::{RpcError, Status};
use crate::sync::lock;
use crate::time::Deadline;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the watcher waits for a snapshot before checking whether it
/// should stop and whether a probe is due: also about the most `Drop` waits.
const WATCH_TICK: Duration = Duration::from_millis(50);

/// The longest a probe (a ping) may hold up the watcher.
const PROBE_CAP: Duration = Duration::from_millis(500);

/// What a [`ClusterClient`](super::ClusterClient) and its watcher share.
pub(crate) struct Inner {
    pub(crate) service: String,
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) tracker: HealthTracker,
    pub(crate) balancer: Box<dyn Balancer>,
    pub(crate) strategy: Strategy,
    pub(crate) call_timeout: Duration,
    /// Key id and secret every connection signs with, if any.
    pub(crate) credentials: Option<(String, Vec<u8>)>,
    pub(crate) connect_timeout: Duration,
    pub(crate) idempotent: HashSet<String>,
    pub(crate) budget: RetryBudget,
    /// The latest list, kept for Suspect fallback, Fixed and Broadcast.
    pub(crate) listed: Mutex<Vec<Instance>>,
    /// One client per address, opened on the first pick.
    pub(crate) clients: Mutex<BTreeMap<SocketAddr, Client>>,
    pub(crate) stop: AtomicBool,
}

/// How one try ended: its result, and whether the request was sent.
pub(crate) struct Try<R> {
    pub(crate) result: Result<R, RpcError>,
    pub(crate) sent: bool,
}

/// What every try of one call shares.
pub(crate) struct Call<'a> {
    pub(crate) call_id: &'a str,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) deadline: Deadline,
}

/// The watcher: apply each new list, run the probes that are due.
pub(crate) fn watch(inner: &Inner, sub: &Subscription) {
    while !inner.stop.load(Ordering::SeqCst) {
        if let Some(snapshot) = sub.next_timeout(WATCH_TICK) {
            inner.apply(&snapshot);
        }
        for addr in inner.tracker.due_for_probe() {
            if inner.stop.load(Ordering::SeqCst) {
                return;
            }
            let timeout = inner.tracker.config().probe_timeout.min(PROBE_CAP);
            let answered = inner
                .client(addr, Deadline::after(timeout))
                .and_then(|c| c.ping(timeout))
                .is_ok();
            let event = if answered {
                Event::ProbeSucceeded
            } else {
                Event::ProbeFailed
            };
            inner.tracker.record(addr, event);
        }
    }
}

impl Inner {
    pub(crate) fn name(&self) -> String {
        format!("{}/{}/{}", self.service, self.group, self.version)
    }

    /// Take a new list; close the clients of instances that left it.
    pub(crate) fn apply(&self, snapshot: &Snapshot) {
        // Defensive: whatever the registry sends, no call crosses groups.
        let mine: Vec<Instance> = snapshot
            .instances
            .iter()
            .filter(|i| i.matches(&self.service, &self.group, &self.version))
            .cloned()
            .collect();
        let snapshot = Snapshot {
            instances: mine,
            stale: snapshot.stale,
        };
        self.tracker.update(&snapshot);
        if !snapshot.stale {
            let addrs: HashSet<SocketAddr> = snapshot.instances.iter().map(|i| i.addr).collect();
            *lock(&self.listed) = snapshot.instances;
            // Closed outside the lock: closing joins the connection's
            // reader, and calls to other instances must not wait for that.
            let gone: Vec<Client> = {
                let mut clients = lock(&self.clients);
                let left: Vec<SocketAddr> = clients
                    .keys()
                    .filter(|a| !addrs.contains(a))
                    .copied()
                    .collect();
                left.iter().filter_map(|a| clients.remove(a)).collect()
            };
            drop(gone);
        }
    }

    /// The instances calls may go to: the Healthy ones, or the Suspect ones
    /// when nothing is Healthy (a guess beats certain failure).
    pub(crate) fn usable(&self) -> Vec<Instance> {
        let healthy = self.tracker.healthy();
        if !healthy.is_empty() {
            return healthy;
        }
        lock(&self.listed)
            .iter()
            .filter(|i| self.tracker.health(i.addr) == Some(Health::Suspect))
            .cloned()
            .collect()
    }

    pub(crate) fn no_instance(&self, why: &str) -> RpcError {
        RpcError::unavailable(format!(
            "no {why} instance of {}: check that a provider is registered in this group and version",
            self.name()
        ))
    }

    /// The client for `addr`, opening it if this is its first pick.
    pub(crate) fn client(&self, addr: SocketAddr, deadline: Deadline) -> Result<Client, RpcError> {
        if let Some(c) = lock(&self.clients).get(&addr) {
            return Ok(c.clone());
        }
        // Opened outside the lock: a slow connect must not stall calls to
        // other instances. Two callers may race; the first one kept wins.
        let timeout = deadline.remaining_capped(self.connect_timeout);
        let mut builder = Client::builder()
            .connect_timeout(timeout)
            .call_timeout(self.call_timeout);
        if let Some((key_id, secret)) = &self.credentials {
            builder = builder.credentials(key_id.as_str(), secret);
        }
        let c = builder.connect(addr)?;
        Ok(lock(&self.clients).entry(addr).or_insert(c).clone())
    }

    /// One try on `addr`, reported to the balancer and the health tracker.
    pub(crate) fn try_on<A, R>(&self, addr: SocketAddr, call: &Call<'_>, args: &A) -> Try<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        if call.deadline.has_passed() {
            let e = RpcError::deadline_exceeded(format!(
                "the call to {} ran out of time before a try on {addr}",
                call.call_id
            ));
            return Try {
                result: Err(e),
                sent: false,
            };
        }
        let started = Instant::now();
        self.balancer.started(addr);
        let (result, sent) = match self.client(addr, call.deadline) {
            Err(e) => (Err(e), false),
            Ok(c) => {
                let left = call.deadline.remaining_capped(self.call_timeout);
                (c.call_timeout(call.call_id, args, left), true)
            }
        };
        self.report(addr, started, result.as_ref().err());
        Try { result, sent }
    }

    /// Tell the balancer and the tracker how a try on `addr` ended.
    pub(crate) fn report(&self, addr: SocketAddr, started: Instant, err: Option<&RpcError>) {
        let blamed = err.is_some_and(blames_instance);
        let latency = started.elapsed();
        let outcome = if blamed {
            Outcome::failure(latency)
        } else {
            Outcome::success(latency)
        };
        self.balancer.finished(addr, outcome);
        let event = if blamed {
            Event::CallFailed
        } else {
            Event::CallSucceeded
        };
        self.tracker.record(addr, event);
    }
}

/// Whether an error says something about the instance (so its health and
/// its balancer score should suffer), rather than about the caller.
fn blames_instance(e: &RpcError) -> bool {
    matches!(
        e.status,
        Status::Unavailable
            | Status::DeadlineExceeded
            | Status::ResourceExhausted
            | Status::DataLoss
    )
}
