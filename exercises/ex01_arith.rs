//! Exercise ex01_arith (chapter 01): two more methods on a server.
//!
//! Register `"Add"` and `"Divide"` on `server`. Both take `(i32, i32)` and
//! return an `i32`. A local `a / 0` panics; a remote one must not: refuse
//! a division by zero, and any result that does not fit an `i32`, with
//! `RpcError::invalid_argument` and a message that says what was wrong.
//! Check it with `cargo test --features exercises --test exercises -- ex01_arith`;
//! docs/exercises.md#ex01_arith says more.

use minirpc::Server;

/// Add `"Add"` and `"Divide"` to `server`'s call table.
pub fn register(server: &mut Server) {
    // Your code here, for example:
    // server.register("Add", |(a, b): (i32, i32)| ...);
    let _ = server;
}
