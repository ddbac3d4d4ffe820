//! The check of ex08_rendezvous: `check_balancer` for a hashing balancer
//! (same key same instance in any order, keys spread, minimal movement).

use crate::exercises::ex08_rendezvous::Rendezvous;
use crate::exercises::{broke, unfinished};
use minirpc::balance::Balancer;
use minirpc::discovery::Instance;
use minirpc::testkit::{balancer_failures, BalancerKind};
use std::net::SocketAddr;

const NAME: &str = "ex08_rendezvous";

/// What the starting point fails with.
pub const UNFINISHED: &str = "pick() sends every key to the first instance; score each candidate with a hash of its address and the key, and pick the highest";

/// Run the check.
pub fn check() -> Result<(), String> {
    let list: Vec<Instance> = (1..=4)
        .map(|i| Instance::new("Rendezvous", SocketAddr::from(([10, 2, 0, i], 7000))))
        .collect();
    let all_first =
        (0..100).all(|k| Rendezvous.pick(&list, Some(format!("key-{k}").as_bytes())) == Some(0));
    if all_first {
        return Err(unfinished(NAME, UNFINISHED));
    }
    match balancer_failures(&Rendezvous, BalancerKind::Hashing).first() {
        None => Ok(()),
        Some(f) => Err(broke(NAME, f)),
    }
}
