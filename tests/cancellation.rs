//! Cancellation reaches the server: a call that times out, or a future
//! that is dropped, sends a cancel frame (kind 6), and the server drops
//! the call if it has not started, or tells the running handler
//! (`CallContext::is_cancelled`).

use minirpc::{CallContext, Client, Server, ServerHandle, Status};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(5);

/// A server whose `Watch` runs until it is cancelled (bounded), then
/// reports whether it saw the cancel.
fn serve(seen: mpsc::Sender<bool>, started: mpsc::Sender<()>) -> ServerHandle {
    let seen = Mutex::new(seen);
    let started = Mutex::new(started);
    let mut server = Server::builder().inline_max(Duration::ZERO).build();
    server.register_with_context("Watch", move |ctx: &CallContext, (): ()| {
        started.lock().unwrap().send(()).unwrap();
        let until = Instant::now() + PATIENCE;
        while !ctx.is_cancelled() && Instant::now() < until {
            thread::sleep(Duration::from_millis(2));
        }
        seen.lock().unwrap().send(ctx.is_cancelled()).unwrap();
        Ok(())
    });
    server.serve("127.0.0.1:0").unwrap()
}

#[test]
fn dropping_a_future_cancels_the_call_on_the_server() {
    let (seen_tx, seen_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let server = serve(seen_tx, started_tx);
    let client = Client::builder()
        .call_timeout(Duration::from_secs(60))
        .connect(server.local_addr())
        .unwrap();
    let pending = client.call_async::<_, ()>("Watch", &());
    started_rx
        .recv_timeout(PATIENCE)
        .expect("Watch did not start");
    drop(pending);
    // The call's own deadline is a minute away: only a cancel frame can
    // tell the handler this soon.
    assert_eq!(
        seen_rx.recv_timeout(PATIENCE),
        Ok(true),
        "the handler ran on, never told that its caller left"
    );
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn a_handler_learns_that_its_caller_timed_out() {
    // The handler sees `is_cancelled` once the client gives up: from the
    // cancel frame, or at the latest from the deadline the request carried.
    let (seen_tx, seen_rx) = mpsc::channel();
    let (started_tx, started_rx) = mpsc::channel();
    let server = serve(seen_tx, started_tx);
    let client = Client::connect(server.local_addr()).unwrap();
    let t = thread::spawn(move || {
        client.call_timeout::<_, ()>("Watch", &(), Duration::from_millis(200))
    });
    started_rx
        .recv_timeout(PATIENCE)
        .expect("Watch did not start");
    assert_eq!(seen_rx.recv_timeout(PATIENCE), Ok(true));
    // The caller's own result: usually DeadlineExceeded; it may also be the
    // handler's Ok(()) if that answer arrived exactly at the deadline.
    match t.join().unwrap() {
        Ok(()) => {}
        Err(e) => assert_eq!(e.status, Status::DeadlineExceeded, "{e}"),
    }
}

// That a cancelled call still waiting in the queue is dropped unrun is a
// server property, tested with raw frames in tests/server_hardening.rs
// (`a_cancelled_queued_call_is_dropped_and_a_running_handler_sees_it`).
