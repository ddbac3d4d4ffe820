//! Helpers shared by the integration tests in `tests/bad_input.rs` and
//! `tests/calls.rs`.
//!
//! - raw frames: build a request with [`minirpc::protocol`], read a response
//!   off a raw `TcpStream`, and check that the server closed the connection;
//! - [`Gate`]: lets a handler block until the test says go (bounded), so
//!   tests order events with a signal instead of a sleep;
//! - [`Proxy`]: a tiny TCP proxy between a client and a server that a test can
//!   cut, to kill a connection from the outside (the idea of MIT 6.824's
//!   labrpc, on real sockets).
//!
//! Every wait here is bounded: raw sockets get read and write timeouts, and
//! gates give up after the time they are given.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod etcd;
pub mod fault;
pub mod python;
use minirpc::codec::CodecId;
use minirpc::protocol::{self, FrameKind, Header, ResponseHead, HEADER_LEN};
use minirpc::{Client, Status};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest any single wait in a test may take before the test calls it a
/// hang. Generous on purpose: it proves "did not hang", not "was fast".
pub const PATIENCE: Duration = Duration::from_secs(5);

// ---- the server still serves ------------------------------------------------

/// Assert that the server at `addr` answers a fresh, well-behaved client:
/// `Multiply(10, 20) == 200`.
pub fn assert_serves(addr: SocketAddr) {
    let client = Client::builder()
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .connect(addr)
        .unwrap_or_else(|e| panic!("the server no longer accepts a client: {e}"));
    let y: i32 = client
        .call("Multiply", &(10i32, 20i32))
        .unwrap_or_else(|e| panic!("the server no longer answers Multiply: {e}"));
    assert_eq!(y, 200);
}

// ---- raw frames ------------------------------------------------------------

/// A raw connection to `addr` whose reads and writes give up after
/// [`PATIENCE`], so a server that never answers fails the test instead of
/// hanging it.
pub fn raw_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect to the test server");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A complete request frame (kind 1, binary codec, no deadline, no metadata)
/// whose argument bytes are exactly `args`.
pub fn request_frame(request_id: u64, call_id: &str, args: &[u8]) -> Vec<u8> {
    request_frame_with_timeout(request_id, call_id, 0, args)
}

/// Like [`request_frame`], with a deadline `timeout_ms` after the server
/// receives it (0 means none).
pub fn request_frame_with_timeout(
    request_id: u64,
    call_id: &str,
    timeout_ms: u32,
    args: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let start = protocol::begin_request(
        &mut out,
        FrameKind::Request,
        CodecId::Binary,
        request_id,
        call_id,
        timeout_ms,
        &[],
    );
    out.extend_from_slice(args);
    protocol::finish_frame(&mut out, start);
    out
}

/// The 18 header bytes of a frame of `kind` claiming a body of `body_len`.
pub fn header_bytes(kind: FrameKind, request_id: u64, body_len: u32) -> [u8; HEADER_LEN] {
    Header {
        kind,
        codec: CodecId::Binary as u8,
        flags: 0,
        request_id,
        body_len,
    }
    .to_bytes()
}

/// `Multiply`'s arguments, `(l, r)`, in the binary codec.
pub fn multiply_args(l: i32, r: i32) -> Vec<u8> {
    minirpc::codec::to_bytes(&(l, r))
}

/// One response frame as read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    /// The frame's header.
    pub header: Header,
    /// The response status.
    pub status: Status,
    /// The error message (empty when OK).
    pub message: String,
    /// The encoded result (empty unless OK).
    pub result: Vec<u8>,
}

impl RawResponse {
    /// The result decoded as an `i32` (what `Multiply` returns).
    pub fn result_i32(&self) -> i32 {
        minirpc::codec::from_bytes(&self.result, Default::default())
            .unwrap_or_else(|e| panic!("result is not an i32: {e}"))
    }
}

/// Read exactly one frame (header and body) from `s`, failing the test if
/// none comes within [`PATIENCE`] or its header is not a minirpc header.
pub fn read_frame(s: &mut TcpStream) -> (Header, Vec<u8>) {
    try_read_frame(s).unwrap_or_else(|e| panic!("{e}"))
}

/// [`read_frame`], with what went wrong as a value.
pub fn try_read_frame(s: &mut TcpStream) -> Result<(Header, Vec<u8>), String> {
    let mut h = [0u8; HEADER_LEN];
    s.read_exact(&mut h)
        .map_err(|e| format!("expected a frame header from the server: {e}"))?;
    let header = Header::parse(&h).expect("the server sent a bad header");
    let mut body = vec![0u8; header.body_len as usize];
    s.read_exact(&mut body)
        .map_err(|e| format!("expected a {}-byte body: {e}", body.len()))?;
    Ok((header, body))
}

/// Read exactly one response frame from `s`, failing the test if none comes
/// within [`PATIENCE`] or if it is not a well-formed response.
pub fn read_response(s: &mut TcpStream) -> RawResponse {
    let (header, body) = read_frame(s);
    assert_eq!(header.kind, FrameKind::Response, "{header:?}");
    let head = ResponseHead::parse(&body).expect("the server sent a bad response body");
    RawResponse {
        header,
        status: head.status,
        message: head.message.to_owned(),
        result: head.result.to_vec(),
    }
}

/// Assert that the server has closed `s`: the next read sees end-of-stream
/// (or a reset) rather than more bytes, and does so within [`PATIENCE`].
pub fn assert_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "expected the server to close the connection, but it sent {n} more bytes: {:02x?}",
            &buf[..n]
        ),
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
            panic!("the server did not close the connection within {PATIENCE:?}")
        }
        // A reset is a close too.
        Err(_) => {}
    }
}

/// Send `bytes` on `s`, failing the test if the write fails.
pub fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).expect("write to the test server");
}

// ---- Gate: block a handler until the test says go ---------------------------

/// A one-way latch. Handlers call [`Gate::wait`] to block until the test
/// calls [`Gate::open`], or until their bound passes, whichever is first.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    /// A closed gate, shared between a test and its handlers.
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Let every waiter (present and future) through.
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    /// Block until the gate is open or `max` has passed. Returns whether
    /// it opened.
    pub fn wait(&self, max: Duration) -> bool {
        let open = self.open.lock().unwrap();
        let (open, _) = self
            .opened
            .wait_timeout_while(open, max, |open| !*open)
            .unwrap();
        *open
    }
}

// ---- Proxy: a connection the test can cut -----------------------------------

/// A TCP proxy on `127.0.0.1:0` that forwards every connection to a target.
/// [`cut`](Proxy::cut) closes every forwarded connection at once (both
/// ends), as if the network between client and server failed;
/// [`refuse_new`](Proxy::refuse_new) makes it close new connections as soon
/// as it accepts them, until told otherwise.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
    acceptor: Option<JoinHandle<()>>,
}

struct ProxyShared {
    target: SocketAddr,
    stopping: AtomicBool,
    refusing: AtomicBool,
    /// Both ends of every forwarded connection, so `cut` can shut them.
    links: Mutex<Vec<TcpStream>>,
    /// The two copying threads of every forwarded connection.
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

impl Proxy {
    /// Start a proxy that forwards to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(ProxyShared {
            target,
            stopping: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            links: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || proxy_accept_loop(&shared, listener))
        };
        Proxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Close every connection forwarded so far, on both sides. New
    /// connections are still forwarded (unless [`refuse_new`](Proxy::refuse_new)).
    pub fn cut(&self) {
        for s in self.shared.links.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// While `refuse` is true, close each new connection as soon as it is
    /// accepted, without forwarding it.
    pub fn refuse_new(&self, refuse: bool) {
        self.shared.refusing.store(refuse, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // accept() blocks; a connection to ourselves wakes it to see the flag.
        let _ = TcpStream::connect_timeout(&self.addr, PATIENCE);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        self.cut();
        let pumps = std::mem::take(&mut *self.shared.pumps.lock().unwrap());
        for p in pumps {
            let _ = p.join();
        }
    }
}

fn proxy_accept_loop(shared: &Arc<ProxyShared>, listener: TcpListener) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        if shared.refusing.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&shared.target, PATIENCE) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        shared.links.lock().unwrap().extend([c3, s3]);
        let mut pumps = shared.pumps.lock().unwrap();
        pumps.push(std::thread::spawn(move || pump(client, s2)));
        pumps.push(std::thread::spawn(move || pump(server, c2)));
    }
}

/// Copy bytes from `from` to `to` until either side closes; then pass the
/// close on.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                // A clean half-close: pass it on, the other pump carries on.
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
