//! Reconnecting: bounded by each caller's deadline, never a storm.
//!
//! - One reconnect attempt runs at a time, outside every lock: the caller
//!   making it gives up at its own deadline, and the others wait for it no
//!   longer than theirs (a listener whose backlog is full makes the TCP
//!   handshake hang, the worst case for a connect).
//! - A server that accepts the connection and then refuses it (what a
//!   server at `max_connections` does) has not proved the connection good:
//!   the backoff is not reset, so calls fail fast instead of opening one
//!   connection each.

mod client_fakes;

use client_fakes::{echo, refuse, FullBacklog, Peer, PATIENCE, SLACK};
use minirpc::{Client, Status};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn a_reconnect_to_a_listener_with_a_full_backlog_ends_by_each_callers_deadline() {
    let mut listener = FullBacklog::bind();
    let client = Arc::new(
        Client::builder()
            .heartbeat(None)
            .connect_timeout(Duration::from_secs(3))
            .reconnect_backoff(Duration::ZERO, Duration::ZERO)
            .connect(listener.addr())
            .unwrap(),
    );
    listener.accept_one();
    listener.fill();
    // The server goes away; the first call finds out, and reconnecting
    // hangs in the handshake.
    listener.close_accepted();
    let timeout = Duration::from_millis(200);
    let t0 = Instant::now();
    let first = client.call_timeout::<_, u32>("Echo", &1u32, timeout);
    let took = t0.elapsed();
    let e = first.expect_err("the server is gone");
    assert!(
        matches!(e.status, Status::Unavailable | Status::DeadlineExceeded),
        "{e}"
    );
    assert!(
        took < timeout + SLACK,
        "a {timeout:?} call took {took:?}: {e}"
    );

    // Now several callers at once: one attempts, the others wait for it.
    let callers = 4;
    let start = Arc::new(Barrier::new(callers));
    let threads: Vec<_> = (0..callers)
        .map(|i| {
            let (client, start) = (Arc::clone(&client), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let t0 = Instant::now();
                let r = client.call_timeout::<_, u32>("Echo", &(i as u32), timeout);
                (r, t0.elapsed())
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let (r, took) = t.join().unwrap();
        let e = r.expect_err("the server cannot be reached");
        assert!(
            matches!(e.status, Status::Unavailable | Status::DeadlineExceeded),
            "caller {i}: {e}"
        );
        assert!(
            took < timeout + SLACK,
            "caller {i}: a {timeout:?} call took {took:?}: {e}"
        );
    }
    // Nothing about the client is stuck behind the attempt.
    assert_eq!(client.in_flight(), 0);
    assert_eq!(client.server_addr(), listener.addr());
}

#[test]
fn a_server_that_accepts_then_refuses_is_not_flooded_with_connections() {
    let peer = Peer::start(refuse);
    let client = Client::builder()
        .heartbeat(None)
        .reconnect_backoff(Duration::from_secs(1), Duration::from_secs(5))
        .connect(peer.addr())
        .unwrap();
    let mut errors = Vec::new();
    for _ in 0..20 {
        let t0 = Instant::now();
        let e = client
            .call_timeout::<_, u32>("Echo", &1u32, PATIENCE)
            .expect_err("the server refuses every connection");
        assert!(
            t0.elapsed() < SLACK,
            "a refused call took {:?}",
            t0.elapsed()
        );
        errors.push(e);
    }
    assert!(
        peer.accepted() < 4,
        "20 calls opened {} connections despite a 1 s backoff",
        peer.accepted()
    );
    // The first call hears the refusal; the rest are told when to retry.
    assert_eq!(errors[0].status, Status::ResourceExhausted, "{}", errors[0]);
    let last = errors.last().unwrap();
    assert_eq!(last.status, Status::Unavailable, "{last}");
    assert!(last.message.contains("max_connections"), "{last}");
    assert!(last.message.contains("next reconnect attempt"), "{last}");
}

#[test]
fn a_connection_that_answered_reconnects_at_once_after_it_breaks() {
    let peer = Peer::start(echo);
    let client = Client::builder()
        .heartbeat(None)
        .call_timeout(PATIENCE)
        .reconnect_backoff(Duration::from_secs(60), Duration::from_secs(60))
        .connect(peer.addr())
        .unwrap();
    assert_eq!(client.call::<_, u32>("Echo", &1u32), Ok(1));
    drop(peer); // closes the connection
    let e = client.call::<_, u32>("Echo", &2u32).unwrap_err();
    assert_eq!(e.status, Status::Unavailable, "{e}");
    // A good connection broke: the next attempt is not held back by the
    // 60 s backoff (it fails, because nothing listens any more).
    let e = client.call::<_, u32>("Echo", &3u32).unwrap_err();
    assert!(e.message.contains("cannot connect"), "{e}");
    let e = client.call::<_, u32>("Echo", &4u32).unwrap_err();
    assert!(e.message.contains("next reconnect attempt"), "{e}");
}
