//! Heartbeats: how each side notices that the other is gone, or is not.
//!
//! A server that vanishes without closing its socket (a pulled cable, a
//! frozen VM) sends no end-of-stream, so a client would wait out every
//! call's timeout. The client pings after an interval of silence and gives
//! up after a few silent intervals (`ClientBuilder::heartbeat`). The server
//! does the mirror image: it closes a connection that has said nothing for
//! its idle timeout (`ServerBuilder::idle_timeout`). These tests pin down
//! both halves:
//!
//! - a peer that accepts the connection and then never answers is declared
//!   dead within a few heartbeats, in every call mode;
//! - a live server is not declared dead just because the client's own
//!   background thread was late to send its pings;
//! - a client whose heartbeats are on keeps an idle connection open past the
//!   server's idle timeout (its pings count as traffic);
//! - a client whose heartbeats are off is disconnected by the server when
//!   idle, and its next call still succeeds.
//!
//! Waiting out an idle period is the subject of two of these tests, so they
//! sleep; everything else waits on a channel, with a bound.

mod common;

use common::PATIENCE;
use minirpc::{Client, RpcError, Server, ServerHandle, Status};
use std::future::Future;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

/// Heartbeat interval of the clients talking to a silent peer.
const INTERVAL: Duration = Duration::from_millis(100);

/// Silent intervals before a silent peer is declared dead.
const MISSES: u32 = 3;

/// A call's own timeout, far longer than heartbeats take to give up: a
/// call that ends near this was not rescued by heartbeats.
const LONG_TIMEOUT: Duration = Duration::from_secs(10);

/// How long heartbeats may take to declare a silent peer dead: about
/// `INTERVAL * MISSES` (300 ms) is expected; this bound only says "well
/// before the call's own timeout".
const DECLARED_DEAD_WITHIN: Duration = Duration::from_secs(2);

// ---- a peer that never answers ------------------------------------------------

/// A "server" that completes the TCP handshake and then never reads or
/// writes a byte: what a client sees when the server's machine froze.
/// Holds the accepted socket open until dropped.
struct SilentPeer {
    _listener: TcpListener,
    _accepted: TcpStream,
}

/// A silent peer, and a client with fast heartbeats connected to it.
fn silent_peer_and_client() -> (SilentPeer, Arc<Client>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::builder()
        .heartbeat(Some((INTERVAL, MISSES)))
        .call_timeout(LONG_TIMEOUT)
        .connect(listener.local_addr().unwrap())
        .expect("TCP connect to the silent peer");
    // The handshake is done, so the connection is already in the backlog;
    // accept it without risking a blocking accept().
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let accepted = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("the silent peer could not accept: {e}"),
        }
    };
    let peer = SilentPeer {
        _listener: listener,
        _accepted: accepted,
    };
    (peer, Arc::new(client))
}

/// The failure every call mode must get from a silent peer.
fn assert_declared_dead(e: &RpcError, took: Duration) {
    assert_eq!(e.status, Status::Unavailable, "{e}");
    assert!(
        e.message.contains("heartbeat"),
        "the message should say heartbeats went unanswered: {e}"
    );
    assert!(
        took < DECLARED_DEAD_WITHIN,
        "took {took:?} to notice the silent peer (heartbeat {INTERVAL:?} x {MISSES})"
    );
}

#[test]
fn rr_call_to_a_silent_peer_fails_unavailable_after_missed_heartbeats() {
    let (_peer, client) = silent_peer_and_client();
    let t0 = Instant::now();
    let e = client
        .call_timeout::<_, i32>("Multiply", &(2i32, 3i32), LONG_TIMEOUT)
        .expect_err("a silent peer cannot answer");
    assert_declared_dead(&e, t0.elapsed());
    assert_eq!(client.in_flight(), 0);
}

/// A waker that sends on a channel when woken.
struct ChannelWaker(mpsc::Sender<()>);

impl Wake for ChannelWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.0.send(());
    }
}

#[test]
fn future_to_a_silent_peer_is_woken_with_unavailable_after_missed_heartbeats() {
    let (_peer, client) = silent_peer_and_client();
    let t0 = Instant::now();
    let mut p = client.call_async_timeout::<_, i32>("Multiply", &(2i32, 3i32), LONG_TIMEOUT);
    // Nobody blocks on it: only the background thread can notice.
    let (tx, rx) = mpsc::channel();
    let waker = Waker::from(Arc::new(ChannelWaker(tx)));
    assert!(Pin::new(&mut p)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    rx.recv_timeout(PATIENCE)
        .expect("the future was never woken");
    let took = t0.elapsed();
    let r = p
        .wait_timeout(Duration::ZERO)
        .expect("woken, so the result is there");
    assert_declared_dead(&r.expect_err("a silent peer cannot answer"), took);
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn callback_to_a_silent_peer_gets_unavailable_after_missed_heartbeats() {
    let (_peer, client) = silent_peer_and_client();
    let t0 = Instant::now();
    let (tx, rx) = mpsc::channel();
    client.call_with_callback_timeout(
        "Multiply",
        &(2i32, 3i32),
        LONG_TIMEOUT,
        move |r: Result<i32, RpcError>| {
            let _ = tx.send(r);
        },
    );
    let r = rx.recv_timeout(PATIENCE).expect("the callback never ran");
    assert_declared_dead(&r.expect_err("a silent peer cannot answer"), t0.elapsed());
    assert_eq!(client.in_flight(), 0);
}

/// A waker that takes `stall` to return, then reports on a channel: an
/// executor whose wake-up path is slow (or a thread the OS did not run for a
/// while). Minirpc calls a future's waker on the thread that read the
/// response, here the client's background thread, which also sends the
/// heartbeats.
struct SlowWaker {
    stall: Duration,
    woken: mpsc::Sender<()>,
}

impl Wake for SlowWaker {
    fn wake(self: Arc<Self>) {
        thread::sleep(self.stall);
        let _ = self.woken.send(());
    }
}

#[test]
fn a_stalled_background_thread_does_not_declare_a_live_server_dead() {
    let (release, held) = mpsc::channel::<()>();
    let held = Mutex::new(held);
    let server = serve_with_idle_timeout(Duration::from_secs(15), |server| {
        server.register("Held", move |x: u64| {
            let _ = held.lock().unwrap().recv_timeout(PATIENCE);
            Ok(x)
        });
    });
    let interval = Duration::from_millis(50);
    let client = connect(server.local_addr(), Some((interval, 3)));
    let port: u16 = client.call("Port", &()).unwrap();
    // A slow call in flight across the stall below.
    let mut slow = client.call_async::<_, u64>("Sleep", &400u64);

    // The background thread reads this future's response and then spends
    // four intervals in its waker, sending no pings meanwhile. The server
    // was never asked and never failed to answer: that is not "3 heartbeats
    // unanswered", and the connection must survive it. (The response is
    // held until the waker is in place.)
    let mut p = client.call_async::<_, u64>("Held", &42u64);
    let (tx, rx) = mpsc::channel();
    let waker = Waker::from(Arc::new(SlowWaker {
        stall: 4 * interval,
        woken: tx,
    }));
    assert!(Pin::new(&mut p)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    release.send(()).unwrap();
    rx.recv_timeout(PATIENCE)
        .expect("the future was never woken");
    assert_eq!(p.wait_timeout(PATIENCE), Some(Ok(42)));

    assert_eq!(
        slow.wait_timeout(PATIENCE),
        Some(Ok(400)),
        "a call to a live server failed"
    );
    let same_port: u16 = client.call("Port", &()).unwrap();
    assert_eq!(
        same_port, port,
        "the client dropped a healthy connection and reconnected"
    );
    assert_eq!(client.in_flight(), 0);
}

// ---- the server's idle timeout -------------------------------------------------

/// A server with `Multiply`; `Port`, which returns the client's port as the
/// server sees it (the same port means the same TCP connection); and
/// `Sleep(ms)`, a slow handler.
fn server_with_idle_timeout(idle: Duration) -> ServerHandle {
    serve_with_idle_timeout(idle, |_| {})
}

/// [`server_with_idle_timeout`], with more methods registered by `more`.
fn serve_with_idle_timeout(idle: Duration, more: impl FnOnce(&mut Server)) -> ServerHandle {
    let mut server = Server::builder().idle_timeout(Some(idle)).build();
    more(&mut server);
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register_with_context("Port", |ctx, (): ()| Ok(ctx.peer().port()));
    server.register("Sleep", |ms: u64| {
        thread::sleep(Duration::from_millis(ms));
        Ok(ms)
    });
    server.serve("127.0.0.1:0").unwrap()
}

/// Wait (bounded) until the server counts `n` open connections. The count
/// changes on the server's own threads with nothing to wait on, so this
/// polls it.
fn await_connections(server: &ServerHandle, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    while server.stats().connections != n {
        assert!(
            Instant::now() < deadline,
            "the server did not reach {n} connections within {PATIENCE:?}: {:?}",
            server.stats()
        );
        thread::sleep(Duration::from_millis(2));
    }
}

fn connect(addr: SocketAddr, heartbeat: Option<(Duration, u32)>) -> Client {
    Client::builder()
        .heartbeat(heartbeat)
        .call_timeout(PATIENCE)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect(addr)
        .unwrap()
}

#[test]
fn an_idle_client_with_heartbeats_is_disconnected_by_the_idle_timeout_and_reconnects() {
    // Pings say "alive", not "using you": the server's idle timeout counts
    // calls only, so a client that only pings is let go like any idle one,
    // and its next call reconnects without an error.
    let idle = Duration::from_millis(300);
    let server = server_with_idle_timeout(idle);
    let client = connect(server.local_addr(), Some((Duration::from_millis(50), 3)));
    await_connections(&server, 1);
    let port: u16 = client.call("Port", &()).unwrap();
    await_connections(&server, 0);
    let y: Result<i32, RpcError> = client.call("Multiply", &(6i32, 7i32));
    assert_eq!(y, Ok(42), "the first call after the idle close");
    let new_port: u16 = client.call("Port", &()).unwrap();
    assert_ne!(new_port, port, "expected a new connection");
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn an_idle_client_without_heartbeats_is_disconnected_and_its_next_call_reconnects() {
    let server = server_with_idle_timeout(Duration::from_millis(200));
    let client = connect(server.local_addr(), None);
    await_connections(&server, 1);
    let port: u16 = client.call("Port", &()).unwrap();

    // Say nothing: the server closes the connection after its idle timeout.
    await_connections(&server, 0);

    let y: Result<i32, RpcError> = client.call("Multiply", &(6i32, 7i32));
    assert_eq!(
        y,
        Ok(42),
        "the first call after the server closed the idle connection"
    );
    let new_port: u16 = client.call("Port", &()).unwrap();
    assert_ne!(new_port, port, "expected a new connection");
    assert_eq!(client.in_flight(), 0);
}
