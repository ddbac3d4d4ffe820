//! The server: the call table, the acceptor, a reader per connection, and
//! the Processor that runs handlers.
//!
//! Article: 本地调用VS远程调用 (the server's steps 1–6) and its Call ID映射;
//! 原理 › 组件 (RPC Server, Acceptor, Processor). The one idea to take away:
//! **the call table is just a map from a name to a function**,
//! `HashMap<String, Arc<Handler>>` below, exactly the article's
//! `std::map<std::string, std::function<>>`. Everything else here is about
//! feeding it safely: reading frames, bounding the work, and answering every
//! request exactly once.
//!
//! ```text
//!  acceptor thread ── accept() ──► one reader thread per connection
//!                                      │ read frame, parse envelope,
//!                                      │ look the call id up in the table
//!                                      │ (unknown? answer Unimplemented now)
//!                                      ▼
//!                     Processor: bounded queue ──► worker threads
//!                     (full? answer ResourceExhausted now)   │ deadline passed? skip
//!                                                            │ decode args, call handler
//!                                                            ▼ encode result
//!                               connection's FrameWriter ◄── response frame
//! ```
//!
//! Because handlers run on the pool, not on the reader, a slow call does
//! not hold up the calls behind it on the same connection: their responses
//! simply leave first, matched to their callers by request id. (One
//! exception, for speed: a method that has proven very short runs on the
//! reader itself, with no thread hand-off; see `Method` below for the
//! policy and its price.)

use crate::codec::{self, CodecId, DeclaredTypes, Decode, Encode, JsonCx, Limits};
use crate::error::{RpcError, Status};
use crate::pool::ThreadPool;
use crate::protocol::{self, FrameKind, RequestHead};
use crate::trace::{self, Side, Tracer};
use crate::transport::{FrameReader, FrameWriter, ReadError};
use crate::whitelist::Whitelist;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A registered method: decode the arguments from `args`, run, and append
/// the encoded result to `out`. This is the value type of the call table.
/// [`Server::register`] builds one from a typed closure; write one by hand
/// only to do something the typed form cannot.
pub type Handler =
    dyn Fn(&CallContext, &[u8], &mut Vec<u8>) -> Result<(), RpcError> + Send + Sync + 'static;

/// What a handler can know about the call it is serving.
pub struct CallContext {
    call_id: String,
    request_id: u64,
    deadline: Option<Instant>,
    caller: Option<String>,
    peer: SocketAddr,
    codec: CodecId,
    limits: Limits,
    whitelist: Arc<Whitelist>,
    tracer: Option<Tracer>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("call_id", &self.call_id)
            .field("request_id", &self.request_id)
            .field("deadline", &self.deadline)
            .field("caller", &self.caller)
            .field("peer", &self.peer)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl CallContext {
    /// The call id the client asked for.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
    /// The request id on the connection (unique per connection, not global).
    pub fn request_id(&self) -> u64 {
        self.request_id
    }
    /// When the caller stops waiting, if it said.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
    /// How long until the caller stops waiting (zero if it already has), or
    /// `None` if the caller set no deadline. A long handler can check this
    /// and give up early.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
    /// The caller's identity from the request metadata, if it sent one.
    pub fn caller(&self) -> Option<&str> {
        self.caller.as_deref()
    }
    /// The address the call came from.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    /// The codec the arguments are in (and the result must be in).
    pub fn codec(&self) -> CodecId {
        self.codec
    }
    /// The decoding limits the server was configured with.
    pub fn limits(&self) -> Limits {
        self.limits
    }
    /// The deserialization whitelist, for a handler that decodes JSON by
    /// hand (`codec::from_json(bytes, limits, &JsonCx::checked(ctx.whitelist()))`).
    pub fn whitelist(&self) -> &Whitelist {
        &self.whitelist
    }
    pub(crate) fn trace(&self, step: u8, bytes: Option<&[u8]>, message: impl FnOnce() -> String) {
        trace::emit(&self.tracer, Side::Server, step, bytes, message)
    }
}

/// Settings for a [`Server`]. Every field has a documented default.
#[derive(Clone)]
pub struct ServerBuilder {
    workers: usize,
    queue_capacity: usize,
    max_connections: usize,
    max_frame_bytes: usize,
    idle_timeout: Option<Duration>,
    write_timeout: Duration,
    shutdown_grace: Duration,
    spin: Duration,
    inline_max: Duration,
    limits: Limits,
    allowed_types: Vec<String>,
    tracer: Option<Tracer>,
}

impl Default for ServerBuilder {
    fn default() -> ServerBuilder {
        ServerBuilder {
            workers: 16,
            queue_capacity: 1024,
            max_connections: 1024,
            max_frame_bytes: protocol::DEFAULT_MAX_FRAME_BYTES,
            idle_timeout: Some(Duration::from_secs(15)),
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            spin: crate::pool::DEFAULT_SPIN,
            inline_max: Duration::from_micros(20),
            limits: Limits::default(),
            allowed_types: Vec::new(),
            tracer: None,
        }
    }
}

impl ServerBuilder {
    /// Worker threads that run handlers. Default 16: handlers may block
    /// (on a database, on another RPC), so more threads than cores.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }
    /// Calls that may wait for a worker before new ones are refused with
    /// `ResourceExhausted`. Default 1024.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }
    /// Open connections at once; one more gets an error frame and is closed.
    /// Default 1024 (each connection costs a reader thread).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
    /// Largest frame body accepted; a bigger one closes the connection with
    /// `ResourceExhausted`. Default 4 MiB.
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n;
        self.limits.max_len = self.limits.max_len.min(n);
        self
    }
    /// Close a connection that sends nothing (not even a ping) for this
    /// long, or that stalls in the middle of a frame: that is how the
    /// server notices a client that died without closing its socket.
    /// `None` never closes. Default 15 s, which is 3 missed heartbeats of a
    /// minirpc client (it pings after 5 s of silence; see
    /// `ClientBuilder::heartbeat`).
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }
    /// Give up on a peer that does not read its responses for this long.
    /// Default 10 s.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }
    /// How long [`ServerHandle::shutdown`] lets calls in flight finish.
    /// Default 5 s.
    pub fn shutdown_grace(mut self, t: Duration) -> Self {
        self.shutdown_grace = t;
        self
    }
    /// How long an idle worker keeps checking the queue before it sleeps
    /// (see [`crate::pool`]): a call that arrives meanwhile skips a thread
    /// wake-up. Zero turns it off, which leaves more CPU to other threads on
    /// a small, busy machine. Default 50 µs.
    pub fn spin(mut self, t: Duration) -> Self {
        self.spin = t;
        self
    }
    /// A method whose calls have proven shorter than this (8 in a row on
    /// the pool) is then run by the connection's reader itself, with no
    /// hand-off to a worker; any call that takes longer sends the method
    /// back to the pool. Zero: always use the pool. Default 20 µs. See
    /// [`Method`] for the trade-off.
    pub fn inline_max(mut self, t: Duration) -> Self {
        self.inline_max = t;
        self
    }
    /// Limits for decoding arguments (lengths, nesting). Default
    /// [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        // Nothing longer than a frame can arrive, whichever was set first.
        self.limits.max_len = self.limits.max_len.min(self.max_frame_bytes);
        self
    }
    /// Add a record type to layer 3 of the deserialization whitelist (the
    /// user list): for types a handler decodes from JSON by hand. Types in
    /// registered methods' signatures are allowed already. See
    /// [`crate::whitelist`].
    pub fn allow_type(mut self, name: &str) -> Self {
        self.allowed_types.push(name.to_owned());
        self
    }
    /// Report each step of every call to `tracer` (see [`crate::trace`]).
    pub fn trace(mut self, tracer: Tracer) -> Self {
        self.tracer = Some(tracer);
        self
    }
    /// A server with these settings and an empty call table.
    pub fn build(self) -> Server {
        Server {
            config: self,
            table: HashMap::new(),
            declared_types: DeclaredTypes::new(),
        }
    }
}

/// A server being set up: settings plus the call table. Register methods,
/// then [`serve`](Server::serve).
///
/// ```
/// use minirpc::{Client, Server};
/// let mut server = Server::new();
/// server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
/// let handle = server.serve("127.0.0.1:0").unwrap();
/// let client = Client::connect(handle.local_addr()).unwrap();
/// let y: i32 = client.call("Multiply", &(10, 20)).unwrap();
/// assert_eq!(y, 200);
/// ```
pub struct Server {
    config: ServerBuilder,
    /// The article's `call_id_map`: call id → function.
    table: HashMap<String, Arc<Handler>>,
    /// Record types named by registered methods' arguments.
    declared_types: DeclaredTypes,
}

impl Default for Server {
    fn default() -> Server {
        Server::new()
    }
}

impl Server {
    /// A server with default settings.
    pub fn new() -> Server {
        ServerBuilder::default().build()
    }

    /// Settings to change before building a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Add `f` to the call table under `call_id`. Its argument type `A` is
    /// what the arguments are decoded into (a tuple for several arguments);
    /// its result is encoded back. An `Err` from `f` reaches the caller with
    /// its status and message unchanged.
    ///
    /// # Panics
    /// If `call_id` is already registered: two functions under one name is a
    /// bug in the program, better found at startup than at the first call.
    pub fn register<A, R, F>(&mut self, call_id: &str, f: F) -> &mut Server
    where
        A: Decode + 'static,
        R: Encode + 'static,
        F: Fn(A) -> Result<R, RpcError> + Send + Sync + 'static,
    {
        self.register_with_context(call_id, move |_ctx: &CallContext, a: A| f(a))
    }

    /// Like [`register`](Server::register), for a handler that wants the
    /// [`CallContext`] (its deadline, its caller).
    pub fn register_with_context<A, R, F>(&mut self, call_id: &str, f: F) -> &mut Server
    where
        A: Decode + 'static,
        R: Encode + 'static,
        F: Fn(&CallContext, A) -> Result<R, RpcError> + Send + Sync + 'static,
    {
        let handler = move |ctx: &CallContext, args: &[u8], out: &mut Vec<u8>| {
            // Server step 5: decode the arguments into the declared types...
            // In JSON, records are checked against the whitelist here.
            let cx = JsonCx::checked(&ctx.whitelist);
            let a: A = codec::decode_as(ctx.codec, args, ctx.limits, &cx).map_err(|e| {
                RpcError::invalid_argument(format!(
                    "arguments for \"{}\" do not decode as {}: {}",
                    ctx.call_id,
                    std::any::type_name::<A>(),
                    e.message
                ))
            })?;
            ctx.trace(5, Some(args), || {
                format!(
                    "decoded {} argument bytes as {}; calling the handler",
                    args.len(),
                    std::any::type_name::<A>()
                )
            });
            // ...and make the local call.
            let r = f(ctx, a)?;
            // Server step 6: encode the result.
            let before = out.len();
            codec::encode_as(ctx.codec, &r, out);
            ctx.trace(6, Some(&out[before..]), || {
                format!(
                    "handler returned; encoded the result ({}) into {} bytes",
                    std::any::type_name::<R>(),
                    out.len() - before
                )
            });
            Ok(())
        };
        // Layer 1 of the deserialization whitelist: the record types this
        // method's arguments declare.
        A::declared_types(&mut self.declared_types);
        self.register_handler(call_id, Arc::new(handler))
    }

    /// Add an untyped handler to the call table (see [`Handler`]).
    ///
    /// # Panics
    /// If `call_id` is already registered.
    pub fn register_handler(&mut self, call_id: &str, handler: Arc<Handler>) -> &mut Server {
        if self.table.insert(call_id.to_owned(), handler).is_some() {
            panic!("call id \"{call_id}\" is registered twice; each call id names one function");
        }
        self
    }

    /// The record types the registered methods declare so far (layer 1 of
    /// the deserialization whitelist).
    pub fn declared_types(&self) -> &[&'static str] {
        self.declared_types.names()
    }

    /// The call ids registered so far, sorted.
    pub fn call_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.table.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Bind `addr` and start serving on background threads. Use
    /// `"127.0.0.1:0"` to let the OS pick a free port, then ask the handle
    /// for [`local_addr`](ServerHandle::local_addr).
    pub fn serve(self, addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let pool = ThreadPool::with_spin(
            "minirpc-worker",
            self.config.workers,
            self.config.queue_capacity,
            self.config.spin,
        )?;
        trace::emit(&self.config.tracer, Side::Server, 1, None, || {
            format!(
                "call table ready: {} (call id -> function, a HashMap)",
                self.call_ids().join(", ")
            )
        });
        let mut whitelist = Whitelist::new();
        for name in self.declared_types.names() {
            whitelist.declare(name);
        }
        for name in &self.config.allowed_types {
            whitelist.allow(name);
        }
        let inner = Arc::new(Inner {
            whitelist: Arc::new(whitelist),
            table: self
                .table
                .into_iter()
                .map(|(id, handler)| (id, Arc::new(Method::new(handler))))
                .collect(),
            config: self.config,
            pool,
            shutting_down: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            live_connections: AtomicUsize::new(0),
            stats: StatCounters::default(),
        });
        let acceptor = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("minirpc-acceptor".into())
                .spawn(move || accept_loop(&inner, listener))?
        };
        Ok(ServerHandle {
            local_addr,
            inner,
            acceptor: Some(acceptor),
        })
    }
}

/// Counters a running server keeps (see [`ServerHandle::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Requests whose handler ran and returned `Ok`.
    pub calls_ok: u64,
    /// Requests answered with an error (handler error, panic, bad args,
    /// unknown call id, deadline passed, queue full).
    pub calls_failed: u64,
    /// Requests refused because the Processor's queue was full.
    pub rejected_busy: u64,
    /// Oneway calls that failed (there is no one to tell, so they are
    /// counted here).
    pub oneway_failed: u64,
    /// Connections open right now.
    pub connections: usize,
}

#[derive(Default)]
struct StatCounters {
    calls_ok: AtomicU64,
    calls_failed: AtomicU64,
    rejected_busy: AtomicU64,
    oneway_failed: AtomicU64,
}

/// The running server. Dropping it shuts the server down.
pub struct ServerHandle {
    local_addr: SocketAddr,
    inner: Arc<Inner>,
    acceptor: Option<JoinHandle<()>>,
}

struct Inner {
    /// The call table as served: each handler plus what we have learned of
    /// its speed (see [`Method`]).
    table: HashMap<String, Arc<Method>>,
    whitelist: Arc<Whitelist>,
    config: ServerBuilder,
    pool: ThreadPool,
    shutting_down: AtomicBool,
    /// Open connections, so shutdown can close them and join their readers.
    connections: Mutex<HashMap<u64, OpenConnection>>,
    next_conn: AtomicU64,
    live_connections: AtomicUsize,
    stats: StatCounters,
}

/// A connection as the registry keeps it: a handle on its socket (to shut
/// it) and its reader thread (to join it).
type OpenConnection = (TcpStream, Option<JoinHandle<()>>);

/// A served method: its handler, and whether it has proven short enough to
/// run on the connection's reader thread.
///
/// # Why run some calls on the reader?
///
/// Handing a call from the reader thread to a worker is a thread wake-up,
/// and on a small virtual machine a wake-up can cost more than the whole
/// round trip of a small call. A handler like Multiply takes nanoseconds;
/// waking a worker for it is most of the cost. So a method starts on the
/// pool (the safe default: a slow call there never holds up its
/// connection), and after [`PROVEN_FAST`] calls in a row that each finished
/// within `ServerBuilder::inline_max`, it runs inline on the reader. Any
/// call slower than that, inline or not, sends it back to the pool.
///
/// The price: a method that was fast and suddenly is not (a lock, a slow
/// disk) holds up everything behind it on that one connection for that one
/// call: the requests queued behind it, the responses already batched, and
/// the answers to the client's heartbeat pings (so a call that turns slow
/// for longer than the client's heartbeat allowance, 5 s + 3 × 5 s by
/// default, makes that client drop the connection). Then the method moves
/// back to the pool, and must prove itself over a streak 4× longer than
/// last time (8, 32, 128, ... up to 8192 fast calls) before it runs inline
/// again: a method that was merely preempted once comes back, one that is
/// slow again and again stays on the pool. Redis and Netty's event loops
/// make the same bet, without the way back.
struct Method {
    handler: Arc<Handler>,
    /// Run on the reader thread?
    inline: AtomicBool,
    /// Fast calls in a row so far (while on the pool).
    fast_streak: AtomicU32,
    /// How often it was sent back to the pool: each time, it must prove
    /// itself over a 4× longer streak before it may run inline again.
    demotions: AtomicU32,
}

/// Fast calls in a row before a method runs inline.
const PROVEN_FAST: u32 = 8;

impl Method {
    fn new(handler: Arc<Handler>) -> Method {
        Method {
            handler,
            inline: AtomicBool::new(false),
            fast_streak: AtomicU32::new(0),
            demotions: AtomicU32::new(0),
        }
    }

    /// Learn from one call that took `took`.
    fn observe(&self, took: Duration, inline_max: Duration) {
        if took <= inline_max && !inline_max.is_zero() {
            // 8, then 32, 128, ... 8192 fast calls in a row after each
            // demotion. Wall-clock time cannot tell a handler that blocked
            // from one the OS merely preempted, so a single slow call must
            // not banish a fast method for good; but one that is slow again
            // and again soon needs a streak it never reaches.
            let demotions = self.demotions.load(Ordering::Relaxed).min(5);
            let needed = PROVEN_FAST << (2 * demotions);
            if self.fast_streak.fetch_add(1, Ordering::Relaxed) + 1 >= needed {
                self.inline.store(true, Ordering::Relaxed);
            }
        } else {
            self.fast_streak.store(0, Ordering::Relaxed);
            if self.inline.swap(false, Ordering::Relaxed) {
                self.demotions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One accepted connection, shared by its reader thread and by every call
/// from it that is running on the pool (they need the writer).
struct Conn {
    writer: FrameWriter,
    peer: SocketAddr,
}

impl ServerHandle {
    /// The address the server is listening on (with the real port, if you
    /// asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A snapshot of the server's counters.
    pub fn stats(&self) -> ServerStats {
        let s = &self.inner.stats;
        ServerStats {
            calls_ok: s.calls_ok.load(Ordering::Relaxed),
            calls_failed: s.calls_failed.load(Ordering::Relaxed),
            rejected_busy: s.rejected_busy.load(Ordering::Relaxed),
            oneway_failed: s.oneway_failed.load(Ordering::Relaxed),
            connections: self.inner.live_connections.load(Ordering::SeqCst),
        }
    }

    /// Stop the server gracefully:
    /// 1. stop accepting connections;
    /// 2. stop reading new requests (each connection's read half is shut);
    /// 3. let the calls already running or queued finish and send their
    ///    responses, for at most the configured grace period;
    /// 4. close every connection and join every thread.
    ///
    /// Requests still unread in a socket when it is shut get no answer; their
    /// callers see the connection close (`Unavailable`), so no call is lost
    /// silently.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::SeqCst);
        // accept() blocks; a connection to ourselves wakes it up to see the flag.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = acceptor.join();

        // Stop reading: each reader sees end-of-stream and exits, while the
        // write half stays open for the responses still to come. Keep the
        // sockets: readers deregister themselves as they exit, and we still
        // need to close the connections whose calls outlive the grace period.
        let (sockets, readers): (Vec<TcpStream>, Vec<JoinHandle<()>>) = {
            let mut conns = lock(&inner.connections);
            let mut sockets = Vec::new();
            let mut readers = Vec::new();
            for (stream, reader) in conns.values_mut() {
                let _ = stream.shutdown(Shutdown::Read);
                if let Ok(s) = stream.try_clone() {
                    sockets.push(s);
                }
                readers.extend(reader.take());
            }
            (sockets, readers)
        };
        // Readers exit as soon as they see end-of-stream, unless one is
        // running a call inline (see `Method`): wait for them within the
        // grace period, like the pool's calls. (A thread cannot be stopped
        // from outside; one still busy at the deadline is left to finish
        // and is not joined.)
        let deadline = Instant::now() + inner.config.shutdown_grace;
        for r in readers {
            while !r.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if r.is_finished() {
                let _ = r.join();
            }
        }
        inner
            .pool
            .shutdown(deadline.saturating_duration_since(Instant::now()));
        // Calls still running after the grace period will never be answered:
        // close their connections so their callers hear it now (Unavailable)
        // instead of waiting out their timeouts.
        for s in sockets {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---- the acceptor (组件: RPC Acceptor) -------------------------------------

fn accept_loop(inner: &Arc<Inner>, listener: TcpListener) {
    loop {
        let accepted = listener.accept();
        if inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // Out of file descriptors, or the peer reset before we
                // accepted: not fatal. Pause briefly so a persistent error
                // does not spin a core.
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(inner.config.write_timeout));
        let max = inner.config.max_connections;
        if inner.live_connections.load(Ordering::SeqCst) >= max {
            refuse(
                stream,
                RpcError::resource_exhausted(format!(
                    "server has reached max_connections ({max}); retry later or raise ServerBuilder::max_connections"
                )),
            );
            continue;
        }
        let read_half = match stream.try_clone() {
            Ok(s) => s,
            Err(e) => {
                refuse(
                    stream,
                    RpcError::from_io("server could not set up the connection", &e),
                );
                continue;
            }
        };
        let registry_copy = match stream.try_clone() {
            Ok(s) => s,
            Err(e) => {
                refuse(
                    stream,
                    RpcError::from_io("server could not set up the connection", &e),
                );
                continue;
            }
        };
        let conn = Arc::new(Conn {
            writer: FrameWriter::new(stream, 8 * inner.config.max_frame_bytes.max(1 << 20)),
            peer,
        });
        let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
        inner.live_connections.fetch_add(1, Ordering::SeqCst);
        // Hold the registry lock across spawn so the reader cannot finish
        // and deregister itself before it has been registered.
        let mut conns = lock(&inner.connections);
        let spawned = {
            let inner = Arc::clone(inner);
            let conn = Arc::clone(&conn);
            std::thread::Builder::new()
                .name(format!("minirpc-conn-{id}"))
                .spawn(move || {
                    read_loop(&inner, &conn, read_half);
                    lock(&inner.connections).remove(&id);
                    inner.live_connections.fetch_sub(1, Ordering::SeqCst);
                })
        };
        match spawned {
            Ok(h) => {
                conns.insert(id, (registry_copy, Some(h)));
            }
            Err(e) => {
                drop(conns);
                inner.live_connections.fetch_sub(1, Ordering::SeqCst);
                let mut out = Vec::new();
                protocol::error_response(
                    &mut out,
                    CodecId::Binary,
                    0,
                    &RpcError::resource_exhausted(format!("server cannot start a thread: {e}")),
                );
                let _ = conn.writer.send(&out);
                let _ = conn.writer.stream().shutdown(Shutdown::Both);
            }
        }
    }
}

/// Send a connection-level error (request id 0) and close.
fn refuse(mut stream: TcpStream, err: RpcError) {
    let mut out = Vec::new();
    protocol::error_response(&mut out, CodecId::Binary, 0, &err);
    let _ = stream.write_all(&out);
    let _ = stream.shutdown(Shutdown::Both);
}

// ---- one connection's reader ------------------------------------------------

/// Responses of inline calls are sent once this many bytes have piled up,
/// even if more requests are waiting to be read.
const BATCH_MAX: usize = 64 * 1024;

fn read_loop(inner: &Arc<Inner>, conn: &Arc<Conn>, stream: TcpStream) {
    let _ = stream.set_read_timeout(inner.config.idle_timeout);
    let mut reader = FrameReader::new(stream, inner.config.max_frame_bytes);
    let tracer = &inner.config.tracer;
    // Responses of calls run inline, waiting to go out together: when
    // several requests arrived in one read, their answers leave in one write.
    let mut batch = Vec::new();
    loop {
        // Flush when nothing more is waiting to be read, or when the batch
        // is big (so a flood of tiny requests cannot grow it unbounded).
        if !batch.is_empty() && (!reader.has_buffered_frame() || batch.len() >= BATCH_MAX) {
            send_or_close(conn, &batch);
            batch.clear();
        }
        trace::emit(tracer, Side::Server, 2, None, || {
            format!("waiting for a request from {}", conn.peer)
        });
        let frame = match reader.read_frame() {
            Ok(f) => f,
            Err(ReadError::Protocol(e)) => {
                // We can no longer find frame boundaries: say why, then close
                // (after the answers already computed, so they are not lost).
                let mut out = std::mem::take(&mut batch);
                protocol::error_response(&mut out, CodecId::Binary, 0, &e);
                let _ = conn.writer.send(&out);
                break;
            }
            // Clean close, idle timeout, truncated frame, reset: just close.
            Err(_) => break,
        };
        match frame.header.kind {
            FrameKind::Request if frame.header.request_id == 0 => {
                // Id 0 is reserved for connection-level errors: a response
                // to it would tell the client its connection is failing.
                let mut out = Vec::new();
                let e = RpcError::invalid_argument(
                    "request id 0 is reserved for connection errors; number requests from 1 (see docs/protocol.md)",
                );
                protocol::error_response(&mut out, CodecId::Binary, 0, &e);
                let _ = conn.writer.send(&out);
                break;
            }
            FrameKind::Request | FrameKind::Oneway => dispatch(inner, conn, frame, &mut batch),
            FrameKind::Ping => {
                let mut out = Vec::with_capacity(protocol::HEADER_LEN);
                protocol::control_frame(&mut out, FrameKind::Pong, frame.header.request_id);
                let _ = conn.writer.send(&out);
            }
            FrameKind::Pong => {}
            FrameKind::Response => {
                let mut out = Vec::new();
                let e = RpcError::invalid_argument(
                    "a client sent a response frame; only servers send responses",
                );
                protocol::error_response(&mut out, CodecId::Binary, 0, &e);
                let _ = conn.writer.send(&out);
                break;
            }
        }
    }
    if !batch.is_empty() {
        send_or_close(conn, &batch);
    }
    // Stop writing too once in-flight calls finish: the last Arc<Conn> to go
    // closes the socket. Shutting down the read side now tells the peer
    // nothing more will be read.
    let _ = reader.get_ref().shutdown(Shutdown::Read);
}

/// Server steps 3–4 for one request: parse the envelope, look up the call
/// id, and run the call: here, if its method has proven short (its response
/// joins `batch`), else on the pool. Answers at once if any of that fails.
fn dispatch(inner: &Arc<Inner>, conn: &Arc<Conn>, frame: protocol::Frame, batch: &mut Vec<u8>) {
    let received = Instant::now();
    let id = frame.header.request_id;
    let oneway = frame.header.kind == FrameKind::Oneway;
    let tracer = &inner.config.tracer;

    let reject = |err: RpcError, codec: CodecId| {
        inner.stats.calls_failed.fetch_add(1, Ordering::Relaxed);
        if oneway {
            inner.stats.oneway_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut out = Vec::new();
        protocol::error_response(&mut out, codec, id, &err);
        send_or_close(conn, &out);
    };

    let Some(codec) = CodecId::from_byte(frame.header.codec) else {
        return reject(
            RpcError::new(
                Status::Unimplemented,
                format!(
                    "codec {} is not supported by this server (supported: 0 = binary, 1 = JSON)",
                    frame.header.codec
                ),
            ),
            CodecId::Binary,
        );
    };
    let head = match RequestHead::parse(&frame.body) {
        Ok(h) => h,
        Err(e) => return reject(e, codec),
    };
    trace::emit(tracer, Side::Server, 3, Some(&frame.body), || {
        format!(
            "read a {}-byte request body (request id {id}); its call id is \"{}\"",
            frame.body.len(),
            head.call_id
        )
    });
    // The call id is resolved before a single argument byte is decoded.
    let Some(method) = inner.table.get(head.call_id) else {
        trace::emit(tracer, Side::Server, 4, None, || {
            format!(
                "\"{}\" is not in the call table: answering Unimplemented without decoding its arguments",
                head.call_id
            )
        });
        return reject(
            RpcError::new(
                Status::Unimplemented,
                format!(
                    "no method \"{}\" is registered on this server (call ids are case-sensitive; see Server::register)",
                    head.call_id
                ),
            ),
            codec,
        );
    };
    trace::emit(tracer, Side::Server, 4, None, || {
        format!("found \"{}\" in the call table (call_id_map)", head.call_id)
    });
    let deadline = match head.timeout_ms {
        0 => None,
        ms => Some(received + Duration::from_millis(ms.into())),
    };
    let ctx = CallContext {
        call_id: head.call_id.to_owned(),
        request_id: id,
        deadline,
        caller: head.meta(protocol::META_CALLER).map(str::to_owned),
        peer: conn.peer,
        codec,
        limits: inner.config.limits,
        whitelist: Arc::clone(&inner.whitelist),
        tracer: tracer.clone(),
    };
    let args_start = frame.body.len() - head.args.len();
    let body = frame.body;

    if method.inline.load(Ordering::Relaxed) {
        if let Some(out) = run_call(inner, method, &ctx, &body[args_start..], oneway) {
            batch.extend_from_slice(&out);
        }
        return;
    }
    let job_inner = Arc::clone(inner);
    let job_conn = Arc::clone(conn);
    let method = Arc::clone(method);
    let job = Box::new(move || {
        if let Some(out) = run_call(&job_inner, &method, &ctx, &body[args_start..], oneway) {
            send_or_close(&job_conn, &out);
        }
    });
    if inner.pool.try_execute(job).is_err() {
        inner.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
        let queued = inner.pool.queued();
        reject(
            RpcError::resource_exhausted(format!(
                "server is busy: {queued} calls are already waiting for a worker (queue_capacity {}); retry later, or raise ServerBuilder::workers / queue_capacity",
                inner.config.queue_capacity
            )),
            codec,
        );
    }
}

/// Server steps 5–6, on a worker or on the reader: run the handler and
/// build the response frame (`None` for oneway calls, which get none).
fn run_call(
    inner: &Inner,
    method: &Method,
    ctx: &CallContext,
    args: &[u8],
    oneway: bool,
) -> Option<Vec<u8>> {
    let handler = &*method.handler;
    let mut out = Vec::with_capacity(64);
    let result = match ctx.deadline {
        // The caller has already given up: running the handler would be
        // wasted work, and the queue may be long precisely because we are
        // overloaded.
        Some(d) if Instant::now() >= d => Err(RpcError::deadline_exceeded(format!(
            "the deadline of \"{}\" passed while it waited in the server's queue; the handler was not run",
            ctx.call_id
        ))),
        _ => {
            let start = protocol::begin_ok_response(&mut out, ctx.codec, ctx.request_id);
            let began = Instant::now();
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handler(ctx, args, &mut out)
            }));
            method.observe(began.elapsed(), inner.config.inline_max);
            match ran {
                Ok(Ok(())) => {
                    protocol::finish_frame(&mut out, start);
                    Ok(())
                }
                Ok(Err(e)) => Err(e),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".into());
                    Err(RpcError::internal(format!(
                        "the handler for \"{}\" panicked: {what}",
                        ctx.call_id
                    )))
                }
            }
        }
    };
    match &result {
        Ok(()) => inner.stats.calls_ok.fetch_add(1, Ordering::Relaxed),
        Err(_) => inner.stats.calls_failed.fetch_add(1, Ordering::Relaxed),
    };
    if oneway {
        if result.is_err() {
            inner.stats.oneway_failed.fetch_add(1, Ordering::Relaxed);
        }
        return None;
    }
    if let Err(e) = result {
        out.clear();
        protocol::error_response(&mut out, ctx.codec, ctx.request_id, &e);
    }
    ctx.trace(6, Some(&out), || {
        format!(
            "sending the {}-byte response frame (request id {})",
            out.len(),
            ctx.request_id
        )
    });
    Some(out)
}

/// Send response frames on `conn`.
fn send_or_close(conn: &Conn, out: &[u8]) {
    if let Err(e) = conn.writer.send(out) {
        // Either the connection is already broken (its reader will notice),
        // or the client has stopped reading and our outbox is full. Never
        // drop a response silently: close the connection, so the caller's
        // pending calls fail now with Unavailable instead of at their
        // deadlines.
        if e.status == Status::ResourceExhausted {
            let _ = conn.writer.stream().shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method() -> Method {
        Method::new(Arc::new(
            |_: &CallContext, _: &[u8], _: &mut Vec<u8>| Ok(()),
        ))
    }

    #[test]
    fn a_method_runs_inline_only_after_proving_fast_and_leaves_after_one_slow_call() {
        let m = method();
        let max = Duration::from_micros(20);
        for _ in 0..PROVEN_FAST - 1 {
            m.observe(Duration::from_micros(1), max);
            assert!(!m.inline.load(Ordering::Relaxed), "not proven yet");
        }
        m.observe(Duration::from_micros(1), max);
        assert!(
            m.inline.load(Ordering::Relaxed),
            "proven after {PROVEN_FAST} fast calls"
        );
        m.observe(Duration::from_millis(5), max);
        assert!(
            !m.inline.load(Ordering::Relaxed),
            "one slow call sends it back"
        );
        // ...and must now prove itself over a 4x longer streak.
        for _ in 0..4 * PROVEN_FAST - 1 {
            m.observe(Duration::from_micros(1), max);
        }
        assert!(!m.inline.load(Ordering::Relaxed), "32 needed, 31 seen");
        m.observe(Duration::from_micros(1), max);
        assert!(m.inline.load(Ordering::Relaxed), "back after 32");
    }

    #[test]
    fn a_method_that_is_slow_again_and_again_stays_on_the_pool() {
        // Slow once every 50 calls: after a few demotions the streak it
        // needs (128, then 512, ...) is longer than it ever runs fast.
        let m = method();
        let max = Duration::from_micros(20);
        let mut inline_calls = 0;
        for round in 0..40 {
            for _ in 0..49 {
                if m.inline.load(Ordering::Relaxed) {
                    inline_calls += 1;
                }
                m.observe(Duration::from_micros(1), max);
            }
            m.observe(Duration::from_millis(5), max);
            if round >= 3 {
                assert!(!m.inline.load(Ordering::Relaxed), "round {round}");
            }
        }
        // Only the first few rounds ran any calls inline.
        assert!(inline_calls < 3 * 49, "{inline_calls} calls ran inline");
    }

    #[test]
    fn inline_max_zero_never_runs_inline() {
        let m = method();
        for _ in 0..100 {
            m.observe(Duration::ZERO, Duration::ZERO);
        }
        assert!(!m.inline.load(Ordering::Relaxed));
    }
}
