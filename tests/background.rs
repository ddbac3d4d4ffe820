//! The client's background thread owns the deadlines of futures and
//! callbacks, and the server's shutdown is bounded even when a call runs on
//! a connection's reader. Regression tests for defects a review found.

use minirpc::{Client, Pending, RpcError, Server, Status};
use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(10);

/// A server whose `Block` call says it started, then waits until the test
/// releases it (bounded); its `Echo` answers at once.
fn server() -> (minirpc::ServerHandle, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::builder()
        .shutdown_grace(Duration::from_millis(300))
        .build();
    server.register("Block", move |x: u32| {
        let _ = started_tx.lock().unwrap().send(());
        let _ = release_rx.lock().unwrap().recv_timeout(PATIENCE);
        Ok(x)
    });
    server.register("Echo", |x: u32| Ok(x));
    (server.serve("127.0.0.1:0").unwrap(), release_tx, started_rx)
}

#[test]
fn a_short_callback_expires_on_time_while_the_background_thread_reads_for_a_long_one() {
    let (handle, release, _started) = server();
    let client = Client::builder()
        .heartbeat(None)
        .connect(handle.local_addr())
        .unwrap();
    // A long callback keeps the background thread reading (20 s deadline).
    let (tx, rx) = mpsc::channel();
    let long_tx = tx.clone();
    client.call_with_callback_timeout(
        "Block",
        &1u32,
        Duration::from_secs(20),
        move |r: Result<u32, RpcError>| long_tx.send(("long", r)).unwrap(),
    );
    // Then a short one, whose answer will not come in time.
    let started = Instant::now();
    client.call_with_callback_timeout(
        "Block",
        &2u32,
        Duration::from_millis(200),
        move |r: Result<u32, RpcError>| tx.send(("short", r)).unwrap(),
    );
    let (which, result) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(which, "short");
    assert_eq!(result.unwrap_err().status, Status::DeadlineExceeded);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a 200 ms callback expired only after {:?}",
        started.elapsed()
    );
    release.send(()).unwrap();
    release.send(()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap().1.unwrap(), 1);
}

/// A waker whose `wake` (run by the client's background thread) says it
/// has started, then waits for the test's go-ahead.
struct SlowWaker {
    entered: Mutex<mpsc::Sender<()>>,
    go: Mutex<mpsc::Receiver<()>>,
}

impl Wake for SlowWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self.go.lock().unwrap().recv_timeout(PATIENCE);
    }
}

#[test]
fn a_call_made_while_the_background_thread_is_busy_is_not_forgotten() {
    let (handle, release, _started) = server();
    let client = Client::builder()
        .heartbeat(None)
        .connect(handle.local_addr())
        .unwrap();
    // A future that will expire, polled with a waker that blocks the
    // background thread (which runs it) until we say go.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let waker = Waker::from(Arc::new(SlowWaker {
        entered: Mutex::new(entered_tx),
        go: Mutex::new(go_rx),
    }));
    let mut pending: Pending<u32> =
        client.call_async_timeout("Block", &1u32, Duration::from_millis(100));
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut pending).poll(&mut cx).is_pending());
    entered_rx.recv_timeout(PATIENCE).unwrap();

    // While the background thread is inside `wake`, start a callback call.
    let (tx, rx) = mpsc::channel();
    client.call_with_callback_timeout(
        "Echo",
        &7u32,
        Duration::from_secs(1),
        move |r: Result<u32, RpcError>| tx.send(r).unwrap(),
    );
    go_tx.send(()).unwrap();
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the callback never ran: its notification was lost");
    assert_eq!(r.unwrap(), 7);
    release.send(()).unwrap();
    drop(pending);
}

#[test]
fn shutdown_is_bounded_even_when_a_call_runs_on_a_connections_reader() {
    let (handle, release, started) = server();
    let client = Arc::new(Client::connect(handle.local_addr()).unwrap());
    // Prove `Block` fast (released at once each time) so it runs inline.
    for i in 0..20 {
        release.send(()).unwrap();
        assert_eq!(client.call::<_, u32>("Block", &i).unwrap(), i);
    }
    // Now one call blocks on the reader thread.
    let stuck = {
        let client = Arc::clone(&client);
        std::thread::spawn(move || client.call::<_, u32>("Block", &99))
    };
    // Wait until the server is inside it.
    for _ in 0..=20 {
        started.recv_timeout(PATIENCE).unwrap();
    }
    let began = Instant::now();
    handle.shutdown();
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "shutdown with a 300 ms grace took {took:?}"
    );
    // The stuck caller hears about it: its connection was closed.
    let r = stuck.join().unwrap();
    assert_eq!(r.unwrap_err().status, Status::Unavailable);
    drop(release);
}
