//! One connection: open it, start calls on it, fail it, close it.
//!
//! Article: 本地调用VS远程调用 (the client's steps 2–4) and 原理 › 组件
//! (RPC Invoker, client side: "负责编码调用信息和发送调用请求到服务方并等待调用结果返回").
//! The one idea to take away: **every call mode goes through one function,
//! [`Connection::start`]**, and the modes differ only in the entry it
//! leaves in the pending table:
//!
//! ```text
//!   start(call, mode) ─► encode (step 2) ─► register ─► send (step 3) ─► Blocking? wait (step 4)
//!                         too big? refuse    │ Blocking: a Thread waiter
//!                         (nothing sent)     │ Future:   a Future waiter
//!                                            │ Callback: the closure
//!                                            └ Oneway:   no entry at all
//! ```
//!
//! Where the rest of the connection lives:
//!
//! | file | what |
//! |---|---|
//! | `request.rs` | step 2: the request frame, its wire deadline and size check |
//! | `table.rs` | the pending table and its waiters |
//! | `leader.rs` | who reads: a waiting caller, as leader; routing responses |
//! | `background.rs` | the reader of last resort, expiry, heartbeat pings |
//! | `socket.rs` | reads that end at a deadline; sends the idle probe can wait out |
//! | `callbacks.rs` | where callbacks run |

use super::callbacks::{in_user_code, CallbackPool};
use super::heartbeat::{Heartbeat, Liveness};
use super::request::encode;
use super::socket::{ReadHalf, Writer};
use super::table::{Table, Waiter};
use super::ClientBuilder;
use crate::codec::Encode;
use crate::error::{RpcError, Status};
use crate::metrics::MethodMetrics;
use crate::protocol::{self, Frame, FrameKind, HEADER_LEN};
use crate::sync::lock;
use crate::time::Deadline;
use crate::trace::{self, Side, Tracer};
use crate::transport::{self, scratch, FrameReader};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a connection must have been quiet (nothing sent, nothing
/// heard) before a call checks that the server has not closed it (see
/// [`Connection::is_usable`]).
const IDLE_PROBE_AFTER: Duration = Duration::from_millis(100);

/// Everything about a connection that changes, under one lock.
pub(crate) struct State {
    pub(super) table: Table,
    /// Someone is reading the socket right now (see `leader.rs`).
    pub(super) leader: bool,
    /// Set once the connection failed; every later call gets this error.
    pub(super) broken: Option<RpcError>,
    /// The client is being dropped; the background thread should exit.
    pub(super) closing: bool,
    pub(super) liveness: Liveness,
    /// When a call last went out (with `liveness`, what "idle" means).
    pub(super) last_sent: Instant,
    /// The server has answered a call here: it really serves this
    /// connection (a refusing server accepts the TCP connection too).
    pub(super) proven: bool,
    /// Requests this client gave up on (timed out, or their `Pending` was
    /// dropped), for the background thread to tell the server with cancel
    /// frames. Best effort and bounded: past [`MAX_CANCELS`] waiting, new
    /// ones are simply not sent (the server's deadline still stops them).
    pub(super) to_cancel: Vec<u64>,
    /// Bumped whenever the background thread is told something changed.
    /// It compares this before sleeping, so a notification sent while it
    /// was busy (and so not waiting on its condvar) is not lost.
    pub(super) background_epoch: u64,
}

/// What the leader holds while it reads.
pub(super) struct ReaderState {
    pub(super) frames: FrameReader<ReadHalf>,
    /// Frames read but not yet routed (kept to reuse its allocation).
    pub(super) batch: Vec<Frame>,
}

/// The most cancel frames waiting to be sent at once.
pub(super) const MAX_CANCELS: usize = 1024;

/// One TCP connection to the server.
pub(crate) struct Connection {
    pub(crate) peer: SocketAddr,
    pub(super) writer: Writer,
    /// Only the reader locks this, so it is never contended.
    pub(super) reader: Mutex<ReaderState>,
    pub(super) state: Mutex<State>,
    /// The background thread sleeps here.
    pub(super) background: Condvar,
    pub(super) background_thread: Mutex<Option<JoinHandle<()>>>,
    next_id: AtomicU64,
    pub(super) heartbeat: Option<Heartbeat>,
    pub(super) callbacks: Arc<CallbackPool>,
    /// Frames are sealed with a checksum both ways (`ClientBuilder::checksums`).
    pub(super) sealed: bool,
}

/// How an encoded request is delivered.
pub(crate) enum Mode {
    /// Wait for it on this thread (request-response).
    Blocking,
    /// Leave the entry for a [`super::Pending`] to collect.
    Future,
    /// Run this with the response.
    Callback(super::callbacks::RawCallback),
    /// No response at all.
    Oneway,
}

impl Connection {
    /// Connect to the first of `addrs` that answers within
    /// `connect_timeout`, and start the connection's background thread.
    pub(crate) fn open(
        addrs: &[SocketAddr],
        config: &ClientBuilder,
        callbacks: Arc<CallbackPool>,
        connect_timeout: Duration,
    ) -> Result<Arc<Connection>, RpcError> {
        let stream = transport::connect(addrs, connect_timeout)?;
        let conn = Arc::new(Connection::over(stream, config, callbacks)?);
        conn.spawn_background()?;
        Ok(conn)
    }

    /// A connection over a connected socket, not yet started.
    fn over(
        stream: TcpStream,
        config: &ClientBuilder,
        callbacks: Arc<CallbackPool>,
    ) -> Result<Connection, RpcError> {
        let io = |what: &str, e: std::io::Error| RpcError::from_io(what, &e);
        let peer = stream.peer_addr().map_err(|e| io("peer_addr", e))?;
        let read_half = stream
            .try_clone()
            .map_err(|e| io("cloning the socket", e))?;
        let now = Instant::now();
        Ok(Connection {
            peer,
            writer: Writer::new(
                stream,
                // The send buffer (see ClientBuilder::max_frame_bytes).
                8 * config.max_frame_bytes.max(1 << 20),
                config.write_timeout,
            ),
            reader: Mutex::new(ReaderState {
                frames: FrameReader::new(
                    ReadHalf::new(read_half, config.read_spin),
                    config.max_frame_bytes,
                ),
                batch: Vec::new(),
            }),
            state: Mutex::new(State {
                table: Table::default(),
                leader: false,
                broken: None,
                closing: false,
                liveness: Liveness::new(now),
                last_sent: now,
                proven: false,
                to_cancel: Vec::new(),
                background_epoch: 0,
            }),
            background: Condvar::new(),
            background_thread: Mutex::new(None),
            // Request id 0 is reserved for connection-level errors.
            next_id: AtomicU64::new(1),
            heartbeat: config.heartbeat,
            callbacks,
            sealed: config.checksums,
        })
    }

    /// Client steps 2–3 (and 4 for a blocking call): encode the request,
    /// register it, send it. Returns the request id, and for
    /// [`Mode::Blocking`] the response frame. A callback runs exactly once
    /// whatever happens, even when this returns `Err`.
    pub(crate) fn start<A: Encode + ?Sized>(
        &self,
        call_id: &str,
        args: &A,
        deadline: Deadline,
        config: &ClientBuilder,
        mode: Mode,
        counter: &MethodMetrics,
    ) -> Result<(u64, Option<Frame>), RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracer = &config.tracer;
        let mut frame = scratch::take(0);
        if let Err(e) = encode(
            &mut frame, id, call_id, args, deadline, config, &mode, counter,
        ) {
            return Err(self.refuse(mode, e));
        }
        let blocking = matches!(mode, Mode::Blocking);
        let callback = matches!(mode, Mode::Callback(_));
        // Room first: while the server reads slower than we send, the call
        // waits here (until its deadline) for the frames ahead of it to go
        // out. It is not in the table yet, so nobody counts on it to read.
        // A call made from a callback or a waker does not wait (no deadline
        // to wait for, so a full buffer refuses it at once).
        let wait_until = if in_user_code() {
            Deadline::NEVER
        } else {
            deadline
        };
        let room = match self.writer.reserve(frame.len(), wait_until) {
            Ok(room) => room,
            Err(e) => {
                if !matches!(
                    e.status,
                    Status::DeadlineExceeded | Status::ResourceExhausted
                ) {
                    self.fail_all(e.clone()); // the writer broke: so did the connection
                }
                return Err(self.refuse(mode, e));
            }
        };
        self.register(id, deadline, mode)?;
        // Step 3: send it.
        if let Err(e) = self.writer.send_reserved(room, &frame, deadline) {
            self.send_failed(id, &e, callback);
            return Err(e);
        }
        trace::emit(tracer, Side::Client, 3, Some(&frame), || {
            format!("sent the request frame to {}", self.peer)
        });
        scratch::give_back(frame);
        if !blocking {
            return Ok((id, None));
        }
        let frame = self.wait_for(id, deadline, tracer)?;
        Ok((id, Some(frame)))
    }

    /// A call that failed before it had an entry: its callback, if any,
    /// still runs once (on the pool, never on the caller's thread).
    fn refuse(&self, mode: Mode, e: RpcError) -> RpcError {
        if let Mode::Callback(f) = mode {
            self.callbacks.run(f, Err(e.clone()));
        }
        e
    }

    fn register(&self, id: u64, deadline: Deadline, mode: Mode) -> Result<(), RpcError> {
        // Register before sending, so the response cannot beat us to the table.
        let blocking = matches!(mode, Mode::Blocking);
        let mut st = lock(&self.state);
        let waiter = match mode {
            // One condvar per wait, reused by this connection's later waits
            // (`Table::recycle`). (Reusing one per thread instead would pair
            // it with the locks of several connections over time, which
            // std's Condvar may refuse with a panic on some platforms.)
            Mode::Blocking => Some(Waiter::Thread(st.table.condvar())),
            Mode::Future => Some(Waiter::Future(None)),
            Mode::Callback(f) => Some(Waiter::Callback(Some(f))),
            Mode::Oneway => None,
        };
        if let Some(e) = st.broken.clone() {
            drop(st);
            if let Some(Waiter::Callback(Some(f))) = waiter {
                self.callbacks.run(f, Err(e.clone()));
            }
            return Err(e);
        }
        st.last_sent = Instant::now();
        if let Some(waiter) = waiter {
            st.table.insert(id, deadline, waiter);
            if !blocking {
                // Even if a caller is leading: the background thread owns
                // this call's deadline, and must recompute when it wakes.
                self.poke_background(&mut st);
            }
        }
        Ok(())
    }

    /// The frame of call `id` could not be written.
    fn send_failed(&self, id: u64, e: &RpcError, callback: bool) {
        // A full outbox (the server reads slowly) refuses only this send,
        // and the connection is fine. Any other failure means the
        // connection is gone: every call on it fails.
        if e.status != Status::ResourceExhausted {
            self.fail_all(e.clone());
        }
        // This call: its callback gets the error; a blocked caller or a
        // future gets it as the `Err` that `start` returns, so its entry
        // goes (nobody would collect it).
        let mut st = lock(&self.state);
        let (deferred, gone) = if callback {
            (st.table.complete(id, Err(e.clone())), None)
        } else {
            (None, st.table.remove(id))
        };
        drop(st);
        drop(gone);
        if let Some(d) = deferred {
            d.run(&self.callbacks);
        }
    }

    /// Client step 4 for a blocking call: wait for the answer.
    fn wait_for(
        &self,
        id: u64,
        deadline: Deadline,
        tracer: &Option<Tracer>,
    ) -> Result<Frame, RpcError> {
        trace::emit(tracer, Side::Client, 4, None, || {
            match deadline.remaining() {
                Some(left) => {
                    let ms = Duration::from_millis(left.as_nanos().div_ceil(1_000_000) as u64);
                    format!("waiting for response {id} (deadline in {ms:?})")
                }
                None => format!("waiting for response {id} (no deadline)"),
            }
        });
        // A wait without a limit of its own always ends with a result.
        let frame = match self.wait(id, Deadline::NEVER) {
            Some(result) => result?,
            None => return Err(RpcError::internal("wait returned without a result")),
        };
        if tracer.is_some() {
            let mut bytes = frame.header.to_bytes().to_vec();
            bytes.extend_from_slice(&frame.body);
            trace::emit(tracer, Side::Client, 5, Some(&bytes), || {
                format!("received the response frame for request {id}")
            });
        }
        Ok(frame)
    }

    /// Send a ping or a pong.
    pub(super) fn send_control(&self, kind: FrameKind, id: u64) -> Result<(), RpcError> {
        let mut out = Vec::with_capacity(HEADER_LEN + 4);
        protocol::control_frame(&mut out, kind, id);
        if self.sealed {
            protocol::seal(&mut out, 0);
        }
        self.writer.send(&out)
    }

    /// Note that the server may stop working on request `id`: the caller
    /// has stopped waiting for it. The background thread sends the cancel
    /// frame, so the caller never waits on a socket for it.
    pub(super) fn note_cancel(&self, st: &mut State, id: u64) {
        if st.to_cancel.len() < MAX_CANCELS {
            st.to_cancel.push(id);
        }
        self.poke_background(st);
    }

    /// Send the cancel frames noted so far, in one write.
    pub(super) fn send_cancels(&self, ids: Vec<u64>) {
        if ids.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(ids.len() * (HEADER_LEN + 4));
        for id in ids {
            let start = out.len();
            protocol::control_frame(&mut out, FrameKind::Cancel, id);
            if self.sealed {
                protocol::seal(&mut out, start);
            }
        }
        // A failure here is the connection failing; whoever reads next
        // finds out and fails the calls.
        let _ = self.writer.send(&out);
    }

    /// Whether a new call can use this connection: it has not failed, and
    /// the server has not closed it while it sat idle.
    ///
    /// When no call is pending nobody reads the socket, so a server that
    /// closed an idle connection (its idle timeout, a restart) goes
    /// unnoticed, and the next call would be written into a dead socket and
    /// fail. So before a call on a connection that has been quiet for
    /// [`IDLE_PROBE_AFTER`], peek at the socket: a pending end-of-stream
    /// means "reconnect first". Busy connections never pay for this check.
    pub(crate) fn is_usable(&self) -> bool {
        {
            let st = lock(&self.state);
            if st.broken.is_some() {
                return false;
            }
            let quiet_since = st.liveness.last_heard().max(st.last_sent);
            if st.leader || !st.table.is_empty() || quiet_since.elapsed() < IDLE_PROBE_AFTER {
                return true;
            }
        }
        !self.closed_while_idle()
    }

    fn closed_while_idle(&self) -> bool {
        let reader = match self.reader.try_lock() {
            Ok(r) => r,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // Someone is about to read; they will notice.
            Err(TryLockError::WouldBlock) => return false,
        };
        if reader.frames.has_buffered_bytes() {
            return false;
        }
        // Someone is sending: the connection is not idle.
        let Some(no_sends) = self.writer.idle() else {
            return false;
        };
        let closed = reader.frames.get_ref().closed_by_peer(&no_sends);
        drop(no_sends);
        drop(reader);
        if closed {
            self.fail_all(RpcError::unavailable(format!(
                "the server at {} closed the idle connection",
                self.peer
            )));
        }
        closed
    }

    pub(crate) fn is_broken(&self) -> bool {
        lock(&self.state).broken.is_some()
    }

    /// Why the connection failed, if it did.
    pub(crate) fn broken_error(&self) -> Option<RpcError> {
        lock(&self.state).broken.clone()
    }

    /// Whether the server has answered a call on this connection.
    pub(crate) fn proven(&self) -> bool {
        lock(&self.state).proven
    }

    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.state).table.len()
    }

    /// The connection is unusable: fail every waiting call with `err` (each
    /// callback runs once with it), and close the socket.
    pub(crate) fn fail_all(&self, err: RpcError) {
        let mut st = lock(&self.state);
        if st.broken.is_none() {
            st.broken = Some(err.clone());
        }
        let ids = st.table.ids();
        let deferred: Vec<_> = ids
            .into_iter()
            .filter_map(|id| st.table.complete(id, Err(err.clone())))
            .collect();
        self.background.notify_one();
        drop(st);
        self.writer.shutdown();
        for d in deferred {
            d.run(&self.callbacks);
        }
    }

    /// The client is going away: fail what is still pending with
    /// `Cancelled`, stop the background thread and close the socket.
    pub(crate) fn close(&self) {
        lock(&self.state).closing = true;
        self.fail_all(RpcError::new(
            Status::Cancelled,
            "the client was dropped while the call was pending",
        ));
        self.background.notify_all();
        if let Some(h) = lock(&self.background_thread).take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}
