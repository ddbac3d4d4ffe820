//! Reference solution of ex01_checked_multiply.

use minirpc::{RpcError, Server};

/// Register `"Multiply"`, taking `(i32, i32)` and returning `i32`.
pub fn register(server: &mut Server) {
    server.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument(format!("{l} × {r} does not fit an i32")))
    });
}
