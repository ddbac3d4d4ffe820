//! Exercise ex08_least_connections (chapter 08): a balancer that sends each
//! call to the instance with the fewest calls in flight.
//!
//! The caller tells the balancer when a call to an instance starts
//! (`started`) and ends (`finished`). Count the calls in flight per
//! address (by address, not by position: the list changes between calls)
//! and let `pick` choose the candidate with the fewest, the first of them
//! on a tie. Keep the rule of every balancer: a zero weight is never
//! picked while another weight is positive (all zero: all count), and
//! `None` only for an empty list. So far `pick` returns the first
//! instance. Check it with
//! `cargo test --features exercises --test exercises -- ex08_least_connections`.

use minirpc::balance::{Balancer, Outcome};
use minirpc::discovery::Instance;
use std::net::SocketAddr;

/// Picks the instance with the fewest calls in flight.
#[derive(Default)]
pub struct LeastConnections {}

impl LeastConnections {
    /// A balancer that has seen no calls.
    pub fn new() -> LeastConnections {
        LeastConnections::default()
    }
}

impl Balancer for LeastConnections {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        if instances.is_empty() {
            None
        } else {
            Some(0)
        }
    }

    fn started(&self, addr: SocketAddr) {
        let _ = addr;
    }

    fn finished(&self, addr: SocketAddr, outcome: Outcome) {
        let _ = (addr, outcome);
    }

    fn name(&self) -> &'static str {
        "least_connections"
    }
}
