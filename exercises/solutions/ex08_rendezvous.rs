//! Reference solution of ex08_rendezvous: the key's hash, mixed with each
//! address's, and the highest wins (ties to the lower address, so the
//! order of the list never matters).

use minirpc::balance::hash::{fnv1a64, mix64};
use minirpc::balance::Balancer;
use minirpc::discovery::Instance;

/// Rendezvous (highest random weight) hashing.
#[derive(Default)]
pub struct Rendezvous;

impl Balancer for Rendezvous {
    fn pick(&self, instances: &[Instance], key: Option<&[u8]>) -> Option<usize> {
        let any_positive = instances.iter().any(|i| i.weight > 0);
        let k = fnv1a64(key.unwrap_or_default());
        (0..instances.len())
            .filter(|&i| !any_positive || instances[i].weight > 0)
            .max_by_key(|&i| {
                let a = &instances[i].addr;
                let score = mix64(k ^ fnv1a64(a.to_string().as_bytes()));
                (score, std::cmp::Reverse(*a))
            })
    }

    fn name(&self) -> &'static str {
        "rendezvous"
    }
}
