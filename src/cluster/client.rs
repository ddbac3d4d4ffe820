//! The cluster client: one logical client over every provider of a service.
//!
//! Article: 原理 › 负载均衡 and 集群策略, and the 通知 row of 对比 › RPC与HTTP
//! ("RPC learns of changes automatically"). The one idea to take away:
//! **the consumer holds the list, its own opinion of each entry, and one
//! connection per entry; every call picks, tries, and reports back**.
//!
//! ```text
//!  Registry ── Snapshot ──► watcher thread ──► HealthTracker.update
//!                              │                  (and closes Clients of
//!                              │                   instances that left)
//!                              └─ probes due ──► Client::ping ──► Probe{Succeeded,Failed}
//!
//!  call ─► usable() ─► Strategy ─► Balancer::pick ─► Client (opened lazily)
//!                                      ▲                   │
//!               started / finished ────┴── CallSucceeded / CallFailed ──► HealthTracker
//! ```
//!
//! Request-response calls (with a timeout, a hashing key and an
//! idempotency mark per call) follow the [`Strategy`]; futures
//! (`pending.rs`), callbacks and oneway calls are one try on one instance.

use super::pending::ClusterPending;
use super::strategy::{retryable, RetryBudget, Strategy};
use crate::balance::{Balancer, Outcome, Random};
use crate::client::Client;
use crate::codec::{Decode, Encode};
use crate::discovery::{
    Event, Health, HealthConfig, HealthTracker, Instance, Registry, Snapshot, Subscription,
};
use crate::error::{RpcError, Status};
use crate::sync::lock;
use crate::time::{Deadline, SystemClock};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the watcher waits for a snapshot before checking whether it
/// should stop and whether a probe is due: also the most `Drop` waits.
const WATCH_TICK: Duration = Duration::from_millis(50);

/// The longest a probe (a ping) may hold up the watcher.
const PROBE_CAP: Duration = Duration::from_millis(500);

/// The longest `connect` waits for the registry's first list.
const FIRST_LIST: Duration = Duration::from_secs(5);

/// How often a forking call looks at each of its futures.
const FORK_POLL: Duration = Duration::from_millis(2);

/// Options for one call. [`ClusterClient::call`] and friends fill it in.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallOptions<'a> {
    /// The call's whole deadline, retries included; `None`: the client's
    /// call timeout.
    pub timeout: Option<Duration>,
    /// The key a hashing balancer routes by (e.g. a user id's bytes).
    pub key: Option<&'a [u8]>,
    /// The call may run twice without harm, so `Failover` may retry it
    /// after it was sent. Call ids listed with
    /// [`ClusterBuilder::idempotent`] are idempotent anyway.
    pub idempotent: bool,
}

/// Settings for a [`ClusterClient`]; [`connect`](ClusterBuilder::connect)
/// subscribes and starts it.
pub struct ClusterBuilder {
    registry: Arc<dyn Registry>,
    service: String,
    group: String,
    version: String,
    pub(super) balancer: Box<dyn Balancer>,
    strategy: Strategy,
    call_timeout: Duration,
    connect_timeout: Duration,
    health: HealthConfig,
    idempotent: HashSet<String>,
    budget: RetryBudget,
}

impl ClusterBuilder {
    /// The balancer (default: [`Random`], seeded from the system).
    pub fn balancer(mut self, b: Box<dyn Balancer>) -> Self {
        self.balancer = b;
        self
    }

    /// The strategy (default [`Strategy::FailFast`]).
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.strategy = s;
        self
    }

    /// The whole time a call may take, retries included (default 5 s).
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.call_timeout = d;
        self
    }

    /// The most opening one connection may take (default 1 s; never more
    /// than what is left of the call).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The health state machine's thresholds (default
    /// [`HealthConfig::default`]).
    pub fn health(mut self, config: HealthConfig) -> Self {
        self.health = config;
        self
    }

    /// Call ids that may run twice without harm (Dubbo marks them per
    /// method; here they are listed once for the client).
    pub fn idempotent(mut self, call_ids: &[&str]) -> Self {
        self.idempotent
            .extend(call_ids.iter().map(|s| (*s).to_owned()));
        self
    }

    /// The retry budget (default 10 tokens, 0.1 back per success).
    pub fn retry_budget(mut self, max_tokens: u32, refund: f64) -> Self {
        self.budget = RetryBudget::new(max_tokens, refund);
        self
    }

    /// Subscribe, wait (bounded) for the first list, and start the watcher.
    pub fn connect(self) -> Result<ClusterClient, RpcError> {
        let sub = self
            .registry
            .subscribe(&self.service, &self.group, &self.version)?;
        let inner = Arc::new(Inner {
            tracker: HealthTracker::new(self.health, Arc::new(SystemClock)),
            service: self.service,
            group: self.group,
            version: self.version,
            balancer: self.balancer,
            strategy: self.strategy,
            call_timeout: self.call_timeout,
            connect_timeout: self.connect_timeout,
            idempotent: self.idempotent,
            budget: self.budget,
            listed: Mutex::new(Vec::new()),
            clients: Mutex::new(BTreeMap::new()),
            stop: AtomicBool::new(false),
        });
        match sub.next_timeout(FIRST_LIST) {
            Some(first) => inner.apply(&first),
            None => {
                return Err(RpcError::unavailable(format!(
                    "no list from the registry for {} within {FIRST_LIST:?}",
                    inner.name()
                )))
            }
        }
        let watcher_inner = Arc::clone(&inner);
        let watcher = std::thread::Builder::new()
            .name("minirpc-cluster-watch".into())
            .spawn(move || watch(&watcher_inner, &sub))
            .map_err(|e| RpcError::from_io("starting the cluster watcher", &e))?;
        Ok(ClusterClient {
            inner,
            watcher: Some(watcher),
        })
    }
}

/// One client for a whole service: it follows the registry, keeps its own
/// health opinion of each provider, balances, and applies a [`Strategy`].
///
/// It is `Send + Sync`: share it by reference (or in an `Arc`) between
/// threads. Dropping it stops and joins its watcher thread and closes every
/// connection.
pub struct ClusterClient {
    inner: Arc<Inner>,
    watcher: Option<JoinHandle<()>>,
}

pub(super) struct Inner {
    service: String,
    group: String,
    version: String,
    tracker: HealthTracker,
    pub(super) balancer: Box<dyn Balancer>,
    strategy: Strategy,
    call_timeout: Duration,
    connect_timeout: Duration,
    idempotent: HashSet<String>,
    budget: RetryBudget,
    /// The latest list, kept for Suspect fallback, Fixed and Broadcast.
    listed: Mutex<Vec<Instance>>,
    /// One client per address, opened on the first pick.
    clients: Mutex<BTreeMap<SocketAddr, Client>>,
    stop: AtomicBool,
}

/// How one try ended: its result, and whether the request was sent.
struct Try<R> {
    result: Result<R, RpcError>,
    sent: bool,
}

impl ClusterClient {
    /// Settings for a client of `service` in `group` at `version` (`"*"`:
    /// any version) as listed by `registry`.
    pub fn builder(
        registry: Arc<dyn Registry>,
        service: &str,
        group: &str,
        version: &str,
    ) -> ClusterBuilder {
        ClusterBuilder {
            registry,
            service: service.to_owned(),
            group: group.to_owned(),
            version: version.to_owned(),
            balancer: Box::new(Random::new()),
            strategy: Strategy::FailFast,
            call_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            health: HealthConfig::default(),
            idempotent: HashSet::new(),
            budget: RetryBudget::default(),
        }
    }

    /// Call `call_id` with `args` on the cluster, within the call timeout.
    pub fn call<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.call_with(call_id, args, CallOptions::default())
    }

    /// [`call`](ClusterClient::call) within `timeout`, retries included.
    pub fn call_timeout<A, R>(
        &self,
        call_id: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let options = CallOptions {
            timeout: Some(timeout),
            ..CallOptions::default()
        };
        self.call_with(call_id, args, options)
    }

    /// [`call`](ClusterClient::call) routed by `key` (for [`ConsistentHash`](crate::balance::ConsistentHash)).
    pub fn call_keyed<A, R>(&self, key: &[u8], call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let options = CallOptions {
            key: Some(key),
            ..CallOptions::default()
        };
        self.call_with(call_id, args, options)
    }

    /// [`call`](ClusterClient::call), marked idempotent for this call.
    pub fn call_idempotent<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let options = CallOptions {
            idempotent: true,
            ..CallOptions::default()
        };
        self.call_with(call_id, args, options)
    }

    /// The general form: a call with its [`CallOptions`].
    pub fn call_with<A, R>(
        &self,
        call_id: &str,
        args: &A,
        options: CallOptions<'_>,
    ) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let inner = &*self.inner;
        let deadline = Deadline::after(options.timeout.unwrap_or(inner.call_timeout));
        let idempotent = options.idempotent || inner.idempotent.contains(call_id);
        let call = Call {
            call_id,
            key: options.key,
            deadline,
        };
        match inner.strategy {
            Strategy::FailFast => inner.failover(&call, args, 0, false),
            Strategy::Failover { retries } => inner.failover(&call, args, retries, idempotent),
            Strategy::Fixed(addr) => inner.fixed(&call, args, addr),
            Strategy::Forking { n } => inner.forking(&call, args, n.max(1)),
            Strategy::Broadcast => inner.broadcast(&call, args),
        }
    }

    /// Future mode: one try on one instance the balancer picks (by `key`,
    /// if given), within `timeout` or the call timeout, whatever the
    /// strategy. Its outcome is reported when the result is taken.
    pub fn call_async<A, R>(
        &self,
        call_id: &str,
        args: &A,
        key: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> ClusterPending<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let inner = &self.inner;
        let deadline = Deadline::after(timeout.unwrap_or(inner.call_timeout));
        let candidates = inner.usable();
        let Some(k) = inner.balancer.pick(&candidates, key) else {
            return ClusterPending::failed(inner.no_instance("usable"));
        };
        let addr = candidates[k].addr;
        let started = Instant::now();
        inner.balancer.started(addr);
        match inner.client(addr, deadline) {
            Ok(c) => {
                let left = deadline.remaining_capped(inner.call_timeout);
                let pending = c.call_async_timeout(call_id, args, left);
                ClusterPending::live(Arc::clone(inner), addr, started, pending)
            }
            Err(e) => {
                inner.report(addr, started, Some(&e));
                ClusterPending::failed(e)
            }
        }
    }

    /// Callback mode: one try on one instance the balancer picks, within
    /// the call timeout, whatever the strategy; `f` runs exactly once, on
    /// the instance client's callback threads, and the outcome is reported
    /// to the balancer and the tracker just before.
    ///
    /// `Err` means the call was not sent (no usable instance, or its
    /// connection could not be opened): then `f` is dropped unrun, and the
    /// error is returned here rather than run on the caller's thread.
    pub fn call_with_callback<A, R, F>(&self, call_id: &str, args: &A, f: F) -> Result<(), RpcError>
    where
        A: Encode + ?Sized,
        R: Decode + 'static,
        F: FnOnce(Result<R, RpcError>) + Send + 'static,
    {
        let inner = &self.inner;
        let deadline = Deadline::after(inner.call_timeout);
        let candidates = inner.usable();
        let Some(k) = inner.balancer.pick(&candidates, None) else {
            return Err(inner.no_instance("usable"));
        };
        let addr = candidates[k].addr;
        let started = Instant::now();
        inner.balancer.started(addr);
        let client = match inner.client(addr, deadline) {
            Ok(c) => c,
            Err(e) => {
                inner.report(addr, started, Some(&e));
                return Err(e);
            }
        };
        let reporter = Arc::clone(inner);
        let left = deadline.remaining_capped(inner.call_timeout);
        client.call_with_callback_timeout(call_id, args, left, move |r: Result<R, RpcError>| {
            reporter.report(addr, started, r.as_ref().err());
            f(r);
        });
        Ok(())
    }

    /// Oneway (单向调用) on one instance the balancer picks: `Ok` once the
    /// frame is written. Nothing comes back, so nothing is retried once
    /// sent, and a sent frame tells the health tracker nothing; only an
    /// instance that cannot be reached is blamed, and then (the call never
    /// left) the next untried instance is used, whatever the strategy.
    /// `Fixed` sends to its instance; `Forking` and `Broadcast` send once.
    pub fn call_oneway<A>(&self, call_id: &str, args: &A) -> Result<(), RpcError>
    where
        A: Encode + ?Sized,
    {
        let inner = &*self.inner;
        let deadline = Deadline::after(inner.call_timeout);
        let mut candidates = match inner.strategy {
            Strategy::Fixed(addr) => lock(&inner.listed)
                .iter()
                .filter(|i| i.addr == addr)
                .cloned()
                .collect(),
            _ => inner.usable(),
        };
        let mut last = None;
        // Bounded: each pass removes one candidate.
        while let Some(k) = inner.balancer.pick(&candidates, None) {
            let addr = candidates.remove(k).addr;
            let started = Instant::now();
            inner.balancer.started(addr);
            match inner.client(addr, deadline) {
                Ok(c) => {
                    let sent = c.call_oneway(call_id, args);
                    inner.report(addr, started, sent.as_ref().err());
                    return sent;
                }
                Err(e) => {
                    inner.report(addr, started, Some(&e));
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| inner.no_instance("usable")))
    }

    /// Every listed address and what this client believes about it.
    pub fn health(&self) -> Vec<(SocketAddr, Health)> {
        self.inner.tracker.states()
    }

    /// The addresses with an open client (opened lazily, closed when the
    /// instance leaves the list).
    pub fn open_clients(&self) -> Vec<SocketAddr> {
        lock(&self.inner.clients).keys().copied().collect()
    }

    /// Retry tokens left (see [`RetryBudget`]).
    pub fn retry_tokens(&self) -> f64 {
        self.inner.budget.tokens()
    }
}

impl Drop for ClusterClient {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.watcher.take() {
            // It checks `stop` every WATCH_TICK (plus at most one PROBE_CAP).
            let _ = w.join();
        }
        lock(&self.inner.clients).clear();
    }
}

/// What every try of one call shares.
struct Call<'a> {
    call_id: &'a str,
    key: Option<&'a [u8]>,
    deadline: Deadline,
}

/// The watcher: apply each new list, run the probes that are due.
fn watch(inner: &Inner, sub: &Subscription) {
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
    fn name(&self) -> String {
        format!("{}/{}/{}", self.service, self.group, self.version)
    }

    /// Take a new list; close the clients of instances that left it.
    fn apply(&self, snapshot: &Snapshot) {
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
            lock(&self.clients).retain(|a, _| addrs.contains(a));
            *lock(&self.listed) = snapshot.instances;
        }
    }

    /// The instances calls may go to: the Healthy ones, or the Suspect ones
    /// when nothing is Healthy (a guess beats certain failure).
    fn usable(&self) -> Vec<Instance> {
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

    fn no_instance(&self, why: &str) -> RpcError {
        RpcError::unavailable(format!(
            "no {why} instance of {}: check that a provider is registered in this group and version",
            self.name()
        ))
    }

    /// The client for `addr`, opening it if this is its first pick.
    fn client(&self, addr: SocketAddr, deadline: Deadline) -> Result<Client, RpcError> {
        if let Some(c) = lock(&self.clients).get(&addr) {
            return Ok(c.clone());
        }
        // Opened outside the lock: a slow connect must not stall calls to
        // other instances. Two callers may race; the first one kept wins.
        let timeout = deadline.remaining_capped(self.connect_timeout);
        let c = Client::builder()
            .connect_timeout(timeout)
            .call_timeout(self.call_timeout)
            .connect(addr)?;
        Ok(lock(&self.clients).entry(addr).or_insert(c).clone())
    }

    /// One try on `addr`, reported to the balancer and the health tracker.
    fn try_on<A, R>(&self, addr: SocketAddr, call: &Call<'_>, args: &A) -> Try<R>
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
    pub(super) fn report(&self, addr: SocketAddr, started: Instant, err: Option<&RpcError>) {
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

    /// FailFast (`retries == 0`) and Failover.
    fn failover<A, R>(
        &self,
        call: &Call<'_>,
        args: &A,
        retries: u32,
        idempotent: bool,
    ) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let mut tried: Vec<SocketAddr> = Vec::new();
        let mut last: Option<RpcError> = None;
        for attempt in 0..=retries {
            let candidates: Vec<Instance> = self
                .usable()
                .into_iter()
                .filter(|i| !tried.contains(&i.addr))
                .collect();
            let Some(k) = self.balancer.pick(&candidates, call.key) else {
                return Err(last.unwrap_or_else(|| self.no_instance("usable")));
            };
            let addr = candidates[k].addr;
            tried.push(addr);
            let t = self.try_on(addr, call, args);
            match t.result {
                Ok(v) => {
                    self.budget.refund();
                    return Ok(v);
                }
                Err(e) => {
                    let again = attempt < retries
                        && retryable(&e, t.sent, idempotent)
                        && !call.deadline.has_passed()
                        && self.budget.try_spend();
                    if !again {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| self.no_instance("usable")))
    }

    /// Fixed: that instance, if it is listed for this service and group.
    fn fixed<A, R>(&self, call: &Call<'_>, args: &A, addr: SocketAddr) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        if !lock(&self.listed).iter().any(|i| i.addr == addr) {
            return Err(RpcError::unavailable(format!(
                "the fixed instance {addr} is not listed for {}",
                self.name()
            )));
        }
        self.try_on(addr, call, args).result
    }

    /// Forking: `n` futures at once; the first success wins.
    fn forking<A, R>(&self, call: &Call<'_>, args: &A, n: usize) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let mut candidates = self.usable();
        let mut out = Vec::new();
        while out.len() < n {
            let Some(k) = self.balancer.pick(&candidates, call.key) else {
                break;
            };
            let addr = candidates.remove(k).addr;
            let started = Instant::now();
            self.balancer.started(addr);
            match self.client(addr, call.deadline) {
                Ok(c) => {
                    let left = call.deadline.remaining_capped(self.call_timeout);
                    out.push((
                        addr,
                        started,
                        c.call_async_timeout::<A, R>(call.call_id, args, left),
                    ));
                }
                Err(e) => self.report(addr, started, Some(&e)),
            }
        }
        if out.is_empty() {
            return Err(self.no_instance("reachable"));
        }
        let mut last = None;
        // Bounded: each pending ends by the call's deadline (it carries it).
        while !out.is_empty() {
            let mut i = 0;
            while i < out.len() {
                match out[i].2.wait_timeout(FORK_POLL) {
                    None => i += 1,
                    Some(result) => {
                        let (addr, started, _) = out.remove(i);
                        self.report(addr, started, result.as_ref().err());
                        match result {
                            Ok(v) => {
                                // The losers: dropping a Pending cancels it.
                                // Their latency so far is a lower bound, and
                                // they are not to blame.
                                for (addr, started, _) in out.drain(..) {
                                    self.balancer
                                        .finished(addr, Outcome::success(started.elapsed()));
                                }
                                return Ok(v);
                            }
                            Err(e) => last = Some(e),
                        }
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| self.no_instance("reachable")))
    }

    /// Broadcast: every listed instance; any failure is an error naming it.
    /// The answer is the first instance's (by address).
    fn broadcast<A, R>(&self, call: &Call<'_>, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let all: Vec<SocketAddr> = lock(&self.listed).iter().map(|i| i.addr).collect();
        if all.is_empty() {
            return Err(self.no_instance("listed"));
        }
        let mut first = None;
        let mut failed = Vec::new();
        for addr in all {
            match self.try_on::<A, R>(addr, call, args).result {
                Ok(v) => {
                    if first.is_none() {
                        first = Some(v);
                    }
                }
                Err(e) => failed.push((addr, e)),
            }
        }
        if let Some((addr, e)) = failed.first() {
            let names: Vec<String> = failed.iter().map(|(a, _)| a.to_string()).collect();
            return Err(RpcError::new(
                e.status,
                format!(
                    "broadcast {} failed on {} of the instances ({}); first, {addr}: {}",
                    call.call_id,
                    failed.len(),
                    names.join(", "),
                    e.message
                ),
            ));
        }
        first.ok_or_else(|| self.no_instance("listed"))
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
