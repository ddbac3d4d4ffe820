//! `minirpc::testkit::check_balancer` catches a balancer that returns an
//! instance which is no longer in the list: one that remembers positions
//! in an old list instead of addresses. (The built-in balancers pass every
//! property in `tests/balance.rs`; broken weighted and hashing balancers
//! are caught there too.)

use minirpc::balance::{Balancer, RoundRobin};
use minirpc::discovery::Instance;
use minirpc::testkit::{balancer_failures, check_balancer, BalancerKind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Round robin over the longest list it has seen: after the list shrinks
/// it still counts over the old length, and returns positions that are no
/// longer there.
#[derive(Default)]
struct Stale {
    longest: AtomicUsize,
    next: AtomicUsize,
}

impl Balancer for Stale {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        if instances.is_empty() {
            return None;
        }
        let n = self
            .longest
            .fetch_max(instances.len(), Ordering::SeqCst)
            .max(instances.len());
        Some(self.next.fetch_add(1, Ordering::SeqCst) % n)
    }

    fn name(&self) -> &'static str {
        "stale"
    }
}

#[test]
fn a_balancer_that_picks_a_departed_instance_fails_the_property_that_says_so() {
    let f = balancer_failures(&Stale::default(), BalancerKind::Any);
    let departed = f
        .iter()
        .find(|f| f.property == "an instance that left the list is never picked")
        .unwrap_or_else(|| panic!("the departed-instance property did not fail: {f:?}"));
    assert!(
        departed.message.contains("a pick among the 2 left"),
        "{departed}"
    );
}

#[test]
fn round_robin_keeps_its_promises_when_instances_leave() {
    check_balancer(&RoundRobin::new(), BalancerKind::Any);
}
