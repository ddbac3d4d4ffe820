//! The consumer of the `discovery` example: a subscription to one group,
//! watched by one thread, a `Prober` run by another, both writing what they
//! see to the `Timeline`; and the calls it makes, to the instances it
//! believes in.
//!
//! Article: 原理 › 服务发现, the consumer's side: it subscribes (服务订阅) and
//! is pushed a new full list after every change, so it hears of a clean
//! stop at once; and it checks for itself (健康检查), so it finds a crash
//! before the registry does. The one idea to take away: **the list says
//! who is registered, the tracker says whom to believe**; the consumer
//! needs both.
//!
//! ```text
//!  registry ── Subscription ──► watcher thread: take_list ────┐
//!                                                             ├──► HealthTracker ── healthy() ──► call_each
//!                               prober thread: Prober::round ─┘
//!                                 (every HEARTBEAT)
//!  both threads print and note what they see on the Timeline
//! ```

use super::prober::{apply_snapshot, Prober, Transition};
use super::timeline::{guard, Seen, Timeline};
use super::{health_config, HEARTBEAT, SERVICE};
use minirpc::discovery::{HealthTracker, Instance, Registry, Snapshot, Subscription};
use minirpc::time::SystemClock;
use minirpc::{Client, RpcError};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A consumer of [`SERVICE`] in one group: a watcher thread that takes each
/// list the registry pushes, and a prober thread that pings on the
/// tracker's schedule. Both print to the [`Timeline`] and stop within one
/// heartbeat when the consumer is stopped or dropped.
pub struct Consumer {
    group: String,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What the consumer's two threads share with it.
struct Shared {
    /// What this consumer believes about each instance.
    tracker: HealthTracker,
    timeline: Arc<Timeline>,
    ever_listed: Mutex<BTreeMap<SocketAddr, Instance>>,
    stop: AtomicBool,
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
            group: group.to_owned(),
            shared: Arc::new(Shared {
                tracker: HealthTracker::new(health_config(), Arc::new(SystemClock)),
                timeline,
                ever_listed: Mutex::new(BTreeMap::new()),
                stop: AtomicBool::new(false),
            }),
            threads: Vec::new(),
        };
        let shared = Arc::clone(&consumer.shared);
        consumer.spawn("consumer-watcher", move || shared.watch(&subscription))?;
        let shared = Arc::clone(&consumer.shared);
        consumer.spawn("consumer-prober", move || shared.probe())?;
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

    /// Call every instance it believes in, once each, and print the
    /// answers: each says which version served it (with `--group canary`,
    /// version 2). Only instances of its own group are ever candidates.
    pub fn call_each(&self) {
        let tl = &self.shared.timeline;
        let healthy = self.shared.tracker.healthy();
        if healthy.is_empty() {
            tl.say(
                "consumer",
                format!(
                    "no healthy instance in group {}: a call would fail Unavailable (a call \
                     never crosses groups)",
                    self.group
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

    /// Every instance that was ever in one of its lists.
    pub fn ever_listed(&self) -> Vec<Instance> {
        guard(&self.shared.ever_listed).values().cloned().collect()
    }

    /// Stop both threads and wait for them (each within one heartbeat).
    /// Dropping the consumer does the same.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    /// The watcher thread: take each list the registry pushes, until the
    /// consumer stops.
    fn watch(&self, subscription: &Subscription) {
        let mut last: Vec<Instance> = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            // Bounded, so the stop flag is seen within 50 ms.
            let Some(snapshot) = subscription.next_timeout(Duration::from_millis(50)) else {
                continue;
            };
            self.take_list(Instant::now(), &last, &snapshot);
            last = snapshot.instances;
        }
    }

    /// The prober thread: one [`Prober::round`] every heartbeat, until the
    /// consumer stops.
    fn probe(&self) {
        let mut prober = Prober::default();
        while !self.stop.load(Ordering::SeqCst) {
            let round = Instant::now();
            for t in prober.round(&self.tracker) {
                self.say_transition(&t);
            }
            // The next round one heartbeat after this one began.
            thread::sleep(HEARTBEAT.saturating_sub(round.elapsed()));
        }
    }

    /// The watcher's work for one list, which arrived at `at` after `last`:
    /// what joined and left, printed and noted, and the health transitions
    /// it caused.
    fn take_list(&self, at: Instant, last: &[Instance], snapshot: &Snapshot) {
        let tl = &self.timeline;
        for i in &snapshot.instances {
            guard(&self.ever_listed).insert(i.addr, i.clone());
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
        let what = if first {
            "its first list".to_owned()
        } else if change.is_empty() {
            "no change".to_owned()
        } else {
            change.join(" ")
        };
        let stale = if snapshot.stale {
            "  STALE: the registry is unreachable, the last good list is kept"
        } else {
            ""
        };
        tl.say(
            "consumer",
            format!("list pushed: [{}]  ({what}){stale}", list.join(", ")),
        );
        for t in apply_snapshot(&self.tracker, snapshot) {
            self.say_transition(&t);
        }
        tl.note(at, Seen::FirstList);
    }

    /// Note a transition on the timeline, and print it with its cause.
    fn say_transition(&self, t: &Transition) {
        let tl = &self.timeline;
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
}
