//! Exercise ex05_fan_out (chapter 05): many calls in flight at once on one
//! connection.
//!
//! `multiply_all` makes one `Multiply` call per pair and returns the
//! results in the order of `pairs`. It calls them one after another, so
//! `n` calls take `n` round trips. Send them all first with
//! `Client::call_async` (each returns a `Pending`), then wait for each:
//! the pending table matches the answers to their calls, whatever order
//! they come back in. Check it with
//! `cargo test --features exercises --test exercises -- ex05_fan_out`.

use minirpc::{Client, RpcError};

/// `l × r` for every pair, from the server, in the order of `pairs`.
pub fn multiply_all(client: &Client, pairs: &[(i32, i32)]) -> Vec<Result<i32, RpcError>> {
    pairs.iter().map(|p| client.call("Multiply", p)).collect()
}
