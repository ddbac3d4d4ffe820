//! Reference solution of ex05_cancel_aware: one look at the flag per step.

use minirpc::{CallContext, RpcError, Status};

/// Run `step` for `0..steps`, stopping early when the call is cancelled.
pub fn run_steps(
    ctx: &CallContext,
    steps: u32,
    mut step: impl FnMut(u32),
) -> Result<u32, RpcError> {
    for i in 0..steps {
        if ctx.is_cancelled() {
            return Err(RpcError::new(
                Status::Cancelled,
                format!("the caller cancelled the call; stopped after {i} of {steps} steps"),
            ));
        }
        step(i);
    }
    Ok(steps)
}
