//! One call's trouble stays with that call.
//!
//! - A request too large for the server fails alone, before it is sent,
//!   with an error naming the limit and the setting; the connection and the
//!   other calls on it carry on.
//! - A waker that panics (someone else's code, run by the thread that read
//!   the response) does not take the connection down.
//! - The idle-connection check never makes a concurrent write fail (it
//!   once switched the socket, which the writer shares, to non-blocking
//!   mode; a client sending only oneway calls lost its connection to it).

mod client_fakes;

use client_fakes::{slow_reader, Peer, PATIENCE};
use minirpc::{Client, Pending, RpcError, Server, ServerHandle, Status};
use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

/// `Len(bytes)` returns how many bytes it got; `Port()` the client's port
/// as the server sees it (the same port means the same connection).
fn server() -> ServerHandle {
    let mut server = Server::new();
    server.register("Len", |bytes: Vec<u8>| Ok(bytes.len() as u64));
    server.register_with_context("Port", |ctx, (): ()| Ok(ctx.peer().port()));
    server.serve("127.0.0.1:0").unwrap()
}

fn client(server: &ServerHandle) -> Client {
    Client::builder()
        .call_timeout(PATIENCE)
        .connect(server.local_addr())
        .unwrap()
}

#[test]
fn an_oversized_request_fails_alone_naming_the_limit_and_the_setting() {
    let server = server();
    let client = client(&server);
    let port: u16 = client.call("Port", &()).unwrap();
    // An innocent call is in flight on the same connection meanwhile.
    let innocent: Pending<u64> = client.call_async("Len", &vec![7u8; 1000]);

    let big = vec![0u8; 5 << 20];
    let e = client.call::<_, u64>("Len", &big).unwrap_err();
    assert_eq!(e.status, Status::ResourceExhausted, "{e}");
    assert!(e.message.contains("max_request_bytes 4194304"), "{e}");
    assert!(
        e.message.contains("ClientBuilder::max_request_bytes"),
        "{e}"
    );

    assert_eq!(innocent.wait(), Ok(1000));
    assert_eq!(client.call::<_, u16>("Port", &()), Ok(port), "reconnected");
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn an_oversized_request_is_refused_in_every_mode_and_never_sent() {
    let server = server();
    let client = Client::builder()
        .max_request_bytes(1024)
        .connect(server.local_addr())
        .unwrap();
    let big = vec![0u8; 2048];
    let refused = |e: RpcError| {
        assert_eq!(e.status, Status::ResourceExhausted, "{e}");
        assert!(e.message.contains("max_request_bytes 1024"), "{e}");
    };
    refused(client.call::<_, u64>("Len", &big).unwrap_err());
    refused(client.call_async::<_, u64>("Len", &big).wait().unwrap_err());
    refused(client.call_oneway("Len", &big).unwrap_err());
    let (tx, rx) = mpsc::channel();
    client.call_with_callback("Len", &big, move |r: Result<u64, RpcError>| {
        let _ = tx.send(r);
    });
    refused(rx.recv_timeout(PATIENCE).unwrap().unwrap_err());
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "ran twice"
    );
    assert_eq!(client.call::<_, u64>("Len", &vec![1u8; 1000]), Ok(1000));
    let stats = server.stats();
    assert_eq!((stats.calls_ok, stats.calls_failed), (1, 0), "{stats:?}");
    assert_eq!(client.in_flight(), 0);
}

/// A waker whose `wake` says so on a channel, then panics.
struct PanickingWaker(Mutex<mpsc::Sender<()>>);

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.0.lock().unwrap().send(());
        panic!("this waker panics (on purpose, in a test)");
    }
}

#[test]
fn a_panicking_waker_does_not_take_the_connection_down() {
    let (release, held) = mpsc::channel::<()>();
    let held = Mutex::new(held);
    let mut server = Server::new();
    server.register_with_context("Port", |ctx, (): ()| Ok(ctx.peer().port()));
    server.register("Held", move |x: u64| {
        let _ = held.lock().unwrap().recv_timeout(PATIENCE);
        Ok(x)
    });
    let server = server.serve("127.0.0.1:0").unwrap();
    let client = client(&server);
    let port: u16 = client.call("Port", &()).unwrap();

    // The response comes only after the waker is in place. Nobody blocks
    // on the future, so the background thread reads it and runs the waker.
    let mut p: Pending<u64> = client.call_async("Held", &3u64);
    let (woken_tx, woken) = mpsc::channel();
    let waker = Waker::from(Arc::new(PanickingWaker(Mutex::new(woken_tx))));
    let poll = Pin::new(&mut p).poll(&mut Context::from_waker(&waker));
    assert!(poll.is_pending());
    release.send(()).unwrap();
    woken.recv_timeout(PATIENCE).expect("the waker never ran");
    assert_eq!(p.try_take(), Some(Ok(3)));

    // Later calls in every mode still work, on the same connection.
    let short = Duration::from_secs(2);
    assert_eq!(client.call_timeout::<_, u16>("Port", &(), short), Ok(port));
    let (tx, rx) = mpsc::channel();
    client.call_with_callback("Port", &(), move |r: Result<u16, RpcError>| {
        let _ = tx.send(r);
    });
    assert_eq!(rx.recv_timeout(PATIENCE), Ok(Ok(port)));
    assert_eq!(client.in_flight(), 0);
}

const PAUSE: Duration = Duration::from_micros(50);
const CHUNK: usize = 16 * 1024;
const THREADS: usize = 4;
const CALLS: usize = 20_000;
const PAYLOAD: usize = 1024;

#[test]
fn the_idle_check_never_fails_a_concurrent_oneway_write() {
    let (seen_tx, seen) = mpsc::channel();
    let peer = Peer::start(slow_reader(PAUSE, CHUNK, seen_tx));
    let client = Arc::new(
        Client::builder()
            .heartbeat(None)
            .connect(peer.addr())
            .unwrap(),
    );
    // Nothing ever comes back, so once the connection has been quiet for a
    // moment it looks idle to every call. The peer reads slowly, so the
    // socket's buffer is full and every write blocks (a write that started
    // in non-blocking mode would fail).
    thread::sleep(Duration::from_millis(150));
    let (threads, calls) = (THREADS, CALLS);
    let senders: Vec<_> = (0..threads)
        .map(|_| {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                let payload = vec![0u8; PAYLOAD];
                (0..calls)
                    .map(|_| client.call_oneway("Sink", &payload))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut sent = 0;
    for s in senders {
        for r in s.join().unwrap() {
            match r {
                Ok(()) => sent += 1,
                // The send buffer is full: that call alone is refused, and
                // says so. Any other error means the connection broke.
                Err(e) => assert_eq!(e.status, Status::ResourceExhausted, "{e}"),
            }
        }
    }
    assert!(sent > 0);
    assert_eq!(peer.accepted(), 1, "the connection broke and was remade");
    drop(client);
    let n = seen
        .recv_timeout(PATIENCE)
        .expect("the peer never finished");
    assert_eq!(n, sent, "frames that reached the server");
}
