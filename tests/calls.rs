//! Calls through the `Client` API: many at once on one connection,
//! timeouts, errors, shutdown, and connections that die under a call.
//!
//! Handlers that must be "slow" block on a [`Gate`] the test opens, and
//! signal "I am running" on a channel, so the tests order events with
//! signals rather than sleeps. Every wait is bounded by [`PATIENCE`].

mod common;

use common::{
    assert_serves, multiply_args, raw_connect, read_frame, read_response,
    request_frame_with_timeout, send, Gate, Proxy, PATIENCE,
};
use minirpc::protocol::{self, FrameKind};
use minirpc::{Client, RpcError, Server, Status};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn multiply(server: &mut Server) {
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
}

/// Register `Block`: it reports on `started` that it is running, then waits
/// for `gate` (at most `max`), then returns 0.
fn block(server: &mut Server, gate: &Arc<Gate>, started: mpsc::Sender<()>, max: Duration) {
    let gate = Arc::clone(gate);
    server.register("Block", move |(): ()| {
        let _ = started.send(());
        gate.wait(max);
        Ok(0i32)
    });
}

/// A client whose calls wait at most [`PATIENCE`] unless told otherwise.
fn patient_client(addr: std::net::SocketAddr) -> Client {
    Client::builder()
        .call_timeout(PATIENCE)
        .connect(addr)
        .expect("connect to the test server")
}

/// Wait for `n` handlers to report that they are running.
fn wait_started(started: &mpsc::Receiver<()>, n: usize) {
    for i in 0..n {
        started
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("only {i} of {n} handlers started"));
    }
}

// ---- many calls on one connection -------------------------------------------

#[test]
fn eight_threads_share_one_client_for_8000_calls_and_every_answer_is_their_own() {
    let mut server = Server::new();
    multiply(&mut server);
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = patient_client(handle.local_addr());

    thread::scope(|s| {
        for t in 0..8i32 {
            let client = &client;
            s.spawn(move || {
                for i in 0..1000i32 {
                    // Every (t, i) gives a different answer, so a response
                    // handed to the wrong caller would be caught.
                    let l = t * 1000 + i;
                    let y: i32 = client.call("Multiply", &(l, 3)).unwrap();
                    assert_eq!(y, l * 3, "thread {t}, call {i}");
                }
            });
        }
    });
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn a_slow_call_does_not_hold_up_fast_calls_on_the_same_connection() {
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let mut server = Server::new();
    multiply(&mut server);
    block(&mut server, &gate, started_tx, PATIENCE);
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = patient_client(handle.local_addr());

    let (done_tx, done) = mpsc::channel::<&'static str>();
    thread::scope(|s| {
        let slow_done = done_tx.clone();
        let c = &client;
        s.spawn(move || {
            let _: i32 = c.call("Block", &()).unwrap();
            slow_done.send("slow").unwrap();
        });
        wait_started(&started, 1);

        for t in 0..4i32 {
            let fast_done = done_tx.clone();
            s.spawn(move || {
                for i in 0..25i32 {
                    let y: i32 = c.call("Multiply", &(i, t)).unwrap();
                    assert_eq!(y, i * t);
                }
                fast_done.send("fast").unwrap();
            });
        }
        // The slow call cannot finish until the gate opens, and the gate
        // opens only after every fast caller is done: if the fast calls
        // queued behind the slow one, they would never report.
        let mut order = Vec::new();
        for _ in 0..4 {
            match done.recv_timeout(PATIENCE) {
                Ok(who) => order.push(who),
                Err(_) => {
                    gate.open();
                    panic!("fast calls were held up behind the slow one: {order:?}")
                }
            }
        }
        gate.open();
        order.push(done.recv_timeout(PATIENCE).expect("the slow call returns"));
        assert_eq!(order, ["fast", "fast", "fast", "fast", "slow"]);
    });
    assert_eq!(client.in_flight(), 0);
}

// ---- timeouts ------------------------------------------------------------------

#[test]
fn a_timed_out_call_returns_deadline_exceeded_and_its_late_response_is_dropped() {
    let gate = Gate::new();
    let (started_tx, _started) = mpsc::channel();
    // One worker, so the late response is sure to reach the client before
    // the answer to the call that follows it.
    let mut server = Server::builder().workers(1).build();
    multiply(&mut server);
    block(&mut server, &gate, started_tx, Duration::from_secs(2));
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = patient_client(handle.local_addr());

    let began = Instant::now();
    let e = client
        .call_timeout::<_, i32>("Block", &(), Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(e.status, Status::DeadlineExceeded, "{e}");
    assert!(
        began.elapsed() < Duration::from_millis(1500),
        "a 200 ms timeout took {:?}",
        began.elapsed()
    );
    assert_eq!(client.in_flight(), 0, "the timed-out call left the table");

    // Let the handler finish: its response arrives after its caller left,
    // and must be dropped without disturbing the next call.
    gate.open();
    let y: i32 = client.call("Multiply", &(10, 20)).unwrap();
    assert_eq!(y, 200);
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn fifty_concurrent_timeouts_leave_the_pending_table_empty() {
    let gate = Gate::new();
    let (started_tx, _started) = mpsc::channel();
    let mut server = Server::new();
    multiply(&mut server);
    block(&mut server, &gate, started_tx, PATIENCE);
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = patient_client(handle.local_addr());

    thread::scope(|s| {
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let c = &client;
                s.spawn(move || c.call_timeout::<_, i32>("Block", &(), Duration::from_millis(100)))
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            let e = call.join().unwrap().unwrap_err();
            assert_eq!(e.status, Status::DeadlineExceeded, "call {i}: {e}");
        }
    });
    assert_eq!(client.in_flight(), 0);

    gate.open();
    let y: i32 = client.call("Multiply", &(10, 20)).unwrap();
    assert_eq!(y, 200);
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn a_call_whose_deadline_passes_in_the_server_queue_is_never_run() {
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let count_runs = Arc::new(AtomicUsize::new(0));
    // One worker: while Block holds it, every other call waits in the queue.
    let mut server = Server::builder().workers(1).build();
    multiply(&mut server);
    {
        let gate = Arc::clone(&gate);
        server.register("Block", move |(): ()| {
            let _ = started_tx.send(());
            gate.wait(PATIENCE);
            // Make sure the queued call's 1 ms deadline is well past by the
            // time the worker is free (the test opens the gate only after the
            // server has read that call, see below).
            thread::sleep(Duration::from_millis(20));
            Ok(0i32)
        });
    }
    {
        let count_runs = Arc::clone(&count_runs);
        server.register("Count", move |(_l, _r): (i32, i32)| {
            Ok(count_runs.fetch_add(1, Ordering::SeqCst) as i32 + 1)
        });
    }
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = patient_client(handle.local_addr());

    thread::scope(|s| {
        let blocked = s.spawn(|| client.call::<_, i32>("Block", &()));
        wait_started(&started, 1);

        // A raw connection sends Count with a 1 ms deadline, then a ping.
        // The server reads frames of a connection in order and answers pings
        // itself, so the pong proves Count has been read and queued.
        let mut raw = raw_connect(handle.local_addr());
        let mut bytes = request_frame_with_timeout(1, "Count", 1, &multiply_args(1, 2));
        protocol::control_frame(&mut bytes, FrameKind::Ping, 2);
        send(&mut raw, &bytes);
        let (pong, _) = read_frame(&mut raw);
        assert_eq!((pong.kind, pong.request_id), (FrameKind::Pong, 2));

        gate.open();
        let r = read_response(&mut raw);
        assert_eq!(r.header.request_id, 1);
        assert_eq!(r.status, Status::DeadlineExceeded, "{}", r.message);
        assert!(r.message.contains("not run"), "{}", r.message);
        assert_eq!(count_runs.load(Ordering::SeqCst), 0, "Count must not run");
        assert_eq!(blocked.join().unwrap(), Ok(0));
    });
    // The same method does run when its caller is still waiting.
    let n: i32 = client.call("Count", &(1, 2)).unwrap();
    assert_eq!(n, 1);
}

// ---- errors --------------------------------------------------------------------

#[test]
fn a_handler_error_reaches_the_caller_with_status_and_message_intact() {
    let mut server = Server::new();
    server.register("GetUser", |id: u32| -> Result<String, RpcError> {
        match id {
            7 => Ok("ada".to_string()),
            7007 => Err(RpcError::new(
                Status::PermissionDenied,
                "user 7007 is private",
            )),
            _ => Err(RpcError::new(Status::NotFound, format!("no user {id}"))),
        }
    });
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = patient_client(handle.local_addr());

    let e = client.call::<_, String>("GetUser", &42u32).unwrap_err();
    assert_eq!(e, RpcError::new(Status::NotFound, "no user 42"));
    let e = client.call::<_, String>("GetUser", &7007u32).unwrap_err();
    assert_eq!(
        e,
        RpcError::new(Status::PermissionDenied, "user 7007 is private")
    );
    // An error is an answer, not a broken connection.
    let name: String = client.call("GetUser", &7u32).unwrap();
    assert_eq!(name, "ada");
}

// ---- shutdown and dying servers ------------------------------------------------

#[test]
fn shutdown_lets_calls_in_flight_finish_then_refuses_new_ones() {
    let (started_tx, started) = mpsc::channel();
    let mut server = Server::new();
    server.register("SlowMultiply", move |(l, r): (i32, i32)| {
        let _ = started_tx.send(());
        thread::sleep(Duration::from_millis(200));
        Ok(l * r)
    });
    let handle = server.serve("127.0.0.1:0").unwrap();
    let addr = handle.local_addr();
    let client = patient_client(addr);

    thread::scope(|s| {
        let calls: Vec<_> = (0..4i32)
            .map(|i| {
                let c = &client;
                s.spawn(move || c.call::<_, i32>("SlowMultiply", &(i, 10)))
            })
            .collect();
        wait_started(&started, 4);
        let stopper = s.spawn(move || handle.shutdown());
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.join().unwrap(), Ok(i as i32 * 10), "call {i}");
        }
        stopper.join().unwrap();
    });

    // The listener is gone: a new client cannot connect...
    let e = Client::builder()
        .connect_timeout(PATIENCE)
        .connect(addr)
        .err()
        .expect("connecting after shutdown should fail");
    assert_eq!(e.status, Status::Unavailable, "{e}");
    // ...and the old client's connection is closed.
    let e = client.call::<_, i32>("SlowMultiply", &(1, 1)).unwrap_err();
    assert_eq!(e.status, Status::Unavailable, "{e}");
}

#[test]
fn pending_calls_fail_unavailable_when_shutdown_grace_runs_out() {
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let mut server = Server::builder()
        .shutdown_grace(Duration::from_millis(50))
        .build();
    // The handlers outlive the calls if nobody opens the gate.
    block(&mut server, &gate, started_tx, 2 * PATIENCE);
    let handle = server.serve("127.0.0.1:0").unwrap();
    // 2 s is forty times the grace: plenty to learn that the server is gone.
    let client = Client::builder()
        .call_timeout(Duration::from_secs(2))
        .connect(handle.local_addr())
        .unwrap();

    let results = thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let c = &client;
                s.spawn(move || c.call::<_, i32>("Block", &()))
            })
            .collect();
        wait_started(&started, 3);
        handle.shutdown();
        calls
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    gate.open();
    for r in results {
        let e = r.unwrap_err();
        assert_eq!(
            e.status,
            Status::Unavailable,
            "the server is gone, so the call should fail fast, not wait for its deadline: {e}"
        );
    }
}

#[test]
fn pending_calls_fail_unavailable_promptly_when_the_connection_is_cut() {
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let mut server = Server::new();
    block(&mut server, &gate, started_tx, 2 * PATIENCE);
    let handle = server.serve("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(handle.local_addr());
    let client = patient_client(proxy.addr());

    let results = thread::scope(|s| {
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let c = &client;
                s.spawn(move || c.call::<_, i32>("Block", &()))
            })
            .collect();
        wait_started(&started, 3);
        proxy.cut();
        calls
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    gate.open();
    for r in results {
        let e = r.unwrap_err();
        // Unavailable, not DeadlineExceeded: the calls learned of the cut
        // from the socket, not by running out of time.
        assert_eq!(e.status, Status::Unavailable, "{e}");
    }
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn client_reconnects_on_the_next_call_after_its_connection_broke() {
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let mut server = Server::new();
    multiply(&mut server);
    block(&mut server, &gate, started_tx, PATIENCE);
    let handle = server.serve("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(handle.local_addr());
    let client = patient_client(proxy.addr());
    assert_eq!(client.call::<_, i32>("Multiply", &(2, 3)), Ok(6));

    // Break the connection under a pending call, so the client sees it.
    let pending = thread::scope(|s| {
        let call = s.spawn(|| client.call::<_, i32>("Block", &()));
        wait_started(&started, 1);
        proxy.cut();
        call.join().unwrap()
    });
    gate.open();
    assert_eq!(pending.unwrap_err().status, Status::Unavailable);

    // The next call opens a new connection and succeeds.
    assert_eq!(client.call::<_, i32>("Multiply", &(10, 20)), Ok(200));
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn client_keeps_trying_to_reconnect_until_the_network_is_restored() {
    let mut server = Server::new();
    multiply(&mut server);
    let handle = server.serve("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(handle.local_addr());
    let client = patient_client(proxy.addr());
    assert_eq!(client.call::<_, i32>("Multiply", &(2, 3)), Ok(6));

    // The network fails: the live connection is cut, and new ones are
    // closed as soon as they open. Calls fail with Unavailable, never hang.
    proxy.refuse_new(true);
    proxy.cut();
    for attempt in 0..3 {
        let e = client.call::<_, i32>("Multiply", &(2, 3)).unwrap_err();
        assert_eq!(e.status, Status::Unavailable, "attempt {attempt}: {e}");
    }

    // The network comes back: a call reconnects as soon as the backoff
    // allows. (The refused connections never answered a call, so they did
    // not reset the backoff: calls fail fast, with Unavailable, until then.)
    proxy.refuse_new(false);
    let deadline = Instant::now() + PATIENCE;
    let y = loop {
        match client.call::<_, i32>("Multiply", &(10, 20)) {
            Ok(y) => break y,
            Err(e) => {
                assert_eq!(e.status, Status::Unavailable, "{e}");
                assert!(
                    Instant::now() < deadline,
                    "no reconnect within {PATIENCE:?}: {e}"
                );
                thread::sleep(Duration::from_millis(5));
            }
        }
    };
    assert_eq!(y, 200);
    assert_eq!(client.in_flight(), 0);
    assert_serves(handle.local_addr());
}

#[test]
fn a_connection_cut_while_idle_costs_at_most_one_unavailable_call() {
    let mut server = Server::new();
    multiply(&mut server);
    let handle = server.serve("127.0.0.1:0").unwrap();
    let proxy = Proxy::start(handle.local_addr());
    let client = patient_client(proxy.addr());
    assert_eq!(client.call::<_, i32>("Multiply", &(2, 3)), Ok(6));

    // Nobody is reading the idle connection when it is cut, so the client
    // may only find out by using it: that call may fail, with Unavailable
    // (never a hang or a timeout); the one after it must succeed.
    proxy.cut();
    match client.call::<_, i32>("Multiply", &(2, 3)) {
        Ok(y) => assert_eq!(y, 6),
        Err(e) => assert_eq!(e.status, Status::Unavailable, "{e}"),
    }
    assert_eq!(client.call::<_, i32>("Multiply", &(10, 20)), Ok(200));
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn ping_answers_even_while_every_worker_is_busy() {
    // The built-in probe ($minirpc.ping) is answered by the reader, so a
    // live server never looks dead because its workers are all taken.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let mut server = Server::builder()
        .workers(1)
        .inline_max(Duration::ZERO)
        .build();
    {
        let gate = Arc::clone(&gate);
        server.register("Hold", move |(): ()| {
            let (open, cv) = &*gate;
            let g = open.lock().unwrap();
            let _ = cv
                .wait_timeout_while(g, Duration::from_secs(5), |o| !*o)
                .unwrap();
            Ok(())
        });
    }
    let server = server.serve("127.0.0.1:0").unwrap();
    let client = Client::connect(server.local_addr()).unwrap();
    let held = client.call_async::<_, ()>("Hold", &());
    // Answered at all while the only worker is held: a ping that went to
    // the queue would wait behind Hold and time out.
    client
        .ping(Duration::from_secs(2))
        .expect("ping while busy");
    {
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    assert_eq!(held.wait(), Ok(()));
}
