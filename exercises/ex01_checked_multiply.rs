//! Exercise ex01_checked_multiply (chapter 01): the error a local call
//! never had to report.
//!
//! `Multiply` below wraps around on overflow, as `i32::wrapping_mul`
//! does: `65536 × 65536` answers `0`, and the caller cannot tell. Make it
//! answer `RpcError::invalid_argument` (with a message naming both inputs)
//! when the product does not fit an `i32`, and the product otherwise.
//! Check it with `cargo test --features exercises --test exercises -- ex01_checked_multiply`.

use minirpc::Server;

/// Register `"Multiply"`, taking `(i32, i32)` and returning `i32`.
pub fn register(server: &mut Server) {
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l.wrapping_mul(r)));
}
