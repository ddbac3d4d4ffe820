//! The client: many concurrent calls over one connection, in four modes.
//!
//! Article: 本地调用VS远程调用 (the client's steps 1–5); 模式 (the four call
//! modes); 原理 › 组件 (RPC Client, Invoker, Connector, Channel). The one
//! idea to take away: **a request id and a table of pending calls let one
//! TCP connection carry any number of calls at once**. Each call writes its
//! request tagged with a fresh id; responses come back in whatever order
//! the server finishes them, and each is routed to the caller waiting for
//! that id. Go's `net/rpc` client is built the same way (its
//! `pending map[uint64]*Call`).
//!
//! # Who reads the socket? (the speed lesson)
//!
//! The obvious design has one reader thread per connection that hands each
//! response to the waiting caller. That hand-off is a thread wake-up, and on
//! this kind of virtual machine a wake-up on another core costs tens of
//! microseconds: as much as the whole network round trip. So in minirpc a
//! blocked call does not wait for a reader thread. Instead, **a waiting
//! caller reads the socket itself** when no one else is reading (it becomes
//! the *leader*; see `leader.rs`). A lone caller therefore reads its own
//! response: the same number of wake-ups as a hand-written blocking
//! ping-pong over raw TCP. Futures and callbacks have no thread waiting, so
//! each connection also has a background thread that reads only when they
//! (or a heartbeat) need it and no caller is leading (`background.rs`).
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
//! All four go through one function, `Connection::start` (`conn.rs`).
//!
//! # Every call ends by its deadline
//!
//! Every call has a deadline (default [`ClientBuilder::call_timeout`]),
//! computed once when the call starts and obeyed by every step: the
//! reconnect, if one is needed, and every read, whoever does it. A call
//! past its deadline returns `DeadlineExceeded`; its late response, if any,
//! finds no entry and is dropped quietly. If the connection breaks (the
//! server died, or a frame could not arrive in time), every pending call
//! fails with `Unavailable` at once, and the next call reconnects, with a
//! backoff while the server stays down (`reconnect.rs`). A server that
//! vanishes without closing the socket is caught by heartbeats
//! (`heartbeat.rs`).
//!
//! # Layout
//!
//! | file | the one concept |
//! |---|---|
//! | `mod.rs` | `Client`: the four modes, decoding results |
//! | `builder.rs` | `ClientBuilder`: every setting and its default |
//! | `reconnect.rs` | the slot holding the connection; backoff with jitter |
//! | `conn.rs` | one connection: open, start a call, fail, close |
//! | `request.rs` | client step 2: the request frame, its deadline, its size |
//! | `table.rs` | the pending table, its waiters and indexes |
//! | `leader.rs` | a waiting caller reads for everyone; routing responses |
//! | `background.rs` | the reader of last resort; expiry; pings |
//! | `heartbeat.rs` | the rule that tells a silent server from a slow one |
//! | `socket.rs` | reads that end at a deadline; the idle probe's safety |
//! | `callbacks.rs` | where callbacks run, and why never on the reader |
//! | `pending.rs` | `Pending<R>`, the future |

mod background;
mod builder;
mod callbacks;
mod conn;
mod heartbeat;
mod leader;
mod pending;
mod reconnect;
mod request;
mod socket;
mod table;

pub use builder::ClientBuilder;
pub use pending::Pending;

use crate::codec::{self, CodecId, Decode, Encode, JsonCx, Limits};
use crate::error::RpcError;
use crate::metrics::{ClientMetrics, MetricsSnapshot};
use crate::protocol::{self, Frame, ResponseHead};
use crate::time::Deadline;
use crate::trace::{self, Side};
use callbacks::{CallbackPool, RawCallback};
use conn::{Connection, Mode};
use reconnect::{Backoff, Slot};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection to one server, shared by any number of threads (it is
/// `Send + Sync`). Cloning is cheap and shares the connection: two
/// `service!` stubs built from clones of one `Client` make their calls
/// over one TCP connection, as tonic's and tarpc's clients do. The
/// connection closes when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

/// What the clones of a [`Client`] share.
struct Shared {
    addrs: Vec<SocketAddr>,
    config: ClientBuilder,
    slot: Slot,
    callbacks: Arc<CallbackPool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Fail what is still pending (callbacks run once with Cancelled),
        // stop the background thread, and tell the server we are gone.
        if let Some(c) = self.slot.take() {
            c.close();
        }
    }
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

    /// The first connection, made now with the full connect timeout.
    fn open(addrs: Vec<SocketAddr>, mut config: ClientBuilder) -> Result<Client, RpcError> {
        // Each client counts its own calls, even if built from a shared builder.
        config.metrics = Arc::new(ClientMetrics::new());
        let callbacks = Arc::new(CallbackPool::new());
        let (min, max) = (config.reconnect_min, config.reconnect_max);
        let mut backoff = Backoff::new(min, max, Backoff::random_seed(), Instant::now());
        backoff.attempt_started(Instant::now());
        let conn = Connection::open(
            &addrs,
            &config,
            Arc::clone(&callbacks),
            config.connect_timeout,
        )?;
        Ok(Client {
            shared: Arc::new(Shared {
                addrs,
                config,
                slot: Slot::new(conn, backoff),
                callbacks,
            }),
        })
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
        self.call_timeout(call_id, args, self.shared.config.call_timeout)
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
        let config = &self.shared.config;
        // One clock read for the deadline and the latency both.
        let now = Instant::now();
        let deadline = Deadline::from_instant(now, timeout);
        // Client step 1: the call id. Like the article's simplest choice, it
        // is the function's name as a string.
        trace::emit(&config.tracer, Side::Client, 1, None, || {
            format!("mapped the call to call id \"{call_id}\"")
        });
        // A server that closes an idle connection says so first, and has
        // processed nothing it had not answered by then: a call caught by
        // that notice is sent once more, on a new connection, within the
        // same deadline.
        let probe = config.metrics.begin_at(call_id, now);
        let mut resent = false;
        let frame = loop {
            let conn = match self.connection(deadline) {
                Ok(c) => c,
                Err(e) => break Err(e),
            };
            match conn.start(
                call_id,
                args,
                deadline,
                config,
                Mode::Blocking,
                probe.counter(),
            ) {
                Err(e) if !resent && never_processed(&e) => resent = true,
                started => break started.map(|s| s.1),
            }
        };
        let frame = frame.and_then(|f| {
            f.ok_or_else(|| RpcError::internal("blocking call ended without a response"))
        });
        // Client step 5: decode the result (or surface the server's error).
        let value = frame
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|f| decode_response(f, config.limits));
        probe.finish(frame.as_ref().ok(), &value);
        let value = value?;
        trace::emit(&config.tracer, Side::Client, 5, None, || {
            format!("decoded the result as {}", std::any::type_name::<R>())
        });
        Ok(value)
    }

    /// Future mode: send the call and return at once with a [`Pending`]
    /// to wait on, poll, or `.await`. (If the connection must be remade
    /// first, that happens before it returns, within the call's timeout.)
    pub fn call_async<A, R>(&self, call_id: &str, args: &A) -> Pending<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.call_async_timeout(call_id, args, self.shared.config.call_timeout)
    }

    /// [`call_async`](Client::call_async) with its own timeout.
    pub fn call_async_timeout<A, R>(&self, call_id: &str, args: &A, timeout: Duration) -> Pending<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        let config = &self.shared.config;
        let deadline = Deadline::after(timeout);
        let probe = config.metrics.begin(call_id);
        let conn = match self.connection(deadline) {
            Ok(c) => c,
            Err(e) => return Pending::failed(e, config.limits, probe),
        };
        match conn.start(
            call_id,
            args,
            deadline,
            config,
            Mode::Future,
            probe.counter(),
        ) {
            Ok((id, _)) => Pending::in_flight(conn, id, config.limits, probe),
            Err(e) => Pending::failed(e, config.limits, probe),
        }
    }

    /// Callback mode: send the call and return at once; `f` runs exactly
    /// once with the result: on success, on a server error, at the
    /// deadline, or when the connection fails. It runs on the client's
    /// callback threads (two of them), never on the thread reading the
    /// socket and never on yours, so a slow or panicking callback does not
    /// hold up other calls' responses. Callbacks that block do hold up
    /// *later callbacks* once both callback threads are taken: keep
    /// callbacks short, and hand long work to your own threads.
    pub fn call_with_callback<A, R, F>(&self, call_id: &str, args: &A, f: F)
    where
        A: Encode + ?Sized,
        R: Decode + 'static,
        F: FnOnce(Result<R, RpcError>) + Send + 'static,
    {
        self.call_with_callback_timeout(call_id, args, self.shared.config.call_timeout, f)
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
        let config = &self.shared.config;
        let limits = config.limits;
        let deadline = Deadline::after(timeout);
        let probe = config.metrics.begin(call_id);
        let counter = Arc::clone(probe.counter());
        let raw: RawCallback = Box::new(move |frame: Result<Frame, RpcError>| {
            let value = frame
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|fr| decode_response(fr, limits));
            probe.finish(frame.as_ref().ok(), &value);
            f(value)
        });
        match self.connection(deadline) {
            // `start` guarantees the callback runs once, even if sending fails.
            Ok(conn) => {
                let mode = Mode::Callback(raw);
                let _ = conn.start(call_id, args, deadline, config, mode, &counter);
            }
            // Still on the callback threads, so a callback never runs on
            // the caller's thread (where it might need a lock the caller holds).
            Err(e) => self.shared.callbacks.run(raw, Err(e)),
        }
    }

    /// The health probe (原理 › 健康检查, 探活): a call to the server's
    /// built-in `$minirpc.ping`, answered by the server's reader without
    /// touching its workers. Returns the round-trip time, or the error that
    /// says why the server did not answer within `timeout`.
    pub fn ping(&self, timeout: Duration) -> Result<Duration, RpcError> {
        let started = std::time::Instant::now();
        self.call_timeout::<_, ()>(crate::protocol::PING_CALL_ID, &(), timeout)?;
        Ok(started.elapsed())
    }

    /// Oneway (单向调用): send the call and return once the frame is
    /// written. The server runs the handler and sends nothing back; its
    /// errors are counted on the server (`ServerStats::oneway_failed`), not
    /// reported here. An `Err` means the frame could not be sent. The
    /// default call timeout travels with it, and bounds a reconnect.
    pub fn call_oneway<A>(&self, call_id: &str, args: &A) -> Result<(), RpcError>
    where
        A: Encode + ?Sized,
    {
        let config = &self.shared.config;
        let deadline = Deadline::after(config.call_timeout);
        let probe = config.metrics.begin(call_id);
        let sent = self
            .connection(deadline)
            .and_then(|conn| {
                conn.start(
                    call_id,
                    args,
                    deadline,
                    config,
                    Mode::Oneway,
                    probe.counter(),
                )
            })
            .map(|_| ());
        probe.finish(None, &sent);
        sent
    }

    /// This client's counters, one entry per call id it has called: calls,
    /// errors by status, in flight, bytes and latency, as the caller sees
    /// them (see [`crate::metrics`]; a oneway call counts `OK` once sent).
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.config.metrics.snapshot()
    }

    /// Entries in the pending table: calls sent and not yet answered, timed
    /// out or abandoned, plus futures whose answer arrived but has not been
    /// collected. Zero when the client is idle: nothing is left behind.
    pub fn in_flight(&self) -> usize {
        self.shared.slot.current().map_or(0, |c| c.in_flight())
    }

    /// The address of the server this client was last connected to.
    pub fn server_addr(&self) -> SocketAddr {
        self.shared
            .slot
            .current()
            .map_or(self.shared.addrs[0], |c| c.peer)
    }

    /// The live connection, reconnecting first (within `deadline`) if the
    /// last one broke.
    fn connection(&self, deadline: Deadline) -> Result<Arc<Connection>, RpcError> {
        let shared = &self.shared;
        shared
            .slot
            .connection(deadline, shared.addrs[0], |time_left: Duration| {
                let timeout = time_left.min(shared.config.connect_timeout);
                let callbacks = Arc::clone(&shared.callbacks);
                Connection::open(&shared.addrs, &shared.config, callbacks, timeout)
            })
    }
}

/// Whether `e` says the server never processed the call: it closed an idle
/// connection with a notice ([`protocol::IDLE_CLOSE_NOTICE`]) before reading it.
fn never_processed(e: &RpcError) -> bool {
    e.status == crate::error::Status::Unavailable && e.message.contains(protocol::IDLE_CLOSE_NOTICE)
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
