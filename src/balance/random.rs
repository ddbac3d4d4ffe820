//! Random picks (随机负载): uniform, and in proportion to weight.
//!
//! Article: 原理 › 负载均衡 (1、随机负载). The one idea to take away:
//! **random needs no memory and no coordination**. Every pick is
//! independent, so a thousand consumers that never talk to each other
//! still spread their calls evenly, a new instance gets its share from the
//! very next call, and there is no state to lose or to lock. The price is
//! that "evenly" holds only on average: over a short run, one instance can
//! get several calls in a row while another gets none.
//!
//! ```text
//!  Random            a ─ b ─ c   each 1/3, whatever the weights
//!  WeightedRandom    weights 5 : 1 : 1, total 7; draw r in 0..7
//!                    r:  0 1 2 3 4 | 5 | 6
//!                        a a a a a | b | c     a 5/7, b 1/7, c 1/7
//! ```

use super::{Balancer, Candidates, Rng};
use crate::discovery::Instance;

/// Picks uniformly at random among the candidates, ignoring weights
/// (except that a zero weight means "never", as for every balancer).
///
/// **Property:** each candidate gets each call with probability 1/n, so
/// over many calls the shares are equal. **Cost per pick:** O(1), one
/// random draw; a walk over the list only when it holds a zero weight.
///
/// **Elsewhere:** rpcx's `RandomSelect` is this: uniform, ignoring the
/// weight in a server's metadata. Dubbo's `random` is weighted: see
/// [`WeightedRandom`]. gRPC's default policy, `pick_first`, sends every
/// call to one address, and none of its built-in policies picks at random
/// per call.
#[derive(Debug)]
pub struct Random {
    rng: Rng,
}

impl Random {
    /// Seeded from the operating system: different picks in every process.
    pub fn new() -> Random {
        Random {
            rng: Rng::from_entropy(),
        }
    }

    /// The same picks every run, for tests.
    pub fn with_seed(seed: u64) -> Random {
        Random {
            rng: Rng::new(seed),
        }
    }
}

impl Default for Random {
    fn default() -> Random {
        Random::new()
    }
}

impl Balancer for Random {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        if instances.is_empty() {
            return None;
        }
        // The common case first: draw among all, and keep the draw unless
        // it hit a zero weight. Redrawing among the candidates then keeps
        // the result uniform: a candidate is hit directly with probability
        // 1/n, or through a redraw with (zeros/n)·(1/candidates), and the
        // two add up to 1/candidates.
        let i = self.rng.below(instances.len() as u64) as usize;
        if instances[i].weight > 0 {
            return Some(i);
        }
        let c = Candidates::of(instances);
        Some(c.index(self.rng.below(c.len() as u64) as usize))
    }

    fn name(&self) -> &'static str {
        "random"
    }
}

/// Picks at random in proportion to weight.
///
/// **Property:** an instance of weight w gets each call with probability
/// w / (sum of weights); with equal weights this is [`Random`]. **Cost per
/// pick:** O(n): one pass to add up the weights, one random draw, and a
/// walk to the instance the draw falls on. (Vose's alias method would make
/// the pick O(1) after O(n) work per change of the list; with the dozens
/// of instances a consumer sees, the walk is cheaper than the bookkeeping.)
///
/// **Elsewhere:** Dubbo's default balancer, `random` (`RandomLoadBalance`),
/// is this, with the weight also ramped up during a provider's warm-up.
/// rpcx has no weighted random mode; it offers weights through
/// `WeightedRoundRobin`, and gRPC through `weighted_round_robin`.
#[derive(Debug)]
pub struct WeightedRandom {
    rng: Rng,
}

impl WeightedRandom {
    /// Seeded from the operating system: different picks in every process.
    pub fn new() -> WeightedRandom {
        WeightedRandom {
            rng: Rng::from_entropy(),
        }
    }

    /// The same picks every run, for tests.
    pub fn with_seed(seed: u64) -> WeightedRandom {
        WeightedRandom {
            rng: Rng::new(seed),
        }
    }
}

impl Default for WeightedRandom {
    fn default() -> WeightedRandom {
        WeightedRandom::new()
    }
}

impl Balancer for WeightedRandom {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        let c = Candidates::of(instances);
        let total: u64 = c.iter().map(|i| c.weight(i)).sum();
        if total == 0 {
            return None;
        }
        // Lay the weights end to end and see where the draw lands.
        let mut r = self.rng.below(total);
        for i in c.iter() {
            let w = c.weight(i);
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        None
    }

    fn name(&self) -> &'static str {
        "weighted_random"
    }
}
