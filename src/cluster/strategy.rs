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

use super::members::{Call, Inner};
use crate::balance::Outcome;
use crate::codec::{Decode, Encode};
use crate::discovery::Instance;
use crate::error::{RpcError, Status};
use crate::sync::lock;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// How often a forking call looks at each of its futures.
const FORK_POLL: Duration = Duration::from_millis(2);

/// Each strategy, run: the tries of one call.
impl Inner {
    /// FailFast (`retries == 0`) and Failover.
    pub(crate) fn failover<A, R>(
        &self,
        call: &Call<'_>,
        args: &A,
        retries: u32,
        idempotent: bool,
    ) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let mut tried: Vec<SocketAddr> = Vec::new();
        let mut last: Option<RpcError> = None;
        for attempt in 0..=retries {
            let candidates: Vec<Instance> = self
                .usable()
                .into_iter()
                .filter(|i| !tried.contains(&i.addr))
                .collect();
            let Some(k) = self.balancer.pick(&candidates, call.key) else {
                return Err(last.unwrap_or_else(|| self.no_instance("usable")));
            };
            let addr = candidates[k].addr;
            tried.push(addr);
            let t = self.try_on(addr, call, args);
            match t.result {
                Ok(v) => {
                    self.budget.refund();
                    return Ok(v);
                }
                Err(e) => {
                    let again = attempt < retries
                        && retryable(&e, t.sent, idempotent)
                        && !call.deadline.has_passed()
                        && self.budget.try_spend();
                    if !again {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| self.no_instance("usable")))
    }

    /// Fixed: that instance, if it is listed for this service and group.
    pub(crate) fn fixed<A, R>(
        &self,
        call: &Call<'_>,
        args: &A,
        addr: SocketAddr,
    ) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        if !lock(&self.listed).iter().any(|i| i.addr == addr) {
            return Err(RpcError::unavailable(format!(
                "the fixed instance {addr} is not listed for {}",
                self.name()
            )));
        }
        self.try_on(addr, call, args).result
    }

    /// Forking: `n` futures at once; the first success wins.
    pub(crate) fn forking<A, R>(&self, call: &Call<'_>, args: &A, n: usize) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let mut candidates = self.usable();
        let mut out = Vec::new();
        while out.len() < n {
            let Some(k) = self.balancer.pick(&candidates, call.key) else {
                break;
            };
            let addr = candidates.remove(k).addr;
            let started = Instant::now();
            self.balancer.started(addr);
            match self.client(addr, call.deadline) {
                Ok(c) => {
                    let left = call.deadline.remaining_capped(self.call_timeout);
                    out.push((
                        addr,
                        started,
                        c.call_async_timeout::<A, R>(call.call_id, args, left),
                    ));
                }
                Err(e) => self.report(addr, started, Some(&e)),
            }
        }
        if out.is_empty() {
            return Err(self.no_instance("reachable"));
        }
        let mut last = None;
        // Bounded: each pending ends by the call's deadline (it carries it).
        while !out.is_empty() {
            let mut i = 0;
            while i < out.len() {
                match out[i].2.wait_timeout(FORK_POLL) {
                    None => i += 1,
                    Some(result) => {
                        let (addr, started, _) = out.remove(i);
                        self.report(addr, started, result.as_ref().err());
                        match result {
                            Ok(v) => {
                                // The losers: dropping a Pending cancels it.
                                // Their latency so far is a lower bound, and
                                // they are not to blame.
                                for (addr, started, _) in out.drain(..) {
                                    self.balancer
                                        .finished(addr, Outcome::success(started.elapsed()));
                                }
                                return Ok(v);
                            }
                            Err(e) => last = Some(e),
                        }
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| self.no_instance("reachable")))
    }

    /// Broadcast: every listed instance; any failure is an error naming it.
    /// One after another, all within the one deadline, so the whole
    /// broadcast never takes longer than a single call may.
    /// The answer is the first instance's (by address).
    pub(crate) fn broadcast<A, R>(&self, call: &Call<'_>, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let all: Vec<SocketAddr> = lock(&self.listed).iter().map(|i| i.addr).collect();
        if all.is_empty() {
            return Err(self.no_instance("listed"));
        }
        let mut first = None;
        let mut failed = Vec::new();
        for addr in all {
            match self.try_on::<A, R>(addr, call, args).result {
                Ok(v) => {
                    if first.is_none() {
                        first = Some(v);
                    }
                }
                Err(e) => failed.push((addr, e)),
            }
        }
        if let Some((addr, e)) = failed.first() {
            let names: Vec<String> = failed.iter().map(|(a, _)| a.to_string()).collect();
            return Err(RpcError::new(
                e.status,
                format!(
                    "broadcast {} failed on {} of the instances ({}); first, {addr}: {}",
                    call.call_id,
                    failed.len(),
                    names.join(", "),
                    e.message
                ),
            ));
        }
        first.ok_or_else(|| self.no_instance("listed"))
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
