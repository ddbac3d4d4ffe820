//! How fast is a minirpc call, and how far is it from the floor?
//!
//! Article: RPC与HTTP › 性能 (and 本地调用VS远程调用: what a remote call
//! costs). Every number here comes in a pair: minirpc, and a hand-written
//! blocking ping-pong over raw `std::net` TCP that moves frames of the same
//! sizes. Nothing built on blocking sockets and threads can beat the raw
//! ping-pong, so the ratio between the two is the price of the framework
//! (request ids, the call table, the worker pool, encoding).
//!
//! ```text
//!   rr_latency/minirpc_multiply        one Client, one call at a time
//!   rr_latency/raw_tcp_pingpong        one TcpStream, one round trip at a time
//!   throughput/minirpc_N_callers_one_client   N threads share ONE Client
//!   throughput/raw_tcp_N_connections          N threads, N TcpStreams
//! ```
//!
//! Run with `cargo bench --bench rpc`. On a 2-core machine it takes a few
//! minutes; `examples/bench_report.rs` prints the same comparison (with
//! p50/p99) without criterion.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use minirpc::codec::{CodecId, Encode};
use minirpc::protocol::{self, FrameKind};
use minirpc::{Client, Server, ServerHandle};
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Calls (or round trips) each thread makes per criterion iteration in the
/// throughput benchmarks; one iteration is `threads × CALLS_PER_THREAD`.
const CALLS_PER_THREAD: u64 = 64;

// ---- the frames we imitate -------------------------------------------------

/// The sizes of minirpc's real Multiply(10, 20) request and response frames,
/// built with the same functions the client and server use, so the raw
/// ping-pong always moves exactly as many bytes as minirpc does (46 and 27
/// today).
fn multiply_frame_sizes() -> (usize, usize) {
    let timeout_ms = 10_000; // the client's default call timeout
    let mut req = Vec::new();
    let start = protocol::begin_request(
        &mut req,
        FrameKind::Request,
        CodecId::Binary,
        1,
        "Multiply",
        timeout_ms,
        &[],
    );
    (10i32, 20i32).encode(&mut req);
    protocol::finish_frame(&mut req, start);

    let mut resp = Vec::new();
    let start = protocol::begin_ok_response(&mut resp, CodecId::Binary, 1);
    200i32.encode(&mut resp);
    protocol::finish_frame(&mut resp, start);
    (req.len(), resp.len())
}

// ---- minirpc -----------------------------------------------------------------

fn multiply_server() -> ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn multiply(client: &Client) {
    let y: i32 = client
        .call("Multiply", &(10i32, 20i32))
        .expect("Multiply call");
    debug_assert_eq!(y, 200);
    black_box(y);
}

// ---- the raw TCP floor ---------------------------------------------------------

/// A ping-pong server over plain `std::net`: one thread per connection, each
/// reading `u32 length + payload` and answering `u32 length + reply_len
/// bytes`. It accepts exactly `connections` connections and then stops
/// accepting; each connection thread ends when its client hangs up.
struct RawServer {
    addr: SocketAddr,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl RawServer {
    fn start(connections: usize, reply_len: usize) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let acceptor = std::thread::spawn(move || {
            let mut threads = Vec::with_capacity(connections);
            for _ in 0..connections {
                let (stream, _) = listener.accept().expect("accept");
                stream.set_nodelay(true).expect("TCP_NODELAY");
                // A safety net so a vanished client cannot park a thread forever.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
                threads.push(std::thread::spawn(move || serve_raw(stream, reply_len)));
            }
            threads
        });
        RawServer {
            addr,
            acceptor: Some(acceptor),
        }
    }

    /// Open one client connection (TCP_NODELAY on).
    fn connect(&self) -> RawConn {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        RawConn {
            stream,
            buf: Vec::with_capacity(256),
        }
    }

    /// Wait for every connection thread. Drop the clients first.
    fn join(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            for t in acceptor.join().expect("acceptor") {
                let _ = t.join();
            }
        }
    }
}

/// Read one `u32 length + payload` message into `buf` (leaving it as
/// exactly the payload), with as few `read` calls as the data allows
/// (usually one). Returns false when the peer closed the connection.
fn read_msg(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut chunk = [0u8; 256];
    let mut want = 4;
    let mut have_len = false;
    while buf.len() < want {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if !have_len && buf.len() >= 4 {
            want = 4 + u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            have_len = true;
        }
    }
    buf.drain(..4);
    true
}

/// Write one `u32 length + payload` message in a single `write`.
fn write_msg(stream: &mut TcpStream, msg: &[u8]) -> bool {
    stream.write_all(msg).is_ok()
}

/// `u32 length + len bytes`, ready to send as one write.
fn message(len: usize) -> Vec<u8> {
    let mut m = (len as u32).to_be_bytes().to_vec();
    m.resize(4 + len, 0xab);
    m
}

fn serve_raw(mut stream: TcpStream, reply_len: usize) {
    let reply = message(reply_len);
    let mut buf = Vec::with_capacity(256);
    while read_msg(&mut stream, &mut buf) {
        if !write_msg(&mut stream, &reply) {
            return;
        }
    }
}

/// One client connection of the raw ping-pong.
struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// One round trip: send `request`, wait for the whole reply.
    fn round_trip(&mut self, request: &[u8]) {
        assert!(write_msg(&mut self.stream, request), "raw write failed");
        assert!(
            read_msg(&mut self.stream, &mut self.buf),
            "raw server closed"
        );
        black_box(&self.buf);
    }
}

// ---- the benchmarks ------------------------------------------------------------

fn rr_latency(c: &mut Criterion) {
    let (req_len, resp_len) = multiply_frame_sizes();
    let mut group = c.benchmark_group("rr_latency");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    {
        let server = multiply_server();
        let client = Client::connect(server.local_addr()).expect("connect");
        group.bench_function("minirpc_multiply", |b| b.iter(|| multiply(&client)));
        drop(client);
        server.shutdown();
    }
    {
        let server = RawServer::start(1, resp_len);
        let mut conn = server.connect();
        let request = message(req_len);
        group.bench_function("raw_tcp_pingpong", |b| b.iter(|| conn.round_trip(&request)));
        drop(conn);
        server.join();
    }
    group.finish();
}

/// Run one thread per element of `states`, each doing `per_thread`
/// operations `op(its state)`, all released together by a barrier. Returns
/// the time from the release until the last thread finished.
fn run_parallel<S: Send>(
    states: &mut [S],
    per_thread: u64,
    op: impl Fn(&mut S) + Sync,
) -> Duration {
    let barrier = Barrier::new(states.len() + 1);
    let start = std::thread::scope(|s| {
        for state in states.iter_mut() {
            let (barrier, op) = (&barrier, &op);
            s.spawn(move || {
                barrier.wait();
                for _ in 0..per_thread {
                    op(state);
                }
            });
        }
        barrier.wait();
        Instant::now()
        // Leaving the scope joins every thread, so `elapsed` below
        // includes the slowest one.
    });
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let (req_len, resp_len) = multiply_frame_sizes();
    let mut group = c.benchmark_group("throughput");
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        // 64 callers × 64 calls is ~4096 calls, a quarter of a second per
        // iteration when the machine is busy: leave room for 20 of them.
        .measurement_time(Duration::from_secs(8));

    for &n in &[8usize, 64] {
        group.throughput(Throughput::Elements(n as u64 * CALLS_PER_THREAD));

        let server = multiply_server();
        let client = Arc::new(Client::connect(server.local_addr()).expect("connect"));
        let mut callers: Vec<Arc<Client>> = (0..n).map(|_| Arc::clone(&client)).collect();
        group.bench_function(format!("minirpc_{n}_callers_one_client"), |b| {
            b.iter_custom(|iters| {
                run_parallel(&mut callers, iters * CALLS_PER_THREAD, |c| multiply(c))
            })
        });
        drop(callers);
        drop(client);
        server.shutdown();

        let server = RawServer::start(n, resp_len);
        let mut conns: Vec<RawConn> = (0..n).map(|_| server.connect()).collect();
        let request = message(req_len);
        group.bench_function(format!("raw_tcp_{n}_connections"), |b| {
            b.iter_custom(|iters| {
                run_parallel(&mut conns, iters * CALLS_PER_THREAD, |c| {
                    c.round_trip(&request)
                })
            })
        });
        drop(conns);
        server.join();
    }
    group.finish();
}

criterion_group!(benches, rr_latency, throughput);
criterion_main!(benches);
