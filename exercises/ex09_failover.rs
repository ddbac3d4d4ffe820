//! Exercise ex09_failover (chapter 09): try the next server, but only when
//! that is safe.
//!
//! `multiply_failover` asks `clients` in order for `l × r` and returns the
//! first answer. `Multiply` is idempotent, so a call that failed because
//! the server could not be reached or was full (`Unavailable`,
//! `ResourceExhausted`) may go to the next server. A call the server
//! refused (`InvalidArgument` and the rest) would be refused again: return
//! it at once. When every server failed, return the last error (and an
//! `Unavailable` error for an empty list). `minirpc::cluster::retryable`
//! decides the same thing for a `ClusterClient`. So far it asks only the
//! first. Check it with
//! `cargo test --features exercises --test exercises -- ex09_failover`.

use minirpc::{Client, RpcError};

/// The first answer to `Multiply(l, r)` among `clients`, in order.
pub fn multiply_failover(clients: &[Client], l: i32, r: i32) -> Result<i32, RpcError> {
    match clients.first() {
        Some(c) => c.call("Multiply", &(l, r)),
        None => Err(RpcError::unavailable("no servers to ask")),
    }
}
