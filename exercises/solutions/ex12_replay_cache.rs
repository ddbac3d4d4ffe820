//! Reference solution of ex12_replay_cache: a map from nonce to timestamp
//! for "seen?", and the same entries ordered by timestamp, so the ones that
//! left the window are dropped from the front.

use std::collections::{BTreeSet, HashMap};

/// The nonces one key has used within the window, at most `capacity`.
pub struct ReplayCache {
    capacity: usize,
    window: u64,
    seen: HashMap<String, u64>,
    by_time: BTreeSet<(u64, String)>,
}

impl ReplayCache {
    /// An empty cache holding at most `capacity` nonces, for a window of
    /// `window` seconds either way.
    pub fn new(capacity: usize, window: u64) -> ReplayCache {
        ReplayCache {
            capacity,
            window,
            seen: HashMap::new(),
            by_time: BTreeSet::new(),
        }
    }

    /// Whether to accept a request signed at `ts` with `nonce`, when the
    /// clock reads `now`; remembers the nonce if so.
    pub fn admit(&mut self, nonce: &str, ts: u64, now: u64) -> bool {
        // Forget what can no longer pass the window check.
        while let Some((t, _)) = self.by_time.first() {
            if t.saturating_add(self.window) >= now {
                break;
            }
            if let Some((_, n)) = self.by_time.pop_first() {
                self.seen.remove(&n);
            }
        }
        let in_window = ts.saturating_add(self.window) >= now && ts <= now.saturating_add(self.window);
        if !in_window || self.seen.contains_key(nonce) || self.seen.len() >= self.capacity {
            return false;
        }
        self.seen.insert(nonce.to_owned(), ts);
        self.by_time.insert((ts, nonce.to_owned()));
        true
    }

    /// How many nonces are remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}
