//! The replay cache: the nonces seen within the timestamp window, bounded.
//!
//! Article: 原理 › 安全认证. The one idea to take away: **the timestamp
//! window is what lets the cache forget**. A request is accepted only if
//! its timestamp is within ±window of the server's clock, so a nonce needs
//! remembering only until its request's timestamp has left the window: a
//! replay after that is refused for being too old, whatever the cache says.
//!
//! ```text
//!   by timestamp:  (t=100, k1/n7) (t=100, k2/n3) (t=101, k1/n9) … (t=130, k1/n2)
//!                   └ forgotten once now > t + window ┘
//!   full?  forget the oldest timestamp's nonces, and raise the floor to it:
//!          from then on a request signed at or before the floor is refused,
//!          because its nonce might be one of those forgotten.
//! ```
//!
//! **When it is full** (more signed requests within one window than its
//! capacity), the cache never forgets a nonce silently. It forgets the
//! nonces with the oldest timestamp and remembers that timestamp as a
//! *floor*: any request signed at or before the floor is refused, because
//! the cache can no longer tell whether it is a replay. Fresh requests
//! (signed after the floor) are still checked against every nonce they
//! could collide with, since all of those are kept. So a full cache costs
//! honest clients a retry with a fresh timestamp, never a replay accepted.
//! Only requests with a valid signature and permission reach the cache, so
//! only a key holder can fill it.

use std::collections::{BTreeSet, HashSet};

/// What the cache says about one request's nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not seen within the window; now remembered.
    Fresh,
    /// Seen before, within the window: a replay.
    Replayed,
    /// Signed at or before `floor`, whose nonces the full cache has
    /// forgotten: it might be a replay, so it is refused.
    BelowFloor { floor: u64 },
}

/// The nonces of accepted requests whose timestamps may still be in the
/// window.
#[derive(Debug)]
pub(crate) struct NonceCache {
    capacity: usize,
    /// `key id \n nonce`, for "seen?" in one lookup. (`\n` cannot be in a
    /// key id, so two pairs never make the same entry.)
    seen: HashSet<String>,
    /// The same entries ordered by timestamp, so the oldest go first.
    by_time: BTreeSet<(u64, String)>,
    /// Requests signed at or before this are refused (see the module docs).
    floor: Option<u64>,
}

impl NonceCache {
    pub(crate) fn new(capacity: usize) -> NonceCache {
        NonceCache {
            capacity: capacity.max(1),
            seen: HashSet::new(),
            by_time: BTreeSet::new(),
            floor: None,
        }
    }

    /// How many nonces are remembered now.
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }

    /// Check the nonce of a request signed at `ts` with `key_id`, when the
    /// server's clock says `now` and the window is `window` seconds (the
    /// caller has already checked that `ts` is within it), and remember it
    /// if it is fresh.
    pub(crate) fn check(
        &mut self,
        key_id: &str,
        nonce: &str,
        ts: u64,
        now: u64,
        window: u64,
    ) -> Verdict {
        self.forget_expired(now, window);
        if let Some(floor) = self.floor.filter(|&f| ts <= f) {
            return Verdict::BelowFloor { floor };
        }
        let entry = format!("{key_id}\n{nonce}");
        if self.seen.contains(&entry) {
            return Verdict::Replayed;
        }
        while self.seen.len() >= self.capacity {
            self.forget_oldest_timestamp();
            if let Some(floor) = self.floor.filter(|&f| ts <= f) {
                // This request is among the oldest itself: refusing it is
                // what keeps the floor's promise.
                return Verdict::BelowFloor { floor };
            }
        }
        self.seen.insert(entry.clone());
        self.by_time.insert((ts, entry));
        Verdict::Fresh
    }

    /// Drop the nonces whose requests can no longer pass the window check
    /// (timestamp + window < now).
    fn forget_expired(&mut self, now: u64, window: u64) {
        while let Some((ts, _)) = self.by_time.first() {
            if ts.saturating_add(window) >= now {
                break;
            }
            let (_, entry) = self.by_time.pop_first().expect("first exists");
            self.seen.remove(&entry);
        }
    }

    /// Forget every nonce with the oldest timestamp, and raise the floor
    /// to that timestamp.
    fn forget_oldest_timestamp(&mut self) {
        let Some(&(oldest, _)) = self.by_time.first() else {
            return;
        };
        while let Some((ts, _)) = self.by_time.first() {
            if *ts != oldest {
                break;
            }
            let (_, entry) = self.by_time.pop_first().expect("first exists");
            self.seen.remove(&entry);
        }
        self.floor = Some(self.floor.map_or(oldest, |f| f.max(oldest)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = 300;

    #[test]
    fn a_nonce_is_refused_the_second_time_and_per_key() {
        let mut c = NonceCache::new(10);
        assert_eq!(c.check("k1", "n1", 1000, 1000, W), Verdict::Fresh);
        assert_eq!(c.check("k1", "n1", 1000, 1001, W), Verdict::Replayed);
        assert_eq!(c.check("k2", "n1", 1000, 1001, W), Verdict::Fresh);
    }

    #[test]
    fn a_nonce_is_forgotten_only_once_its_timestamp_has_left_the_window() {
        let mut c = NonceCache::new(10);
        assert_eq!(c.check("k", "n", 1000, 1000, W), Verdict::Fresh);
        // At now = 1300 a request signed at 1000 is still in the window.
        assert_eq!(c.check("k", "n", 1000, 1000 + W, W), Verdict::Replayed);
        assert_eq!(c.len(), 1);
        // At 1301 it is not (the timestamp check refuses it); forgotten.
        assert_eq!(c.check("k", "other", 1301, 1000 + W + 1, W), Verdict::Fresh);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_cache_raises_its_floor_and_never_accepts_a_possible_replay() {
        let mut c = NonceCache::new(3);
        for (i, ts) in [100, 101, 102].into_iter().enumerate() {
            assert_eq!(c.check("k", &format!("n{i}"), ts, 102, W), Verdict::Fresh);
        }
        // Full: a fourth forgets n0 (ts 100) and sets the floor to 100.
        assert_eq!(c.check("k", "n3", 103, 103, W), Verdict::Fresh);
        assert_eq!(c.len(), 3);
        // The forgotten n0, replayed, is refused by the floor.
        assert_eq!(
            c.check("k", "n0", 100, 103, W),
            Verdict::BelowFloor { floor: 100 }
        );
        // The ones still remembered are refused as replays.
        assert_eq!(c.check("k", "n1", 101, 103, W), Verdict::Replayed);
        // A fresh request signed at the oldest remaining time forces that
        // time out too, and is itself below the new floor.
        assert_eq!(
            c.check("k", "n9", 101, 103, W),
            Verdict::BelowFloor { floor: 101 }
        );
        assert_eq!(
            c.check("k", "n1", 101, 103, W),
            Verdict::BelowFloor { floor: 101 }
        );
        assert!(c.len() <= 3);
    }
}
