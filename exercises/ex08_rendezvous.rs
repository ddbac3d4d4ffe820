//! Exercise ex08_rendezvous (chapter 08): hashing that moves only the keys
//! of an instance that leaves, without a ring.
//!
//! Rendezvous (highest random weight) hashing: for a key, score every
//! candidate with a hash of (its address, the key) and pick the highest
//! score. The same key and the same instances give the same pick in any
//! list order, and when an instance leaves only the keys it won move.
//! `minirpc::balance::hash::fnv1a64` and `mix64` are there to hash with.
//! A call without a key may go anywhere. Keep the zero-weight rule of
//! every balancer. So far every key goes to the first instance.
//! Check it with
//! `cargo test --features exercises --test exercises -- ex08_rendezvous`.

use minirpc::balance::Balancer;
use minirpc::discovery::Instance;

/// Rendezvous (highest random weight) hashing.
#[derive(Default)]
pub struct Rendezvous;

impl Balancer for Rendezvous {
    fn pick(&self, instances: &[Instance], key: Option<&[u8]>) -> Option<usize> {
        let _ = key;
        if instances.is_empty() {
            None
        } else {
            Some(0)
        }
    }

    fn name(&self) -> &'static str {
        "rendezvous"
    }
}
