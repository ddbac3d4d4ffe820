//! A subscription's watcher: list, then watch from the next revision; on
//! any trouble keep the last good list, say it is stale, and start over.
//!
//! ```text
//!             ┌──────────────────────────────────────────────────────┐
//!             ▼                                                      │
//!  List: range(prefix) ── ok ─► publish fresh ─► Watch from revision+1
//!     │ fails                                      │ events  ─► apply, publish fresh
//!     ▼                                            │ created ─► reset the backoff
//!  publish the last list, stale ◄─ List fails ◄────┤ idle past watch_idle, compacted ─► List
//!  sleep backoff (with jitter) ─► List             └ error, end, garbage ─► sleep backoff ─► List
//! ```
//!
//! The list and the watch fit together through the revision: the range
//! says "this was the state at revision R", and a watch from R + 1 delivers
//! every change after it, so nothing falls between them. The list is
//! always the ground truth: after any interruption the watcher lists again
//! rather than trust its own bookkeeping.
//!
//! An outage never empties the consumer's list. A failed list or a broken
//! watch leaves the last good list in place and republishes it marked
//! `stale`; only an answer from etcd can remove an instance. This is the
//! lesson of a classic registry incident (reported against Dubbo's and
//! rpcx's registries alike): a client that took "I could not read the
//! list" for "the list is empty" dropped every provider at once.

use super::gateway::{self, Gateway, Kv, WatchMessage};
use super::value::instance_at;
use super::worker::{Stop, Worker};
use super::{EtcdSettings, Query};
use crate::discovery::{Instance, Publisher, Snapshot, Subscription};
use crate::error::{RpcError, Status};
use crate::http::Stream;
use crate::json;
use crate::sync::lock;
use crate::time::Deadline;
use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Subscribe to `query`: list now (an error if etcd cannot answer), hand
/// that list out as the first snapshot, then watch on a thread owned by
/// the subscription.
pub fn subscribe(
    gw: Gateway,
    query: Query,
    settings: &EtcdSettings,
) -> Result<Subscription, RpcError> {
    let first = gw.range(&query.prefix)?;
    let mut w = Watcher {
        gw,
        query,
        idle: settings.watch_idle,
        max_message: settings.max_response_bytes,
        backoff: Backoff::new(settings.backoff_min, settings.backoff_max),
        known: BTreeMap::new(),
        last: None,
        outage: false,
    };
    w.replace(&first.kvs);
    // The subscription owns the watcher thread through this slot: dropping
    // it drops the Worker, which stops the thread, closes its connection and
    // joins it.
    let slot: Arc<Mutex<Option<Worker>>> = Arc::new(Mutex::new(None));
    let (publisher, subscription) = Subscription::channel(Some(Box::new(Guard(Arc::clone(&slot)))));
    w.publish(&publisher, false);
    let bound = w.gw.request_timeout() + Duration::from_secs(1);
    let worker = Worker::spawn("minirpc-etcd-watch", bound, move |stop| {
        w.run(&publisher, stop, first.revision + 1);
    });
    *lock(&slot) = Some(worker);
    Ok(subscription)
}

/// Stops the watcher when the subscription is dropped.
struct Guard(Arc<Mutex<Option<Worker>>>);

impl Drop for Guard {
    fn drop(&mut self) {
        let worker = lock(&self.0).take();
        drop(worker);
    }
}

struct Watcher {
    gw: Gateway,
    query: Query,
    idle: Duration,
    max_message: usize,
    backoff: Backoff,
    /// The last good list, by key.
    known: BTreeMap<Vec<u8>, Instance>,
    /// The last snapshot published, so the same one is not sent twice.
    last: Option<Snapshot>,
    /// Whether we are in an outage (for logging each transition once).
    outage: bool,
}

enum Step {
    List,
    Watch(i64),
}

/// Why a watch ended without an error.
enum Ended {
    /// List again: the watch was idle past `watch_idle`, or compacted.
    Relist,
    /// The subscription is gone.
    Stopped,
}

impl Watcher {
    fn run(&mut self, publisher: &Publisher, stop: &Stop, from: i64) {
        let mut step = Step::Watch(from);
        while !stop.is_stopping() && publisher.is_open() {
            step = match step {
                Step::Watch(from) => match self.watch(from, publisher, stop) {
                    Ok(Ended::Relist) => Step::List,
                    Ok(Ended::Stopped) => return,
                    Err(_) if stop.is_stopping() => return,
                    Err(e) => {
                        eprintln!(
                            "minirpc: the etcd watch of {} broke ({e}); listing again",
                            self.query.prefix
                        );
                        if stop.sleep(self.backoff.next()) {
                            return;
                        }
                        Step::List
                    }
                },
                Step::List => match self.gw.range(&self.query.prefix) {
                    Ok(r) => {
                        self.replace(&r.kvs);
                        self.publish(publisher, false);
                        Step::Watch(r.revision + 1)
                    }
                    Err(e) => {
                        self.publish_stale(publisher, &e);
                        if stop.sleep(self.backoff.next()) {
                            return;
                        }
                        Step::List
                    }
                },
            };
        }
    }

    /// Watch from revision `from` until the stream ends, applying each change.
    fn watch(&mut self, from: i64, publisher: &Publisher, stop: &Stop) -> Result<Ended, RpcError> {
        let deadline = Deadline::after(self.gw.request_timeout());
        let mut stream = self.gw.watch(&self.query.prefix, from, deadline)?;
        stop.set_closer(stream.closer());
        let r = self.follow(&mut stream, publisher, stop);
        stop.set_closer(None);
        r
    }

    fn follow(
        &mut self,
        stream: &mut Stream,
        publisher: &Publisher,
        stop: &Stop,
    ) -> Result<Ended, RpcError> {
        let mut pending = Vec::new();
        loop {
            if stop.is_stopping() || !publisher.is_open() {
                return Ok(Ended::Stopped);
            }
            // etcd sends nothing while nothing changes, so silence is
            // normal; past `watch_idle` of it, list again, which also tells
            // a quiet etcd from an unreachable one.
            match stream.next_chunk(Deadline::after(self.idle)) {
                Ok(Some(chunk)) => pending.extend_from_slice(&chunk),
                Ok(None) => return Err(RpcError::unavailable("etcd ended the watch stream")),
                Err(e) if e.status == Status::DeadlineExceeded => return Ok(Ended::Relist),
                Err(e) => return Err(e),
            }
            if pending.len() > self.max_message {
                return Err(RpcError::new(
                    Status::ResourceExhausted,
                    "a watch message exceeds max_response_bytes (see EtcdSettings::max_response_bytes)",
                ));
            }
            while let Some(message) = next_message(&mut pending) {
                let message = gateway::watch_message(&message).map_err(RpcError::internal)?;
                match message {
                    WatchMessage::Created => self.backoff.reset(),
                    WatchMessage::Nothing => {}
                    WatchMessage::Compacted(rev) => {
                        eprintln!(
                            "minirpc: etcd compacted past the watch of {} (to revision {rev}); listing again",
                            self.query.prefix
                        );
                        return Ok(Ended::Relist);
                    }
                    WatchMessage::Canceled(why) => {
                        return Err(RpcError::unavailable(format!(
                            "etcd cancelled the watch: {why}"
                        )))
                    }
                    WatchMessage::Error(why) => {
                        return Err(RpcError::unavailable(format!(
                            "etcd ended the watch: {why}"
                        )))
                    }
                    WatchMessage::Events(events) => {
                        for e in events {
                            self.apply(e.delete, &e.kv);
                        }
                        self.publish(publisher, false);
                    }
                }
            }
        }
    }

    /// The list is now exactly `kvs`.
    fn replace(&mut self, kvs: &[Kv]) {
        self.known.clear();
        for kv in kvs {
            self.apply(false, kv);
        }
    }

    fn apply(&mut self, delete: bool, kv: &Kv) {
        // A value that does not decode replaces what was there: the key no
        // longer describes an instance anyone can use.
        let instance = if delete {
            None
        } else {
            instance_at(&kv.key, &kv.value, &self.query)
        };
        match instance {
            Some(i) => self.known.insert(kv.key.clone(), i),
            None => self.known.remove(&kv.key),
        };
    }

    /// Publish the known list, unless it is what the consumer already has.
    fn publish(&mut self, publisher: &Publisher, stale: bool) {
        if self.outage && !stale {
            eprintln!(
                "minirpc: etcd at {} answers again; {} is fresh",
                self.gw.url(),
                self.query.prefix
            );
            self.outage = false;
        }
        let mut instances: Vec<Instance> = self.known.values().cloned().collect();
        instances.sort_by(|a, b| (a.addr, &a.version).cmp(&(b.addr, &b.version)));
        let snapshot = Snapshot { instances, stale };
        if self.last.as_ref() != Some(&snapshot) {
            publisher.publish(snapshot.clone());
            self.last = Some(snapshot);
        }
    }

    /// etcd cannot be read: keep the last good list, marked stale.
    fn publish_stale(&mut self, publisher: &Publisher, e: &RpcError) {
        if !self.outage {
            eprintln!(
                "minirpc: cannot list {} ({e}); keeping the last {} instances, marked stale, and retrying",
                self.query.prefix,
                self.known.len()
            );
            self.outage = true;
        }
        self.publish(publisher, true);
    }
}

/// Cut the next whole message off the front of `pending`. The gateway ends
/// each message with a newline, normally one message per chunk, but a
/// chunk boundary is the sender's buffering, not a promise: a message may
/// span chunks, and the final `{"error":...}` comes without a newline.
fn next_message(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            if line.trim_ascii().is_empty() {
                continue;
            }
            return Some(line);
        }
        if pending.trim_ascii().is_empty() || json::parse(pending, 16).is_err() {
            return None;
        }
        return Some(std::mem::take(pending));
    }
}

/// Exponential backoff with "equal jitter": wait between half and all of
/// the current step, then double the step (up to the cap). The jitter keeps
/// a thousand consumers that lost etcd at the same moment from all coming
/// back at the same moment too.
struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
    rng: u64,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Backoff {
        // A random seed from the standard library: `RandomState` is seeded
        // per process by the OS, for exactly this kind of use.
        let rng = RandomState::new().hash_one(std::thread::current().id()) | 1;
        Backoff {
            min,
            max,
            step: min,
            rng,
        }
    }

    fn reset(&mut self) {
        self.step = self.min;
    }

    fn next(&mut self) -> Duration {
        // xorshift64: small and good enough to spread retries.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let half = self.step / 2;
        let wait = half + half.mul_f64((self.rng >> 11) as f64 / (1u64 << 53) as f64);
        self.step = (self.step * 2).min(self.max);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_at_newlines_or_when_whole() {
        let mut p = b"{\"a\":1}\n\n{\"b\":".to_vec();
        assert_eq!(next_message(&mut p).unwrap(), b"{\"a\":1}\n");
        assert_eq!(next_message(&mut p), None, "half a message waits");
        p.extend_from_slice(b"2}");
        assert_eq!(
            next_message(&mut p).unwrap(),
            b"{\"b\":2}",
            "whole, with no newline"
        );
        assert!(p.is_empty());
    }

    #[test]
    fn the_backoff_doubles_to_its_cap_with_jitter_within_each_step() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        for step in [100, 200, 400, 400] {
            let w = b.next();
            let step = Duration::from_millis(step);
            assert!(w >= step / 2 && w <= step, "{w:?} for a step of {step:?}");
        }
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
