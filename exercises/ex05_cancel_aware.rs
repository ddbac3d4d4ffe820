//! Exercise ex05_cancel_aware (chapter 05): a long handler that stops when
//! its caller has gone.
//!
//! When a caller drops its `Pending`, the client sends a cancel frame and
//! the server marks the call: `CallContext::is_cancelled` turns true. A
//! handler that goes on anyway burns a worker for an answer nobody will
//! read. Write `run_steps`: call `step(0)`, `step(1)`, ... up to `steps`,
//! but check `ctx.is_cancelled()` before each step, and once it is true
//! stop and return `RpcError::new(Status::Cancelled, ..)`. Return
//! `Ok(steps)` when every step ran. So far it ignores `ctx`.
//! Check it with `cargo test --features exercises --test exercises -- ex05_cancel_aware`.

use minirpc::{CallContext, RpcError};

/// Run `step` for `0..steps`, stopping early when the call is cancelled.
pub fn run_steps(
    ctx: &CallContext,
    steps: u32,
    mut step: impl FnMut(u32),
) -> Result<u32, RpcError> {
    let _ = ctx;
    for i in 0..steps {
        step(i);
    }
    Ok(steps)
}
