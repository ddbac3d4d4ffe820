//! Exercise ex12_replay_cache (chapter 12): remember nonces, within a
//! window and a capacity, and never admit a replay.
//!
//! A server that checks signatures must still refuse a captured request
//! sent again. `ReplayCache::admit(nonce, ts, now)` decides for one key:
//! the request was signed at Unix second `ts`, and the server's clock
//! reads `now` (it never goes back). Admit it, and remember its nonce,
//! only if all of these hold:
//!
//! - `ts` is within the window either way: `now - window <= ts <= now + window`;
//! - the nonce is not remembered already (whatever timestamp it came with);
//! - the cache holds fewer than `capacity` nonces.
//!
//! Forget a nonce once its timestamp has left the window (`ts + window <
//! now`): a replay of it is refused by the first rule from then on, so
//! remembering it buys nothing. When the cache is full of nonces still in
//! the window, **refuse** the request rather than forget one: a forgotten
//! nonce whose timestamp is still in the window could be replayed at once.
//! `len` says how many nonces are remembered; it never exceeds the
//! capacity. So far `admit` says yes to everything. Check it with
//! `cargo test --features exercises --test exercises -- ex12_replay_cache`.

/// The nonces one key has used within the window, at most `capacity`.
pub struct ReplayCache {
    capacity: usize,
    window: u64,
}

impl ReplayCache {
    /// An empty cache holding at most `capacity` nonces, for a window of
    /// `window` seconds either way.
    pub fn new(capacity: usize, window: u64) -> ReplayCache {
        ReplayCache { capacity, window }
    }

    /// Whether to accept a request signed at `ts` with `nonce`, when the
    /// clock reads `now`; remembers the nonce if so.
    pub fn admit(&mut self, nonce: &str, ts: u64, now: u64) -> bool {
        let _ = (nonce, ts, now, self.capacity, self.window);
        true
    }

    /// How many nonces are remembered now.
    pub fn len(&self) -> usize {
        0
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
