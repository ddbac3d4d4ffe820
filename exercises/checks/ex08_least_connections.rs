//! The check of ex08_least_connections: its own property first (the least
//! busy is picked), then every property of `check_balancer`.

use crate::exercises::ex08_least_connections::LeastConnections;
use crate::exercises::{broke, unfinished};
use minirpc::balance::{Balancer, Outcome};
use minirpc::discovery::Instance;
use minirpc::testkit::{balancer_failures, BalancerKind};
use std::net::SocketAddr;
use std::time::Duration;

const NAME: &str = "ex08_least_connections";

/// What the starting point fails with.
pub const UNFINISHED: &str = "pick() still returns the first instance, the busiest one; count started and finished calls per address and pick the fewest";

/// Run the check.
pub fn check() -> Result<(), String> {
    let b = LeastConnections::new();
    let list: Vec<Instance> = (1..=3)
        .map(|i| Instance::new("Least", SocketAddr::from(([10, 1, 0, i], 7000))))
        .collect();
    // 3 calls on the first, 1 on the second, none on the third.
    for (i, n) in [(0, 3), (1, 1)] {
        for _ in 0..n {
            b.started(list[i].addr);
        }
    }
    let done = Outcome::success(Duration::from_millis(1));
    match b.pick(&list, None) {
        Some(2) => {}
        Some(0) => return Err(unfinished(NAME, UNFINISHED)),
        got => {
            return Err(broke(
                NAME,
                format!("with 3, 1 and 0 calls in flight, pick() gave {got:?}, expected Some(2)"),
            ))
        }
    }
    // The same instances in another order: found by address.
    let turned: Vec<Instance> = list.iter().rev().cloned().collect();
    if b.pick(&turned, None) != Some(0) {
        return Err(broke(NAME, "with the idle instance first in the list, pick() did not choose it (keep counts by address)"));
    }
    for _ in 0..3 {
        b.finished(list[0].addr, done);
    }
    b.started(list[2].addr);
    b.started(list[2].addr);
    match b.pick(&list, None) {
        Some(0) => {}
        got => return Err(broke(NAME, format!("after the first instance's 3 calls finished (now 0, 1, 2 in flight), pick() gave {got:?}, expected Some(0)"))),
    }
    match balancer_failures(&LeastConnections::new(), BalancerKind::Any).first() {
        None => Ok(()),
        Some(f) => Err(broke(NAME, f)),
    }
}
