//! One limiter per caller, with a bound on how many callers are remembered.
//!
//! Article: 原理 › 流量控制 › 识别调用来源. The one idea to take away:
//! **a key a peer chooses is memory a peer spends**. "One bucket per
//! caller" is a map from caller name to bucket, and the caller name comes
//! off the wire: a hostile peer can send a new name with every call. So
//! the map has a bound, `max_keys`:
//!
//! ```text
//!   caller "alice" ─► known? ─yes─► alice's limiter
//!                      │ no
//!                      ▼
//!              fewer than max_keys? ─yes─► a new limiter for alice
//!                      │ no
//!                      ▼
//!              forget the idle ones (a full bucket is the same as a new one)
//!                      │ still full
//!                      ▼
//!              the shared overflow limiter ("other callers")
//! ```
//!
//! A key longer than [`MAX_KEY_BYTES`] is never stored (it goes straight
//! to the overflow limiter), so the keys' memory is bounded too, not only
//! their number.
//!
//! Past the bound, new callers are not refused outright and do not get a
//! fresh allowance each: they all share one overflow limiter, so inventing
//! names buys an attacker nothing beyond what one caller gets, and costs
//! the server no memory. Forgetting an idle key is exact, not a guess: an
//! idle limiter ([`RateLimiter::is_idle`]) behaves as a new one would.

use super::RateLimiter;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Makes the limiter for one new key.
pub type MakeLimiter = Arc<dyn Fn() -> Arc<dyn RateLimiter> + Send + Sync>;

/// How many per-caller limiters a [`KeyedLimiters`] keeps by default.
pub const DEFAULT_MAX_KEYS: usize = 4096;
/// The longest key given a limiter of its own; longer ones share the
/// overflow limiter. With [`DEFAULT_MAX_KEYS`], the keys themselves hold
/// at most 1 MiB.
pub const MAX_KEY_BYTES: usize = 256;

/// Limiters by key (a caller name), at most `max_keys` of them; keys past
/// the bound share one overflow limiter.
pub struct KeyedLimiters {
    make: MakeLimiter,
    max_keys: usize,
    state: Mutex<Keys>,
    overflow: Arc<dyn RateLimiter>,
}

struct Keys {
    map: HashMap<String, Arc<dyn RateLimiter>>,
    /// No sweep for idle keys before this: a table full of busy callers is
    /// not scanned again on every new name.
    next_sweep: Option<Instant>,
}

/// Which limiter a key got (see [`KeyedLimiters::get`]).
pub enum KeySlot {
    /// The key's own limiter.
    Own(Arc<dyn RateLimiter>),
    /// The table is full: the shared overflow limiter.
    Overflow(Arc<dyn RateLimiter>),
}

impl KeyedLimiters {
    /// A table that makes each key's limiter with `make`, keeping at most
    /// `max_keys` (at least 1).
    pub fn new(make: MakeLimiter, max_keys: usize) -> KeyedLimiters {
        let overflow = make();
        KeyedLimiters {
            make,
            max_keys: max_keys.max(1),
            state: Mutex::new(Keys {
                map: HashMap::new(),
                next_sweep: None,
            }),
            overflow,
        }
    }

    /// The limiter for `key` at `now`: its own, a new one, or (past the
    /// bound) the overflow limiter.
    pub fn get(&self, key: &str, now: Instant) -> KeySlot {
        if key.len() > MAX_KEY_BYTES {
            // A key is stored as long as it is: a long one would make the
            // bound on keys no bound on memory.
            return KeySlot::Overflow(Arc::clone(&self.overflow));
        }
        let mut k = lock(&self.state);
        if let Some(l) = k.map.get(key) {
            return KeySlot::Own(Arc::clone(l));
        }
        if k.map.len() >= self.max_keys && k.next_sweep.is_none_or(|t| now >= t) {
            k.map.retain(|_, l| !l.is_idle(now));
            k.next_sweep = Some(now + Duration::from_secs(1));
        }
        if k.map.len() >= self.max_keys {
            return KeySlot::Overflow(Arc::clone(&self.overflow));
        }
        let l = (self.make)();
        k.map.insert(key.to_owned(), Arc::clone(&l));
        KeySlot::Own(l)
    }

    /// Keys with their own limiter now (never more than `max_keys`).
    pub fn len(&self) -> usize {
        lock(&self.state).map.len()
    }

    /// Whether no key has its own limiter yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on keys.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }
}
