//! Consistent hashing (一致性hash负载): a ring with virtual nodes.
//!
//! Article: 原理 › 负载均衡 (2、一致性hash负载). The one idea to take away:
//! **when one instance leaves, only its own keys may move**. Sending a key
//! to the same instance every time is easy: `hash(key) % n`. But the day
//! `n` changes from 10 to 9, `% n` gives almost every key a new owner, and
//! every cache that was warm for those keys goes cold at once. A ring
//! moves only the keys of the instance that left, about 1/n of them.
//!
//! ```text
//!  Each instance is hashed onto the positions 0 … 2^64, 160 times (its
//!  virtual nodes, "addr#0" … "addr#159"). A key is hashed onto the same
//!  positions and belongs to the first node at or after it (past the end,
//!  it wraps round to the first node). The ring, cut open at 0:
//!
//!   0 ──●──────○──●─────────●────○────●───────●────► 2^64 (wraps to 0)
//!      a#3    k1 c#0       b#9   k2  a#7     c#5
//!              └─►c              └─►a
//!
//!  c leaves: its nodes vanish, k1 walks on to b#9 (c → b).
//!  k2's next node is still a#7: k2 does not move. Nor does any key
//!  that did not belong to c.
//! ```
//!
//! Why 160 nodes and not one: with one point each, the arcs between
//! neighbours are very uneven, and one instance can own a third of the
//! keys. With many points per instance the arcs average out, and when an
//! instance leaves, its keys are spread over all the others instead of
//! all landing on its one neighbour.

use super::hash::ring_hash;
use super::{Balancer, Candidates, Rng};
use crate::discovery::Instance;
use crate::sync::lock;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A hash ring with virtual nodes, keyed by the caller's key.
///
/// **Property:** the same key, with the same set of instances, goes to the
/// same instance every time, whatever the order of the list. When one
/// instance leaves, exactly the keys it owned move (each to the next
/// virtual node on the ring) and no other key changes owner; when it comes
/// back, they return to it. Measured in `tests/balance.rs`: one of 10
/// instances leaving moves about 10 % of 10,000 keys, all of them its own.
///
/// **Cost per pick:** O(log(n·v)), a binary search among the n·v points
/// (v virtual nodes per instance), after an O(n) check that the list is
/// the one the ring was built for. Building a ring is O(n·v·log(n·v)),
/// once per change of the list; the last four rings are kept, so a retry
/// that leaves one instance out does not rebuild the main one.
///
/// **Weights** other than zero are ignored: a key has one owner, whatever
/// the weights (Dubbo does the same). Zero still means "never": a drained
/// instance has no points on the ring.
///
/// **No key:** a call without a key has no owner, so it goes to a random
/// candidate. (Hashing "no key" as the empty key would send every keyless
/// call to the one owner of the empty key. gRPC's `ring_hash` also uses a
/// random hash when a request has none.)
///
/// **Elsewhere:** Dubbo's `consistenthash` (`ConsistentHashLoadBalance`)
/// is a ring like this one: 160 virtual nodes per provider by default
/// (`hash.nodes`), MD5 as the hash, and the first argument as the key by
/// default (`hash.arguments`). gRPC's `ring_hash` is a ring too, with a
/// ring size set by `minimum_ring_size` and `maximum_ring_size`, and the
/// key taken from the request (through xDS hash policies, or, in newer
/// versions, a request header).
/// rpcx's `ConsistentHash` is not a ring: it uses a jump consistent hash
/// (the `doublejump` package) over the servers, keyed by service, method
/// and arguments.
#[derive(Debug)]
pub struct ConsistentHash {
    replicas: usize,
    /// The most recently used rings, newest first.
    rings: Mutex<Vec<Arc<Ring>>>,
    /// For calls without a key.
    rng: Rng,
}

/// One ring, built for one list of instances.
#[derive(Debug)]
struct Ring {
    /// The list it was built for: address and weight of each instance, in
    /// the caller's order (the points hold indices into it).
    members: Vec<(SocketAddr, u32)>,
    /// (position, address, index in `members`), sorted by position and
    /// then address, so that two points at the same position (rare, but
    /// possible) are ordered the same way whatever the list's order.
    points: Vec<(u64, SocketAddr, usize)>,
}

/// How many rings to keep (see the cost note on [`ConsistentHash`]).
const RINGS_KEPT: usize = 4;

impl ConsistentHash {
    /// Virtual nodes per instance by default: Dubbo's number.
    pub const DEFAULT_REPLICAS: usize = 160;

    /// A ring with [`DEFAULT_REPLICAS`](ConsistentHash::DEFAULT_REPLICAS)
    /// virtual nodes per instance.
    pub fn new() -> ConsistentHash {
        ConsistentHash::with_replicas(ConsistentHash::DEFAULT_REPLICAS)
    }

    /// A ring with `replicas` virtual nodes per instance (at least 1).
    pub fn with_replicas(replicas: usize) -> ConsistentHash {
        ConsistentHash {
            replicas: replicas.max(1),
            rings: Mutex::new(Vec::new()),
            rng: Rng::from_entropy(),
        }
    }

    /// The same choices for keyless calls every run, for tests.
    pub fn seed(mut self, seed: u64) -> ConsistentHash {
        self.rng = Rng::new(seed);
        self
    }

    /// The ring for `instances`: a kept one if the list is the same, else
    /// a new one.
    fn ring_for(&self, instances: &[Instance]) -> Arc<Ring> {
        let same = |r: &Ring| {
            r.members.len() == instances.len()
                && r.members
                    .iter()
                    .zip(instances)
                    .all(|(&(addr, weight), i)| addr == i.addr && weight == i.weight)
        };
        let mut rings = lock(&self.rings);
        if let Some(at) = rings.iter().position(|r| same(r)) {
            let ring = rings.remove(at);
            rings.insert(0, Arc::clone(&ring));
            return ring;
        }
        let ring = Arc::new(Ring::build(instances, self.replicas));
        rings.insert(0, Arc::clone(&ring));
        rings.truncate(RINGS_KEPT);
        ring
    }
}

impl Default for ConsistentHash {
    fn default() -> ConsistentHash {
        ConsistentHash::new()
    }
}

impl Ring {
    fn build(instances: &[Instance], replicas: usize) -> Ring {
        let c = Candidates::of(instances);
        let mut points = Vec::with_capacity(c.len() * replicas);
        let mut name = String::new();
        for i in c.iter() {
            let addr = instances[i].addr;
            for v in 0..replicas {
                name.clear();
                let _ = write!(name, "{addr}#{v}");
                points.push((ring_hash(name.as_bytes()), addr, i));
            }
        }
        points.sort_unstable_by_key(|&(at, addr, _)| (at, addr));
        Ring {
            members: instances.iter().map(|i| (i.addr, i.weight)).collect(),
            points,
        }
    }

    /// The index of the owner of `key`: the first point at or after the
    /// key's position, wrapping around to the first point.
    fn owner(&self, key: &[u8]) -> Option<usize> {
        let at = ring_hash(key);
        let next = self.points.partition_point(|&(p, _, _)| p < at);
        self.points
            .get(next)
            .or_else(|| self.points.first())
            .map(|&(_, _, i)| i)
    }
}

impl Balancer for ConsistentHash {
    fn pick(&self, instances: &[Instance], key: Option<&[u8]>) -> Option<usize> {
        if instances.is_empty() {
            return None;
        }
        match key {
            Some(key) => self.ring_for(instances).owner(key),
            None => {
                let c = Candidates::of(instances);
                Some(c.index(self.rng.below(c.len() as u64) as usize))
            }
        }
    }

    fn name(&self) -> &'static str {
        "consistent_hash"
    }
}
