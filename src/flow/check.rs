//! The check a server makes on every call, and the refusal it sends.
//!
//! Article: 原理 › 流量控制. The one idea to take away: **limit before you
//! queue**. The server runs this check on the connection's reader, right
//! after the call id is found in the call table and before the call is
//! given a worker or a queue slot (`src/server/dispatch.rs`). A refused
//! call costs one small error frame; the workers and the queue stay free
//! for the calls within their limits, which is the point of limiting.
//!
//! ```text
//!   (call id, caller) ─► rule 1 matches? ─► its limiter (shared / the caller's / overflow) ─► allow?
//!                    ─► rule 2 matches? ─► ...                                           ─► allow?
//!                    all allowed: go on          one denied: RESOURCE_EXHAUSTED + retry-after-ms
//! ```
//!
//! Rules are checked in the order they were added, and the first that
//! denies decides. A call counted by an earlier rule is not given back
//! when a later rule refuses it (Sentinel's slot chain does the same): put
//! the narrow rules first.

use super::keys::{KeySlot, KeyedLimiters};
use super::rule::{Rule, Scope};
use super::{ceil_ms, Decision, RateLimiter};
use crate::error::RpcError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The rate limits of one server, with their state. Built from the
/// [`Rule`]s given to [`ServerBuilder::rate_limit`](crate::ServerBuilder::rate_limit),
/// fresh for each server (except [`Rule::shared`] limiters, which are shared
/// on purpose).
pub struct FlowControl {
    rules: Vec<Active>,
}

struct Active {
    rule: Rule,
    description: String,
    limiters: Limiters,
    /// Calls this rule has refused, for the management center.
    rejected: AtomicU64,
}

enum Limiters {
    One(Arc<dyn RateLimiter>),
    Keyed(KeyedLimiters),
}

impl FlowControl {
    /// The state for `rules`.
    pub fn new(rules: &[Rule]) -> FlowControl {
        let rules = rules
            .iter()
            .map(|r| Active {
                rule: r.clone(),
                description: r.describe(),
                limiters: match r.scope {
                    Scope::PerCaller { max_keys } => {
                        Limiters::Keyed(KeyedLimiters::new(Arc::clone(&r.make), max_keys))
                    }
                    _ => Limiters::One((r.make)()),
                },
                rejected: AtomicU64::new(0),
            })
            .collect();
        FlowControl { rules }
    }

    /// Whether there are no rules (then [`check`](Self::check) allows everything).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Each rule in words, with how many calls it has refused so far (what
    /// the admin page's "rate limits" table shows).
    pub fn report(&self) -> Vec<(String, u64)> {
        (self.rules.iter())
            .map(|a| (a.description.clone(), a.rejected.load(Ordering::Relaxed)))
            .collect()
    }

    /// Decide one call to `call_id` from `caller` (the caller's name, as the
    /// request's metadata gives it; `None` when it gives none). `Err` is the
    /// refusal to send: `RESOURCE_EXHAUSTED`, naming the rule and when to
    /// retry, with [`RpcError::retry_after`] set.
    pub fn check(&self, call_id: &str, caller: Option<&str>) -> Result<(), RpcError> {
        for a in &self.rules {
            if !a.rule.matches(call_id) {
                continue;
            }
            if let Scope::Caller(only) = &a.rule.scope {
                if caller != Some(only.as_str()) {
                    continue;
                }
            }
            let now = a.rule.clock.now();
            let (limiter, overflow) = match &a.limiters {
                Limiters::One(l) => (Arc::clone(l), None),
                Limiters::Keyed(keyed) => match keyed.get(caller.unwrap_or(""), now) {
                    KeySlot::Own(l) => (l, None),
                    KeySlot::Overflow(l) => (l, Some(keyed.max_keys())),
                },
            };
            if let Decision::Deny { retry_after } = limiter.try_acquire(now) {
                a.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(refusal(&a.description, caller, overflow, retry_after));
            }
        }
        Ok(())
    }
}

/// The most bytes of a caller's name a refusal repeats.
const MAX_SHOWN: usize = 64;

/// The refusal: what was exceeded, by whom, and when to come back.
fn refusal(
    rule: &str,
    caller: Option<&str>,
    overflow: Option<usize>,
    retry_after: Duration,
) -> RpcError {
    let who = match caller {
        // The name comes off the wire and may be megabytes long: show its
        // start only, so a refusal costs one small frame as promised.
        Some(c) if c.len() > MAX_SHOWN => {
            let mut end = MAX_SHOWN;
            while !c.is_char_boundary(end) {
                end -= 1;
            }
            format!("caller {:?}… ({} bytes)", &c[..end], c.len())
        }
        Some(c) => format!("caller {c:?}"),
        None => "calls without a caller id".to_owned(),
    };
    let shared = match overflow {
        Some(n) => format!(
            " (sharing one limit with other new callers: more than max_callers {n} callers are active)"
        ),
        None => String::new(),
    };
    let when = if retry_after == Duration::MAX {
        "it does not refill (its rate is 0), so do not retry".to_owned()
    } else {
        format!("retry after {} ms", ceil_ms(retry_after))
    };
    RpcError::resource_exhausted(format!(
        "rate limit \"{rule}\" exceeded for {who}{shared}; {when} (see ServerBuilder::rate_limit)"
    ))
    .with_retry_after(retry_after)
}
