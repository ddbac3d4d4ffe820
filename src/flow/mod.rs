//! Flow control: refuse a caller's excess calls before they cost anything.
//!
//! Article: 原理 › 流量控制 — identify the caller (识别调用来源), limit
//! smoothly on one node (单节点限流, 平滑限流算法), and limit across the
//! cluster (集群限流). The one idea to take away: **a limit is a promise
//! about time, so a refusal says when to come back**. A server that is
//! asked for more than it will serve answers the excess at once, on the
//! connection's reader, before a worker or a queue slot is spent on it,
//! and tells the caller how long to wait (`retry-after-ms`).
//!
//! ```text
//!   request ─► call table ─► rules matching (call id, caller) ─► all allow? ─► inline / queue
//!                                   │ one denies
//!                                   ▼
//!          RESOURCE_EXHAUSTED "rate limit "…" exceeded …; retry after N ms"
//!          + metadata retry-after-ms = N      (one small frame, no worker)
//! ```
//!
//! The pieces, one per file:
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the [`RateLimiter`] trait and its [`Decision`] |
//! | `bucket.rs` | [`TokenBucket`]: a rate and a burst, smooth (平滑限流) |
//! | `window.rs` | [`SlidingWindow`] (weighted two-window counter) and [`FixedWindow`] (the naive one, for contrast) |
//! | `keys.rs` | [`KeyedLimiters`]: one limiter per caller, with a bound on how many |
//! | `rule.rs` | [`Rule`]: which calls (`Arith.*`) and which callers a limit applies to |
//! | `check.rs` | [`FlowControl`]: the rules a server checks, and the refusal it sends |
//! | `token_server.rs` | [`TokenServer`]: a minirpc service granting a global rate in batches |
//! | `cluster.rs` | [`ClusterLimiter`]: a server's share of a global rate, with a local fallback |
//!
//! Every limiter reads time only from the `now` it is given, so tests drive
//! it with a [`crate::time::ManualClock`] and never sleep.
//!
//! Imports: the limiters, keys, rules and the check use only `error`,
//! `time` and `sync`, and the server imports them; the token server and
//! the cluster limiter sit above `server` and `client` (they are a
//! service and a caller of one), as `crate::cluster` does.

mod bucket;
mod check;
mod cluster;
mod keys;
mod rule;
mod token_server;
mod window;

pub use bucket::TokenBucket;
pub use check::FlowControl;
pub use cluster::{ClusterLimiter, ClusterMode};
pub use keys::{KeySlot, KeyedLimiters, MakeLimiter, DEFAULT_MAX_KEYS, MAX_KEY_BYTES};
pub use rule::{Rule, Scope};
pub use token_server::{TokenServer, TOKEN_CALL_ID, TOKEN_SERVICE};
pub use window::{FixedWindow, SlidingWindow};

use std::time::{Duration, Instant};

/// What a limiter says about one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The call may go ahead; it has been counted.
    Allow,
    /// The call is over the limit. The limiter expects to allow one after
    /// `retry_after` (`Duration::MAX`: never, e.g. a rate of zero).
    Deny {
        /// How long from `now` until a call would be allowed.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    pub fn is_allow(self) -> bool {
        self == Decision::Allow
    }
}

/// A limiter for one stream of calls (one key: a method, a caller, ...).
///
/// Small on purpose, so an exercise can add one (a leaky bucket, a sliding
/// log): [`try_acquire`](RateLimiter::try_acquire) decides one call at
/// `now`, and [`describe`](RateLimiter::describe) says the limit in words
/// for the refusal message. `now` never goes backwards for one limiter;
/// an implementation must not read the clock itself.
pub trait RateLimiter: Send + Sync {
    /// Decide one call at `now`: count it and allow it, or deny it and say
    /// when to retry.
    fn try_acquire(&self, now: Instant) -> Decision;

    /// The limit in words, e.g. `"100/s burst 20"`.
    fn describe(&self) -> String;

    /// Whether this limiter, left alone since its last call, would now
    /// behave exactly as a new one (a full bucket, empty windows). A
    /// [`KeyedLimiters`] may forget an idle key to make room for another.
    /// The default, `false`, never forgets.
    fn is_idle(&self, now: Instant) -> bool {
        let _ = now;
        false
    }
}

/// `d` in whole milliseconds, rounded up (so "retry after 0 ms" never
/// means "too early"), saturating.
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// A rate in calls per second, in few characters: `100/s`, `33.33/s`.
pub(crate) fn rate_text(per_sec: f64) -> String {
    let s = format!("{per_sec:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}/s")
}

/// Seconds as a duration, saturating at `Duration::MAX` (where
/// `Duration::from_secs_f64` would panic).
pub(crate) fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}
