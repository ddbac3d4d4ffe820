//! `MemoryRegistry`: the embedded registry, for every provider and consumer
//! of one process.
//!
//! Article: 原理 › 服务发现 (the 注册中心 that providers publish to and
//! consumers subscribe to). The one idea to take away: **a registration is
//! a lease, and the registry's clock ends it**. A provider that shuts down
//! says so (its [`Registration`] is dropped or deregistered) and consumers
//! hear at once. A provider that crashes says nothing; its lease simply
//! stops being renewed, and when its TTL has passed on the registry's
//! clock the registry removes it and tells the consumers. Nobody has to
//! notice the crash: the silence is the signal.
//!
//! ```text
//!   register ──► entries: (service, group, version, addr) → instance, lease
//!                  │  held: renewed     abandoned at t: gone at t + ttl
//!                  ▼
//!   every change ──► each matching subscriber: the full list, sorted by
//!                    address, into its latest-wins mailbox
//!   reaper thread ─► removes expired leases on time, even when nobody calls
//! ```
//!
//! **Renewal.** Etcd needs a keepalive message every TTL/3 because the
//! provider and etcd are different processes: the message is the only
//! evidence that the provider lives. Here both live in one process, so a
//! held registration *is* the evidence, and it is renewed for as long as it
//! is held: no keepalive thread, nothing that a busy machine could make
//! late. The TTL starts to count when renewal stops: when the registration
//! is [`abandoned`](Registration::abandon) (the provider "crashed") or when
//! a test calls [`MemoryRegistry::pause_renewal`] (the provider "hung",
//! while something still holds its registration).
//!
//! **Time.** Expiry follows the registry's [`Clock`]. Every operation first
//! removes what has expired, and a reaper thread does it when nobody calls,
//! so a test can `clock.advance(ttl)` and then simply wait for the
//! subscriber's next snapshot, without sleeping. With the system clock the
//! reaper sleeps exactly until the next expiry; with any other clock it
//! looks again every [`RECHECK`] while a lease is running out, because a
//! clock that a test steps can jump at any moment.
//!
//! **Bounds.** Subscribers get snapshots through a latest-wins mailbox, so
//! a slow consumer never makes the registry queue anything, and a dropped
//! subscription removes itself from the registry at once.

use super::{Instance, Lease, Publisher, Registration, Registry, Snapshot, Subscription};
use crate::error::{RpcError, Status};
use crate::sync::lock;
use crate::time::{Clock, SystemClock};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the reaper looks at a clock that is not the system clock
/// while a lease is running out (see the module docs).
pub const RECHECK: Duration = Duration::from_millis(10);

/// The longest the reaper waits before looking again, whatever happens:
/// every wait in minirpc has an end.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// An in-process [`Registry`]: share it through an `Arc` between the
/// providers and consumers of one process.
///
/// ```
/// use minirpc::discovery::{Instance, MemoryRegistry, Registry};
/// use std::time::Duration;
///
/// let registry = MemoryRegistry::new();
/// // An address to name the instance by; nothing connects to it here.
/// let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 4000));
/// let reg = registry.register(&Instance::new("Arith", addr), Duration::from_secs(10)).unwrap();
/// assert_eq!(registry.lookup("Arith", "default", "*").unwrap().len(), 1);
/// drop(reg); // deregisters
/// assert!(registry.lookup("Arith", "default", "*").unwrap().is_empty());
/// ```
pub struct MemoryRegistry {
    shared: Arc<Shared>,
    reaper: Option<JoinHandle<()>>,
}

/// The state every registration, subscription and the reaper point at.
struct Shared {
    clock: Arc<dyn Clock>,
    /// `None` for the system clock (sleep until the next expiry); `Some`
    /// for a clock that may jump (look again this often).
    recheck: Option<Duration>,
    state: Mutex<State>,
    /// Wakes the reaper: a lease started running out, or we are closing.
    wake: Condvar,
}

/// One instance is one key: registering the same instance again replaces
/// the entry (and its lease), as a put of the same key does in etcd.
type Key = (String, String, String, SocketAddr);

struct State {
    entries: BTreeMap<Key, Entry>,
    subscribers: Vec<Subscriber>,
    next_id: u64,
    closing: bool,
}

struct Entry {
    instance: Instance,
    /// Which registration owns this entry: only that one may remove it.
    lease: u64,
    ttl: Duration,
    /// `None` while the registration renews; the moment it expires once
    /// renewal has stopped.
    expires: Option<Instant>,
}

struct Subscriber {
    id: u64,
    service: String,
    group: String,
    version: String,
    publisher: Publisher,
    /// The list it was last sent, so an unrelated change sends nothing.
    last: Vec<Instance>,
}

impl MemoryRegistry {
    /// A registry on the system clock.
    pub fn new() -> MemoryRegistry {
        MemoryRegistry::start(Arc::new(SystemClock), None)
    }

    /// A registry whose TTLs follow `clock`: give it a
    /// [`ManualClock`](crate::time::ManualClock) and step time in a test.
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryRegistry {
        MemoryRegistry::start(clock, Some(RECHECK))
    }

    fn start(clock: Arc<dyn Clock>, recheck: Option<Duration>) -> MemoryRegistry {
        let shared = Arc::new(Shared {
            clock,
            recheck,
            state: Mutex::new(State {
                entries: BTreeMap::new(),
                subscribers: Vec::new(),
                next_id: 1,
                closing: false,
            }),
            wake: Condvar::new(),
        });
        let for_reaper = Arc::clone(&shared);
        // Without a reaper (the OS refused a thread) expiry still happens
        // on every call; only a registry nobody calls would be late.
        let reaper = thread::Builder::new()
            .name("minirpc-registry-reaper".into())
            .spawn(move || reap(&for_reaper))
            .ok();
        MemoryRegistry { shared, reaper }
    }

    /// Stop renewing every registration at `addr` without removing it: a
    /// provider that hung or crashed while its [`Registration`] is still
    /// held (inside a `Server`, say). Consumers see it disappear one TTL
    /// later on the registry's clock. Returns how many registrations that
    /// touched. For tests and demonstrations; [`Registration::abandon`]
    /// does the same for one registration you hold.
    pub fn pause_renewal(&self, addr: SocketAddr) -> usize {
        let mut st = self.shared.lock();
        let now = self.shared.clock.now();
        let mut paused = 0;
        for e in st.entries.values_mut() {
            if e.instance.addr == addr && e.expires.is_none() {
                e.expires = now.checked_add(e.ttl);
                paused += 1;
            }
        }
        self.shared.wake.notify_all();
        paused
    }
}

impl Default for MemoryRegistry {
    fn default() -> MemoryRegistry {
        MemoryRegistry::new()
    }
}

impl Drop for MemoryRegistry {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_all();
        if let Some(r) = self.reaper.take() {
            let _ = r.join();
        }
        // Leases and subscriptions hold only weak references: once the
        // last `Arc` goes, the publishers drop and every subscription ends.
    }
}

impl fmt::Debug for MemoryRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("MemoryRegistry")
            .field("instances", &st.entries.len())
            .field("subscribers", &st.subscribers.len())
            .finish()
    }
}

impl Registry for MemoryRegistry {
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        validate(instance, ttl)?;
        let mut st = self.shared.lock();
        self.shared.expire(&mut st);
        let lease = st.take_id();
        let key = key_of(instance);
        st.entries.insert(
            key.clone(),
            Entry {
                instance: instance.clone(),
                lease,
                ttl,
                expires: None,
            },
        );
        st.publish_changes(std::slice::from_ref(instance));
        let handle = MemoryLease {
            shared: Arc::downgrade(&self.shared),
            key,
            lease,
            revoked: false,
        };
        Ok(Registration::new(instance.clone(), Box::new(handle)))
    }

    fn lookup(&self, service: &str, group: &str, version: &str) -> Result<Vec<Instance>, RpcError> {
        let mut st = self.shared.lock();
        self.shared.expire(&mut st);
        Ok(st.matching(service, group, version))
    }

    fn subscribe(
        &self,
        service: &str,
        group: &str,
        version: &str,
    ) -> Result<Subscription, RpcError> {
        let mut st = self.shared.lock();
        self.shared.expire(&mut st);
        let id = st.take_id();
        let guard = Unsubscribe {
            shared: Arc::downgrade(&self.shared),
            id,
        };
        let (publisher, subscription) = Subscription::channel(Some(Box::new(guard)));
        let first = st.matching(service, group, version);
        publisher.publish(Snapshot {
            instances: first.clone(),
            stale: false,
        });
        st.subscribers.push(Subscriber {
            id,
            service: service.to_owned(),
            group: group.to_owned(),
            version: version.to_owned(),
            publisher,
            last: first,
        });
        Ok(subscription)
    }
}

/// Refuse what would make a registration that no lookup can find.
fn validate(instance: &Instance, ttl: Duration) -> Result<(), RpcError> {
    let problem = if instance.service.is_empty() {
        "the instance has no service name; build it with Instance::new(service, addr)"
    } else if instance.group.is_empty() {
        "the instance has an empty group; use \"default\" if it has none"
    } else if instance.version.is_empty() || instance.version == "*" {
        "register a concrete version such as \"1.0.0\"; \"*\" is for lookups"
    } else if ttl.is_zero() {
        "a TTL of zero would expire at once; try Duration::from_secs(10)"
    } else {
        return Ok(());
    };
    Err(RpcError::invalid_argument(format!(
        "cannot register {instance}: {problem}"
    )))
}

fn key_of(i: &Instance) -> Key {
    (
        i.service.clone(),
        i.group.clone(),
        i.version.clone(),
        i.addr,
    )
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Remove every entry whose lease has run out, and tell subscribers.
    fn expire(&self, st: &mut State) {
        let now = self.clock.now();
        let mut gone = Vec::new();
        st.entries.retain(|_, e| match e.expires {
            Some(t) if t <= now => {
                gone.push(e.instance.clone());
                false
            }
            _ => true,
        });
        if !gone.is_empty() {
            st.publish_changes(&gone);
        }
    }
}

impl State {
    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// The matching instances, sorted by address (then version, for a
    /// `"*"` lookup that finds two versions at one address).
    fn matching(&self, service: &str, group: &str, version: &str) -> Vec<Instance> {
        let mut out: Vec<Instance> = self
            .entries
            .values()
            .map(|e| &e.instance)
            .filter(|i| i.matches(service, group, version))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.addr, &a.version).cmp(&(b.addr, &b.version)));
        out
    }

    /// Send a fresh list to each subscriber that `changed` concerns and
    /// whose list really changed. Runs under the registry's lock, so every
    /// subscriber sees the changes in the order they happened.
    fn publish_changes(&mut self, changed: &[Instance]) {
        let mut subs = std::mem::take(&mut self.subscribers);
        subs.retain_mut(|s| {
            let concerned = changed
                .iter()
                .any(|i| i.matches(&s.service, &s.group, &s.version));
            if !concerned {
                return true;
            }
            let now = self.matching(&s.service, &s.group, &s.version);
            if now == s.last {
                return true;
            }
            s.last = now.clone();
            // `false`: the consumer is gone; forget it.
            s.publisher.publish(Snapshot {
                instances: now,
                stale: false,
            })
        });
        self.subscribers = subs;
    }
}

/// The reaper: remove expired leases on time, even when nobody calls.
fn reap(shared: &Shared) {
    let mut st = shared.lock();
    while !st.closing {
        shared.expire(&mut st);
        let next = st.entries.values().filter_map(|e| e.expires).min();
        let wait = match (next, shared.recheck) {
            (None, _) => IDLE_WAIT,
            (Some(_), Some(recheck)) => recheck,
            (Some(t), None) => t.saturating_duration_since(shared.clock.now()),
        };
        let wait = wait.clamp(Duration::from_millis(1), IDLE_WAIT);
        st = shared
            .wake
            .wait_timeout(st, wait)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// One registration's hold on its entry.
struct MemoryLease {
    shared: Weak<Shared>,
    key: Key,
    lease: u64,
    revoked: bool,
}

impl Lease for MemoryLease {
    fn revoke(&mut self) -> Result<(), RpcError> {
        self.revoked = true;
        let Some(shared) = self.shared.upgrade() else {
            return Ok(()); // the registry is gone, and the entry with it
        };
        let mut st = shared.lock();
        // Only this registration's entry: if the same instance registered
        // again since, that newer registration owns the key now.
        if st
            .entries
            .get(&self.key)
            .is_some_and(|e| e.lease == self.lease)
        {
            if let Some(e) = st.entries.remove(&self.key) {
                st.publish_changes(&[e.instance]);
            }
        }
        Ok(())
    }

    fn update(&mut self, instance: &Instance) -> Result<(), RpcError> {
        let gone = || {
            RpcError::new(
                Status::NotFound,
                "this registration is no longer in the registry (it expired or was replaced); register the instance again",
            )
        };
        let shared = self.shared.upgrade().ok_or_else(gone)?;
        let mut st = shared.lock();
        shared.expire(&mut st);
        match st.entries.get_mut(&self.key) {
            Some(e) if e.lease == self.lease && !self.revoked => e.instance = instance.clone(),
            _ => return Err(gone()),
        }
        st.publish_changes(std::slice::from_ref(instance));
        Ok(())
    }
}

impl Drop for MemoryLease {
    /// Dropped without `revoke`: the registration was abandoned, so its
    /// TTL starts to run now.
    fn drop(&mut self) {
        if self.revoked {
            return;
        }
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let now = shared.clock.now();
        let mut st = shared.lock();
        if let Some(e) = st.entries.get_mut(&self.key) {
            if e.lease == self.lease && e.expires.is_none() {
                // (A TTL too large to add to the clock never runs out.)
                e.expires = now.checked_add(e.ttl);
            }
        }
        shared.wake.notify_all();
    }
}

/// Dropped with its [`Subscription`]: the registry forgets the subscriber.
struct Unsubscribe {
    shared: Weak<Shared>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.lock().subscribers.retain(|s| s.id != self.id);
        }
    }
}
