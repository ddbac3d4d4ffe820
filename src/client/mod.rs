//! The client: many concurrent calls over one connection, in four modes.
//!
//! Article: 本地调用VS远程调用 (the client's steps 1–5); 模式 (the four call
//! modes); 原理 › 组件 (RPC Client, Invoker, Connector, Channel). The one idea to take away: **a
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
//! microseconds: as much as the whole network round trip. So in minirpc a
//! blocked call does not wait for a reader thread. Instead, **a waiting
//! caller reads the socket itself** when no one else is reading (it becomes
//! the *leader*):
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
//! hands each to its owner. Futures and callbacks have no thread waiting,
//! so each connection also has a background thread that reads only when
//! they (or a heartbeat) need it and no caller is leading; see
//! `src/client/conn.rs`.
//!
//! # Four modes, one mechanism (模式)
//!
//! | mode | method | the pending-table entry | returns |
//! |---|---|---|---|
//! | request-response | [`Client::call`] | a blocked thread | the result |
//! | future | [`Client::call_async`] | a [`Pending`] to collect | at once |
//! | callback | [`Client::call_with_callback`] | a closure to run | at once |
//! | oneway | [`Client::call_oneway`] | none | once written |
//!
//! See [`conn`](self) internals in `src/client/conn.rs`: all four go through
//! one function, `Connection::start`.
//!
//! # Timeouts and dead servers
//!
//! Every call has a deadline (default [`ClientBuilder::call_timeout`]). A
//! call that passes it removes its entry from the pending table and returns
//! `DeadlineExceeded`; if its response arrives later, the reader finds no
//! entry and drops it quietly. If the connection breaks (the server died),
//! whoever is reading sees it and fails *every* pending call with
//! `Unavailable` at once; the next call reconnects (with exponential
//! backoff while the server stays down). A server that vanishes without
//! closing the socket is caught by heartbeats (see `src/client/conn.rs`).

mod conn;
mod pending;

pub use pending::Pending;

use crate::codec::{self, CodecId, Decode, Encode, JsonCx, Limits};
use crate::error::RpcError;
use crate::protocol::{self, Frame, ResponseHead};
use crate::trace::{self, Side, Tracer};
use conn::{CallbackPool, Connection, Heartbeat, Mode};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
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
    codec: CodecId,
    heartbeat: Option<Heartbeat>,
    reconnect_min: Duration,
    reconnect_max: Duration,
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
            codec: CodecId::Binary,
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(5),
                misses: 3,
            }),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
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
    /// How long a call waits for its answer unless told otherwise (the
    /// `*_timeout` methods). Sent to the server as the call's deadline.
    /// Default 10 s.
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
    /// The wire format for arguments and results: [`CodecId::Binary`]
    /// (default, compact and fast) or [`CodecId::Json`] (text, for reading
    /// and for other languages). The server answers in the same codec.
    pub fn codec(mut self, codec: CodecId) -> Self {
        self.codec = codec;
        self
    }
    /// Send a ping after `interval` of silence from the server (and again
    /// every interval), and declare the connection dead once a ping has gone
    /// unanswered for `misses` intervals (pending calls fail with
    /// `Unavailable`). Default 5 s × 3, like the servers'
    /// default idle timeout of 15 s. `None` turns heartbeats off.
    pub fn heartbeat(mut self, every: Option<(Duration, u32)>) -> Self {
        self.heartbeat = every.map(|(interval, misses)| Heartbeat {
            interval: interval.max(Duration::from_millis(1)),
            misses: misses.max(1),
        });
        self
    }
    /// After the connection breaks, the next call reconnects. If that
    /// fails, calls fail fast for `min`, then `2 × min`, ... up to `max`
    /// before the next attempt. Default 50 ms up to 5 s.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }
    /// Report each step of every call to `tracer` (see [`crate::trace`]).
    pub fn trace(mut self, tracer: Tracer) -> Self {
        self.tracer = Some(tracer);
        self
    }
    /// Connect to `addr` with these settings. Fails if the server cannot be
    /// reached now; after that, the client reconnects by itself.
    pub fn connect(self, addr: impl ToSocketAddrs) -> Result<Client, RpcError> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| RpcError::unavailable(format!("cannot resolve server address: {e}")))?
            .collect();
        let callbacks = Arc::new(CallbackPool::new());
        let conn = Connection::open(&addrs, &self, Arc::clone(&callbacks))?;
        Ok(Client {
            addrs,
            config: Arc::new(self),
            slot: Mutex::new(Slot {
                conn: Some(conn),
                backoff: Duration::ZERO,
                next_attempt: Instant::now(),
                last_error: None,
            }),
            callbacks,
        })
    }
}

/// A connection to one server, shared by any number of threads (it is
/// `Send + Sync`; share it with `Arc` or by reference).
pub struct Client {
    addrs: Vec<SocketAddr>,
    config: Arc<ClientBuilder>,
    slot: Mutex<Slot>,
    callbacks: Arc<CallbackPool>,
}

/// The current connection, and the reconnect schedule once it breaks.
struct Slot {
    conn: Option<Arc<Connection>>,
    backoff: Duration,
    next_attempt: Instant,
    last_error: Option<RpcError>,
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

    /// Request-response (RR): call `call_id` with `args` and wait for the
    /// result, for at most the default call timeout.
    ///
    /// Several arguments travel as a tuple: `client.call("Multiply", &(10, 20))`.
    pub fn call<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.call_timeout(call_id, args, self.config.call_timeout)
    }

    /// [`call`](Client::call) with its own timeout (its deadline travels to
    /// the server, which skips the work if it is already too late).
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
        let (_, frame) = conn.start(call_id, args, timeout, &self.config, Mode::Blocking)?;
        let frame =
            frame.ok_or_else(|| RpcError::internal("blocking call ended without a response"))?;
        // Client step 5: decode the result (or surface the server's error).
        let value = decode_response(&frame, self.config.limits)?;
        trace::emit(tracer, Side::Client, 5, None, || {
            format!("decoded the result as {}", std::any::type_name::<R>())
        });
        Ok(value)
    }

    /// Future mode: send the call and return at once with a [`Pending`]
    /// to wait on, poll, or `.await`.
    pub fn call_async<A, R>(&self, call_id: &str, args: &A) -> Pending<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.call_async_timeout(call_id, args, self.config.call_timeout)
    }

    /// [`call_async`](Client::call_async) with its own timeout.
    pub fn call_async_timeout<A, R>(&self, call_id: &str, args: &A, timeout: Duration) -> Pending<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let limits = self.config.limits;
        let conn = match self.connection() {
            Ok(c) => c,
            Err(e) => return Pending::failed(e, limits),
        };
        match conn.start(call_id, args, timeout, &self.config, Mode::Future) {
            Ok((id, _)) => Pending::in_flight(conn, id, limits),
            Err(e) => Pending::failed(e, limits),
        }
    }

    /// Callback mode: send the call and return at once; `f` runs exactly
    /// once with the result: on success, on a server error, at the
    /// deadline, or when the connection fails. It runs on the client's
    /// callback threads (two of them), never on the thread reading the
    /// socket, so a slow or panicking callback does not hold up other calls'
    /// responses. Callbacks that block do hold up *later callbacks* once both
    /// callback threads are taken: keep callbacks short, and hand long work
    /// to your own threads.
    pub fn call_with_callback<A, R, F>(&self, call_id: &str, args: &A, f: F)
    where
        A: Encode + ?Sized,
        R: Decode + 'static,
        F: FnOnce(Result<R, RpcError>) + Send + 'static,
    {
        self.call_with_callback_timeout(call_id, args, self.config.call_timeout, f)
    }

    /// [`call_with_callback`](Client::call_with_callback) with its own timeout.
    pub fn call_with_callback_timeout<A, R, F>(
        &self,
        call_id: &str,
        args: &A,
        timeout: Duration,
        f: F,
    ) where
        A: Encode + ?Sized,
        R: Decode + 'static,
        F: FnOnce(Result<R, RpcError>) + Send + 'static,
    {
        let limits = self.config.limits;
        let raw: conn::RawCallback = Box::new(move |frame: Result<Frame, RpcError>| {
            f(frame.and_then(|fr| decode_response(&fr, limits)))
        });
        match self.connection() {
            // `start` guarantees the callback runs once, even if sending fails.
            Ok(conn) => {
                let _ = conn.start(call_id, args, timeout, &self.config, Mode::Callback(raw));
            }
            // Still on the callback threads, so a callback never runs on
            // the caller's thread (where it might need a lock the caller holds).
            Err(e) => self.callbacks.run(raw, Err(e)),
        }
    }

    /// Oneway (单向调用): send the call and return once the frame is
    /// written. The server runs the handler and sends nothing back; its
    /// errors are counted on the server (`ServerStats::oneway_failed`), not
    /// reported here. An `Err` means the frame could not be sent.
    pub fn call_oneway<A>(&self, call_id: &str, args: &A) -> Result<(), RpcError>
    where
        A: Encode + ?Sized,
    {
        let conn = self.connection()?;
        conn.start(
            call_id,
            args,
            self.config.call_timeout,
            &self.config,
            Mode::Oneway,
        )
        .map(|_| ())
    }

    /// Entries in the pending table: calls sent and not yet answered, timed
    /// out or abandoned, plus futures whose answer arrived but has not been
    /// collected. Zero when the client is idle: nothing is left behind.
    pub fn in_flight(&self) -> usize {
        lock(&self.slot).conn.as_ref().map_or(0, |c| c.in_flight())
    }

    /// The address of the server this client was last connected to.
    pub fn server_addr(&self) -> SocketAddr {
        lock(&self.slot)
            .conn
            .as_ref()
            .map_or(self.addrs[0], |c| c.peer)
    }

    /// The live connection, reconnecting first if the last one broke.
    /// While the server stays unreachable, calls fail fast with the last
    /// error and the time of the next attempt, which backs off
    /// exponentially. (One reconnect attempt runs at a time, under the slot
    /// lock: calls arriving meanwhile wait for it, at most `connect_timeout`.)
    fn connection(&self) -> Result<Arc<Connection>, RpcError> {
        let mut slot = lock(&self.slot);
        if let Some(c) = &slot.conn {
            if !c.is_broken() && !c.closed_while_idle() {
                return Ok(Arc::clone(c));
            }
        }
        if let Some(old) = slot.conn.take() {
            old.close();
        }
        let now = Instant::now();
        if now < slot.next_attempt {
            let last = slot
                .last_error
                .as_ref()
                .map_or(String::new(), |e| e.message.clone());
            return Err(RpcError::unavailable(format!(
                "server {} is unreachable ({last}); next reconnect attempt in {:?}",
                self.addrs[0],
                slot.next_attempt - now
            )));
        }
        match Connection::open(&self.addrs, &self.config, Arc::clone(&self.callbacks)) {
            Ok(c) => {
                slot.backoff = Duration::ZERO;
                slot.last_error = None;
                slot.conn = Some(Arc::clone(&c));
                Ok(c)
            }
            Err(e) => {
                slot.backoff = if slot.backoff.is_zero() {
                    self.config.reconnect_min
                } else {
                    (slot.backoff * 2).min(self.config.reconnect_max)
                };
                slot.next_attempt = now + slot.backoff;
                slot.last_error = Some(e.clone());
                Err(RpcError::unavailable(format!(
                    "{}; retrying no sooner than {:?} from now",
                    e.message, slot.backoff
                )))
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Fail what is still pending (callbacks run once with Cancelled),
        // stop the background thread, and tell the server we are gone.
        if let Some(c) = lock(&self.slot).conn.take() {
            c.close();
        }
    }
}

/// Client step 5: a response frame into the caller's type, or the server's
/// error with its status and message intact.
pub(crate) fn decode_response<R: Decode>(frame: &Frame, limits: Limits) -> Result<R, RpcError> {
    let head = ResponseHead::parse(&frame.body).map_err(|e| {
        RpcError::internal(format!("malformed response from the server: {}", e.message))
    })?;
    let result = head.into_result()?;
    // The server answers in the codec we asked in. The client decodes only
    // its own declared result type, so the whitelist check is not needed.
    let codec = CodecId::from_byte(frame.header.codec).ok_or_else(|| {
        RpcError::internal(format!(
            "the server answered in unknown codec {}",
            frame.header.codec
        ))
    })?;
    codec::decode_as::<R>(codec, result, limits, &JsonCx::unchecked()).map_err(|e| {
        RpcError::internal(format!(
            "the result does not decode as {}: {} (do client and server agree on the method's types?)",
            std::any::type_name::<R>(),
            e.message
        ))
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
