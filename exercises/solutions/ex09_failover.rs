//! Reference solution of ex09_failover.

use minirpc::{Client, RpcError, Status};

/// The first answer to `Multiply(l, r)` among `clients`, in order.
pub fn multiply_failover(clients: &[Client], l: i32, r: i32) -> Result<i32, RpcError> {
    let mut last = RpcError::unavailable("no servers to ask");
    for c in clients {
        match c.call("Multiply", &(l, r)) {
            Ok(v) => return Ok(v),
            Err(e) if matches!(e.status, Status::Unavailable | Status::ResourceExhausted) => {
                last = e
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
