//! Load balancing (负载均衡): which provider gets this call.
//!
//! Article: 原理 › 负载均衡 (its three ways: 随机负载, 一致性hash负载,
//! 自适应负载), and the 负载均衡 row of 对比 › RPC与HTTP ("RPC balances by
//! itself; HTTP needs nginx"). The one idea to take away: **the caller
//! chooses, one call at a time, among the providers it believes are
//! healthy**. There is no proxy in the middle: the consumer already has the
//! list (from the registry, filtered by its own health checks), so it can
//! pick a provider itself and connect straight to it.
//!
//! ```text
//!  registry ──► instances ──► health (HealthTracker) ──► the healthy ones
//!                                                              │
//!   call ── key? ──► Balancer::pick(healthy, key) ──► index ───┘──► Client
//!                        ▲                                          │
//!                        └── started(addr) … finished(addr, Outcome) ┘
//! ```
//!
//! [`Balancer`] is the small trait every algorithm implements (and a
//! learner can implement in an exercise; `minirpc::testkit::check_balancer`
//! checks it). One file per algorithm:
//!
//! | type | file | picks | cost per pick (n instances) |
//! |---|---|---|---|
//! | [`Random`] | `random.rs` | uniformly, ignoring weights | O(1) |
//! | [`WeightedRandom`] | `random.rs` | at random, in proportion to weight | O(n) |
//! | [`RoundRobin`] | `round_robin.rs` | in turn, weights spread smoothly (nginx) | O(n) |
//! | [`ConsistentHash`] | `consistent_hash.rs` | by the caller's key, on a ring | O(n) to recognise the list, O(log n) to search |
//! | [`Adaptive`] | `adaptive.rs` | the less loaded of two random ones | O(1) |
//!
//! Two helpers are written here too, because minirpc uses nothing beyond
//! the standard library: a seeded random number generator ([`Rng`], so a
//! test gets the same picks every run) and the ring's hash function
//! ([`hash`]).

pub mod adaptive;
pub mod consistent_hash;
pub mod hash;
pub mod random;
pub mod rng;
pub mod round_robin;

pub use adaptive::Adaptive;
pub use consistent_hash::ConsistentHash;
pub use random::{Random, WeightedRandom};
pub use rng::Rng;
pub use round_robin::RoundRobin;

use crate::discovery::Instance;
use std::net::SocketAddr;
use std::time::Duration;

/// Chooses the instance for one call.
///
/// The contract, which `minirpc::testkit::check_balancer` checks:
///
/// - `instances` are the ones the caller may use *now*: the cluster layer
///   passes only healthy instances, and on a retry only those not tried
///   yet. So a balancer never decides health, and must not assume the list
///   is the same, or in the same order, from one call to the next: it keeps
///   whatever it learns by address, not by position.
/// - [`pick`](Balancer::pick) returns an index into `instances`, and `None`
///   only when `instances` is empty.
/// - A weight of zero means "never" (an operator draining an instance),
///   unless every weight is zero: then they all count as equal, because a
///   call that has providers must not fail for want of a weight.
/// - `key` is chosen by the caller for the call (for example the encoding
///   of its first argument). Only hashing balancers use it; the others
///   ignore it.
/// - The caller reports each call it sends to the picked instance: once
///   with [`started`](Balancer::started) and once, when it ends, with
///   [`finished`](Balancer::finished). Balancers that do not learn ignore
///   both (the default methods do nothing).
/// - Every method may be called from many threads at once.
pub trait Balancer: Send + Sync {
    /// The index in `instances` of the instance for this call, or `None`
    /// when there is none.
    fn pick(&self, instances: &[Instance], key: Option<&[u8]>) -> Option<usize>;

    /// A call to `addr` was sent (it is now in flight).
    fn started(&self, addr: SocketAddr) {
        let _ = addr;
    }

    /// A call to `addr` that [`started`](Balancer::started) has ended.
    fn finished(&self, addr: SocketAddr, outcome: Outcome) {
        let _ = (addr, outcome);
    }

    /// A short name for listings and logs, e.g. `"round_robin"`.
    fn name(&self) -> &'static str;
}

/// How one call to an instance ended, as the balancer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// From sending the request to the end of the call.
    pub latency: Duration,
    /// `false` when the call failed in a way that blames the instance
    /// (unavailable, timed out, its queue full). A caller's own mistake
    /// (an invalid argument, an unknown method) says nothing about the
    /// instance and should be reported as `true`, as the health tracker's
    /// `CallFailed` is.
    pub ok: bool,
}

impl Outcome {
    /// A call that worked and took `latency`.
    pub fn success(latency: Duration) -> Outcome {
        Outcome { latency, ok: true }
    }

    /// A call that failed, blaming the instance, after `latency`.
    pub fn failure(latency: Duration) -> Outcome {
        Outcome { latency, ok: false }
    }
}

/// The instances a pick may choose, by the zero-weight rule of
/// [`Balancer`]: those with a positive weight, or all of them when every
/// weight is zero.
pub(crate) struct Candidates<'a> {
    instances: &'a [Instance],
    len: usize,
    /// Some weight is positive, so zero weights are skipped.
    skip_zero: bool,
}

impl<'a> Candidates<'a> {
    /// One pass over the weights.
    pub(crate) fn of(instances: &'a [Instance]) -> Candidates<'a> {
        let positive = instances.iter().filter(|i| i.weight > 0).count();
        Candidates {
            instances,
            len: if positive == 0 {
                instances.len()
            } else {
                positive
            },
            skip_zero: positive > 0,
        }
    }

    /// How many instances may be chosen.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The slice index of each candidate, in slice order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + 'a {
        let (instances, skip_zero) = (self.instances, self.skip_zero);
        (0..instances.len()).filter(move |&i| !skip_zero || instances[i].weight > 0)
    }

    /// The slice index of the `k`-th candidate (`k < len()`): immediate
    /// when no weight is zero, a walk otherwise.
    pub(crate) fn index(&self, k: usize) -> usize {
        if self.len == self.instances.len() {
            return k;
        }
        self.iter().nth(k).unwrap_or(0)
    }

    /// The weight a pick gives instance `i`: its own, or 1 when every
    /// weight is zero.
    pub(crate) fn weight(&self, i: usize) -> u64 {
        if self.skip_zero {
            u64::from(self.instances[i].weight)
        } else {
            1
        }
    }
}
