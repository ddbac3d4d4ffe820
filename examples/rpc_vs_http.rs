//! RPC against HTTP, measured on the same handlers (对比 › RPC与HTTP).
//!
//! One process serves Multiply and a 1 KiB Echo over minirpc and, through
//! `minirpc::gateway`, over HTTP/1.1 + JSON. Three ways to call them:
//!
//! - (a) minirpc binary on one long-lived connection (shared by all callers);
//! - (b) HTTP/1.1 + JSON with a new TCP connection per call (the HTTP/1.0
//!   short connection);
//! - (c) HTTP/1.1 + JSON on kept-alive connections (one per caller: an
//!   HTTP/1.1 connection carries one request at a time).
//!
//! Bytes on the wire are counted by a small TCP proxy that every byte
//! passes through (application bytes; the TCP/IP headers and the
//! handshake's packets are not in them: the proxy counts connections
//! instead). Times are measured without the proxy. Everything stays on
//! loopback and the run takes about 15 s.
//!
//! ```text
//! cargo run --release --example rpc_vs_http
//! ```

use minirpc::codec;
use minirpc::gateway::Gateway;
use minirpc::http::HttpConnection;
use minirpc::time::Deadline;
use minirpc::{Client, Server};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(5);
/// How long each timed cell runs.
const CELL: Duration = Duration::from_secs(1);
/// At most this many short-connection calls per cell: each leaves a socket
/// in TIME_WAIT for a minute, and a machine has some 28 000 ephemeral ports.
const MAX_SHORT_CALLS: usize = 1500;
/// Calls per transport in the counting pass.
const COUNTED: u64 = 100;

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Rpc,
    HttpShort,
    HttpKeepAlive,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Rpc => "(a) minirpc binary, one connection",
            Transport::HttpShort => "(b) HTTP/1.1+JSON, new connection per call",
            Transport::HttpKeepAlive => "(c) HTTP/1.1+JSON, keep-alive",
        }
    }
}

#[derive(Clone, Copy)]
enum Call {
    Multiply,
    Echo,
}

fn kib() -> String {
    "x".repeat(1024)
}

/// One caller's way of making calls over one transport.
enum Caller {
    Rpc(Client),
    Short(SocketAddr),
    Kept(SocketAddr, Option<HttpConnection>),
}

impl Caller {
    fn new(t: Transport, rpc: &Client, http: SocketAddr) -> Caller {
        match t {
            Transport::Rpc => Caller::Rpc(rpc.clone()),
            Transport::HttpShort => Caller::Short(http),
            Transport::HttpKeepAlive => Caller::Kept(http, None),
        }
    }

    fn call(&mut self, c: Call, echo: &str, echo_json: &[u8]) {
        match (self, c) {
            (Caller::Rpc(client), Call::Multiply) => {
                let y: i32 = client.call("Multiply", &(10, 20)).unwrap();
                assert_eq!(y, 200);
            }
            (Caller::Rpc(client), Call::Echo) => {
                let s: String = client.call("Echo", &echo).unwrap();
                assert_eq!(s.len(), echo.len());
            }
            (Caller::Short(addr), c) => {
                let mut conn = HttpConnection::connect(*addr, PATIENCE).unwrap();
                http_call(&mut conn, c, echo_json, &[("Connection", "close")]);
            }
            (Caller::Kept(addr, conn), c) => {
                let conn =
                    conn.get_or_insert_with(|| HttpConnection::connect(*addr, PATIENCE).unwrap());
                http_call(conn, c, echo_json, &[]);
            }
        }
    }
}

fn http_call(conn: &mut HttpConnection, c: Call, echo_json: &[u8], headers: &[(&str, &str)]) {
    let (path, body): (&str, &[u8]) = match c {
        Call::Multiply => ("/call/Multiply", b"[10,20]"),
        Call::Echo => ("/call/Echo", echo_json),
    };
    let r = conn
        .request("POST", path, headers, body, Deadline::after(PATIENCE))
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

// ---- a counting proxy ----------------------------------------------------

#[derive(Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
    capturing: AtomicBool,
    captured: Mutex<(Vec<u8>, Vec<u8>)>,
}

/// Forwards every connection to `target`, counting (and on request
/// capturing) the bytes each way.
fn counting_proxy(target: SocketAddr) -> (SocketAddr, Arc<Counts>) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Arc::new(Counts::default());
    let c = Arc::clone(&counts);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            c.connections.fetch_add(1, Ordering::Relaxed);
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (c1, c2) = (Arc::clone(&c), Arc::clone(&c));
            let (cr, sw) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(cr, sw, &c1, true));
            std::thread::spawn(move || pump(server, client, &c2, false));
        }
    });
    (addr, counts)
}

fn pump(mut from: TcpStream, mut to: TcpStream, c: &Counts, up: bool) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let counter = if up { &c.up } else { &c.down };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if c.capturing.load(Ordering::Relaxed) {
            let mut cap = c.captured.lock().unwrap();
            let side = if up { &mut cap.0 } else { &mut cap.1 };
            side.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

// ---- measuring ---------------------------------------------------------------

struct Wire {
    bytes_per_call: f64,
    up_per_call: f64,
    down_per_call: f64,
    connections_per_call: f64,
}

/// Bytes and connections per call, counted through the proxy.
fn count_wire(
    t: Transport,
    c: Call,
    rpc_proxy: SocketAddr,
    http_proxy: SocketAddr,
    counts: &[&Counts; 2],
) -> Wire {
    let rpc = Client::connect(rpc_proxy).unwrap();
    let mut caller = Caller::new(t, &rpc, http_proxy);
    let (echo, echo_json) = (kib(), codec::to_json(&kib()).into_bytes());
    caller.call(c, &echo, &echo_json); // set-up of a long-lived connection is not counted
    let k = if t == Transport::Rpc {
        counts[0]
    } else {
        counts[1]
    };
    let before = (
        k.up.load(Ordering::SeqCst),
        k.down.load(Ordering::SeqCst),
        k.connections.load(Ordering::SeqCst),
    );
    for _ in 0..COUNTED {
        caller.call(c, &echo, &echo_json);
    }
    // The proxy counts a response before it forwards it, so it has counted
    // every byte of every call by now; short connections may still be
    // closing, which sends no more application bytes.
    let up = k.up.load(Ordering::SeqCst) - before.0;
    let down = k.down.load(Ordering::SeqCst) - before.1;
    let conns = k.connections.load(Ordering::SeqCst) - before.2;
    let n = COUNTED as f64;
    Wire {
        bytes_per_call: (up + down) as f64 / n,
        up_per_call: up as f64 / n,
        down_per_call: down as f64 / n,
        connections_per_call: conns as f64 / n,
    }
}

/// The bytes of one Multiply over `t`, captured by the proxy.
fn capture_one(
    t: Transport,
    rpc_proxy: SocketAddr,
    http_proxy: SocketAddr,
    counts: &[&Counts; 2],
) -> (Vec<u8>, Vec<u8>) {
    let rpc = Client::connect(rpc_proxy).unwrap();
    let mut caller = Caller::new(t, &rpc, http_proxy);
    caller.call(Call::Multiply, "", b"");
    let k = if t == Transport::Rpc {
        counts[0]
    } else {
        counts[1]
    };
    *k.captured.lock().unwrap() = Default::default();
    k.capturing.store(true, Ordering::SeqCst);
    caller.call(Call::Multiply, "", b"");
    k.capturing.store(false, Ordering::SeqCst);
    std::mem::take(&mut *k.captured.lock().unwrap())
}

struct Timing {
    calls_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// `callers` threads calling for about CELL (fewer calls for short
/// connections), direct to the servers.
fn time_cell(t: Transport, c: Call, callers: usize, rpc: &Client, http: SocketAddr) -> Timing {
    let start = Instant::now();
    let short_budget = Arc::new(AtomicU64::new(MAX_SHORT_CALLS as u64));
    let threads: Vec<_> = (0..callers)
        .map(|_| {
            let mut caller = Caller::new(t, rpc, http);
            let budget = Arc::clone(&short_budget);
            std::thread::spawn(move || {
                let (echo, echo_json) = (kib(), codec::to_json(&kib()).into_bytes());
                let mut lat = Vec::new();
                while start.elapsed() < CELL {
                    if t == Transport::HttpShort && budget.fetch_sub(1, Ordering::Relaxed) == 0 {
                        budget.store(0, Ordering::Relaxed);
                        break;
                    }
                    let t0 = Instant::now();
                    caller.call(c, &echo, &echo_json);
                    lat.push(t0.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let took = start.elapsed();
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Timing {
        calls_per_sec: lat.len() as f64 / took.as_secs_f64(),
        p50: q(0.50),
        p99: q(0.99),
    }
}

/// Sockets in TIME_WAIT on this machine (Linux's /proc/net/tcp), if known.
fn time_wait_sockets() -> Option<usize> {
    let mut n = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        n += text
            .lines()
            .skip(1)
            .filter(|l| l.split_whitespace().nth(3) == Some("06"))
            .count();
    }
    (n > 0).then_some(n)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn show(bytes: &[u8], binary: bool) -> String {
    if binary {
        bytes
            .chunks(16)
            .map(|row| {
                row.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        String::from_utf8_lossy(bytes).replace("\r\n", "\\r\\n\n")
    }
}

fn main() {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register("Echo", |s: String| Ok(s));
    let rpc_server = server.serve(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let http_server = Gateway::new(&rpc_server)
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .unwrap();
    let (rpc_proxy, rpc_counts) = counting_proxy(rpc_server.local_addr());
    let (http_proxy, http_counts) = counting_proxy(http_server.local_addr());
    let counts = [&*rpc_counts, &*http_counts];
    let transports = [
        Transport::Rpc,
        Transport::HttpShort,
        Transport::HttpKeepAlive,
    ];

    println!("# One Multiply(10, 20) on the wire (captured by the proxy)\n");
    for t in transports {
        let (req, resp) = capture_one(t, rpc_proxy, http_proxy, &counts);
        let binary = t == Transport::Rpc;
        println!(
            "## {} — request {} bytes, response {} bytes\n",
            t.name(),
            req.len(),
            resp.len()
        );
        println!(
            "```text\n{}\n```\n```text\n{}\n```\n",
            show(&req, binary),
            show(&resp, binary)
        );
    }

    println!("# Bytes per call, counted ({COUNTED} calls each, application bytes both ways)\n");
    println!("| transport | call | bytes/call (up + down) | TCP connections opened per call |");
    println!("|---|---|---|---|");
    let mut wire = Vec::new();
    for t in transports {
        for (c, name) in [(Call::Multiply, "Multiply"), (Call::Echo, "Echo 1 KiB")] {
            let w = count_wire(t, c, rpc_proxy, http_proxy, &counts);
            println!(
                "| {} | {name} | {:.0} ({:.0} + {:.0}) | {:.2} |",
                t.name(),
                w.bytes_per_call,
                w.up_per_call,
                w.down_per_call,
                w.connections_per_call
            );
            wire.push(w);
        }
    }

    println!("\n# Speed (direct, no proxy; {CELL:?} per cell, at most {MAX_SHORT_CALLS} short-connection calls per cell)\n");
    println!("| transport | call | callers | calls/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    let client = Client::connect(rpc_server.local_addr()).unwrap();
    let tw_before = time_wait_sockets();
    let mut speed = Vec::new();
    for t in transports {
        for (c, name) in [(Call::Multiply, "Multiply"), (Call::Echo, "Echo 1 KiB")] {
            for callers in [1, 8] {
                let m = time_cell(t, c, callers, &client, http_server.local_addr());
                println!(
                    "| {} | {name} | {callers} | {:.0} | {} | {} |",
                    t.name(),
                    m.calls_per_sec,
                    us(m.p50),
                    us(m.p99)
                );
                speed.push(m);
            }
        }
    }
    let tw_after = time_wait_sockets();

    // The article's table, each row answered from the numbers above.
    // speed[] is (transport, call, callers) in order: index 4*t + 2*c + k.
    let s = |t: usize, k: usize| &speed[4 * t + k];
    let b = |t: usize, c: usize| &wire[2 * t + c];
    println!("\n# 对比 › RPC与HTTP, measured\n");
    println!(
        "| article's row | (a) minirpc binary | (b) HTTP short connections | (c) HTTP keep-alive |"
    );
    println!("|---|---|---|---|");
    println!(
        "| 性能 (performance): Multiply calls/s, 1 / 8 callers | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
        s(0, 0).calls_per_sec, s(0, 1).calls_per_sec,
        s(1, 0).calls_per_sec, s(1, 1).calls_per_sec,
        s(2, 0).calls_per_sec, s(2, 1).calls_per_sec
    );
    println!(
        "| 传输协议 (protocol) | its own frame over TCP: an 18-byte binary header | HTTP/1.1 text head, one TCP connection per call ({:.2} opened per call) | HTTP/1.1 text head on a reused connection ({:.2} opened per call) |",
        b(1, 0).connections_per_call, b(2, 0).connections_per_call
    );
    println!(
        "| 传输效率 (efficiency): bytes per Multiply / per 1 KiB Echo | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} |",
        b(0, 0).bytes_per_call, b(0, 1).bytes_per_call,
        b(1, 0).bytes_per_call, b(1, 1).bytes_per_call,
        b(2, 0).bytes_per_call, b(2, 1).bytes_per_call
    );
    println!("| 负载均衡 (load balancing) | the client picks a provider per call itself (minirpc::balance, fed by the registry) | needs a proxy in front (nginx, a cloud load balancer): one more hop | the same proxy, which must also spread long-lived connections |");
    println!("| 通知 (notification) | the registry pushes changes to subscribers (minirpc::discovery) | the client learns of a dead server when a connect fails, or polls DNS | the same, or when a kept-alive connection breaks |");
    match (tw_before, tw_after) {
        (Some(a), Some(z)) => println!(
            "\nSockets in TIME_WAIT on this machine: {a} before the timed runs, {z} after (short connections leave one each, for about a minute)."
        ),
        _ => println!("\n(TIME_WAIT sockets: not countable on this system.)"),
    }
}
