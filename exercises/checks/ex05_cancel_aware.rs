//! The check of ex05_cancel_aware: a caller that leaves during the first
//! step stops the rest; a caller that stays gets every step.

use crate::exercises::ex05_cancel_aware::run_steps;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::PATIENCE;
use minirpc::{CallContext, Client, RpcError, Server, Status};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NAME: &str = "ex05_cancel_aware";

/// What the starting point fails with.
pub const UNFINISHED: &str = "run_steps() ran all 1000 steps after the caller had gone; check ctx.is_cancelled() before each step";

const STEPS: u32 = 1000;

/// Run the check.
pub fn check() -> Result<(), String> {
    let (started_tx, started) = mpsc::channel::<()>();
    let (done_tx, done) = mpsc::channel::<(u32, Result<u32, Status>)>();
    let (started_tx, done_tx) = (Mutex::new(started_tx), Mutex::new(done_tx));
    let mut server = Server::builder().inline_max(Duration::ZERO).build();
    server.register_with_context("Work", move |ctx: &CallContext, wait: bool| {
        let mut ran = 0;
        let r = run_steps(ctx, STEPS, |i| {
            ran += 1;
            if i == 0 && wait {
                let _ = started_tx.lock().map(|t| t.send(()));
                // Hold the first step until the cancel has arrived.
                let end = Instant::now() + PATIENCE * 4;
                while !ctx.is_cancelled() && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let _ = done_tx
            .lock()
            .map(|t| t.send((ran, r.as_ref().map(|n| *n).map_err(|e| e.status))));
        r
    });
    let handle = server.serve("127.0.0.1:0").map_err(|e| broke(NAME, e))?;
    let client = Arc::new(Client::connect(handle.local_addr()).map_err(|e| broke(NAME, e))?);
    // A caller that stays gets every step.
    let stayed: Result<u32, RpcError> = client.call("Work", &false);
    let _ = done.recv_timeout(PATIENCE);
    if stayed.as_ref().ok() != Some(&STEPS) {
        return Err(broke(
            NAME,
            format!("a call nobody cancelled answered {stayed:?}, expected Ok({STEPS})"),
        ));
    }
    // A caller that leaves during step 0.
    let pending = client.call_async::<_, u32>("Work", &true);
    started
        .recv_timeout(PATIENCE)
        .map_err(|_| broke(NAME, "the handler did not start step 0"))?;
    drop(pending);
    let (ran, result) = done
        .recv_timeout(PATIENCE * 5)
        .map_err(|_| broke(NAME, "the cancelled call did not finish"))?;
    handle.shutdown();
    match (ran, result) {
        (1, Err(Status::Cancelled)) => Ok(()),
        (STEPS, _) => Err(unfinished(NAME, UNFINISHED)),
        (ran, r) => Err(broke(NAME, format!("after a cancel during step 0, {ran} steps ran and run_steps returned {r:?}; expected 1 step and CANCELLED"))),
    }
}
