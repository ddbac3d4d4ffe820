//! Cluster strategies (集群策略): what to do when the call to the picked
//! instance fails.
//!
//! Article: 原理 › 负载均衡, its 集群策略 part (快速失败, 失败重试, 定点调用).
//! The one idea to take away: **a retry is only safe when the first try
//! cannot have run, or running it twice does no harm** (idempotency), and
//! even then retries must be rationed, or a struggling cluster is buried
//! under the extra load its own failures create.
//!
//! ```text
//!  FailFast           ── A ──✗  the first error is the answer
//!  Failover{retries}  ── A ──✗── B ──✓  (idempotent, "did not run", time left, a token)
//!  Fixed(addr)        ── addr ──►  always that one
//!  Forking{n}         ── A ─┐
//!                       ── B ─┼─► first success wins, the others are dropped (cancelled)
//!  Broadcast          ── A, B, C ──► all must succeed; an error names the one that failed
//! ```
//!
//! [`RetryBudget`] is gRPC's retry throttling: a token bucket that every
//! retry draws from and every success refills a little.

use crate::error::{RpcError, Status};
use crate::sync::lock;
use std::net::SocketAddr;
use std::sync::Mutex;

/// How a [`ClusterClient`](super::ClusterClient) turns one call into tries
/// on instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// 快速失败: one try; its error is the answer. Dubbo's `failfast`, the
    /// right choice for calls that must not run twice.
    FailFast,
    /// 失败重试: after a failure that says the call did not run, try an
    /// instance not tried yet, at most `retries` more times, all within the
    /// original deadline. Only idempotent calls are retried (see
    /// [`retryable`]). Dubbo's default `failover` with `retries = 2`.
    Failover {
        /// Extra tries after the first.
        retries: u32,
    },
    /// 定点调用: always this instance, even when others exist (debugging,
    /// data locality). It must still be listed for the service, group and
    /// version, so a fixed call cannot cross groups either.
    Fixed(SocketAddr),
    /// The same call to `n` instances at once; the first success wins and
    /// the other futures are dropped, which cancels them. Dubbo's
    /// `forking`: lower tail latency, bought with `n` times the load.
    Forking {
        /// How many instances to call at once (at least 1).
        n: usize,
    },
    /// Every instance; an error if any fails, naming it. For cache
    /// invalidation and configuration pushes (Dubbo's `broadcast`).
    Broadcast,
}

impl Default for Strategy {
    /// [`Strategy::FailFast`]: the safe default, since nothing is retried
    /// unless the caller says the call may run twice.
    fn default() -> Strategy {
        Strategy::FailFast
    }
}

/// Whether a failed try may be sent again elsewhere.
///
/// - `sent == false`: the request never left (the connection could not be
///   opened), so it did not run anywhere: always safe.
/// - Otherwise only when the call is `idempotent`, and only for statuses
///   that say the server did not run it: `Unavailable` (refused, the
///   connection broke before an answer) and `ResourceExhausted` (a full
///   queue turned it away). Never `DeadlineExceeded`: the time is spent,
///   and the call may well be running still.
pub fn retryable(err: &RpcError, sent: bool, idempotent: bool) -> bool {
    let did_not_run = matches!(err.status, Status::Unavailable | Status::ResourceExhausted);
    did_not_run && (!sent || idempotent)
}

/// A retry budget as gRPC's retry throttling does it: a bucket of tokens;
/// a retry takes one and is allowed only while more than half the bucket
/// is left; a success puts back `refund` of a token. While most calls
/// succeed the bucket stays full; when the cluster is failing, retries stop
/// after a few and the cluster sees at most about one call per call.
#[derive(Debug)]
pub struct RetryBudget {
    /// In thousandths of a token, so a refund of 0.1 is exact.
    milli: Mutex<u64>,
    max_milli: u64,
    refund_milli: u64,
}

impl RetryBudget {
    /// A full bucket of `max_tokens`, refilled by `refund` per success.
    /// gRPC's example policy is 10 tokens and 0.1.
    pub fn new(max_tokens: u32, refund: f64) -> RetryBudget {
        let max_milli = u64::from(max_tokens) * 1000;
        RetryBudget {
            milli: Mutex::new(max_milli),
            max_milli,
            refund_milli: (refund.clamp(0.0, f64::from(max_tokens)) * 1000.0) as u64,
        }
    }

    /// Take a token for one retry, if the bucket is more than half full.
    pub fn try_spend(&self) -> bool {
        let mut t = lock(&self.milli);
        if *t > self.max_milli / 2 && *t >= 1000 {
            *t -= 1000;
            true
        } else {
            false
        }
    }

    /// A call succeeded: refill a little.
    pub fn refund(&self) {
        let mut t = lock(&self.milli);
        *t = (*t + self.refund_milli).min(self.max_milli);
    }

    /// Tokens left, for tests and logs.
    pub fn tokens(&self) -> f64 {
        *lock(&self.milli) as f64 / 1000.0
    }
}

impl Default for RetryBudget {
    /// 10 tokens, 0.1 back per success.
    fn default() -> RetryBudget {
        RetryBudget::new(10, 0.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_stops_retries_at_half_and_successes_refill_it() {
        let b = RetryBudget::new(10, 0.1);
        let granted = (0..20).filter(|_| b.try_spend()).count();
        assert_eq!(granted, 5, "retries stop once half the bucket is gone");
        for _ in 0..10 {
            b.refund();
        }
        assert!(b.try_spend(), "ten successes earn one retry");
        assert!(!b.try_spend());
    }

    #[test]
    fn only_calls_that_did_not_run_are_retried() {
        let unavailable = RpcError::unavailable("refused");
        let late = RpcError::deadline_exceeded("late");
        assert!(retryable(&unavailable, false, false), "never sent: safe");
        assert!(!retryable(&unavailable, true, false), "may have run");
        assert!(retryable(&unavailable, true, true));
        assert!(!retryable(&late, true, true), "never on DeadlineExceeded");
        assert!(!retryable(&RpcError::invalid_argument("x"), true, true));
    }
}
