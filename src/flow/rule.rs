//! Rules: which calls and which callers a limit applies to.
//!
//! Article: 原理 › 流量控制 (识别调用来源). The one idea to take away: **a
//! limit is keyed by what it protects and by who is asking**. A rule names
//! the calls (a call id, or a service pattern such as `Arith.*`), the
//! callers (everyone together, one named caller, or each caller on its
//! own) and the limiter. Rules are configured on the server:
//!
//! ```
//! use minirpc::flow::Rule;
//! use minirpc::Server;
//! use std::time::Duration;
//!
//! let server = Server::builder()
//!     // Each caller of an Arith method: 100 calls a second, 20 at once.
//!     .rate_limit(Rule::token_bucket("Arith.*", 100.0, 20).per_caller())
//!     // The caller "batch" on Report: 10 calls in any second.
//!     .rate_limit(Rule::sliding_window("Report", 10, Duration::from_secs(1)).for_caller("batch"))
//!     .build();
//! ```
//!
//! The caller is the request's `caller` metadata as the server reads it
//! (see `docs/protocol.md` §4): whatever the peer claims, unless the
//! server proves it. Per-caller keys are bounded (see [`super::KeyedLimiters`]).

use super::keys::{MakeLimiter, DEFAULT_MAX_KEYS};
use super::{FixedWindow, RateLimiter, SlidingWindow, TokenBucket};
use crate::time::{Clock, SystemClock};
use std::sync::Arc;
use std::time::Duration;

/// Whose calls one limiter counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All callers together share one limiter.
    All,
    /// Only calls from this caller are limited (by one limiter); other
    /// callers are not touched by the rule.
    Caller(String),
    /// Each caller has its own limiter; at most `max_keys` callers are
    /// remembered, and callers past that share one overflow limiter.
    PerCaller {
        /// The bound on remembered callers.
        max_keys: usize,
    },
}

/// A limit on the calls whose call id matches a pattern. Build one with
/// [`Rule::token_bucket`], [`Rule::sliding_window`], [`Rule::fixed_window`],
/// [`Rule::custom`] or [`Rule::shared`]; narrow it with
/// [`per_caller`](Rule::per_caller) or [`for_caller`](Rule::for_caller);
/// give it to [`ServerBuilder::rate_limit`](crate::ServerBuilder::rate_limit).
#[derive(Clone)]
pub struct Rule {
    pub(crate) pattern: String,
    pub(crate) scope: Scope,
    pub(crate) make: MakeLimiter,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Rule {
    fn with(pattern: &str, make: MakeLimiter) -> Rule {
        Rule {
            pattern: pattern.to_owned(),
            scope: Scope::All,
            make,
            clock: Arc::new(SystemClock),
        }
    }

    /// A [`TokenBucket`] of `rate_per_sec` and `burst` on the calls matching
    /// `pattern`: a call id (`"Arith.Multiply"`), a service (`"Arith.*"`:
    /// every call id starting `Arith.`), or `"*"` (every call).
    pub fn token_bucket(pattern: &str, rate_per_sec: f64, burst: u32) -> Rule {
        Rule::with(
            pattern,
            Arc::new(move || {
                Arc::new(TokenBucket::new(rate_per_sec, burst)) as Arc<dyn RateLimiter>
            }),
        )
    }

    /// A [`SlidingWindow`]: at most `limit` calls in any `window`.
    pub fn sliding_window(pattern: &str, limit: u32, window: Duration) -> Rule {
        Rule::with(
            pattern,
            Arc::new(move || Arc::new(SlidingWindow::new(limit, window)) as Arc<dyn RateLimiter>),
        )
    }

    /// A [`FixedWindow`]: at most `limit` calls per fixed `window` (twice
    /// that around a boundary; see [`super::SlidingWindow`]).
    pub fn fixed_window(pattern: &str, limit: u32, window: Duration) -> Rule {
        Rule::with(
            pattern,
            Arc::new(move || Arc::new(FixedWindow::new(limit, window)) as Arc<dyn RateLimiter>),
        )
    }

    /// Your own limiter: `make` builds a fresh one for each key (each server,
    /// each caller under [`per_caller`](Rule::per_caller)).
    pub fn custom<F>(pattern: &str, make: F) -> Rule
    where
        F: Fn() -> Arc<dyn RateLimiter> + Send + Sync + 'static,
    {
        Rule::with(pattern, Arc::new(make))
    }

    /// One existing limiter, shared by every key and every server built
    /// with this rule: for a [`super::ClusterLimiter`], whose state is the
    /// cluster's.
    pub fn shared(pattern: &str, limiter: Arc<dyn RateLimiter>) -> Rule {
        Rule::with(pattern, Arc::new(move || Arc::clone(&limiter)))
    }

    /// Give each caller its own limiter (at most [`DEFAULT_MAX_KEYS`]
    /// callers remembered; see [`max_callers`](Rule::max_callers)).
    pub fn per_caller(mut self) -> Rule {
        self.scope = Scope::PerCaller {
            max_keys: DEFAULT_MAX_KEYS,
        };
        self
    }

    /// Under [`per_caller`](Rule::per_caller): remember at most `n` callers;
    /// callers past that share one overflow limiter. Implies `per_caller`.
    pub fn max_callers(mut self, n: usize) -> Rule {
        self.scope = Scope::PerCaller { max_keys: n.max(1) };
        self
    }

    /// Limit only the calls from `caller`; others pass this rule untouched.
    pub fn for_caller(mut self, caller: &str) -> Rule {
        self.scope = Scope::Caller(caller.to_owned());
        self
    }

    /// Read time from `clock` (default: the system clock). Tests pass a
    /// [`crate::time::ManualClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Rule {
        self.clock = clock;
        self
    }

    /// Whether this rule applies to `call_id`.
    pub fn matches(&self, call_id: &str) -> bool {
        match self.pattern.strip_suffix('*') {
            Some("") => true,
            Some(prefix) => call_id.starts_with(prefix),
            None => call_id == self.pattern,
        }
    }

    /// The rule in words, as refusals name it: `Arith.* per caller: 100/s burst 20`.
    pub fn describe(&self) -> String {
        let limit = (self.make)().describe();
        match &self.scope {
            Scope::All => format!("{}: {limit}", self.pattern),
            Scope::Caller(c) => format!("{} for caller '{c}': {limit}", self.pattern),
            Scope::PerCaller { .. } => format!("{} per caller: {limit}", self.pattern),
        }
    }

    /// Whose calls this rule counts.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}
