//! A server's side of a cluster limit: batches from the token server, and
//! a local share of the rate when the token server cannot be reached.
//!
//! Article: 原理 › 流量控制 › 集群限流. The one idea to take away: **a
//! shared limit must not become a shared failure**. Every call on a
//! limited method would otherwise wait on the token server, so the ask
//! has a short timeout (Sentinel's default is 20 ms), and when it fails
//! the server falls back to limiting alone at its share of the rate
//! (`rate / expected servers`: Sentinel's `fallbackToLocalWhenFail`). It
//! says so once, asks the token server again now and then, and goes back
//! to the shared quota when it answers.
//!
//! ```text
//!                   batch left? ──yes──► allow (no network)
//!                        │ no
//!   Shared ── ask the token server (timeout) ──► granted n: allow, keep n−1 for later
//!     ▲                  │ fails                 granted 0: deny until it said to retry
//!     │                  ▼
//!     │   Fallback: a local bucket of rate/servers (logged once)
//!     └── every retry_every, ask again; an answer ends the fallback (logged once)
//! ```
//!
//! The ask happens on the connection reader that needed the token, under
//! this limiter's lock, so at most one ask is in flight per server and
//! the other readers wait for it: at most the timeout for each of its
//! steps (finding the token server in the registry, connecting, asking).

use super::{rate_text, Decision, RateLimiter, TokenBucket, TOKEN_CALL_ID, TOKEN_SERVICE};
use crate::client::Client;
use crate::discovery::Registry;
use crate::error::RpcError;
use crate::sync::lock;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a [`ClusterLimiter`] takes its tokens from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterMode {
    /// From the token server: the cluster shares one rate.
    Shared,
    /// From a local bucket of this server's share: the token server could
    /// not be reached.
    Fallback,
}

/// One server's view of a cluster-wide rate limit (集群限流). Give it to a
/// server with [`Rule::shared`](super::Rule::shared); like every limiter it
/// reads time from the `now` it is given, so the rule's clock drives its
/// batch expiry and its retries.
pub struct ClusterLimiter {
    flow: String,
    registry: Arc<dyn Registry>,
    rate: f64,
    servers: u32,
    batch: u32,
    timeout: Duration,
    retry_every: Duration,
    batch_ttl: Duration,
    fallback: TokenBucket,
    state: Mutex<State>,
}

struct State {
    client: Option<(SocketAddr, Client)>,
    /// Tokens granted and not used yet, good until `batch_until`.
    batch_left: u32,
    batch_until: Option<Instant>,
    /// The token server said "none left before this".
    denied_until: Option<Instant>,
    mode: ClusterMode,
    /// In fallback: when to ask the token server again.
    next_try: Option<Instant>,
    fallbacks: u64,
    recoveries: u64,
}

impl ClusterLimiter {
    /// The limiter for `flow` (a flow the token server serves), which
    /// passes `rate_per_sec` across about `expected_servers` servers, found
    /// through `registry` under [`TOKEN_SERVICE`] (group `"default"`, any
    /// version, as `Instance::new` publishes it). Falls back to
    /// `rate_per_sec / expected_servers` (and that share of `burst`) here.
    pub fn new(
        flow: &str,
        registry: Arc<dyn Registry>,
        rate_per_sec: f64,
        burst: u32,
        expected_servers: u32,
    ) -> ClusterLimiter {
        let servers = expected_servers.max(1);
        let share = rate_per_sec.max(0.0) / f64::from(servers);
        ClusterLimiter {
            flow: flow.to_owned(),
            registry,
            rate: rate_per_sec.max(0.0),
            servers,
            // A tenth of a second of this server's share per ask.
            batch: ((share / 10.0).floor() as u32).max(1),
            timeout: Duration::from_millis(20),
            retry_every: Duration::from_secs(1),
            batch_ttl: Duration::from_secs(1),
            fallback: TokenBucket::new(share, (burst / servers).max(1)),
            state: Mutex::new(State {
                client: None,
                batch_left: 0,
                batch_until: None,
                denied_until: None,
                mode: ClusterMode::Shared,
                next_try: None,
                fallbacks: 0,
                recoveries: 0,
            }),
        }
    }

    /// Tokens asked for at a time (default: a tenth of a second of this
    /// server's share, at least 1).
    pub fn batch(mut self, n: u32) -> Self {
        self.batch = n.max(1);
        self
    }

    /// How long an ask may take before it counts as a failure (default 20 ms).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t.max(Duration::from_millis(1));
        self
    }

    /// In fallback, how often to ask the token server again (default 1 s).
    pub fn retry_every(mut self, t: Duration) -> Self {
        self.retry_every = t;
        self
    }

    /// How long granted tokens may be kept before they are dropped unused
    /// (default 1 s), so a server cannot save up tokens for a burst.
    pub fn batch_ttl(mut self, t: Duration) -> Self {
        self.batch_ttl = t;
        self
    }

    /// Where tokens come from now.
    pub fn mode(&self) -> ClusterMode {
        lock(&self.state).mode
    }

    /// How many times this limiter has fallen back to its local share.
    pub fn fallbacks(&self) -> u64 {
        lock(&self.state).fallbacks
    }

    /// How many times it has gone back to the shared quota after a fallback.
    pub fn recoveries(&self) -> u64 {
        lock(&self.state).recoveries
    }

    /// The token server's address, from the registry, within `timeout`.
    /// The lookup runs on a thread of its own: a registry such as etcd is
    /// itself a network call, and one that hangs must cost this limiter's
    /// callers no more than the ask's own timeout, or the shared limit
    /// becomes the shared failure it is meant not to be. A lookup that
    /// outlives the timeout finishes alone and its answer is dropped.
    fn find_token_server(&self) -> Result<SocketAddr, RpcError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let registry = Arc::clone(&self.registry);
        std::thread::Builder::new()
            .name("minirpc-token-lookup".into())
            .spawn(move || {
                let _ = tx.send(registry.lookup(TOKEN_SERVICE, "default", "*"));
            })
            .map_err(|e| RpcError::unavailable(format!("cannot start a registry lookup: {e}")))?;
        let found = rx.recv_timeout(self.timeout).map_err(|_| {
            RpcError::unavailable(format!(
                "the registry did not list the token servers ({TOKEN_SERVICE:?}) within {:?} (see ClusterLimiter::timeout)",
                self.timeout
            ))
        })??;
        found.first().map(|i| i.addr).ok_or_else(|| {
            RpcError::unavailable(format!(
                "no token server is registered under {TOKEN_SERVICE:?}"
            ))
        })
    }

    /// Ask the token server for a batch: `(granted, retry_after_ms)`.
    fn ask(&self, st: &mut State) -> Result<(u32, u64), RpcError> {
        if st.client.is_none() {
            let addr = self.find_token_server()?;
            let client = Client::builder()
                .connect_timeout(self.timeout)
                .call_timeout(self.timeout)
                .heartbeat(None)
                .connect(addr)?;
            st.client = Some((addr, client));
        }
        let (_, client) = st.client.as_ref().expect("connected just above");
        client.call_timeout(
            TOKEN_CALL_ID,
            &(self.flow.as_str(), self.batch),
            self.timeout,
        )
    }
}

/// `now + d`, or a moment that never comes when `d` is too large to add
/// to the clock: `retry_every(Duration::MAX)` or `batch_ttl(Duration::MAX)`
/// mean "never", and `Instant + Duration` would panic on them, on the
/// connection reader that checks the limit.
fn later(now: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

impl RateLimiter for ClusterLimiter {
    fn try_acquire(&self, now: Instant) -> Decision {
        let mut st = lock(&self.state);
        if st.batch_left > 0 && st.batch_until.is_some_and(|t| now < t) {
            st.batch_left -= 1;
            return Decision::Allow;
        }
        if let Some(until) = st.denied_until.filter(|&t| now < t) {
            return Decision::Deny {
                retry_after: until - now,
            };
        }
        if st.mode == ClusterMode::Fallback && st.next_try.is_some_and(|t| now < t) {
            return self.fallback.try_acquire(now);
        }
        match self.ask(&mut st) {
            Ok((granted, retry_ms)) => {
                if st.mode == ClusterMode::Fallback {
                    st.mode = ClusterMode::Shared;
                    st.recoveries += 1;
                    let at = st.client.as_ref().map(|(a, _)| *a);
                    eprintln!(
                        "minirpc: cluster limit {:?}: the token server at {} answers again; back to the shared quota",
                        self.flow,
                        at.map_or_else(|| "?".to_owned(), |a| a.to_string())
                    );
                }
                if granted == 0 {
                    let wait = Duration::from_millis(retry_ms.max(1));
                    st.denied_until = Some(later(now, wait));
                    return Decision::Deny { retry_after: wait };
                }
                st.batch_left = granted.min(self.batch) - 1;
                st.batch_until = Some(later(now, self.batch_ttl));
                st.denied_until = None;
                Decision::Allow
            }
            Err(e) => {
                st.client = None;
                st.batch_left = 0;
                st.next_try = Some(later(now, self.retry_every));
                if st.mode == ClusterMode::Shared {
                    st.mode = ClusterMode::Fallback;
                    st.fallbacks += 1;
                    eprintln!(
                        "minirpc: cluster limit {:?}: cannot get tokens from the token server ({e}); falling back to this server's share, {} (rate / {} servers), and asking again every {:?}",
                        self.flow,
                        rate_text(self.fallback.rate()),
                        self.servers,
                        self.retry_every
                    );
                }
                drop(st);
                self.fallback.try_acquire(now)
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "cluster {} over {} servers (token server flow {:?})",
            rate_text(self.rate),
            self.servers,
            self.flow
        )
    }
}
