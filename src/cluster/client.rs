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

use super::members::{watch, Call, Inner};
use super::pending::ClusterPending;
use super::strategy::{RetryBudget, Strategy};
use crate::balance::{Balancer, Random};
use crate::codec::{Decode, Encode};
use crate::discovery::{Health, HealthConfig, HealthTracker, Registry};
use crate::error::RpcError;
use crate::sync::lock;
use crate::time::{Deadline, SystemClock};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest `connect` waits for the registry's first list.
const FIRST_LIST: Duration = Duration::from_secs(5);

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
    credentials: Option<(String, Vec<u8>)>,
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

    /// Sign every call with key `key_id` and its `secret`, on every
    /// instance (each connection gets a `ClientBuilder::credentials`
    /// signer). Default none.
    pub fn credentials(mut self, key_id: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        self.credentials = Some((key_id.into(), secret.as_ref().to_vec()));
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
            credentials: self.credentials,
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
            credentials: None,
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
        let clients = std::mem::take(&mut *lock(&self.inner.clients));
        drop(clients); // closed outside the lock
    }
}
