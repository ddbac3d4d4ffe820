//! Every call ends by its deadline: whoever reads, whatever the server
//! sends, whatever `Duration` the caller picks.
//!
//! - A response that trickles in one byte at a time, or whose length field
//!   was corrupted on the way, must not hold a call past its deadline: a
//!   frame still incomplete at the earliest deadline of the calls waiting
//!   breaks the connection, and every call on it fails then.
//! - Any `Duration` is a valid timeout or heartbeat setting:
//!   `Duration::MAX` means "no end", never a panic.
//!
//! Bounds here are "the deadline plus [`SLACK`]": proof that a call did not
//! hang, not a measurement of speed.

mod client_fakes;

use client_fakes::{trickle, CorruptingProxy, Peer, PATIENCE, SLACK};
use minirpc::transport::FrameReader;
use minirpc::{Client, Pending, RpcError, Server, Status};
use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(300);

/// A peer whose every answer takes several seconds to arrive in full.
fn trickling_peer() -> Peer {
    Peer::start(trickle(Duration::from_millis(5), 600))
}

fn client_of(peer: &Peer) -> Client {
    Client::builder()
        .heartbeat(None)
        .connect(peer.addr())
        .expect("connect to the fake peer")
}

fn assert_failed_in_time(r: Result<String, RpcError>, started: Instant, timeout: Duration) {
    let took = started.elapsed();
    let e = match r {
        Err(e) => e,
        Ok(answer) => panic!(
            "a {timeout:?} call got its {}-byte answer after {took:?}: it waited for the whole trickle",
            answer.len()
        ),
    };
    assert!(
        matches!(e.status, Status::DeadlineExceeded | Status::Unavailable),
        "{e}"
    );
    assert!(
        took < timeout + SLACK,
        "a {timeout:?} call ended only after {took:?}: {e}"
    );
}

#[test]
fn a_call_waiting_on_a_trickling_response_returns_by_its_deadline() {
    let peer = trickling_peer();
    let client = client_of(&peer);
    let t0 = Instant::now();
    let r = client.call_timeout::<_, String>("Echo", &1u32, SHORT);
    assert_failed_in_time(r, t0, SHORT);
}

#[test]
fn a_callback_waiting_on_a_trickling_response_runs_by_its_deadline() {
    // No thread waits: the background thread is the one reading.
    let peer = trickling_peer();
    let client = client_of(&peer);
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    client.call_with_callback_timeout("Echo", &1u32, SHORT, move |r: Result<String, RpcError>| {
        let _ = tx.send(r);
    });
    let r = rx.recv_timeout(PATIENCE).expect("the callback never ran");
    assert_failed_in_time(r, t0, SHORT);
}

#[test]
fn a_frame_late_for_one_call_fails_the_other_calls_on_the_connection_at_once() {
    let peer = trickling_peer();
    let client = Arc::new(client_of(&peer));
    // A patient future, stuck behind the same trickling frame.
    let mut patient: Pending<String> = client.call_async_timeout("Echo", &1u32, PATIENCE);
    let t0 = Instant::now();
    let r = client.call_timeout::<_, String>("Echo", &2u32, SHORT);
    assert_failed_in_time(r, t0, SHORT);
    let other = patient
        .wait_timeout(PATIENCE)
        .expect("the patient call is still waiting");
    let e = match other {
        Err(e) => e,
        Ok(_) => panic!(
            "the patient call waited {:?} for its answer behind the late frame",
            t0.elapsed()
        ),
    };
    assert!(
        t0.elapsed() < SHORT + SLACK,
        "the patient call failed only after {:?}: {e}",
        t0.elapsed()
    );
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn a_response_whose_length_was_corrupted_fails_its_call_and_the_rest_by_the_deadline() {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").unwrap();
    let (corrupted_tx, corrupted) = mpsc::channel();
    let proxy = CorruptingProxy::start(server.local_addr(), corrupted_tx);
    let client = Arc::new(
        Client::builder()
            .heartbeat(Some((Duration::from_secs(1), 3)))
            .call_timeout(PATIENCE)
            .connect(proxy.addr())
            .unwrap(),
    );
    assert_eq!(client.call::<_, i32>("Multiply", &(2, 3)), Ok(6));

    // This call's response claims 1 MiB more than it has: everything the
    // server sends after it is read as its body.
    proxy.arm();
    let timeout = Duration::from_secs(1);
    let t0 = Instant::now();
    let victim = {
        let client = Arc::clone(&client);
        thread::spawn(move || client.call_timeout::<_, i32>("Multiply", &(4, 5), timeout))
    };
    corrupted
        .recv_timeout(PATIENCE)
        .expect("nothing was corrupted");

    // Other calls keep bytes flowing behind it, each a callback with a
    // long timeout that reports when it ends.
    let (done_tx, done) = mpsc::channel();
    let mut started = 0i32;
    while !victim.is_finished() && t0.elapsed() < PATIENCE {
        let done_tx = done_tx.clone();
        client.call_with_callback(
            "Multiply",
            &(1, started),
            move |r: Result<i32, RpcError>| {
                let _ = done_tx.send(r);
            },
        );
        started += 1;
        thread::sleep(Duration::from_millis(20));
    }
    let r = victim.join().unwrap();
    let took = t0.elapsed();
    let e = r.expect_err("its response was corrupted");
    assert!(
        took < timeout + SLACK,
        "a 1 s call ended after {took:?}: {e}"
    );
    for i in 0..started {
        let r = done.recv_timeout(PATIENCE).expect("a callback never ran");
        // The ones sent before the connection broke fail with it; the
        // ones after go on a new connection and may succeed.
        if let Err(e) = r {
            assert_eq!(e.status, Status::Unavailable, "callback {i}: {e}");
        }
    }
    assert!(
        t0.elapsed() < timeout + SLACK,
        "the calls behind the corrupt frame ended only after {:?}",
        t0.elapsed()
    );
    assert_eq!(client.call::<_, i32>("Multiply", &(6, 7)), Ok(42));
}

#[test]
fn mid_frame_says_a_read_stopped_inside_a_frame() {
    let mut bytes = client_fakes::ok_response(1, b"abc");
    let whole = bytes.len();
    bytes.extend_from_slice(&client_fakes::ok_response(2, b"de"));
    let mut r = FrameReader::new(&bytes[..whole + 5], 1024);
    assert!(!r.mid_frame(), "nothing read yet");
    assert_eq!(r.read_frame().unwrap().header.request_id, 1);
    assert!(r.mid_frame(), "5 bytes of the second frame are buffered");
    let mut r = FrameReader::new(&bytes[..whole], 1024);
    r.read_frame().unwrap();
    assert!(!r.mid_frame(), "it stopped between frames");
}

// ---- ordinary durations never panic --------------------------------------------

/// A server whose `TimeLeft` returns how many seconds the call's deadline,
/// as the server received it, leaves.
fn time_left_server() -> minirpc::ServerHandle {
    let mut server = Server::new();
    server.register_with_context("TimeLeft", |ctx, (): ()| {
        Ok(ctx.time_left().map(|d| d.as_secs()))
    });
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").unwrap()
}

/// A timeout sent on the wire saturates at `u32::MAX` ms (about 49 days).
fn assert_saturated(left: Option<u64>) {
    let days_49 = u64::from(u32::MAX) / 1000 - 60;
    assert!(left.is_some_and(|s| s >= days_49), "{left:?}");
}

#[test]
fn a_call_with_a_timeout_of_duration_max_waits_without_a_deadline() {
    let server = time_left_server();
    let client = Client::builder()
        .connect_timeout(Duration::MAX)
        .write_timeout(Duration::MAX)
        .call_timeout(Duration::MAX)
        .connect(server.local_addr())
        .unwrap();
    assert_saturated(client.call("TimeLeft", &()).unwrap());
    assert_saturated(client.call_timeout("TimeLeft", &(), Duration::MAX).unwrap());
    client.call_oneway("Multiply", &(1, 2)).unwrap();
}

#[test]
fn a_future_with_a_timeout_of_duration_max_can_be_waited_on_for_duration_max() {
    let server = time_left_server();
    let client = Client::connect(server.local_addr()).unwrap();
    let mut p = client.call_async_timeout::<_, Option<u64>>("TimeLeft", &(), Duration::MAX);
    let left = p.wait_timeout(Duration::MAX).expect("no limit").unwrap();
    assert_saturated(left);
    let p = client.call_async_timeout::<_, i32>("Multiply", &(6, 7), Duration::MAX);
    assert_eq!(p.wait(), Ok(42));
}

#[test]
fn a_callback_with_a_timeout_of_duration_max_runs_with_its_result() {
    let server = time_left_server();
    let client = Client::connect(server.local_addr()).unwrap();
    let (tx, rx) = mpsc::channel();
    client.call_with_callback_timeout("TimeLeft", &(), Duration::MAX, move |r| {
        let _ = tx.send(r);
    });
    let left: Result<Option<u64>, RpcError> = rx.recv_timeout(PATIENCE).expect("never ran");
    assert_saturated(left.unwrap());
}

/// A waker that reports on a channel.
struct ChannelWaker(mpsc::Sender<()>);

impl Wake for ChannelWaker {
    fn wake(self: Arc<Self>) {
        let _ = self.0.send(());
    }
}

#[test]
fn heartbeat_settings_too_large_to_multiply_do_not_stop_futures_or_callbacks() {
    let server = time_left_server();
    for (interval, misses) in [
        (Duration::MAX, 3),
        (Duration::from_secs(u64::MAX / 4), u32::MAX),
    ] {
        let client = Client::builder()
            .heartbeat(Some((interval, misses)))
            .connect(server.local_addr())
            .unwrap();
        // Both are delivered by the background thread, which runs the
        // heartbeat rule on every round.
        let (tx, rx) = mpsc::channel();
        client.call_with_callback("Multiply", &(2, 3), move |r: Result<i32, RpcError>| {
            let _ = tx.send(r);
        });
        let r = rx.recv_timeout(PATIENCE);
        assert_eq!(r, Ok(Ok(6)), "heartbeat {interval:?} x {misses}");
        let mut p: Pending<i32> = client.call_async("Multiply", &(6, 7));
        let (tx, woken) = mpsc::channel();
        let waker = Waker::from(Arc::new(ChannelWaker(tx)));
        let mut cx = Context::from_waker(&waker);
        let r = match Pin::new(&mut p).poll(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => {
                woken
                    .recv_timeout(PATIENCE)
                    .expect("the future was never woken");
                p.try_take().expect("woken, so the result is there")
            }
        };
        assert_eq!(r, Ok(42));
    }
}

/// A listener that accepts one connection and never reads from it: once
/// the kernel's buffers are full, every write to it blocks. It holds the
/// connection open until dropped (or for 30 s at most).
struct NeverReads {
    addr: std::net::SocketAddr,
    done: Option<mpsc::Sender<()>>,
    holder: Option<thread::JoinHandle<()>>,
}

impl NeverReads {
    fn start() -> NeverReads {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (done, until_done) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            let conn = listener.accept();
            let _ = until_done.recv_timeout(Duration::from_secs(30));
            drop(conn);
        });
        NeverReads {
            addr,
            done: Some(done),
            holder: Some(holder),
        }
    }
}

impl Drop for NeverReads {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(h) = self.holder.take() {
            let _ = h.join();
        }
    }
}

#[test]
fn a_call_to_a_server_that_stopped_reading_ends_by_its_deadline_not_write_timeout() {
    // Once the kernel's buffers are full, every write blocks. With writes
    // bounded only by write_timeout (10 s by default) a 300 ms call waited
    // 10 s.
    let server = NeverReads::start();
    let addr = server.addr;
    let client = minirpc::Client::builder()
        .heartbeat(None)
        .connect(addr)
        .unwrap();
    let big = vec![7u8; 3 << 20];
    let timeout = std::time::Duration::from_millis(300);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let started = std::time::Instant::now();
                let r = client.call_timeout::<_, ()>("Sink", &big, timeout);
                let took = started.elapsed();
                assert!(r.is_err(), "a server that never reads answered");
                assert!(
                    took < timeout + SLACK,
                    "a {timeout:?} call took {took:?}: {r:?}"
                );
            });
        }
    });
    drop(client);
    drop(server);
}

#[test]
fn calls_that_find_the_send_buffer_full_wait_for_room_instead_of_failing() {
    // The client's send buffer holds 8 MiB here (8 frames of the largest
    // response it accepts). A server that reads slower than the callers
    // send used to make every call over that fail at once with "send
    // buffer full", though the server was reading: 64 threads echoing
    // 1 MiB each on one client lost a third of their calls. Now a call
    // waits for room, until its own deadline.
    let peer = Peer::start(|stream| {
        thread::sleep(Duration::from_millis(1500)); // not reading, yet
        client_fakes::echo(stream);
    });
    let client = Client::builder()
        .max_frame_bytes(1 << 20 | 4096)
        .call_timeout(PATIENCE)
        .heartbeat(None)
        .connect(peer.addr())
        .unwrap();
    let arg = vec![7u8; 1 << 20];
    let failed: Vec<String> = thread::scope(|s| {
        let calls: Vec<_> = (0..24)
            .map(|_| s.spawn(|| client.call::<_, Vec<u8>>("Echo", &arg)))
            .collect();
        calls
            .into_iter()
            .filter_map(|c| match c.join().unwrap() {
                Ok(back) if back == arg => None,
                Ok(_) => Some("a different answer".to_owned()),
                Err(e) => Some(e.to_string()),
            })
            .collect()
    });
    assert!(
        failed.is_empty(),
        "{} of 24 calls failed: {failed:?}",
        failed.len()
    );
}

#[test]
fn a_call_waiting_for_room_in_the_send_buffer_ends_by_its_deadline() {
    let server = NeverReads::start();
    let addr = server.addr;
    let client = Client::builder()
        .max_frame_bytes(1 << 20)
        .heartbeat(None)
        .connect(addr)
        .unwrap();
    let arg = vec![7u8; 1 << 20];
    let long = Duration::from_secs(3);
    thread::scope(|s| {
        // Calls with a long deadline fill the kernel's buffers and the
        // client's 8 MiB, and the ones behind them wait for room.
        for _ in 0..24 {
            s.spawn(|| client.call_timeout::<_, ()>("Sink", &arg, long));
        }
        thread::sleep(Duration::from_millis(500));
        // A short call behind them all ends by its own deadline.
        let started = Instant::now();
        let e = client
            .call_timeout::<_, ()>("Sink", &arg, SHORT)
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.status, Status::DeadlineExceeded, "{e}");
        assert!(e.message.contains("send buffer stayed full"), "{e}");
        assert!(
            took < SHORT + SLACK,
            "a {SHORT:?} call ended after {took:?}"
        );
    });
    drop(client);
    drop(server);
}

#[test]
fn a_call_made_from_a_callback_does_not_wait_for_room() {
    // A callback runs on one of the client's two callback threads. A call
    // it makes that waited for room in a full send buffer held that thread,
    // and every callback queued behind it, until the call's deadline (a
    // review saw callbacks run 28 s late). It is refused at once instead,
    // as every call was before calls learned to wait.
    let server = NeverReads::start();
    let client = Client::builder()
        .max_frame_bytes(1 << 20)
        .heartbeat(None)
        .connect(server.addr)
        .unwrap();
    let arg = vec![7u8; 1 << 20];
    let long = Duration::from_secs(3);
    let (tx, rx) = mpsc::channel();
    thread::scope(|s| {
        for _ in 0..24 {
            s.spawn(|| client.call_timeout::<_, ()>("Sink", &arg, long));
        }
        thread::sleep(Duration::from_millis(500)); // the buffer is full now
        let nested = client.clone();
        let big = arg.clone();
        client.call_with_callback_timeout("Sink", &(), SHORT, move |_: Result<(), RpcError>| {
            let started = Instant::now();
            let r = nested.call_timeout::<_, ()>("Sink", &big, long);
            let _ = tx.send((r, started.elapsed()));
        });
        let (r, took) = rx.recv_timeout(PATIENCE).expect("the callback ran");
        let e = r.unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted, "{e}");
        assert!(
            took < Duration::from_secs(1),
            "the nested call waited {took:?}: {e}"
        );
    });
    drop(client);
    drop(server);
}
