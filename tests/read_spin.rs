//! `read_spin` (src/transport/spin.rs): readers that poll their socket
//! before they sleep on it. Spinning leaves the socket non-blocking, which
//! its writers share, so besides "calls still work" every case here is one
//! where a write finds no room or a read finds a partial frame.
//!
//! No timing is asserted: what spinning buys is measured in chapter 04 and
//! the peer suite, not here.

mod common;

use common::{raw_connect, request_frame, PATIENCE};
use minirpc::{Client, Server, ServerBuilder, ServerHandle, Status};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const SPIN: Duration = Duration::from_micros(200);

fn serve(builder: ServerBuilder) -> ServerHandle {
    let mut server = builder.read_spin(SPIN).build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l.wrapping_mul(r)));
    server.register("Echo", |b: Vec<u8>| Ok(b));
    server.register("Big", |n: u32| Ok(vec![7u8; n as usize]));
    server.serve("127.0.0.1:0").unwrap()
}

fn spinning_client(addr: SocketAddr) -> Client {
    Client::builder()
        .read_spin(SPIN)
        .call_timeout(PATIENCE)
        .connect(addr)
        .unwrap()
}

#[test]
fn spinning_ends_answer_one_caller_and_many_callers_correctly() {
    let server = serve(Server::builder());
    let c = Arc::new(spinning_client(server.local_addr()));
    for i in 0..500 {
        let y: i32 = c.call("Multiply", &(i, 3)).unwrap();
        assert_eq!(y, 3 * i);
    }
    // Many callers: the reader stops spinning while others wait, and a
    // socket left non-blocking by the last spin must still read whole
    // answers for everyone.
    let callers: Vec<_> = (0..16)
        .map(|t| {
            let c = Arc::clone(&c);
            thread::spawn(move || {
                for i in 0..200 {
                    let y: i32 = c.call("Multiply", &(t * 1000 + i, 7)).unwrap();
                    assert_eq!(y, (t * 1000 + i) * 7);
                }
            })
        })
        .collect();
    for h in callers {
        h.join().unwrap();
    }
}

#[test]
fn frames_bigger_than_one_read_arrive_whole_through_a_non_blocking_socket() {
    let server = serve(Server::builder());
    let c = spinning_client(server.local_addr());
    // 1 MiB each way: many partial non-blocking reads on both ends, and
    // writes that find the socket's buffer full while the peer spins.
    for round in 0..4u8 {
        let payload: Vec<u8> = (0..1 << 20).map(|i| (i as u8) ^ round).collect();
        let back: Vec<u8> = c.call("Echo", &payload).unwrap();
        assert!(back == payload, "round {round}: the echo came back changed");
    }
}

#[test]
fn an_idle_spinning_client_checks_its_connection_and_calls_again() {
    let server = serve(Server::builder());
    let c = spinning_client(server.local_addr());
    let y: i32 = c.call("Multiply", &(6, 7)).unwrap();
    assert_eq!(y, 42);
    // Past the client's idle-probe age (100 ms): the next call first peeks
    // at the socket, which switches its mode behind the spinning reader's
    // back; the reader must notice and calls go on.
    thread::sleep(Duration::from_millis(300));
    for i in 0..50 {
        let y: i32 = c.call("Multiply", &(i, 2)).unwrap();
        assert_eq!(y, 2 * i);
    }
}

#[test]
fn a_spinning_server_cuts_off_a_client_that_never_reads_and_serves_others() {
    let server = serve(
        Server::builder()
            .write_timeout(Duration::from_secs(1))
            .max_outbox_bytes(64 << 20),
    );
    let addr = server.local_addr();
    // Requests for 1 MiB answers, never read: the server's writes find no
    // room (at once, while its reader has the socket non-blocking) and
    // must wait, not spin, until write_timeout cuts the peer off.
    let mut silent = raw_connect(addr);
    for id in 1..=16u64 {
        if silent
            .write_all(&request_frame(id, "Big", &(1u32 << 20).to_be_bytes()))
            .is_err()
        {
            break;
        }
    }
    // Then small requests one at a time, as a lone caller sends them: the
    // server's reader spins after each, so the socket is non-blocking most
    // of the time while the answers above wait for room.
    let mut trickle = silent.try_clone().unwrap();
    let trickler = thread::spawn(move || {
        let until = Instant::now() + PATIENCE;
        let mut id = 100u64;
        while Instant::now() < until {
            let frame = request_frame(id, "Multiply", &common::multiply_args(2, 3));
            if trickle.write_all(&frame).is_err() {
                return; // cut off
            }
            id += 1;
            thread::sleep(Duration::from_micros(100));
        }
    });
    let good = spinning_client(addr);
    for i in 0..20 {
        let y: i32 = good.call("Multiply", &(i, 5)).unwrap();
        assert_eq!(y, 5 * i);
    }
    // Watch the writer thread's CPU time until the peer is cut off. A
    // writer that retried at once on every "no room" burned 58 ticks of the
    // one second (0.58 of a core); one that waits a moment, 3 or 4.
    let deadline = Instant::now() + PATIENCE;
    let mut writer_ticks = 0;
    while server.stats().connections != 1 {
        assert!(Instant::now() < deadline, "{:?}", server.stats());
        writer_ticks = writer_ticks.max(cpu_ticks_of("minirpc-writer"));
        thread::sleep(Duration::from_millis(10));
    }
    assert!(
        writer_ticks < 20,
        "the writer thread spun on a full socket: {writer_ticks} ticks of CPU"
    );
    drop(silent);
    trickler.join().unwrap();
}

/// The most CPU time (user + system, in clock ticks) any live thread of
/// this process named `name` has used; 0 if there is none.
fn cpu_ticks_of(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut most = 0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... : fields 14 and 15 after the comm are utime, stime.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let rest: Vec<&str> = stat[close + 2..].split(' ').collect();
        let field = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        most = most.max(field(11) + field(12));
    }
    most
}

#[test]
fn a_spinning_client_facing_a_server_that_never_reads_fails_by_its_deadline() {
    // A listener that accepts and then neither reads nor writes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        thread::sleep(2 * PATIENCE);
        drop(s);
    });
    let c = Client::builder()
        .read_spin(SPIN)
        .call_timeout(Duration::from_millis(300))
        .write_timeout(Duration::from_millis(300))
        .max_request_bytes(64 << 20)
        .connect(addr)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // Far more than both sockets' buffers hold.
        let r: Result<Vec<u8>, _> = c.call("Echo", &vec![1u8; 32 << 20]);
        let _ = tx.send(r.map(|v| v.len()));
    });
    let r = rx
        .recv_timeout(2 * PATIENCE)
        .expect("the call did not end by its deadline");
    let e = r.expect_err("a server that never reads answered");
    assert!(
        matches!(e.status, Status::DeadlineExceeded | Status::Unavailable),
        "{e}"
    );
    drop(holder);
}
