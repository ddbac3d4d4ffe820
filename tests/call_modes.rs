//! The client's call modes (模式), specified one behaviour at a time.
//!
//! Request-response, future and callback are three doors into one pending
//! table (see `src/client/table.rs`), so each must behave the same way in the
//! four situations every call can meet:
//!
//! | situation | what the caller must get |
//! |---|---|
//! | the handler returns a value | that value |
//! | the handler returns an error | that error, status and message intact |
//! | the handler is too slow | `DeadlineExceeded`, at the deadline |
//! | the server dies mid-call | `Unavailable`, promptly, not at the deadline |
//!
//! Each of those is a test per mode (`rr_*`, `future_*`, `callback_*`). The
//! rest specify what only one mode promises: a callback runs exactly once
//! and cannot hold up other calls; a oneway call leaves nothing behind and
//! its failures are only counted on the server; futures resolve in any
//! order, drive any executor, and can be waited on in pieces or dropped;
//! the deadline travels to the server, which skips work that is already
//! too late; and a client outlives a restart of its server.
//!
//! No test orders events with a sleep: handlers block on a [`Gate`] and
//! announce that they started on a channel, and every wait is bounded (a
//! hang fails the test after [`PATIENCE`] instead of stalling the run).

mod common;

use common::{raw_connect, read_frame, Gate, Proxy, PATIENCE};
use minirpc::codec::{CodecId, Decode, Encode};
use minirpc::protocol::{self, FrameKind};
use minirpc::{Client, Pending, RpcError, Server, ServerHandle, Status};
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How many handlers a test can hold at once (`Hold(k)` waits on gate `k`).
const GATES: usize = 4;

/// A held handler gives up by itself after this long, so a test that fails
/// before releasing it cannot leave a worker blocked for ever. Longer than
/// any bound a test checks, so the test, not this, decides when it returns.
const HOLD_MAX: Duration = Duration::from_secs(20);

/// "Promptly": how long a call may take to notice its server is gone. Far
/// above the few milliseconds it should take; below any call's timeout.
const PROMPTLY: Duration = Duration::from_secs(3);

/// The error the `Fail` handler returns, which the caller must see unchanged.
fn user_error() -> RpcError {
    RpcError::new(
        Status::NotFound,
        "no user 42 (create it with AddUser first)",
    )
}

// ---- the test server -------------------------------------------------------

/// A server, a client connected to it (directly or through a [`Proxy`]),
/// and the controls for the server's `Hold` handler.
///
/// The call table:
/// - `Multiply(l, r)` returns `l * r`;
/// - `Fail()` returns [`user_error`];
/// - `Hold(k)` sends `k` on [`started`](Fixture::started), then blocks until
///   gate `k` is opened (or [`HOLD_MAX`]) and returns `k`.
struct Fixture {
    client: Arc<Client>,
    server: Option<ServerHandle>,
    proxy: Option<Proxy>,
    gates: Arc<Vec<Gate>>,
    started: mpsc::Receiver<i32>,
}

impl Fixture {
    /// Four workers (so several `Hold`s can run at once) and a 50 ms
    /// shutdown grace (so shutting down with a handler held is quick).
    fn new() -> Fixture {
        Fixture::start(false)
    }

    /// Like [`Fixture::new`], with the client connected through a proxy the
    /// test can cut.
    fn behind_proxy() -> Fixture {
        Fixture::start(true)
    }

    fn start(through_proxy: bool) -> Fixture {
        let gates: Arc<Vec<Gate>> = Arc::new((0..GATES).map(|_| Gate::default()).collect());
        let (started_tx, started) = mpsc::channel();
        let mut server = Server::builder()
            .workers(GATES)
            .shutdown_grace(Duration::from_millis(50))
            .build();
        server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
        server.register("Fail", |(): ()| -> Result<i32, RpcError> {
            Err(user_error())
        });
        {
            let gates = Arc::clone(&gates);
            server.register("Hold", move |k: i32| {
                let _ = started_tx.send(k);
                gates[k as usize].wait(HOLD_MAX);
                Ok(k)
            });
        }
        let server = server.serve("127.0.0.1:0").expect("start the test server");
        let proxy = through_proxy.then(|| Proxy::start(server.local_addr()));
        let target = proxy.as_ref().map_or(server.local_addr(), Proxy::addr);
        let client = Client::builder()
            .connect_timeout(PATIENCE)
            .call_timeout(PATIENCE)
            .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
            .connect(target)
            .expect("connect to the test server");
        Fixture {
            client: Arc::new(client),
            server: Some(server),
            proxy,
            gates,
            started,
        }
    }

    /// Let `Hold(k)` return.
    fn release(&self, k: i32) {
        self.gates[k as usize].open();
    }

    /// Wait until `Hold(k)` is running on the server.
    fn await_started(&self, k: i32) {
        let got = self
            .started
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("Hold({k}) did not start within {PATIENCE:?}"));
        assert_eq!(got, k, "another Hold started first");
    }

    /// Shut the server down on another thread (as a crashing or redeploying
    /// server would, from the client's point of view). Returns that thread.
    fn shut_down_server(&mut self) -> JoinHandle<()> {
        let server = self.server.take().expect("the server is running");
        thread::spawn(move || server.shutdown())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Never leave a worker held: the server's shutdown would wait for it.
        for g in self.gates.iter() {
            g.open();
        }
    }
}

// ---- one helper for the three modes that answer ----------------------------

/// The three call modes that deliver a result.
#[derive(Clone, Copy, Debug)]
enum Mode {
    RequestResponse,
    Future,
    Callback,
}

/// A call started in some [`Mode`], to be collected with
/// [`finish_within`](Started::finish_within).
enum Started<R> {
    /// `Client::call_timeout` blocks, so it runs on its own thread, which
    /// sends the result here.
    Thread(mpsc::Receiver<Result<R, RpcError>>, JoinHandle<()>),
    /// `Client::call_async_timeout`.
    Future(Pending<R>),
    /// `Client::call_with_callback_timeout`; the callback sends the result
    /// here.
    Callback(mpsc::Receiver<Result<R, RpcError>>),
}

/// Start `call_id(args)` in `mode` with a `timeout`.
fn start<A, R>(
    client: &Arc<Client>,
    mode: Mode,
    call_id: &'static str,
    args: A,
    timeout: Duration,
) -> Started<R>
where
    A: Encode + Send + 'static,
    R: Decode + Send + 'static,
{
    match mode {
        Mode::RequestResponse => {
            let (tx, rx) = mpsc::channel();
            let client = Arc::clone(client);
            let t = thread::spawn(move || {
                let _ = tx.send(client.call_timeout(call_id, &args, timeout));
            });
            Started::Thread(rx, t)
        }
        Mode::Future => Started::Future(client.call_async_timeout(call_id, &args, timeout)),
        Mode::Callback => {
            let (tx, rx) = mpsc::channel();
            client.call_with_callback_timeout(call_id, &args, timeout, move |r| {
                let _ = tx.send(r);
            });
            Started::Callback(rx)
        }
    }
}

impl<R: Decode> Started<R> {
    /// The call's result; fails the test if there is none within `bound`.
    fn finish_within(self, bound: Duration) -> Result<R, RpcError> {
        let hang = || panic!("the call did not finish within {bound:?}");
        match self {
            Started::Thread(rx, t) => {
                let r = rx.recv_timeout(bound).unwrap_or_else(|_| hang());
                t.join().expect("the calling thread panicked");
                r
            }
            Started::Future(mut p) => p.wait_timeout(bound).unwrap_or_else(hang),
            Started::Callback(rx) => rx.recv_timeout(bound).unwrap_or_else(|_| hang()),
        }
    }
}

// ---- success ------------------------------------------------------------------

fn returns_the_result(mode: Mode) {
    let f = Fixture::new();
    let r: Result<i32, RpcError> =
        start(&f.client, mode, "Multiply", (6i32, 7i32), PATIENCE).finish_within(PATIENCE);
    assert_eq!(r, Ok(42), "{mode:?}");
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn rr_returns_the_result() {
    returns_the_result(Mode::RequestResponse);
}

#[test]
fn future_returns_the_result() {
    returns_the_result(Mode::Future);
}

#[test]
fn callback_receives_the_result() {
    returns_the_result(Mode::Callback);
}

// ---- handler error --------------------------------------------------------------

fn returns_the_handlers_error_intact(mode: Mode) {
    let f = Fixture::new();
    let r: Result<i32, RpcError> =
        start(&f.client, mode, "Fail", (), PATIENCE).finish_within(PATIENCE);
    assert_eq!(r, Err(user_error()), "{mode:?}");
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn rr_returns_the_handlers_error_with_status_and_message_intact() {
    returns_the_handlers_error_intact(Mode::RequestResponse);
}

#[test]
fn future_returns_the_handlers_error_with_status_and_message_intact() {
    returns_the_handlers_error_intact(Mode::Future);
}

#[test]
fn callback_receives_the_handlers_error_with_status_and_message_intact() {
    returns_the_handlers_error_intact(Mode::Callback);
}

// ---- timeout ------------------------------------------------------------------

/// A call to a handler that does not answer fails with `DeadlineExceeded`,
/// not before its timeout and not long after; the late response is dropped
/// quietly and the connection keeps working.
fn times_out_with_deadline_exceeded(mode: Mode) {
    let f = Fixture::new();
    let timeout = Duration::from_millis(200);
    let t0 = Instant::now();
    let r: Result<i32, RpcError> =
        start(&f.client, mode, "Hold", 0i32, timeout).finish_within(PATIENCE);
    let took = t0.elapsed();
    let e = r.expect_err("a held handler cannot have answered");
    assert_eq!(e.status, Status::DeadlineExceeded, "{mode:?}: {e}");
    assert!(
        took >= timeout,
        "{mode:?}: gave up after {took:?}, before the {timeout:?} timeout"
    );
    assert_eq!(
        f.client.in_flight(),
        0,
        "{mode:?}: a timed-out call left its entry"
    );

    // Now let the late response come back: no one is waiting for it.
    f.await_started(0);
    f.release(0);
    let y: i32 = f.client.call("Multiply", &(2i32, 3i32)).unwrap();
    assert_eq!(y, 6);
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn rr_times_out_with_deadline_exceeded() {
    times_out_with_deadline_exceeded(Mode::RequestResponse);
}

#[test]
fn future_times_out_with_deadline_exceeded() {
    times_out_with_deadline_exceeded(Mode::Future);
}

#[test]
fn callback_times_out_with_deadline_exceeded() {
    times_out_with_deadline_exceeded(Mode::Callback);
}

// ---- the server goes away mid-call -----------------------------------------

/// A call whose handler is running when the server shuts down fails with
/// `Unavailable` soon after the shutdown grace (50 ms) is over, long before
/// its own 10 s timeout.
fn fails_unavailable_when_the_server_shuts_down(mode: Mode) {
    let mut f = Fixture::new();
    let pending = start::<_, i32>(&f.client, mode, "Hold", 0i32, 2 * PATIENCE);
    f.await_started(0);
    let t0 = Instant::now();
    let shutdown = f.shut_down_server();
    let r = pending.finish_within(PROMPTLY);
    let took = t0.elapsed();
    let e = r.expect_err("the held handler cannot have answered");
    assert_eq!(e.status, Status::Unavailable, "{mode:?}: {e}");
    assert!(took < PROMPTLY, "{mode:?}: took {took:?}");
    f.release(0);
    shutdown.join().expect("shutdown panicked");
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn rr_fails_unavailable_when_the_server_shuts_down_mid_call() {
    fails_unavailable_when_the_server_shuts_down(Mode::RequestResponse);
}

#[test]
fn future_fails_unavailable_when_the_server_shuts_down_mid_call() {
    fails_unavailable_when_the_server_shuts_down(Mode::Future);
}

#[test]
fn callback_fails_unavailable_when_the_server_shuts_down_mid_call() {
    fails_unavailable_when_the_server_shuts_down(Mode::Callback);
}

/// The network between client and server fails (the proxy closes both
/// sides) while a handler runs: the call fails with `Unavailable` at once.
fn fails_unavailable_when_the_connection_is_cut(mode: Mode) {
    let f = Fixture::behind_proxy();
    let pending = start::<_, i32>(&f.client, mode, "Hold", 0i32, 2 * PATIENCE);
    f.await_started(0);
    let t0 = Instant::now();
    f.proxy.as_ref().unwrap().cut();
    let e = pending
        .finish_within(PROMPTLY)
        .expect_err("the held handler cannot have answered");
    assert_eq!(e.status, Status::Unavailable, "{mode:?}: {e}");
    assert!(t0.elapsed() < PROMPTLY);
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn rr_fails_unavailable_when_the_connection_is_cut_mid_call() {
    fails_unavailable_when_the_connection_is_cut(Mode::RequestResponse);
}

#[test]
fn future_fails_unavailable_when_the_connection_is_cut_mid_call() {
    fails_unavailable_when_the_connection_is_cut(Mode::Future);
}

#[test]
fn callback_fails_unavailable_when_the_connection_is_cut_mid_call() {
    fails_unavailable_when_the_connection_is_cut(Mode::Callback);
}

// ---- callbacks ------------------------------------------------------------------

#[test]
fn callback_runs_exactly_once_for_each_of_1000_concurrent_calls() {
    const N: usize = 1000;
    const THREADS: usize = 4;
    let f = Fixture::new();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    let (tx, rx) = mpsc::channel::<(usize, Result<i32, RpcError>)>();
    // Four threads issue the calls at once, so they are in flight together
    // and their responses interleave.
    thread::scope(|s| {
        for t in 0..THREADS {
            let (client, runs, tx) = (&f.client, &runs, tx.clone());
            s.spawn(move || {
                for i in (t..N).step_by(THREADS) {
                    let (runs, tx) = (Arc::clone(runs), tx.clone());
                    client.call_with_callback("Multiply", &(i as i32, 3i32), move |r| {
                        runs[i].fetch_add(1, Ordering::SeqCst);
                        let _ = tx.send((i, r));
                    });
                }
            });
        }
    });
    drop(tx);
    let deadline = Instant::now() + PATIENCE;
    for _ in 0..N {
        let left = deadline.saturating_duration_since(Instant::now());
        let (i, r) = rx.recv_timeout(left).unwrap_or_else(|_| {
            let missing = runs
                .iter()
                .filter(|c| c.load(Ordering::SeqCst) == 0)
                .count();
            panic!("{missing} of {N} callbacks did not run within {PATIENCE:?}")
        });
        assert_eq!(r, Ok(3 * i as i32), "call {i}");
    }
    for (i, c) in runs.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), 1, "callback {i}");
    }
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn a_panicking_callback_does_not_stop_later_callbacks() {
    let f = Fixture::new();
    let (ran_tx, ran_rx) = mpsc::channel();
    f.client.call_with_callback(
        "Multiply",
        &(1i32, 1i32),
        move |_r: Result<i32, RpcError>| {
            let _ = ran_tx.send(());
            panic!("this callback panics on purpose (the test expects this message)");
        },
    );
    ran_rx
        .recv_timeout(PATIENCE)
        .expect("the panicking callback did not run");

    let (tx, rx) = mpsc::channel();
    for i in 0..100i32 {
        let tx = tx.clone();
        f.client
            .call_with_callback("Multiply", &(i, 2i32), move |r: Result<i32, RpcError>| {
                let _ = tx.send((i, r));
            });
    }
    let deadline = Instant::now() + PATIENCE;
    let mut seen = [false; 100];
    for _ in 0..100 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (i, r) = rx
            .recv_timeout(left)
            .expect("a callback after the panicking one did not run");
        assert_eq!(r, Ok(2 * i));
        assert!(!seen[i as usize], "callback {i} ran twice");
        seen[i as usize] = true;
    }
    let y: i32 = f.client.call("Multiply", &(4i32, 5i32)).unwrap();
    assert_eq!(y, 20);
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn a_blocked_callback_does_not_hold_up_other_responses() {
    let f = Fixture::new();
    let (blocking_tx, blocking_rx) = mpsc::channel();
    let (unblock_tx, unblock_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    f.client.call_with_callback(
        "Multiply",
        &(1i32, 1i32),
        move |r: Result<i32, RpcError>| {
            let _ = blocking_tx.send(());
            let released = unblock_rx.recv_timeout(HOLD_MAX).is_ok();
            let _ = done_tx.send((released, r));
        },
    );
    blocking_rx
        .recv_timeout(PATIENCE)
        .expect("the blocking callback did not start");

    // While it blocks: a request-response call, a future and ten more
    // callbacks all complete.
    let y: i32 = f.client.call("Multiply", &(4i32, 5i32)).unwrap();
    assert_eq!(y, 20);
    let mut p = f.client.call_async::<_, i32>("Multiply", &(6i32, 5i32));
    assert_eq!(p.wait_timeout(PATIENCE), Some(Ok(30)));
    let (tx, rx) = mpsc::channel();
    for i in 0..10i32 {
        let tx = tx.clone();
        f.client
            .call_with_callback("Multiply", &(i, 3i32), move |r: Result<i32, RpcError>| {
                let _ = tx.send((i, r));
            });
    }
    let deadline = Instant::now() + PATIENCE;
    for _ in 0..10 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (i, r) = rx
            .recv_timeout(left)
            .expect("a callback was held up by the blocked one");
        assert_eq!(r, Ok(3 * i));
    }

    unblock_tx.send(()).unwrap();
    let (released, r) = done_rx
        .recv_timeout(PATIENCE)
        .expect("the blocked callback did not finish");
    assert!(released, "the blocked callback gave up waiting");
    assert_eq!(r, Ok(1));
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn a_callback_for_a_call_that_cannot_connect_runs_on_a_callback_thread() {
    let mut f = Fixture::new();
    f.shut_down_server().join().unwrap();
    // The old connection fails its next call; the one after cannot connect.
    let first = f.client.call::<_, i32>("Multiply", &(1i32, 1i32));
    assert_eq!(first.unwrap_err().status, Status::Unavailable);
    let (tx, rx) = mpsc::channel();
    f.client.call_with_callback(
        "Multiply",
        &(2i32, 2i32),
        move |r: Result<i32, RpcError>| {
            let name = thread::current().name().map(str::to_owned);
            let _ = tx.send((name, r));
        },
    );
    let (name, r) = rx.recv_timeout(PATIENCE).expect("the callback never ran");
    assert_eq!(r.unwrap_err().status, Status::Unavailable);
    let name = name.unwrap_or_default();
    assert!(
        name.starts_with("minirpc-callback"),
        "the callback ran on {name:?}, not on a callback thread"
    );
}

// ---- oneway --------------------------------------------------------------------

#[test]
fn oneway_leaves_nothing_in_the_pending_table() {
    let f = Fixture::new();
    f.client.call_oneway("Hold", &0i32).unwrap();
    assert_eq!(f.client.in_flight(), 0, "right after sending");
    f.await_started(0);
    assert_eq!(f.client.in_flight(), 0, "while its handler runs");
    f.release(0);
    let y: i32 = f.client.call("Multiply", &(3i32, 3i32)).unwrap();
    assert_eq!(y, 9);
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn ten_thousand_oneway_calls_all_reach_the_handler() {
    const N: usize = 10_000;
    let count = Arc::new(AtomicUsize::new(0));
    let (all_tx, all_rx) = mpsc::channel();
    // Oneway calls have no flow control: the client writes as fast as it
    // can. The queue and the connection's cap on calls in flight are made
    // big enough that none is refused as busy, so this tests delivery, not
    // overload (that is `rejected_busy`'s job).
    let mut server = Server::builder()
        .queue_capacity(2 * N)
        .max_in_flight_per_connection(2 * N)
        .build();
    {
        let count = Arc::clone(&count);
        server.register("Tally", move |(): ()| {
            if count.fetch_add(1, Ordering::SeqCst) + 1 == N {
                let _ = all_tx.send(());
            }
            Ok(())
        });
    }
    let server = server.serve("127.0.0.1:0").unwrap();
    let client = Client::connect(server.local_addr()).unwrap();
    for i in 0..N {
        client
            .call_oneway("Tally", &())
            .unwrap_or_else(|e| panic!("oneway call {i} could not be sent: {e}"));
    }
    assert_eq!(client.in_flight(), 0);
    if all_rx.recv_timeout(PATIENCE).is_err() {
        panic!(
            "only {} of {N} oneway calls reached the handler within {PATIENCE:?}; stats: {:?}",
            count.load(Ordering::SeqCst),
            server.stats()
        );
    }
    assert_eq!(count.load(Ordering::SeqCst), N);
    let stats = server.stats();
    assert_eq!(
        (stats.rejected_busy, stats.oneway_failed),
        (0, 0),
        "{stats:?}"
    );
    assert_eq!(client.in_flight(), 0);
}

/// A oneway request frame for `call_id` with no arguments, as raw bytes.
fn oneway_frame(request_id: u64, call_id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let start = protocol::begin_request(
        &mut out,
        FrameKind::Oneway,
        CodecId::Binary,
        request_id,
        call_id,
        0,
        &[],
    );
    protocol::finish_frame(&mut out, start);
    out
}

/// Wait (bounded) until the server has counted `n` failed oneway calls.
/// There is no response to wait on, so this polls the counter.
fn await_oneway_failed(server: &ServerHandle, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    while server.stats().oneway_failed < n {
        assert!(
            Instant::now() < deadline,
            "oneway_failed did not reach {n} within {PATIENCE:?}: {:?}",
            server.stats()
        );
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_failing_oneway_handler_is_counted_on_the_server_and_sends_nothing_back() {
    use std::io::Write;
    let mut server = Server::new();
    server.register("Broken", |(): ()| -> Result<(), RpcError> {
        Err(RpcError::internal("this oneway handler always fails"))
    });
    let server = server.serve("127.0.0.1:0").unwrap();

    // On a raw socket: after the failed oneway call, the next frame the
    // server sends is the answer to our ping, not an error for request 7.
    let mut raw = raw_connect(server.local_addr());
    raw.write_all(&oneway_frame(7, "Broken")).unwrap();
    await_oneway_failed(&server, 1);
    let mut ping = Vec::new();
    protocol::control_frame(&mut ping, FrameKind::Ping, 99);
    raw.write_all(&ping).unwrap();
    let (header, _) = read_frame(&mut raw);
    assert_eq!(
        (header.kind, header.request_id),
        (FrameKind::Pong, 99),
        "the server answered a oneway call: {header:?}"
    );

    // Through the client: the send succeeds, the failure is only counted.
    let client = Client::connect(server.local_addr()).unwrap();
    assert_eq!(client.call_oneway("Broken", &()), Ok(()));
    assert_eq!(client.in_flight(), 0);
    await_oneway_failed(&server, 2);
    assert_eq!(server.stats().oneway_failed, 2);
    assert_eq!(client.in_flight(), 0);
}

// ---- futures --------------------------------------------------------------------

/// A waker that sends on a channel when woken, so a test can wait (bounded)
/// for "this future is ready now".
struct ChannelWaker(mpsc::Sender<()>);

impl Wake for ChannelWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.0.send(());
    }
}

#[test]
fn futures_resolve_in_any_order_and_are_collected_in_start_order() {
    let f = Fixture::new();
    let mut calls: Vec<Pending<i32>> = (0..3i32).map(|k| f.client.call_async("Hold", &k)).collect();
    let mut started: Vec<i32> = (0..3)
        .map(|_| {
            f.started
                .recv_timeout(PATIENCE)
                .expect("a Hold did not start")
        })
        .collect();
    started.sort();
    assert_eq!(started, [0, 1, 2]);
    assert_eq!(f.client.in_flight(), 3);

    // Finish them last first; each is ready when woken, the earlier ones not.
    for k in [2usize, 1, 0] {
        let (tx, rx) = mpsc::channel();
        let waker = Waker::from(Arc::new(ChannelWaker(tx)));
        let polled = Pin::new(&mut calls[k]).poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending(), "call {k} finished before its release");
        f.release(k as i32);
        rx.recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("call {k} was not woken"));
        assert!(calls[k].is_ready(), "call {k} woken but not ready");
        for (j, earlier) in calls.iter().enumerate().take(k) {
            assert!(!earlier.is_ready(), "call {j} is ready before its release");
        }
    }

    for (k, p) in calls.into_iter().enumerate() {
        assert_eq!(p.wait(), Ok(k as i32));
    }
    assert_eq!(f.client.in_flight(), 0);
}

/// The smallest executor there is: poll `fut` on this thread, sleep until
/// its waker is called, poll again. Gives up (`None`) after `limit`.
/// Returns the output and how many times it polled.
fn block_on<F: Future>(fut: F, limit: Duration) -> Option<(F::Output, usize)> {
    struct Flag {
        woken: Mutex<bool>,
        cv: Condvar,
    }
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            *self.woken.lock().unwrap() = true;
            self.cv.notify_one();
        }
    }
    let flag = Arc::new(Flag {
        woken: Mutex::new(false),
        cv: Condvar::new(),
    });
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    let deadline = Instant::now() + limit;
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some((out, polls));
        }
        let mut woken = flag.woken.lock().unwrap();
        while !*woken {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            woken = flag.cv.wait_timeout(woken, deadline - now).unwrap().0;
        }
        *woken = false;
    }
}

/// A future that says (once) when its first poll found it not ready.
struct SaysWhenPending<F> {
    inner: F,
    tell: Option<mpsc::Sender<()>>,
}

impl<F: Future + Unpin> Future for SaysWhenPending<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let r = Pin::new(&mut self.inner).poll(cx);
        if r.is_pending() {
            if let Some(tell) = self.tell.take() {
                let _ = tell.send(());
            }
        }
        r
    }
}

#[test]
fn futures_can_be_awaited_in_an_async_block_on_a_tiny_executor() {
    let mut f = Fixture::new();
    let (told, first_pending) = mpsc::channel();
    let held = SaysWhenPending {
        inner: f.client.call_async::<_, i32>("Hold", &0i32),
        tell: Some(told),
    };
    let product = f.client.call_async::<_, i32>("Multiply", &(6i32, 7i32));
    let both = async {
        let a = held.await;
        let b = product.await;
        (a, b)
    };
    let (started, gates) = (&mut f.started, &f.gates);
    let ((a, b), polls) = thread::scope(|s| {
        // Release the held call from another thread once it runs *and* the
        // executor has found it not ready, so the first `.await` really
        // has to sleep and be woken (whatever the machine's load).
        s.spawn(move || {
            let k = started.recv_timeout(PATIENCE).expect("Hold did not start");
            first_pending
                .recv_timeout(PATIENCE)
                .expect("the held call was never polled");
            gates[k as usize].open();
        });
        block_on(both, PATIENCE).expect("the async block did not finish")
    });
    assert_eq!((a, b), (Ok(0), Ok(42)));
    assert!(polls >= 2, "never had to wait (polled {polls} times)");
    assert_eq!(f.client.in_flight(), 0);
}

/// Wait (bounded) until `p` says it is ready, without taking its result.
fn await_ready<R: Decode>(p: &Pending<R>) {
    let deadline = Instant::now() + PATIENCE;
    while !p.is_ready() {
        assert!(Instant::now() < deadline, "not ready within {PATIENCE:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn pending_can_be_waited_on_in_pieces_then_taken() {
    let f = Fixture::new();
    let mut first = f.client.call_async::<_, i32>("Hold", &0i32);
    let mut second = f.client.call_async::<_, i32>("Hold", &1i32);
    let mut started = [0; 2].map(|_| {
        f.started
            .recv_timeout(PATIENCE)
            .expect("Hold did not start")
    });
    started.sort();
    assert_eq!(started, [0, 1]);

    // Not ready: every way of asking says "not yet", and nothing is lost.
    assert!(!first.is_ready());
    assert_eq!(first.wait_timeout(Duration::from_millis(20)), None);
    assert!(!second.is_ready());
    assert_eq!(second.try_take(), None);
    assert_eq!(f.client.in_flight(), 2);

    // Ready: the same Pendings yield their results, once.
    f.release(0);
    f.release(1);
    assert_eq!(first.wait_timeout(PATIENCE), Some(Ok(0)));
    await_ready(&second);
    assert_eq!(second.try_take(), Some(Ok(1)));
    for p in [&mut first, &mut second] {
        assert!(p.is_ready(), "a spent Pending is ready (with an error)");
        let again = p.try_take().expect("a spent Pending answers at once");
        assert_eq!(again.unwrap_err().status, Status::Cancelled);
    }
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn taking_one_result_does_not_stop_the_reading_for_other_futures() {
    let f = Fixture::new();
    // `held` waits for the background reader: no thread waits on it.
    let mut held = f
        .client
        .call_async_timeout::<_, i32>("Hold", &0i32, 2 * PATIENCE);
    f.await_started(0);
    let mut quick = f.client.call_async::<_, i32>("Multiply", &(2i32, 3i32));
    await_ready(&quick);
    assert_eq!(quick.try_take(), Some(Ok(6)));

    let (tx, rx) = mpsc::channel();
    let waker = Waker::from(Arc::new(ChannelWaker(tx)));
    let polled = Pin::new(&mut held).poll(&mut Context::from_waker(&waker));
    assert!(polled.is_pending(), "Hold finished before its release");
    f.release(0);
    if rx.recv_timeout(PROMPTLY).is_err() {
        // Dropping `held` or the client while failing would touch the same
        // broken bookkeeping again, panic during the unwind and abort the
        // whole test binary; leak them instead.
        std::mem::forget(held);
        std::mem::forget(f);
        panic!("the held call was not woken within {PROMPTLY:?} of its response");
    }
    assert_eq!(held.wait_timeout(PATIENCE), Some(Ok(0)));
    assert_eq!(f.client.in_flight(), 0);
}

#[test]
fn dropping_a_pending_abandons_the_call() {
    let f = Fixture::new();
    let p = f.client.call_async::<_, i32>("Hold", &0i32);
    f.await_started(0);
    assert_eq!(f.client.in_flight(), 1);
    drop(p);
    assert_eq!(f.client.in_flight(), 0);
    // Its response, when it comes, is dropped quietly.
    f.release(0);
    let y: i32 = f.client.call("Multiply", &(7i32, 7i32)).unwrap();
    assert_eq!(y, 49);
    assert_eq!(f.client.in_flight(), 0);
}

// ---- deadlines ------------------------------------------------------------------

#[test]
fn the_calls_deadline_travels_to_the_handler() {
    let mut server = Server::new();
    server.register_with_context("TimeLeft", |ctx, (): ()| {
        Ok(ctx.time_left().map(|d| d.as_micros() as u64))
    });
    let server = server.serve("127.0.0.1:0").unwrap();
    let client = Arc::new(Client::connect(server.local_addr()).unwrap());
    let timeout = Duration::from_secs(2);
    for mode in [Mode::RequestResponse, Mode::Future, Mode::Callback] {
        let left: Option<u64> = start(&client, mode, "TimeLeft", (), timeout)
            .finish_within(PATIENCE)
            .unwrap();
        let left = left.unwrap_or_else(|| panic!("{mode:?}: the handler saw no deadline"));
        assert!(left > 0, "{mode:?}: no time left at all");
        assert!(
            left <= timeout.as_micros() as u64,
            "{mode:?}: {left} µs left is more than the {timeout:?} timeout"
        );
    }
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn a_call_whose_deadline_passes_in_the_servers_queue_is_not_run() {
    let gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let mut server = Server::builder().workers(1).build();
    {
        let gate = Arc::clone(&gate);
        server.register("Block", move |(): ()| {
            let _ = started_tx.send(());
            gate.wait(HOLD_MAX);
            // Stay busy a little longer once released: the queued call's
            // deadline on the server's clock starts when the server read it,
            // slightly after the client's, and must surely be past too.
            thread::sleep(Duration::from_millis(100));
            Ok(())
        });
    }
    {
        let ran = Arc::clone(&ran);
        server.register("Count", move |(): ()| {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    }
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").unwrap();
    let client = Client::connect(server.local_addr()).unwrap();

    // The only worker is busy...
    let mut blocker = client.call_async::<_, ()>("Block", &());
    started_rx
        .recv_timeout(PATIENCE)
        .expect("Block did not start");
    // ...so this call waits in the queue past its deadline.
    let t0 = Instant::now();
    let late = client.call_timeout::<_, ()>("Count", &(), Duration::from_millis(100));
    assert_eq!(late.unwrap_err().status, Status::DeadlineExceeded);
    assert!(t0.elapsed() < PATIENCE);

    gate.open();
    assert_eq!(blocker.wait_timeout(PATIENCE), Some(Ok(())));
    // One worker, a FIFO queue: once this answers, `Count` has been taken
    // off the queue and skipped.
    let y: i32 = client.call("Multiply", &(2i32, 21i32)).unwrap();
    assert_eq!(y, 42);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the late call's handler ran");
    // Skipped either way: dropped as cancelled (the client's cancel frame
    // arrived first, the usual case) or refused for its passed deadline.
    let stats = server.stats();
    assert_eq!(stats.calls_failed + stats.cancelled, 1, "{stats:?}");
    assert_eq!(client.in_flight(), 0);
}

// ---- reconnecting ---------------------------------------------------------------

/// A server with `Multiply` on `addr`.
fn multiply_server(addr: SocketAddr) -> std::io::Result<ServerHandle> {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve(addr)
}

/// A server with `Multiply` on exactly `addr`, retrying (bounded) while the
/// old server's socket still holds the port.
fn restart_on(addr: SocketAddr) -> ServerHandle {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match multiply_server(addr) {
            Ok(h) => return h,
            Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot bind {addr} again: {e}"),
        }
    }
}

fn reconnecting_client(addr: SocketAddr) -> Client {
    Client::builder()
        .call_timeout(PATIENCE)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect(addr)
        .unwrap()
}

#[test]
fn a_client_survives_a_restart_of_its_server_on_the_same_address() {
    let first = multiply_server("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = first.local_addr();
    let client = reconnecting_client(addr);
    assert_eq!(client.call::<_, i32>("Multiply", &(2i32, 3i32)), Ok(6));
    first.shutdown();

    let _second = restart_on(addr);
    // The old connection is dead and the client may be backing off: calls
    // fail fast with Unavailable until it reconnects.
    let deadline = Instant::now() + PATIENCE;
    let mut failures = Vec::new();
    let y = loop {
        match client.call::<_, i32>("Multiply", &(4i32, 5i32)) {
            Ok(y) => break y,
            Err(e) => {
                assert_eq!(e.status, Status::Unavailable, "{e}");
                failures.push(e.message);
                assert!(
                    Instant::now() < deadline,
                    "no reconnect within {PATIENCE:?}; failures: {failures:#?}"
                );
                thread::sleep(Duration::from_millis(5));
            }
        }
    };
    assert_eq!(y, 20);
    assert_eq!(client.call::<_, i32>("Multiply", &(6i32, 7i32)), Ok(42));
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn while_the_server_is_down_calls_fail_fast_and_say_when_it_will_reconnect() {
    let server = multiply_server("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = reconnecting_client(server.local_addr());
    assert_eq!(client.call::<_, i32>("Multiply", &(2i32, 3i32)), Ok(6));
    server.shutdown();

    // The first call finds the old connection closed; every later one tries
    // to reconnect, or is told when the next attempt will be.
    for i in 0..6 {
        let t0 = Instant::now();
        let e = client
            .call::<_, i32>("Multiply", &(1i32, 1i32))
            .expect_err("the server is down");
        assert!(
            t0.elapsed() < PROMPTLY,
            "call {i} hung for {:?}",
            t0.elapsed()
        );
        assert_eq!(e.status, Status::Unavailable, "call {i}: {e}");
        if i > 0 {
            let m = e.message.to_lowercase();
            assert!(
                m.contains("reconnect") || m.contains("retrying"),
                "call {i}: the message does not mention reconnecting: {e}"
            );
        }
    }
    assert_eq!(client.in_flight(), 0);
}
