//! [`HttpServer`]: a small HTTP/1.1 server on std threads, with keep-alive
//! and a limit on everything a peer can make it spend.
//!
//! Article: 对比 › RPC与HTTP ("HTTP is a special RPC": a request names
//! what to run, `POST /call/Multiply`, and carries its arguments; and the
//! HTTP/1.0 short connection against HTTP/1.1's keep-alive). The one idea
//! to take away: **an HTTP server is an RPC server whose frame is text**:
//! the same acceptor, connection cap, per-connection reader and timeouts
//! as `crate::server`, but the "frame header" is a head of text lines
//! whose end must be searched for, and every line is a claim to check.
//!
//! ```text
//!  acceptor ── accept() ── past max_connections? ── 503 + close
//!     │
//!     ▼ one thread per connection
//!  RequestReader::next (request.rs): idle wait, head by header_timeout,
//!     │                                 body by body_timeout
//!     ├── Refused(400/408/411/413/414/431/505) ── answer, lingering close
//!     ▼
//!  handler.handle(&HttpRequest) ── HttpResponse ── written by write_timeout
//!     │
//!     └── keep-alive? read the next request : close
//! ```
//!
//! A handler is anything that implements [`HttpHandler`], including a
//! plain closure `Fn(&HttpRequest) -> HttpResponse`; several are mounted
//! side by side with a [`Router`](super::Router). The call gateway
//! (`crate::gateway`) is one such handler.

use super::reply::HttpResponse;
use super::request::{HttpLimits, HttpRequest, Next, RequestReader};
use crate::sync::lock;
use crate::time::Deadline;
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What answers requests. Implemented for every
/// `Fn(&HttpRequest) -> HttpResponse + Send + Sync`.
///
/// A handler runs on the connection's thread; a panic in it becomes a 500
/// for that request and the connection is closed.
pub trait HttpHandler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(&self, req: &HttpRequest) -> HttpResponse;
}

impl<F> HttpHandler for F
where
    F: Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static,
{
    fn handle(&self, req: &HttpRequest) -> HttpResponse {
        self(req)
    }
}

/// Settings of an [`HttpServer`]; every field has a safe default.
#[derive(Clone, Debug)]
pub struct HttpServer {
    /// Limits on each request (line, head, body, and their timeouts).
    pub limits: HttpLimits,
    /// Connections open at once; one more is answered 503 and closed.
    /// Default 256 (each connection costs a thread).
    pub max_connections: usize,
    /// A keep-alive connection with no request for this long is closed.
    /// Default 15 s.
    pub idle_timeout: Duration,
    /// A response must be taken by the peer within this long, as a whole
    /// (not per system call), or the connection is closed. Default 10 s.
    pub write_timeout: Duration,
}

impl Default for HttpServer {
    fn default() -> HttpServer {
        HttpServer {
            limits: HttpLimits::default(),
            max_connections: 256,
            idle_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of a running [`HttpServer`] (see [`HttpServerHandle::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Connections open right now.
    pub connections: usize,
    /// Requests that reached the handler.
    pub requests: u64,
    /// Requests the server refused itself (400, 408, 411, 413, 414, 431, 505).
    pub refused: u64,
    /// Connections turned away with 503 because `max_connections` were open.
    pub over_capacity: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    refused: AtomicU64,
    over_capacity: AtomicU64,
}

/// What the acceptor and the connection threads share.
struct Shared {
    settings: HttpServer,
    handler: Arc<dyn HttpHandler>,
    shutting_down: AtomicBool,
    live: AtomicUsize,
    counters: Counters,
    /// Each connection's socket and thread, so shutdown can close and join.
    open: Mutex<HashMap<u64, (TcpStream, JoinHandle<()>)>>,
}

impl HttpServer {
    /// Bind `addr` and serve `handler` on background threads.
    pub fn serve(
        self,
        addr: impl ToSocketAddrs,
        handler: impl HttpHandler,
    ) -> io::Result<HttpServerHandle> {
        self.serve_listener(TcpListener::bind(addr)?, Arc::new(handler))
    }

    /// Serve `handler` on a listener already bound.
    pub fn serve_listener(
        self,
        listener: TcpListener,
        handler: Arc<dyn HttpHandler>,
    ) -> io::Result<HttpServerHandle> {
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            settings: self,
            handler,
            shutting_down: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            counters: Counters::default(),
            open: Mutex::new(HashMap::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("minirpc-http-acceptor".into())
                .spawn(move || accept_loop(&shared, listener))?
        };
        Ok(HttpServerHandle {
            local_addr,
            shared,
            acceptor: Some(acceptor),
        })
    }
}

/// A running HTTP server. Dropping it shuts the server down.
pub struct HttpServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpServerHandle {
    /// The address it listens on (with the real port if you asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A snapshot of its counters.
    pub fn stats(&self) -> HttpStats {
        let c = &self.shared.counters;
        HttpStats {
            connections: self.shared.live.load(Ordering::SeqCst),
            requests: c.requests.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            over_capacity: c.over_capacity.load(Ordering::Relaxed),
        }
    }

    /// Stop accepting, close every connection (a request being handled
    /// finishes first, its answer may not be delivered) and join every
    /// thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip([127, 0, 0, 1].into());
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = acceptor.join();
        let open: Vec<_> = lock(&self.shared.open).drain().map(|(_, v)| v).collect();
        for (stream, thread) in open {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Decrements the count of live connections on every exit of a thread.
struct LiveSlot(Arc<Shared>);

impl Drop for LiveSlot {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors, say: wait a little instead of spinning.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if shared.live.fetch_add(1, Ordering::SeqCst) >= shared.settings.max_connections {
            shared.live.fetch_sub(1, Ordering::SeqCst);
            shared
                .counters
                .over_capacity
                .fetch_add(1, Ordering::Relaxed);
            turn_away(&stream, shared.settings.max_connections);
            continue;
        }
        let slot = LiveSlot(Arc::clone(shared));
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let thread = {
            let shared = Arc::clone(shared);
            std::thread::Builder::new()
                .name("minirpc-http-conn".into())
                .spawn(move || {
                    let _slot = slot;
                    serve_connection(&shared, stream);
                })
        };
        let Ok(thread) = thread else {
            continue; // the slot was dropped with the closure
        };
        let mut open = lock(&shared.open);
        // Threads that have ended leave their entry; reap them here.
        open.retain(|_, (_, t)| !t.is_finished());
        open.insert(next_id, (clone, thread));
        next_id += 1;
    }
}

/// Past the connection cap: a short 503, written without waiting.
fn turn_away(stream: &TcpStream, max: usize) {
    let r = HttpResponse::text(
        503,
        format!("this server already has {max} connections open (see HttpServer::max_connections); retry later"),
    )
    .with_header("Retry-After", "1");
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = (&*stream).write_all(&r.to_bytes(true));
    let _ = stream.shutdown(Shutdown::Write);
}

/// One connection: requests in, responses out, until one side closes;
/// then the socket is shut, since the registry of open connections still
/// holds a handle on it (for shutdown) and dropping ours would not close it.
fn serve_connection(shared: &Shared, stream: TcpStream) {
    let last = stream.try_clone();
    serve_requests(shared, stream);
    if let Ok(s) = last {
        let _ = s.shutdown(Shutdown::Both);
    }
}

fn serve_requests(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    let settings = &shared.settings;
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = RequestReader::new(stream);
    loop {
        if shared.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let idle = Deadline::after(settings.idle_timeout);
        let next = reader.next(&settings.limits, idle, |req| {
            // curl and others wait for this before sending a large body.
            let expect = req.header("expect");
            if expect.is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
                let d = Deadline::after(settings.write_timeout);
                let _ = write_by(&mut out, b"HTTP/1.1 100 Continue\r\n\r\n", d);
            }
        });
        let mut req = match next {
            Next::Idle => return,
            Next::Refused(r) => {
                shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                let bytes = HttpResponse::text(r.status, r.message).to_bytes(true);
                if write_by(&mut out, &bytes, Deadline::after(settings.write_timeout)).is_ok() {
                    linger_close(reader.source());
                }
                return;
            }
            Next::Request(req) => req,
        };
        req.peer = peer;
        shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.handler.handle(&req)));
        let (response, broken) = match ran {
            Ok(r) => (r, false),
            Err(_) => (
                HttpResponse::text(500, "the handler for this request panicked"),
                true,
            ),
        };
        let close = req.wants_close() || broken || shared.shutting_down.load(Ordering::SeqCst);
        let bytes = response.to_bytes(close);
        if write_by(&mut out, &bytes, Deadline::after(settings.write_timeout)).is_err() {
            return;
        }
        if close {
            linger_close(reader.source());
            return;
        }
    }
}

/// Write all of `bytes` by `deadline` (a deadline for the whole write: a
/// peer that reads a byte at a time cannot stretch it).
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Deadline) -> io::Result<()> {
    while !bytes.is_empty() {
        if deadline.has_passed() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(deadline.remaining_capped(Duration::from_secs(60))))?;
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Close after an answer without losing it. Closing a socket that still
/// has unread bytes makes the kernel send a reset, and a reset can destroy
/// the answer before the peer reads it (a refused 64 KiB head, say). So:
/// end our side, then read and discard what the peer still sends, briefly
/// and boundedly, until it closes too. Apache and nginx call this a
/// "lingering close".
fn linger_close(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 8192];
    let mut left: usize = 1 << 20;
    let mut s = stream;
    while left > 0 {
        let now = Instant::now();
        if now >= until {
            break;
        }
        let _ = s.set_read_timeout(Some(until - now));
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
