//! The client: many concurrent calls over one connection.
//!
//! Article: 本地调用VS远程调用 (the client's steps 1–5); 原理 › 组件 (RPC
//! Client, Invoker, Connector, Channel). The one idea to take away: **a
//! request id and a table of pending calls let one TCP connection carry
//! any number of calls at once**. Each call writes its request tagged with a
//! fresh id; responses come back in whatever order the server finishes them,
//! and each is routed to the caller waiting for that id. Go's `net/rpc`
//! client is built the same way (its `pending map[uint64]*Call`).
//!
//! # Who reads the socket? (the speed lesson)
//!
//! The obvious design has one reader thread per connection that hands each
//! response to the waiting caller. That hand-off is a thread wake-up, and on
//! this kind of virtual machine a wake-up on another core costs tens of
//! microseconds: as much as the whole network round trip. So minirpc has no
//! client reader thread. Instead, **a waiting caller reads the socket
//! itself** when no one else is reading (it becomes the *leader*):
//!
//! ```text
//!   caller A: write req 7 ─► no leader? become leader ─► read: resp 9 ─► give to B, wake B
//!                                                        read: resp 7 ─► mine! stop leading,
//!                                                                        wake a waiter to lead
//!   caller B: write req 9 ─► A leads: sleep on my condvar ─► woken with resp 9 ─► return
//! ```
//!
//! A lone caller therefore reads its own response: the same number of
//! wake-ups as a hand-written blocking ping-pong over raw TCP. Many callers
//! share the reads: one `read` can fetch many responses, and the leader
//! hands each to its owner.
//!
//! # Timeouts and dead servers
//!
//! Every call has a deadline (default [`ClientBuilder::call_timeout`]). A
//! call that passes it removes its entry from the pending table and returns
//! `DeadlineExceeded`; if its response arrives later, the reader finds no
//! entry and drops it quietly. If the connection breaks (the server died),
//! whoever is reading sees it and fails *every* pending call with
//! `Unavailable` at once; the next call reconnects.

use crate::codec::{self, CodecId, Decode, Encode, Limits};
use crate::error::{RpcError, Status};
use crate::protocol::{self, Frame, FrameKind, ResponseHead};
use crate::trace::{self, Side, Tracer};
use crate::transport::{self, FrameReader, FrameWriter, ReadError};
use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Settings for a [`Client`]. Every field has a documented default.
#[derive(Clone)]
pub struct ClientBuilder {
    connect_timeout: Duration,
    call_timeout: Duration,
    write_timeout: Duration,
    caller_id: Option<String>,
    max_frame_bytes: usize,
    limits: Limits,
    tracer: Option<Tracer>,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            caller_id: None,
            max_frame_bytes: protocol::DEFAULT_MAX_FRAME_BYTES,
            limits: Limits::default(),
            tracer: None,
        }
    }
}

impl ClientBuilder {
    /// How long to wait for the TCP connection. Default 5 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
    /// How long a call waits for its answer unless told otherwise
    /// ([`Client::call_timeout`]). Sent to the server as the call's
    /// deadline. Default 10 s.
    pub fn call_timeout(mut self, t: Duration) -> Self {
        self.call_timeout = t;
        self
    }
    /// How long a write may block on a server that is not reading. Default
    /// 10 s.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }
    /// Who is calling: sent with every request as the `caller` metadata
    /// (servers use it for flow control and logs). Default none.
    pub fn caller_id(mut self, id: impl Into<String>) -> Self {
        self.caller_id = Some(id.into());
        self
    }
    /// Largest response body accepted. Default 4 MiB.
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n;
        self
    }
    /// Limits for decoding results. Default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Report each step of every call to `tracer` (see [`crate::trace`]).
    pub fn trace(mut self, tracer: Tracer) -> Self {
        self.tracer = Some(tracer);
        self
    }
    /// Connect to `addr` with these settings.
    pub fn connect(self, addr: impl ToSocketAddrs) -> Result<Client, RpcError> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| RpcError::unavailable(format!("cannot resolve server address: {e}")))?
            .collect();
        let conn = Connection::open(&addrs, &self)?;
        Ok(Client {
            addrs,
            config: Arc::new(self),
            conn: Mutex::new(Arc::new(conn)),
        })
    }
}

/// A connection to one server, shared by any number of threads (it is
/// `Send + Sync`; share it with `Arc` or by reference).
pub struct Client {
    addrs: Vec<SocketAddr>,
    config: Arc<ClientBuilder>,
    /// The current connection; replaced when it breaks.
    conn: Mutex<Arc<Connection>>,
}

impl Client {
    /// Connect with default settings.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Client, RpcError> {
        ClientBuilder::default().connect(addr)
    }

    /// Settings to change before connecting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Call `call_id` with `args` and wait for the result (request-response,
    /// the article's RR mode), for at most the default call timeout.
    ///
    /// Several arguments travel as a tuple: `client.call("Multiply", &(10, 20))`.
    pub fn call<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.call_timeout(call_id, args, self.config.call_timeout)
    }

    /// [`call`](Client::call) with its own timeout.
    pub fn call_timeout<A, R>(
        &self,
        call_id: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let tracer = &self.config.tracer;
        // Client step 1: the call id. Like the article's simplest choice, it
        // is the function's name as a string.
        trace::emit(tracer, Side::Client, 1, None, || {
            format!("mapped the call to call id \"{call_id}\"")
        });
        let conn = self.connection()?;
        let frame = conn.call(call_id, args, timeout, &self.config)?;
        // Client step 5: decode the result (or surface the server's error).
        let head = ResponseHead::parse(&frame.body).map_err(|e| {
            RpcError::internal(format!("malformed response from the server: {}", e.message))
        })?;
        let result = head.into_result()?;
        let value = codec::from_bytes::<R>(result, self.config.limits).map_err(|e| {
            RpcError::internal(format!(
                "the result of \"{call_id}\" does not decode as {}: {} (do client and server agree on the method's types?)",
                std::any::type_name::<R>(),
                e.message
            ))
        })?;
        trace::emit(tracer, Side::Client, 5, Some(result), || {
            format!(
                "decoded the {}-byte result as {}",
                result.len(),
                std::any::type_name::<R>()
            )
        });
        Ok(value)
    }

    /// Calls sent and not yet answered or timed out. Zero when the client
    /// is idle: a call that times out removes itself.
    pub fn in_flight(&self) -> usize {
        lock(&self.current().state).pending.len()
    }

    /// The server address this client is connected to.
    pub fn server_addr(&self) -> SocketAddr {
        self.current().peer
    }

    fn current(&self) -> Arc<Connection> {
        Arc::clone(&lock(&self.conn))
    }

    /// The live connection, reconnecting first if the last one broke.
    fn connection(&self) -> Result<Arc<Connection>, RpcError> {
        let mut conn = lock(&self.conn);
        if lock(&conn.state).broken.is_some() {
            *conn = Arc::new(Connection::open(&self.addrs, &self.config)?);
        }
        Ok(Arc::clone(&conn))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Tell the server we are gone, so its reader thread ends now rather
        // than at its idle timeout.
        let _ = lock(&self.conn).writer.stream().shutdown(Shutdown::Both);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One TCP connection and its pending-call table.
struct Connection {
    peer: SocketAddr,
    writer: FrameWriter,
    /// Only the leader locks this, so it is never contended.
    reader: Mutex<FrameReader<TcpStream>>,
    state: Mutex<State>,
    next_id: AtomicU64,
}

struct State {
    /// Request id → the waiting call.
    pending: HashMap<u64, Waiting>,
    /// Whether some caller is reading the socket right now.
    leader: bool,
    /// Set once the connection failed; every later call gets this error.
    broken: Option<RpcError>,
}

struct Waiting {
    /// Filled by whoever reads the response (or by a connection failure).
    result: Option<Result<Frame, RpcError>>,
    /// The waiting thread sleeps on this (with the `state` lock).
    wake: Arc<Condvar>,
}

thread_local! {
    // A thread waits for one call at a time, so it can reuse one condvar
    // for all of them instead of allocating one per call.
    static WAKE: Arc<Condvar> = Arc::new(Condvar::new());
}

/// What [`Connection::lead`] ended with.
enum Led {
    GotMine,
    TimedOut,
    Broken,
}

impl Connection {
    fn open(addrs: &[SocketAddr], config: &ClientBuilder) -> Result<Connection, RpcError> {
        let stream = transport::connect(addrs, config.connect_timeout)?;
        let peer = stream
            .peer_addr()
            .map_err(|e| RpcError::from_io("peer_addr", &e))?;
        stream
            .set_write_timeout(Some(config.write_timeout))
            .map_err(|e| RpcError::from_io("set_write_timeout", &e))?;
        let read_half = stream
            .try_clone()
            .map_err(|e| RpcError::from_io("cloning the socket", &e))?;
        Ok(Connection {
            peer,
            writer: FrameWriter::new(stream, 8 * config.max_frame_bytes.max(1 << 20)),
            reader: Mutex::new(FrameReader::new(read_half, config.max_frame_bytes)),
            state: Mutex::new(State {
                pending: HashMap::new(),
                leader: false,
                broken: None,
            }),
            // Request id 0 is reserved for connection-level errors.
            next_id: AtomicU64::new(1),
        })
    }

    /// Client steps 2–4: encode, send, wait. Returns the response frame.
    fn call<A: Encode + ?Sized>(
        &self,
        call_id: &str,
        args: &A,
        timeout: Duration,
        config: &ClientBuilder,
    ) -> Result<Frame, RpcError> {
        let deadline = Instant::now() + timeout;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracer = &config.tracer;

        // Step 2: the call id, the metadata and the arguments, serialized
        // into one frame.
        let mut frame = Vec::with_capacity(64);
        let caller;
        let meta: &[(&str, &str)] = match &config.caller_id {
            Some(c) => {
                caller = [(protocol::META_CALLER, c.as_str())];
                &caller
            }
            None => &[],
        };
        let timeout_ms = u32::try_from(timeout.as_millis().max(1)).unwrap_or(u32::MAX);
        let start = protocol::begin_request(
            &mut frame,
            FrameKind::Request,
            CodecId::Binary,
            id,
            call_id,
            timeout_ms,
            meta,
        );
        let args_at = frame.len();
        args.encode(&mut frame);
        protocol::finish_frame(&mut frame, start);
        trace::emit(tracer, Side::Client, 2, Some(&frame[args_at..]), || {
            format!(
                "serialized the arguments into {} bytes and wrapped them, with the call id, in a {}-byte frame (request id {id})",
                frame.len() - args_at,
                frame.len()
            )
        });

        // Register before sending, so the response cannot beat us to the table.
        {
            let mut st = lock(&self.state);
            if let Some(e) = &st.broken {
                return Err(e.clone());
            }
            let wake = WAKE.with(Arc::clone);
            st.pending.insert(id, Waiting { result: None, wake });
        }
        // Step 3: send it.
        if let Err(e) = self.writer.send(&frame) {
            self.fail_all(e.clone());
            let mut st = lock(&self.state);
            st.pending.remove(&id);
            return Err(e);
        }
        trace::emit(tracer, Side::Client, 3, Some(&frame), || {
            format!("sent the request frame to {}", self.peer)
        });
        // Step 4: wait for the answer.
        trace::emit(tracer, Side::Client, 4, None, || {
            format!("waiting for response {id} (deadline in {timeout:?})")
        });
        let response = self.wait(id, deadline, call_id, timeout)?;
        if tracer.is_some() {
            let bytes = response_bytes(&response);
            trace::emit(tracer, Side::Client, 5, Some(&bytes), || {
                format!("received the response frame for request {id}")
            });
        }
        Ok(response)
    }

    /// Wait for response `id`: read the socket ourselves if no one is, or
    /// sleep until the leader hands us our response (or the reader role).
    fn wait(
        &self,
        id: u64,
        deadline: Instant,
        call_id: &str,
        timeout: Duration,
    ) -> Result<Frame, RpcError> {
        let mut st = lock(&self.state);
        loop {
            if let Some(result) = st.pending.get_mut(&id).and_then(|w| w.result.take()) {
                st.pending.remove(&id);
                self.pass_lead(&st);
                return result;
            }
            let now = Instant::now();
            if now >= deadline {
                st.pending.remove(&id);
                self.pass_lead(&st);
                return Err(RpcError::deadline_exceeded(format!(
                    "\"{call_id}\" got no response within {timeout:?}; the server may still run it (raise the timeout with Client::call_timeout if it is just slow)"
                )));
            }
            if !st.leader {
                st.leader = true;
                drop(st);
                let led = self.lead(id, deadline);
                st = lock(&self.state);
                st.leader = false;
                match led {
                    Led::GotMine | Led::Broken | Led::TimedOut => continue,
                }
            }
            let wake = Arc::clone(&st.pending[&id].wake);
            st = wake
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// If no one is reading and some call is still waiting, wake one waiter
    /// so it takes over reading. Called whenever a caller leaves.
    fn pass_lead(&self, st: &State) {
        if st.leader {
            return;
        }
        if let Some(w) = st.pending.values().find(|w| w.result.is_none()) {
            w.wake.notify_one();
        }
    }

    /// Read frames and route them until our own response arrives, our
    /// deadline passes, or the connection breaks.
    fn lead(&self, my_id: u64, deadline: Instant) -> Led {
        let mut reader = lock(&self.reader);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Led::TimedOut;
            }
            if !reader.has_buffered_frame() {
                // The socket timeout is how a blocked read gives up at our
                // deadline. (Zero would mean "forever", hence the max.)
                let wait = (deadline - now).max(Duration::from_millis(1));
                if let Err(e) = reader.get_ref().set_read_timeout(Some(wait)) {
                    self.fail_all(RpcError::from_io("set_read_timeout", &e));
                    return Led::Broken;
                }
            }
            match reader.read_frame() {
                Ok(frame) => {
                    if self.route(frame, my_id) {
                        return Led::GotMine;
                    }
                }
                Err(ReadError::TimedOut) => continue,
                Err(ReadError::Protocol(e)) => {
                    self.fail_all(RpcError::new(
                        Status::Unavailable,
                        format!("the server sent a bad frame ({e}); connection closed"),
                    ));
                    return Led::Broken;
                }
                Err(ReadError::Closed) | Err(ReadError::Truncated { .. }) => {
                    self.fail_all(RpcError::unavailable(format!(
                        "connection to {} was closed by the server",
                        self.peer
                    )));
                    return Led::Broken;
                }
                Err(ReadError::Io(e)) => {
                    self.fail_all(RpcError::from_io(
                        &format!("connection to {} failed", self.peer),
                        &e,
                    ));
                    return Led::Broken;
                }
            }
        }
    }

    /// Hand one frame to whoever is waiting for it. Returns true if it was
    /// `my_id`'s response (left in the table for the leader to take).
    fn route(&self, frame: Frame, my_id: u64) -> bool {
        let id = frame.header.request_id;
        match frame.header.kind {
            FrameKind::Response if id == 0 => {
                // A connection-level error: the server is about to close.
                let err = match ResponseHead::parse(&frame.body) {
                    Ok(h) => RpcError::new(h.status, h.message.to_owned()),
                    Err(e) => e,
                };
                self.fail_all(err);
                false
            }
            FrameKind::Response => {
                let mut st = lock(&self.state);
                match st.pending.get_mut(&id) {
                    Some(w) => {
                        w.result = Some(Ok(frame));
                        if id != my_id {
                            w.wake.notify_one();
                        }
                        id == my_id
                    }
                    // Its caller timed out and left: drop it quietly.
                    None => false,
                }
            }
            FrameKind::Ping => {
                let mut out = Vec::with_capacity(protocol::HEADER_LEN);
                protocol::control_frame(&mut out, FrameKind::Pong, id);
                let _ = self.writer.send(&out);
                false
            }
            // Pongs answer our pings; servers send no requests. Ignore.
            FrameKind::Pong | FrameKind::Request | FrameKind::Oneway => false,
        }
    }

    /// The connection is unusable: fail every waiting call with `err`, wake
    /// them all, and close the socket.
    fn fail_all(&self, err: RpcError) {
        let mut st = lock(&self.state);
        if st.broken.is_none() {
            st.broken = Some(err.clone());
        }
        for w in st.pending.values_mut() {
            if w.result.is_none() {
                w.result = Some(Err(err.clone()));
            }
            w.wake.notify_one();
        }
        drop(st);
        let _ = self.writer.stream().shutdown(Shutdown::Both);
    }
}

/// A frame's bytes again, for tracing.
fn response_bytes(frame: &Frame) -> Vec<u8> {
    let mut v = frame.header.to_bytes().to_vec();
    v.extend_from_slice(&frame.body);
    v
}
