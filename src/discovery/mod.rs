//! Service discovery: providers publish where they are, consumers subscribe
//! and are told when that changes.
//!
//! Article: 原理 › 服务发现, 健康检查, 分组部署, and the 多种注册中心 row of
//! 框架 › 对比. The one idea to take away: **push, not poll, and never from
//! a cache you cannot invalidate**. DNS could map a service name to
//! addresses, but resolvers cache answers for their TTL, so a consumer
//! would keep calling a dead provider for minutes. A registry instead keeps
//! each provider alive only while it keeps saying so (a lease with a TTL),
//! and pushes every change to the consumers that subscribed.
//!
//! ```text
//!  provider ── register(instance, ttl) ──► Registry ◄── subscribe(service) ── consumer
//!     │  keeps the lease alive while held      │                                 ▲
//!     └─ dropped / deregister / died: gone ────┴── the new list, pushed ─────────┘
//! ```
//!
//! [`Registry`] is the small trait every registry implements (and a learner
//! can implement in an exercise). An [`Instance`] is one provider of one
//! service, in one group, at one version. A [`Subscription`] delivers the
//! full list first and then a new full list after every change; it keeps
//! only the latest list, so a slow consumer costs the registry nothing.

pub mod health;
pub mod memory;

pub use health::{Event, Health, HealthConfig, HealthState, HealthTracker};
pub use memory::MemoryRegistry;

use crate::error::{RpcError, Status};
use crate::sync::lock;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod etcd;
pub use etcd::{EtcdRegistry, EtcdSettings};

/// One provider of a service: where it is and what it offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The service's name, e.g. `"Arith"`.
    pub service: String,
    /// The business group (分组), e.g. `"stable"` or `"canary"`. A call never
    /// crosses groups.
    pub group: String,
    /// The version it serves, e.g. `"1.0.0"`.
    pub version: String,
    /// Where to connect.
    pub addr: SocketAddr,
    /// Its share of traffic relative to others (default 100).
    pub weight: u32,
    /// Anything else a consumer may want to know (zone, host, ...).
    pub metadata: BTreeMap<String, String>,
    /// When it registered, in milliseconds since the Unix epoch (wall clock,
    /// so it reads the same in every process).
    pub registered_at_ms: u64,
}

impl Instance {
    /// An instance of `service` at `addr`, in group `"default"`, version
    /// `"1.0.0"`, weight 100, registered now.
    pub fn new(service: &str, addr: SocketAddr) -> Instance {
        Instance {
            service: service.to_owned(),
            group: "default".to_owned(),
            version: "1.0.0".to_owned(),
            addr,
            weight: 100,
            metadata: BTreeMap::new(),
            registered_at_ms: now_ms(),
        }
    }

    /// The same, in another group.
    pub fn group(mut self, group: &str) -> Instance {
        self.group = group.to_owned();
        self
    }

    /// The same, at another version.
    pub fn version(mut self, version: &str) -> Instance {
        self.version = version.to_owned();
        self
    }

    /// The same, with another weight.
    pub fn weight(mut self, weight: u32) -> Instance {
        self.weight = weight;
        self
    }

    /// The same, with one more metadata entry.
    pub fn meta(mut self, key: &str, value: &str) -> Instance {
        self.metadata.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Whether this instance answers a lookup for `service`, `group` and
    /// `version` (where `"*"` matches any version).
    pub fn matches(&self, service: &str, group: &str, version: &str) -> bool {
        self.service == service && self.group == group && version_matches(version, &self.version)
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}@{} (weight {})",
            self.service, self.group, self.version, self.addr, self.weight
        )
    }
}

/// Version matching: exact, or `"*"` for any.
pub fn version_matches(wanted: &str, have: &str) -> bool {
    wanted == "*" || wanted == have
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A registry of service instances. Implementations: `MemoryRegistry`
/// (in one process) and `EtcdRegistry` (a real etcd).
///
/// Every method returns promptly: none waits on the network for longer
/// than the implementation's own timeouts, and none blocks on a consumer.
pub trait Registry: Send + Sync {
    /// Publish `instance`, alive for `ttl` unless renewed. The returned
    /// [`Registration`] renews it while held; dropping it (or calling
    /// [`Registration::deregister`]) removes the instance at once.
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError>;

    /// The instances of `service` in `group` at `version` (`"*"`: any) now.
    fn lookup(&self, service: &str, group: &str, version: &str) -> Result<Vec<Instance>, RpcError>;

    /// Watch `service` in `group` at `version`: the subscription's first
    /// [`Snapshot`] is the current list, and a new one follows every change.
    fn subscribe(
        &self,
        service: &str,
        group: &str,
        version: &str,
    ) -> Result<Subscription, RpcError>;
}

/// What an implementation does to keep and to end one registration.
///
/// Two ways out, and an implementation must honour both: [`Lease::revoke`]
/// removes the instance at once (a clean shutdown), and dropping a lease
/// that was not revoked stops renewing it and leaves the instance to expire
/// after its TTL (a crash; see [`Registration::abandon`]). So a keepalive
/// thread belongs to the lease and is stopped by its `Drop`, and the
/// removal belongs to `revoke` alone.
pub trait Lease: Send {
    /// Remove the instance now. Called once, by [`Registration`].
    fn revoke(&mut self) -> Result<(), RpcError>;

    /// Publish `instance` in place of the one this lease keeps listed (same
    /// service, group, version and address; a new weight or metadata), so
    /// consumers see the change without the instance ever leaving the list.
    /// A registry that cannot do that says so; the caller can still
    /// deregister and register again.
    fn update(&mut self, instance: &Instance) -> Result<(), RpcError> {
        let _ = instance;
        Err(RpcError::new(
            Status::Unimplemented,
            "this registry cannot change a published instance in place; deregister it and register the new one",
        ))
    }
}

/// A live registration: the instance stays published while this is held.
pub struct Registration {
    instance: Instance,
    lease: Option<Box<dyn Lease>>,
}

impl Registration {
    /// Wrap an implementation's lease (for [`Registry`] implementors).
    pub fn new(instance: Instance, lease: Box<dyn Lease>) -> Registration {
        Registration {
            instance,
            lease: Some(lease),
        }
    }

    /// The instance this keeps published.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Remove the instance now, and say whether that worked (dropping the
    /// registration does the same, silently).
    pub fn deregister(mut self) -> Result<(), RpcError> {
        match self.lease.take() {
            Some(mut l) => l.revoke(),
            None => Ok(()),
        }
    }

    /// Publish a changed copy of the instance (its weight or metadata) under
    /// the same lease, for example to take it out of rotation with weight 0
    /// (the management center's "disable" action, 原理 › 管理中心). The
    /// instance's identity — service, group, version and address — cannot
    /// change: that would be a different instance.
    pub fn update(&mut self, change: impl FnOnce(&mut Instance)) -> Result<(), RpcError> {
        let mut next = self.instance.clone();
        change(&mut next);
        if (&next.service, &next.group, &next.version, next.addr)
            != (
                &self.instance.service,
                &self.instance.group,
                &self.instance.version,
                self.instance.addr,
            )
        {
            return Err(RpcError::new(
                Status::InvalidArgument,
                "Registration::update may change an instance's weight and metadata only; register a new instance to change its service, group, version or address",
            ));
        }
        let Some(lease) = self.lease.as_mut() else {
            return Ok(());
        };
        lease.update(&next)?;
        self.instance = next;
        Ok(())
    }

    /// Stop renewing without removing the instance: what a provider that
    /// crashed looks like to the registry. The instance stays listed until
    /// its TTL runs out, and only then do consumers hear that it is gone.
    /// For tests and demonstrations of failure detection; a provider that
    /// is shutting down should [`deregister`](Registration::deregister).
    pub fn abandon(mut self) {
        // The lease is dropped without `revoke`: its keepalive stops, and
        // the registry's own clock does the rest.
        drop(self.lease.take());
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(mut l) = self.lease.take() {
            let _ = l.revoke();
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Registration({})", self.instance)
    }
}

/// One view of a subscribed service: every matching instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The instances, sorted by address.
    pub instances: Vec<Instance>,
    /// The registry could not be reached, so this is the last list known to
    /// be good, kept rather than emptied (an outage must not look like every
    /// provider leaving). A fresh snapshot follows when it is back.
    pub stale: bool,
}

/// The consumer's end of a subscription: a mailbox holding the latest
/// snapshot. A newer snapshot replaces one not yet taken, so a slow
/// consumer never makes the registry wait or buffer.
pub struct Subscription {
    mailbox: Arc<Mailbox>,
    /// Ends the implementation's watch (a thread, a connection) when the
    /// subscription is dropped.
    _cancel: Option<Box<dyn Send>>,
}

/// The registry's end of a subscription.
#[derive(Clone)]
pub struct Publisher {
    mailbox: Arc<Mailbox>,
}

struct Mailbox {
    state: Mutex<MailState>,
    changed: Condvar,
}

struct MailState {
    latest: Option<Snapshot>,
    /// The consumer dropped its end.
    closed: bool,
    /// The registry dropped every publisher.
    finished: bool,
}

impl Subscription {
    /// A connected pair. `cancel` is dropped with the subscription (put a
    /// guard there that stops your watch).
    pub fn channel(cancel: Option<Box<dyn Send>>) -> (Publisher, Subscription) {
        let mailbox = Arc::new(Mailbox {
            state: Mutex::new(MailState {
                latest: None,
                closed: false,
                finished: false,
            }),
            changed: Condvar::new(),
        });
        (
            Publisher {
                mailbox: Arc::clone(&mailbox),
            },
            Subscription {
                mailbox,
                _cancel: cancel,
            },
        )
    }

    /// The next snapshot, waiting at most `timeout`; `None` if nothing new
    /// arrived in time (or the registry ended the subscription).
    pub fn next_timeout(&self, timeout: Duration) -> Option<Snapshot> {
        let st = lock(&self.mailbox.state);
        let (mut st, _) = self
            .mailbox
            .changed
            .wait_timeout_while(st, timeout, |s| s.latest.is_none() && !s.finished)
            .unwrap_or_else(|p| p.into_inner());
        st.latest.take()
    }

    /// The latest snapshot if one is waiting, without blocking.
    pub fn try_next(&self) -> Option<Snapshot> {
        lock(&self.mailbox.state).latest.take()
    }
}

/// Blocks for each next snapshot; ends when the registry ends the
/// subscription.
impl Iterator for Subscription {
    type Item = Snapshot;
    fn next(&mut self) -> Option<Snapshot> {
        loop {
            if let Some(s) = self.next_timeout(Duration::from_secs(1)) {
                return Some(s);
            }
            if lock(&self.mailbox.state).finished {
                return None;
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.mailbox.state).closed = true;
    }
}

impl Publisher {
    /// Deliver `snapshot`, replacing one the consumer has not taken yet.
    /// Returns `false` once the consumer has dropped its subscription (stop
    /// watching for it).
    pub fn publish(&self, snapshot: Snapshot) -> bool {
        let mut st = lock(&self.mailbox.state);
        if st.closed {
            return false;
        }
        st.latest = Some(snapshot);
        self.mailbox.changed.notify_all();
        true
    }

    /// Whether the consumer is still there.
    pub fn is_open(&self) -> bool {
        !lock(&self.mailbox.state).closed
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // The last publisher going ends the subscription for the consumer.
        if Arc::strong_count(&self.mailbox) == 2 {
            lock(&self.mailbox.state).finished = true;
            self.mailbox.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(port: u16) -> Instance {
        Instance::new("Arith", ([127, 0, 0, 1], port).into())
    }

    #[test]
    fn versions_match_exactly_or_by_star() {
        let i = inst(1).version("2.0.0").group("canary");
        assert!(i.matches("Arith", "canary", "2.0.0"));
        assert!(i.matches("Arith", "canary", "*"));
        assert!(!i.matches("Arith", "canary", "1.0.0"));
        assert!(!i.matches("Arith", "stable", "*"), "never across groups");
    }

    #[test]
    fn a_subscription_keeps_only_the_latest_snapshot() {
        let (tx, rx) = Subscription::channel(None);
        for port in 1..=3 {
            assert!(tx.publish(Snapshot {
                instances: vec![inst(port)],
                stale: false,
            }));
        }
        let s = rx.next_timeout(Duration::from_millis(10)).unwrap();
        assert_eq!(s.instances[0].addr.port(), 3);
        assert_eq!(rx.next_timeout(Duration::from_millis(10)), None);
        drop(rx);
        assert!(!tx.publish(Snapshot {
            instances: vec![],
            stale: false
        }));
    }

    #[test]
    fn the_iterator_ends_when_the_registry_drops_its_end() {
        let (tx, mut rx) = Subscription::channel(None);
        tx.publish(Snapshot {
            instances: vec![],
            stale: false,
        });
        drop(tx);
        assert!(rx.next().is_some());
        assert!(rx.next().is_none());
    }
}
