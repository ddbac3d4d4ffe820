//! What the benchmarks (`benches/rpc.rs`, `benches/codec.rs`) and
//! `examples/bench_report.rs` share, so the floor they all measure against
//! exists once: the sizes of minirpc's real Multiply frames, a Multiply
//! server, the raw-TCP ping-pong, and the `Order` message.
//!
//! Included with `#[path = ...] mod support;`; not every includer uses every
//! item, hence the `allow(dead_code)`.
#![allow(dead_code)]

use minirpc::codec::{CodecId, Encode};
use minirpc::protocol::{self, FrameKind};
use minirpc::{Client, Server, ServerHandle};
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Barrier;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn multiply_server(spin: Duration) -> ServerHandle {
    let mut server = Server::builder().spin(spin).build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

pub fn multiply(client: &Client) {
    let y: i32 = client
        .call("Multiply", &(10i32, 20i32))
        .expect("Multiply call");
    assert_eq!(y, 200);
}

/// The sizes of minirpc's real Multiply(10, 20) request and response frames,
/// built with the functions the client and server use (46 and 27 bytes
/// today), so the raw ping-pong moves exactly as many bytes.
pub fn multiply_frame_sizes() -> (usize, usize) {
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

// ---- the raw TCP floor ------------------------------------------------------------

/// A ping-pong server over plain `std::net`: one thread per connection, each
/// reading `u32 length + payload` and answering `u32 length + reply_len
/// bytes`. It accepts exactly `connections` connections and then stops
/// accepting; each connection thread ends when its client hangs up.
pub struct RawServer {
    addr: SocketAddr,
    acceptor: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl RawServer {
    pub fn start(connections: usize, reply_len: usize) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let acceptor = std::thread::spawn(move || {
            let mut threads = Vec::with_capacity(connections);
            for _ in 0..connections {
                let (stream, _) = listener.accept().expect("accept");
                stream.set_nodelay(true).expect("TCP_NODELAY");
                // A safety net so a vanished client cannot park a thread forever.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
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
    pub fn connect(&self) -> RawConn {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        RawConn {
            stream,
            buf: Vec::with_capacity(256),
        }
    }

    /// Wait for every connection thread. Drop the clients first.
    pub fn join(mut self) {
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
pub fn read_msg(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
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

/// `u32 length + len bytes`, ready to send as one write.
pub fn message(len: usize) -> Vec<u8> {
    let mut m = (len as u32).to_be_bytes().to_vec();
    m.resize(4 + len, 0xab);
    m
}

pub fn serve_raw(mut stream: TcpStream, reply_len: usize) {
    let reply = message(reply_len);
    let mut buf = Vec::with_capacity(256);
    while read_msg(&mut stream, &mut buf) {
        if stream.write_all(&reply).is_err() {
            return;
        }
    }
}

/// One client connection of the raw ping-pong.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// One round trip: send `request`, wait for the whole reply.
    pub fn round_trip(&mut self, request: &[u8]) {
        self.stream.write_all(request).expect("raw write");
        assert!(
            read_msg(&mut self.stream, &mut self.buf),
            "raw server closed"
        );
        black_box(&self.buf);
    }
}

// ---- the codec's message ------------------------------------------------------------

minirpc::record! {
    /// One line of an order.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item {
        /// Stock-keeping unit, 8 characters.
        pub sku: String,
        /// How many.
        pub qty: u32,
        /// Unit price in cents.
        pub price_cents: u64,
    }
}

minirpc::record! {
    /// A customer's order: a typical business message.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        /// Order number.
        pub id: u64,
        /// Who ordered, 12 characters.
        pub user: String,
        /// Five lines.
        pub items: Vec<Item>,
        /// A free-text note, 17 characters.
        pub note: Option<String>,
    }
}

pub fn sample_order() -> Order {
    Order {
        id: 1_234_567_890,
        user: "alice.zhang1".to_owned(), // 12 chars
        items: (0..5)
            .map(|i| Item {
                sku: format!("SKU-{i:04}"), // 8 chars
                qty: i + 1,
                price_cents: 1999 + 100 * u64::from(i),
            })
            .collect(),
        note: Some("leave at the door".to_owned()), // 17 chars
    }
}

/// Run one thread per element of `states`, each doing `per_thread`
/// operations `op(its state)`, all released together by a barrier. Returns
/// the time from the release until the last thread finished.
pub fn run_parallel<S: Send>(
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
