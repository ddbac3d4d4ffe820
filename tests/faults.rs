//! Calls through a misbehaving network: a fault-injecting proxy between
//! client and server delays, cuts, blackholes, trickles and corrupts bytes
//! while a thousand calls run in each call mode. Every call must end with
//! the right answer or a clear error, and none may outlive its deadline by
//! more than a margin (the margin proves "did not hang", not speed).
//!
//! With checksums on, a flipped byte is caught (DATA_LOSS) instead of
//! believed: zero wrong answers.

mod common;

use common::fault::{Direction, Fault, FaultProxy};
use minirpc::{Client, RpcError, Server, ServerHandle, Status};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const CALLS: usize = 1000;
const THREADS: usize = 20;
const TIMEOUT: Duration = Duration::from_millis(300);
/// How late a call may end and still count as having kept its deadline.
const MARGIN: Duration = Duration::from_secs(1);

fn serve() -> ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i64, i64)| Ok(l * r));
    server.serve("127.0.0.1:0").unwrap()
}

fn client(proxy: &FaultProxy, checksums: bool) -> Client {
    Client::builder()
        .call_timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .heartbeat(Some((Duration::from_millis(100), 2)))
        .reconnect_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .checksums(checksums)
        .connect(proxy.addr())
        .unwrap()
}

/// Switch the proxy through every fault, over and over, until told to stop.
fn chaos(proxy: Arc<FaultProxy>, stop: Arc<AtomicBool>, corrupt: bool) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        // Corruption gets a run of its own: mixed with cuts and blackholes,
        // too few bytes would pass through it to prove anything.
        let faults = if corrupt {
            vec![Fault::Corrupt { fraction: 0.03 }]
        } else {
            vec![
                Fault::Pass,
                Fault::Delay(Duration::from_millis(20)),
                Fault::Pass,
                Fault::CutAfter(3000),
                Fault::Pass,
                Fault::Trickle(Duration::from_millis(2)),
                Fault::Pass,
                Fault::Blackhole,
            ]
        };
        let until = Instant::now() + Duration::from_secs(60);
        let mut i = 0;
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            let f = faults[i % faults.len()];
            // Each direction gets its own turn of the wheel.
            proxy.set(Direction::ClientToServer, faults[(i + 3) % faults.len()]);
            proxy.set(Direction::ServerToClient, f);
            i += 1;
            thread::sleep(Duration::from_millis(60));
        }
        proxy.set_both(Fault::Pass);
    })
}

/// What became of the calls.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    errors: AtomicUsize,
    wrong: AtomicUsize,
    late: AtomicUsize,
}

impl Tally {
    fn record(&self, i: i64, result: Result<i64, RpcError>, took: Duration) {
        if took > TIMEOUT + MARGIN {
            self.late.fetch_add(1, Ordering::SeqCst);
            eprintln!("call {i} took {took:?}: {result:?}");
        }
        match result {
            Ok(v) if v == 7 * i => self.ok.fetch_add(1, Ordering::SeqCst),
            Ok(v) => {
                eprintln!("call {i}: WRONG ANSWER {v}");
                self.wrong.fetch_add(1, Ordering::SeqCst)
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.status,
                        Status::DeadlineExceeded
                            | Status::Unavailable
                            | Status::DataLoss
                            | Status::Cancelled
                            | Status::ResourceExhausted
                    ),
                    "call {i}: an error that does not say what happened: {e}"
                );
                assert!(
                    !e.message.is_empty(),
                    "call {i}: an error without a message"
                );
                self.errors.fetch_add(1, Ordering::SeqCst)
            }
        };
    }

    fn check(&self, what: &str, wrong_allowed: bool) {
        let (ok, errors, wrong, late) = (
            self.ok.load(Ordering::SeqCst),
            self.errors.load(Ordering::SeqCst),
            self.wrong.load(Ordering::SeqCst),
            self.late.load(Ordering::SeqCst),
        );
        eprintln!("{what}: {ok} right, {errors} clear errors, {wrong} wrong, {late} late");
        assert_eq!(ok + errors + wrong, CALLS, "{what}: every call ends");
        assert_eq!(late, 0, "{what}: calls outlived their deadline");
        if !wrong_allowed {
            assert_eq!(wrong, 0, "{what}: wrong answers");
        }
        assert!(ok > 0, "{what}: not a single call got through");
    }
}

/// Run CALLS calls of one mode from THREADS threads through the chaos.
fn run(mode: &str, checksums: bool, corrupt: bool) {
    let server = serve();
    let proxy = Arc::new(FaultProxy::start(server.local_addr()));
    let stop = Arc::new(AtomicBool::new(false));
    let wheel = chaos(Arc::clone(&proxy), Arc::clone(&stop), corrupt);
    let client = Arc::new(client(&proxy, checksums));
    let tally = Arc::new(Tally::default());
    thread::scope(|s| {
        for t in 0..THREADS {
            let (client, tally) = (Arc::clone(&client), Arc::clone(&tally));
            s.spawn(move || {
                for i in (t..CALLS).step_by(THREADS) {
                    let i = i as i64;
                    let started = Instant::now();
                    let result = match mode {
                        "request-response" => client.call::<_, i64>("Multiply", &(i, 7i64)),
                        "future" => client.call_async::<_, i64>("Multiply", &(i, 7i64)).wait(),
                        "callback" => {
                            let (tx, rx) = mpsc::channel();
                            client.call_with_callback("Multiply", &(i, 7i64), move |r| {
                                let _ = tx.send(r);
                            });
                            rx.recv_timeout(TIMEOUT + 2 * MARGIN).unwrap_or_else(|_| {
                                Err(RpcError::internal("the callback never ran"))
                            })
                        }
                        other => unreachable!("{other}"),
                    };
                    tally.record(i, result, started.elapsed());
                }
            });
        }
    });
    stop.store(true, Ordering::SeqCst);
    wheel.join().unwrap();
    if corrupt {
        let flipped = proxy.stats(Direction::ClientToServer).corrupted
            + proxy.stats(Direction::ServerToClient).corrupted;
        eprintln!("{mode}: {flipped} bytes flipped on the way");
        assert!(
            flipped > 0,
            "the proxy corrupted nothing: the test proves nothing"
        );
    }
    tally.check(mode, corrupt && !checksums);
}

#[test]
fn request_response_calls_through_chaos_end_right_or_clearly_and_on_time() {
    run("request-response", false, false);
}

#[test]
fn futures_through_chaos_end_right_or_clearly_and_on_time() {
    run("future", false, false);
}

#[test]
fn callbacks_through_chaos_run_once_right_or_clearly_and_on_time() {
    run("callback", false, false);
}

#[test]
fn with_checksums_a_corrupting_network_gives_no_wrong_answers() {
    run("request-response", true, true);
}

#[test]
fn with_checksums_futures_through_chaos_still_end_right_or_clearly() {
    run("future", true, false);
}

#[test]
fn oneway_calls_through_chaos_return_promptly() {
    let server = serve();
    let proxy = Arc::new(FaultProxy::start(server.local_addr()));
    let stop = Arc::new(AtomicBool::new(false));
    let wheel = chaos(Arc::clone(&proxy), Arc::clone(&stop), false);
    let client = client(&proxy, false);
    for i in 0..CALLS as i64 {
        let started = Instant::now();
        let r = client.call_oneway("Multiply", &(i, 7i64));
        let took = started.elapsed();
        assert!(
            took <= TIMEOUT + MARGIN,
            "oneway call {i} took {took:?}: {r:?}"
        );
        if let Err(e) = r {
            assert!(!e.message.is_empty());
        }
    }
    stop.store(true, Ordering::SeqCst);
    wheel.join().unwrap();
}
