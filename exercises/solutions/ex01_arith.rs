//! Reference solution of ex01_arith: the checked arithmetic of `i32` says
//! when there is no answer, and the error says which input caused it.

use minirpc::{RpcError, Server};

/// Add `"Add"` and `"Divide"` to `server`'s call table.
pub fn register(server: &mut Server) {
    server.register("Add", |(a, b): (i32, i32)| {
        a.checked_add(b)
            .ok_or_else(|| RpcError::invalid_argument(format!("{a} + {b} does not fit an i32")))
    });
    server.register("Divide", |(a, b): (i32, i32)| {
        if b == 0 {
            return Err(RpcError::invalid_argument(format!(
                "{a} / 0: division by zero"
            )));
        }
        a.checked_div(b)
            .ok_or_else(|| RpcError::invalid_argument(format!("{a} / {b} does not fit an i32")))
    });
}
