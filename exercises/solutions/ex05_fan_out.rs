//! Reference solution of ex05_fan_out: every request out, then every wait.

use minirpc::{Client, Pending, RpcError};

/// `l × r` for every pair, from the server, in the order of `pairs`.
pub fn multiply_all(client: &Client, pairs: &[(i32, i32)]) -> Vec<Result<i32, RpcError>> {
    let pending: Vec<Pending<i32>> = pairs
        .iter()
        .map(|p| client.call_async("Multiply", p))
        .collect();
    pending.into_iter().map(Pending::wait).collect()
}
