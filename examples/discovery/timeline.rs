//! The timeline of the `discovery` example: one log that every part prints
//! to, stamped with the milliseconds since the start, and a record of what
//! the consumer saw and when.
//!
//! The record is what makes the demonstration a measurement: the main
//! thread makes something happen, notes the instant, then waits (bounded)
//! on the timeline for the consumer's threads to see it.
//!
//! ```text
//!  demo:            provider B crashes at t0 ── wait_for(Became(B, Dead)) ──► t1 - t0
//!  consumer thread: ... B suspect → dead ─────── note(t1, Became(B, Dead)) ──┘
//! ```

use super::out;
use minirpc::discovery::Health;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Something the consumer saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The first list of its subscription arrived.
    FirstList,
    /// A list with this address, after one without it.
    Listed(SocketAddr),
    /// A list without this address, after one with it.
    Unlisted(SocketAddr),
    /// Its tracker moved this address to this health.
    Became(SocketAddr, Health),
}

/// The demonstration's clock and log: every line is stamped with the
/// milliseconds since the start, and every [`Seen`] is kept with its
/// instant so the main thread can wait for it and time it.
pub struct Timeline {
    start: Instant,
    print: bool,
    seen: Mutex<Vec<(Instant, Seen)>>,
    changed: Condvar,
    names: Mutex<BTreeMap<SocketAddr, String>>,
}

impl Timeline {
    /// A timeline starting now; `print: false` keeps it quiet (tests).
    pub fn new(print: bool) -> Arc<Timeline> {
        Arc::new(Timeline {
            start: Instant::now(),
            print,
            seen: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            names: Mutex::new(BTreeMap::new()),
        })
    }

    /// Print one line: `[  123 ms] who       what`.
    pub fn say(&self, who: &str, what: impl fmt::Display) {
        if self.print {
            let ms = self.start.elapsed().as_millis();
            out(format!("[{ms:>5} ms] {who:<9} {what}"));
        }
    }

    /// Keep `seen`, which happened at `at`, and wake whoever waits for it.
    pub fn note(&self, at: Instant, seen: Seen) {
        guard(&self.seen).push((at, seen));
        self.changed.notify_all();
    }

    /// When `seen` first happened, waiting for it at most `timeout`.
    pub fn wait_for(&self, seen: Seen, timeout: Duration) -> Option<Instant> {
        let find = |v: &[(Instant, Seen)]| v.iter().find(|(_, s)| *s == seen).map(|(t, _)| *t);
        let entries = guard(&self.seen);
        let (entries, _) = self
            .changed
            .wait_timeout_while(entries, timeout, |v| find(v).is_none())
            .unwrap_or_else(|p| p.into_inner());
        find(&entries)
    }

    /// Whether `seen` has happened yet.
    pub fn has_seen(&self, seen: Seen) -> bool {
        guard(&self.seen).iter().any(|(_, s)| *s == seen)
    }

    /// Remember the name behind an address (from its instance's metadata).
    pub fn name_address(&self, addr: SocketAddr, name: &str) {
        guard(&self.names).insert(addr, name.to_owned());
    }

    /// The name of an address, or the address itself.
    pub fn name(&self, addr: SocketAddr) -> String {
        guard(&self.names)
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| addr.to_string())
    }
}

/// A lock that a panic elsewhere does not poison for us.
pub fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
