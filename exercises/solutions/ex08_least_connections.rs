//! Reference solution of ex08_least_connections: a map of calls in flight
//! by address, and one pass over the candidates.

use minirpc::balance::{Balancer, Outcome};
use minirpc::discovery::Instance;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Picks the instance with the fewest calls in flight.
#[derive(Default)]
pub struct LeastConnections {
    in_flight: Mutex<HashMap<SocketAddr, u64>>,
}

impl LeastConnections {
    /// A balancer that has seen no calls.
    pub fn new() -> LeastConnections {
        LeastConnections::default()
    }
}

impl Balancer for LeastConnections {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        let any_positive = instances.iter().any(|i| i.weight > 0);
        let busy = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        (0..instances.len())
            .filter(|&i| !any_positive || instances[i].weight > 0)
            .min_by_key(|&i| busy.get(&instances[i].addr).copied().unwrap_or(0))
    }

    fn started(&self, addr: SocketAddr) {
        *self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(addr)
            .or_insert(0) += 1;
    }

    fn finished(&self, addr: SocketAddr, _outcome: Outcome) {
        let mut busy = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = busy.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(&addr);
            }
        }
    }

    fn name(&self) -> &'static str {
        "least_connections"
    }
}
