//! Misbehaving servers for the client's tests, on real sockets (the idea
//! of MIT 6.824's labrpc: test against a network that does what the test
//! says).
//!
//! - [`Peer`]: accepts connections and runs a behaviour on each:
//!   [`echo`] (a correct server for `Echo`), [`trickle`] (answers one byte
//!   at a time), [`refuse`] (what a server at its connection limit does),
//!   [`slow_reader`] (reads, slowly, and never answers);
//! - [`CorruptingProxy`]: forwards to a real server, and when armed adds
//!   1 MiB to the length field of the next response;
//! - [`FullBacklog`]: a listener that stops accepting and lets its backlog
//!   fill, so new connections hang in the handshake.
//!
//! Every thread here has an owner that joins it, and every wait is bounded.

#![allow(dead_code)] // each test binary uses some of these

use minirpc::codec::{self, CodecId};
use minirpc::protocol::{self, FrameKind, RequestHead, HEADER_LEN};
use minirpc::transport::FrameReader;
use minirpc::RpcError;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest any single wait in a test may take before the test calls it
/// a hang. Generous on purpose: it proves "did not hang", not "was fast".
pub const PATIENCE: Duration = Duration::from_secs(10);

/// "Promptly" when a deadline is involved: a call must end within its own
/// timeout plus this (a bound against hangs on a loaded machine, not a
/// measure of speed).
pub const SLACK: Duration = Duration::from_secs(2);

// ---- Peer: a server with a behaviour ------------------------------------------

/// A listener on `127.0.0.1:0` that runs a behaviour on each connection it
/// accepts, each on its own thread.
pub struct Peer {
    addr: SocketAddr,
    shared: Arc<PeerShared>,
    acceptor: Option<JoinHandle<()>>,
}

struct PeerShared {
    stopping: AtomicBool,
    accepted: AtomicUsize,
    /// A handle on every accepted socket, so drop can shut them all.
    streams: Mutex<Vec<TcpStream>>,
    handlers: Mutex<Vec<JoinHandle<()>>>,
}

impl Peer {
    /// Start accepting; `behave` runs once per connection.
    pub fn start(behave: impl Fn(TcpStream) + Send + Sync + 'static) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake peer");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(PeerShared {
            stopping: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            streams: Mutex::new(Vec::new()),
            handlers: Mutex::new(Vec::new()),
        });
        let behave = Arc::new(behave);
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if shared.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = conn else { continue };
                    shared.accepted.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_nodelay(true);
                    // Bounded, so a behaviour can never block for ever.
                    let _ = stream.set_read_timeout(Some(PATIENCE));
                    let _ = stream.set_write_timeout(Some(PATIENCE));
                    if let Ok(copy) = stream.try_clone() {
                        shared.streams.lock().unwrap().push(copy);
                    }
                    let behave = Arc::clone(&behave);
                    let h = std::thread::spawn(move || behave(stream));
                    shared.handlers.lock().unwrap().push(h);
                }
            })
        };
        Peer {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // accept() blocks; a connection to ourselves wakes it to see the flag.
        let _ = TcpStream::connect_timeout(&self.addr, PATIENCE);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for s in self.shared.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        let handlers = std::mem::take(&mut *self.shared.handlers.lock().unwrap());
        for h in handlers {
            let _ = h.join();
        }
    }
}

/// The request frames of one connection, until it closes: `(kind, request
/// id, arguments)`.
fn requests(stream: &TcpStream) -> impl Iterator<Item = (FrameKind, u64, Vec<u8>)> + '_ {
    let mut reader = FrameReader::new(stream, 64 << 20);
    std::iter::from_fn(move || {
        let frame = reader.read_frame().ok()?;
        let args = RequestHead::parse(&frame.body)
            .map(|h| h.args.to_vec())
            .unwrap_or_default();
        Some((frame.header.kind, frame.header.request_id, args))
    })
}

/// A whole OK response for `request_id` whose result bytes are `result`.
pub fn ok_response(request_id: u64, result: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = protocol::begin_ok_response(&mut out, CodecId::Binary, request_id);
    out.extend_from_slice(result);
    protocol::finish_frame(&mut out, start);
    out
}

/// A correct server for one method, `Echo(x) -> x`, whatever `x` is: the
/// result is the argument's bytes. Answers pings.
pub fn echo(stream: TcpStream) {
    let mut out = &stream;
    for (kind, id, args) in requests(&stream) {
        let reply = match kind {
            FrameKind::Request => ok_response(id, &args),
            FrameKind::Ping => {
                let mut pong = Vec::new();
                protocol::control_frame(&mut pong, FrameKind::Pong, id);
                pong
            }
            _ => continue,
        };
        if out.write_all(&reply).is_err() {
            return;
        }
    }
}

/// Answer every request with a `String` of `len` bytes, sent one byte
/// every `pace`: a frame that is always arriving and never there. Stops
/// when the client closes the connection.
pub fn trickle(pace: Duration, len: usize) -> impl Fn(TcpStream) + Send + Sync + 'static {
    move |stream: TcpStream| {
        let result = codec::to_bytes(&"x".repeat(len));
        let mut out = &stream;
        for (kind, id, _) in requests(&stream) {
            if kind != FrameKind::Request {
                continue;
            }
            for byte in ok_response(id, &result) {
                if out.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(pace);
            }
        }
    }
}

/// What a server at its connection limit does: send a connection-level
/// error (request id 0) and close.
pub fn refuse(stream: TcpStream) {
    let mut out = Vec::new();
    let err = RpcError::resource_exhausted(
        "server has reached max_connections (1); retry later or raise ServerBuilder::max_connections",
    );
    protocol::error_response(&mut out, CodecId::Binary, 0, &err);
    let _ = (&stream).write_all(&out);
    let _ = stream.shutdown(Shutdown::Both);
}

/// Read every frame, `chunk` bytes at a time with a `pause` before each
/// read (so the client's writes fill the socket buffer and block), answer
/// nothing, and report how many frames arrived once the client closes.
pub fn slow_reader(
    pause: Duration,
    chunk: usize,
    frames_seen: mpsc::Sender<usize>,
) -> impl Fn(TcpStream) + Send + Sync {
    let frames_seen = Mutex::new(frames_seen);
    move |stream: TcpStream| {
        struct Slow<'a>(&'a TcpStream, Duration, usize);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::thread::sleep(self.1);
                let n = buf.len().min(self.2);
                self.0.read(&mut buf[..n])
            }
        }
        let mut reader = FrameReader::new(Slow(&stream, pause, chunk), 64 << 20);
        let mut n = 0;
        while reader.read_frame().is_ok() {
            n += 1;
        }
        let _ = frames_seen.lock().unwrap().send(n);
    }
}

// ---- CorruptingProxy ---------------------------------------------------------

/// A proxy to `target` that forwards requests as they are and, once
/// [`arm`](CorruptingProxy::arm)ed, adds 1 MiB to the body length of the
/// next response it forwards; everything after is forwarded as it is (so
/// the client reads the following bytes as that response's body).
pub struct CorruptingProxy {
    inner: Peer,
    armed: Arc<AtomicBool>,
}

impl CorruptingProxy {
    /// Start a proxy to `target`. `corrupted` hears once per corruption.
    pub fn start(target: SocketAddr, corrupted: mpsc::Sender<()>) -> CorruptingProxy {
        let armed = Arc::new(AtomicBool::new(false));
        let corrupted = Mutex::new(corrupted);
        let arm = Arc::clone(&armed);
        let inner = Peer::start(move |client: TcpStream| {
            let Ok(server) = TcpStream::connect_timeout(&target, PATIENCE) else {
                return;
            };
            let _ = server.set_nodelay(true);
            let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                return;
            };
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut &c2, &mut &s2);
                let _ = s2.shutdown(Shutdown::Both);
            });
            forward_responses(&server, &client, &arm, &corrupted);
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            let _ = up.join();
        });
        CorruptingProxy { inner, armed }
    }

    /// Where clients should connect.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr()
    }

    /// Corrupt the next response.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

/// Copy frames from `server` to `client`, corrupting one when armed.
fn forward_responses(
    server: &TcpStream,
    client: &TcpStream,
    armed: &AtomicBool,
    corrupted: &Mutex<mpsc::Sender<()>>,
) {
    let (mut from, mut to) = (server, client);
    loop {
        let mut header = [0u8; HEADER_LEN];
        if from.read_exact(&mut header).is_err() {
            return;
        }
        let len = u32::from_be_bytes(header[14..18].try_into().unwrap());
        let mut body = vec![0u8; len as usize];
        if from.read_exact(&mut body).is_err() {
            return;
        }
        let is_response = header[3] == FrameKind::Response as u8;
        if is_response && armed.swap(false, Ordering::SeqCst) {
            header[14..18].copy_from_slice(&(len + (1 << 20)).to_be_bytes());
            let _ = corrupted.lock().unwrap().send(());
        }
        if to.write_all(&header).is_err() || to.write_all(&body).is_err() {
            return;
        }
    }
}

// ---- FullBacklog ---------------------------------------------------------------

/// A listener whose accept queue is full: new connections hang in the TCP
/// handshake (the kernel drops their SYNs) until the client gives up.
pub struct FullBacklog {
    listener: TcpListener,
    accepted: Option<TcpStream>,
    fillers: Vec<TcpStream>,
}

impl FullBacklog {
    pub fn bind() -> FullBacklog {
        FullBacklog {
            listener: TcpListener::bind("127.0.0.1:0").expect("bind"),
            accepted: None,
            fillers: Vec::new(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Accept the one connection a client already made (it is in the
    /// backlog), without risking a blocking accept.
    pub fn accept_one(&mut self) {
        self.listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    self.accepted = Some(s);
                    return;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("no connection to accept: {e}"),
            }
        }
    }

    /// Connect to ourselves until a connection hangs: the backlog is full.
    pub fn fill(&mut self) {
        for _ in 0..10_000 {
            match TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)) {
                Ok(s) => self.fillers.push(s),
                Err(_) => return,
            }
        }
        panic!("the backlog never filled");
    }

    /// Close the accepted connection: its client sees end-of-stream.
    pub fn close_accepted(&mut self) {
        if let Some(s) = self.accepted.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
