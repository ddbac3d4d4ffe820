//! Smooth weighted round robin, as nginx does it.
//!
//! Article: 原理 › 负载均衡 (and the RPC与HTTP row that says HTTP needs
//! nginx for this: here is nginx's own algorithm, inside the caller). The
//! one idea to take away: **weights can be spread, not bunched**. The
//! obvious weighted round robin for weights 5:1:1 sends `a a a a a b c`:
//! five calls in a row to one instance, then a pause. nginx's smooth
//! version sends `a a b a c a a`, the same shares with `b` and `c` placed
//! between the `a`s, so no instance ever sees a burst.
//!
//! Each instance has a *current weight*, starting at 0. For every pick:
//!
//! ```text
//!  1. every candidate's current += its weight
//!  2. the one with the largest current is picked (the first, on a tie)
//!  3. the picked one's current -= the total of the weights
//!
//!  weights a 5, b 1, c 1 (total 7); current after step 1 → picked
//!    ( 5, 1, 1) a    ( 3, 2, 2) a    ( 1, 3, 3) b    ( 6,-3, 4) a
//!    ( 4,-2, 5) c    ( 9,-1,-1) a    ( 7, 0, 0) a    → back to (0, 0, 0)
//! ```
//!
//! Step 3 takes away exactly what step 1 added in total, so the current
//! weights always add up to zero. That is the whole proof of fairness: an
//! instance that is owed calls climbs until it is picked, one that was
//! just picked sinks below the others, and none can drift away.

use super::{Balancer, Candidates};
use crate::discovery::Instance;
use crate::sync::lock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Smooth weighted round robin (nginx's algorithm).
///
/// **Property:** over every run of `total` consecutive picks (the sum of
/// the weights) from a fresh start, each instance is picked exactly
/// `weight` times, and the picks of the heavy instances are spread between
/// the light ones: weights 5:1:1 give exactly `a a b a c a a`, again and
/// again. With equal weights it is plain round robin, `a b c a b c`.
///
/// **Cost per pick:** O(n) under one lock: every candidate's current
/// weight moves on each pick. (A precomputed schedule, as rpcx builds,
/// makes a pick O(1) after O(total) work per change of the list.)
///
/// **Changes.** The current weights are kept by address, so the list may
/// change between picks: an instance keeps its current weight while it
/// leaves and rejoins the list (a failover retry passes fewer
/// instances), a weight change only changes its step, and a new instance
/// starts at zero. All three keep the sum at zero, so fairness holds
/// across changes. An instance absent for a thousand picks or so is
/// forgotten; dropping its current weight leaves the sum off zero by less
/// than one total, which shifts the order within a cycle but not the
/// shares.
///
/// **Elsewhere:** Dubbo's `roundrobin` (`RoundRobinLoadBalance`) is this
/// algorithm in its current versions (older ones used another scheme),
/// with the state kept per provider and per method, and forgotten after
/// 60 s without a pick. rpcx's `WeightedRoundRobin` uses
/// the same nginx algorithm, while its `RoundRobin` ignores weights. gRPC's
/// `round_robin` ignores weights; its `weighted_round_robin` computes
/// weights from the load that servers report.
#[derive(Debug, Default)]
pub struct RoundRobin {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Current weight, and the pick that last saw it, by address.
    current: HashMap<SocketAddr, Entry>,
    picks: u64,
}

#[derive(Debug)]
struct Entry {
    current: i64,
    seen: u64,
}

/// How often absent instances are forgotten, and after how many picks.
const FORGET_AFTER: u64 = 1024;

impl RoundRobin {
    /// A balancer with every current weight at zero.
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }
}

impl Balancer for RoundRobin {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        let c = Candidates::of(instances);
        let mut st = lock(&self.state);
        st.picks += 1;
        let pick = st.picks;
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for i in c.iter() {
            let w = c.weight(i) as i64;
            total += w;
            let e = st.current.entry(instances[i].addr).or_insert(Entry {
                current: 0,
                seen: pick,
            });
            e.current += w;
            e.seen = pick;
            // Strictly greater: on a tie the first in the list wins, as in
            // nginx, which is what makes the sequence exact.
            if best.is_none_or(|(_, b)| e.current > b) {
                best = Some((i, e.current));
            }
        }
        let (chosen, _) = best?;
        if let Some(e) = st.current.get_mut(&instances[chosen].addr) {
            e.current -= total;
        }
        if pick.is_multiple_of(FORGET_AFTER) {
            st.current.retain(|_, e| pick - e.seen < FORGET_AFTER);
        }
        Some(chosen)
    }

    fn name(&self) -> &'static str {
        "round_robin"
    }
}
