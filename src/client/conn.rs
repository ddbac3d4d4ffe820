//! One connection and its pending-call table: the single mechanism under
//! all four call modes.
//!
//! Article: 模式 (RR, Oneway, Future, Callback) and 原理 › 组件 (RPC
//! Invoker, Connector, Channel). Every call that expects an answer puts an
//! entry in `pending` under its request id, then writes its frame. Whoever
//! reads the socket routes each response to its entry. The entry's
//! [`Waiter`] says what "deliver" means:
//!
//! ```text
//!   Waiter::Thread(condvar)   request-response: a thread is blocked; notify it
//!   Waiter::Future(waker)     future: store the result; wake the executor, if any
//!   Waiter::Callback(f)       callback: hand f(result) to the callback pool
//!   (no entry at all)         oneway: nothing will come back
//! ```
//!
//! # Who reads
//!
//! A blocked caller reads the socket itself when no one else is (it is the
//! *leader*; see the `client` module docs for why). A future or a callback
//! has no thread waiting, so each connection also has one background thread,
//! the reader of last resort: it takes the reader role only when some
//! future, callback or heartbeat needs reading and no caller is leading. It
//! also expires futures and callbacks whose deadline passed, and sends the
//! heartbeat pings.
//!
//! # Heartbeats
//!
//! When nothing has been heard from the server for one interval, the
//! background thread sends a ping. Any frame from the server counts as a
//! sign of life. Once a ping has gone unanswered for `misses` intervals
//! (pinging again every interval), the connection is declared dead: every pending call fails with `Unavailable`, and the next
//! call reconnects. This is how a server that vanished without closing the
//! socket (a pulled cable, a frozen VM) is detected.

use super::ClientBuilder;
use crate::codec::{self, Encode};
use crate::error::{RpcError, Status};
use crate::pool::ThreadPool;
use crate::protocol::{self, Frame, FrameKind, ResponseHead};
use crate::trace::{self, Side};
use crate::transport::{self, FrameReader, FrameWriter, ReadError};
use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A callback waiting for its response, type-erased (it decodes inside).
pub(crate) type RawCallback = Box<dyn FnOnce(Result<Frame, RpcError>) + Send + 'static>;

/// How a pending call is told its response arrived.
pub(crate) enum Waiter {
    /// A thread is blocked on this condvar (with the `state` lock).
    Thread(Arc<Condvar>),
    /// A [`super::Pending`] holds the id; poll it or wait on it.
    Future(Option<Waker>),
    /// Run this with the result, once, on the callback pool.
    Callback(Option<RawCallback>),
}

pub(crate) struct Waiting {
    result: Option<Result<Frame, RpcError>>,
    deadline: Instant,
    waiter: Waiter,
}

impl Waiting {
    /// Still waiting, and no thread will read for it: the background reader
    /// must.
    fn needs_background(&self) -> bool {
        self.result.is_none() && !matches!(self.waiter, Waiter::Thread(_))
    }
}

pub(crate) struct State {
    pending: HashMap<u64, Waiting>,
    /// Someone is reading the socket right now.
    leader: bool,
    /// Set once the connection failed; every later call gets this error.
    broken: Option<RpcError>,
    /// The client is being dropped; the background thread should exit.
    closing: bool,
    /// Entries for which `needs_background()` holds.
    background_needed: usize,
    /// When we last read any frame from the server.
    last_heard: Instant,
    /// When we sent the first ping that nothing has answered yet. The
    /// server is judged from this moment, not from `last_heard`: if our own
    /// thread ran late and pinged late, that must not count against the
    /// server.
    ping_sent: Option<Instant>,
    /// When we sent the latest ping (to pace them one interval apart).
    last_ping: Option<Instant>,
    /// Bumped whenever the background thread is told something changed.
    /// It compares this before sleeping, so a notification sent while it
    /// was busy (and so not waiting on its condvar) is not lost.
    background_epoch: u64,
}

/// Work to do after the state lock is released: waking an executor or
/// running a callback must never happen while we hold the lock.
enum Deferred {
    /// Wake a blocked caller. Done after the lock is released, so the
    /// woken thread does not run straight into the lock we still hold.
    Notify(Arc<Condvar>),
    Wake(Waker),
    Run(RawCallback, Result<Frame, RpcError>),
}

impl State {
    fn insert(&mut self, id: u64, deadline: Instant, waiter: Waiter) {
        let w = Waiting {
            result: None,
            deadline,
            waiter,
        };
        if w.needs_background() {
            self.background_needed += 1;
        }
        self.pending.insert(id, w);
    }

    /// Remove an entry, whatever its state.
    fn remove(&mut self, id: u64) -> Option<Waiting> {
        let w = self.pending.remove(&id)?;
        if w.needs_background() {
            self.background_needed -= 1;
        }
        Some(w)
    }

    /// If `id`'s result has arrived, remove the entry and return it. (The
    /// entry is removed *before* the result is taken out, so the count of
    /// entries needing the background reader stays right.)
    fn take_result(&mut self, id: u64) -> Option<Result<Frame, RpcError>> {
        self.pending.get(&id)?.result.as_ref()?;
        self.remove(id)?.result
    }

    /// Change who waits for `id` (a future being waited on becomes a thread
    /// waiter, and back).
    fn set_waiter(&mut self, id: u64, waiter: Waiter) {
        if let Some(w) = self.pending.get_mut(&id) {
            let before = w.needs_background();
            w.waiter = waiter;
            match (before, w.needs_background()) {
                (true, false) => self.background_needed -= 1,
                (false, true) => self.background_needed += 1,
                _ => {}
            }
        }
    }

    /// Deliver a result to `id`'s waiter. Returns what must be done once the
    /// lock is released. Completing twice keeps the first result.
    fn complete(&mut self, id: u64, result: Result<Frame, RpcError>) -> Option<Deferred> {
        let w = self.pending.get_mut(&id)?;
        if w.result.is_some() {
            return None;
        }
        if w.needs_background() {
            self.background_needed -= 1;
        }
        match &mut w.waiter {
            Waiter::Thread(cv) => {
                w.result = Some(result);
                Some(Deferred::Notify(Arc::clone(cv)))
            }
            Waiter::Future(waker) => {
                w.result = Some(result);
                waker.take().map(Deferred::Wake)
            }
            Waiter::Callback(f) => {
                let f = f.take();
                self.pending.remove(&id);
                f.map(|f| Deferred::Run(f, result))
            }
        }
    }
}

/// Callbacks run here, never on the thread that reads the socket, so a
/// callback that is slow, blocks or panics cannot delay other responses.
/// Created on first use: a client that never uses callbacks has no pool.
pub(crate) struct CallbackPool {
    pool: OnceLock<Option<ThreadPool>>,
}

impl CallbackPool {
    pub(crate) fn new() -> CallbackPool {
        CallbackPool {
            pool: OnceLock::new(),
        }
    }

    pub(crate) fn run(&self, f: RawCallback, result: Result<Frame, RpcError>) {
        let job = Box::new(move || f(result));
        let pool = self.pool.get_or_init(|| {
            // No spinning here: callbacks are not latency-critical, and
            // the CPU is better left to the threads reading sockets.
            ThreadPool::with_spin("minirpc-callback", 2, 1 << 16, Duration::ZERO).ok()
        });
        match pool {
            Some(p) => {
                if let Err(job) = p.try_execute(job) {
                    // The pool is saturated or gone: run it here rather than
                    // drop it, because a callback runs exactly once.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            }
            None => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        }
    }
}

/// Heartbeat settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heartbeat {
    pub(crate) interval: Duration,
    pub(crate) misses: u32,
}

/// What the leader holds while it reads.
struct ReaderState {
    frames: FrameReader<TcpStream>,
    /// The read timeout the socket has now (see `lead`).
    timeout_now: Option<Duration>,
    /// Frames read but not yet routed (kept to reuse its allocation).
    batch: Vec<Frame>,
}

/// One TCP connection to the server.
pub(crate) struct Connection {
    pub(crate) peer: SocketAddr,
    writer: FrameWriter,
    /// Only the leader locks this, so it is never contended. Beside the
    /// reader: the read timeout the socket has now (see `lead`).
    reader: Mutex<ReaderState>,
    state: Mutex<State>,
    /// The background thread sleeps here.
    background: Condvar,
    background_thread: Mutex<Option<JoinHandle<()>>>,
    next_id: AtomicU64,
    heartbeat: Option<Heartbeat>,
    callbacks: Arc<CallbackPool>,
}

/// Round a read timeout up to a step that grows with it (1 ms below 100 ms,
/// 10 ms below 1 s, 100 ms above): close enough for a deadline, coarse
/// enough that consecutive calls usually want the same value. Never zero,
/// which would mean "block forever".
fn round_up(d: Duration) -> Duration {
    let step = if d < Duration::from_millis(100) {
        1
    } else if d < Duration::from_secs(1) {
        10
    } else {
        100
    };
    let ms = (d.as_millis() as u64).div_ceil(step).max(1) * step;
    Duration::from_millis(ms)
}

/// The longest the background thread reads before it checks deadlines
/// again: a future or callback expires at most this late.
const BACKGROUND_SLICE: Duration = Duration::from_millis(20);

/// How long a connection must have been quiet before a call checks that
/// the server has not closed it (see [`Connection::closed_while_idle`]).
const IDLE_PROBE_AFTER: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How an encoded request is delivered.
pub(crate) enum Mode {
    /// Wait for it on this thread (request-response).
    Blocking,
    /// Leave the entry for a [`super::Pending`] to collect.
    Future,
    /// Run this with the response.
    Callback(RawCallback),
    /// No response at all.
    Oneway,
}

impl Connection {
    pub(crate) fn open(
        addrs: &[SocketAddr],
        config: &ClientBuilder,
        callbacks: Arc<CallbackPool>,
    ) -> Result<Arc<Connection>, RpcError> {
        let stream = transport::connect(addrs, config.connect_timeout)?;
        let io = |what: &str, e: std::io::Error| RpcError::from_io(what, &e);
        let peer = stream.peer_addr().map_err(|e| io("peer_addr", e))?;
        stream
            .set_write_timeout(Some(config.write_timeout))
            .map_err(|e| io("set_write_timeout", e))?;
        let read_half = stream
            .try_clone()
            .map_err(|e| io("cloning the socket", e))?;
        let conn = Arc::new(Connection {
            peer,
            writer: FrameWriter::new(stream, 8 * config.max_frame_bytes.max(1 << 20)),
            reader: Mutex::new(ReaderState {
                frames: FrameReader::new(read_half, config.max_frame_bytes),
                timeout_now: None,
                batch: Vec::new(),
            }),
            state: Mutex::new(State {
                pending: HashMap::new(),
                leader: false,
                broken: None,
                closing: false,
                background_needed: 0,
                last_heard: Instant::now(),
                ping_sent: None,
                last_ping: None,
                background_epoch: 0,
            }),
            background: Condvar::new(),
            background_thread: Mutex::new(None),
            // Request id 0 is reserved for connection-level errors.
            next_id: AtomicU64::new(1),
            heartbeat: config.heartbeat,
            callbacks,
        });
        let bg = Arc::clone(&conn);
        let handle = std::thread::Builder::new()
            .name("minirpc-client-bg".into())
            .spawn(move || bg.background_loop())
            .map_err(|e| io("starting the client's background thread", e))?;
        *lock(&conn.background_thread) = Some(handle);
        Ok(conn)
    }

    pub(crate) fn is_broken(&self) -> bool {
        lock(&self.state).broken.is_some()
    }

    /// Whether the server closed this connection while it sat idle.
    ///
    /// When no call is pending nobody reads the socket, so a server that
    /// closed an idle connection (its idle timeout, a restart) goes
    /// unnoticed, and the next call would be written into a dead socket and
    /// fail. So before a call on a connection that has been quiet for
    /// [`IDLE_PROBE_AFTER`], peek at the socket without blocking: a pending
    /// end-of-stream means "reconnect first". Busy connections never pay
    /// for this check.
    pub(crate) fn closed_while_idle(&self) -> bool {
        {
            let st = lock(&self.state);
            if st.leader
                || st.broken.is_some()
                || !st.pending.is_empty()
                || st.last_heard.elapsed() < IDLE_PROBE_AFTER
            {
                return false;
            }
        }
        let Ok(guard) = self.reader.try_lock() else {
            return false; // someone is about to read; they will notice
        };
        let reader = &guard.frames;
        if reader.has_buffered_bytes() {
            return false;
        }
        let socket = reader.get_ref();
        if socket.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let closed = match socket.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        };
        let _ = socket.set_nonblocking(false);
        drop(guard);
        if closed {
            self.fail_all(RpcError::unavailable(format!(
                "the server at {} closed the idle connection",
                self.peer
            )));
        }
        closed
    }

    pub(crate) fn in_flight(&self) -> usize {
        lock(&self.state).pending.len()
    }

    /// Client steps 2–3 (and 4 for a blocking call): encode the request,
    /// register it, send it. Returns the request id, and for
    /// [`Mode::Blocking`] the response frame.
    pub(crate) fn start<A: Encode + ?Sized>(
        &self,
        call_id: &str,
        args: &A,
        timeout: Duration,
        config: &ClientBuilder,
        mode: Mode,
    ) -> Result<(u64, Option<Frame>), RpcError> {
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
        let kind = match mode {
            Mode::Oneway => FrameKind::Oneway,
            _ => FrameKind::Request,
        };
        let timeout_ms = u32::try_from(timeout.as_millis().max(1)).unwrap_or(u32::MAX);
        let start = protocol::begin_request(
            &mut frame,
            kind,
            config.codec,
            id,
            call_id,
            timeout_ms,
            meta,
        );
        let args_at = frame.len();
        codec::encode_as(config.codec, args, &mut frame);
        protocol::finish_frame(&mut frame, start);
        trace::emit(tracer, Side::Client, 2, Some(&frame[args_at..]), || {
            format!(
                "serialized the arguments into {} bytes and wrapped them, with the call id, in a {}-byte frame (request id {id})",
                frame.len() - args_at,
                frame.len()
            )
        });

        // Register before sending, so the response cannot beat us to the table.
        let blocking = matches!(mode, Mode::Blocking);
        let waiter = match mode {
            // One condvar per wait. (Reusing one per thread would pair it
            // with the locks of several connections over time, which std's
            // Condvar may refuse with a panic on some platforms.)
            Mode::Blocking => Some(Waiter::Thread(Arc::new(Condvar::new()))),
            Mode::Future => Some(Waiter::Future(None)),
            Mode::Callback(f) => Some(Waiter::Callback(Some(f))),
            Mode::Oneway => None,
        };
        if waiter.is_none() {
            self.check_open()?;
        }
        if let Some(waiter) = waiter {
            let mut st = lock(&self.state);
            if let Some(e) = st.broken.clone() {
                drop(st);
                if let Waiter::Callback(Some(f)) = waiter {
                    self.callbacks.run(f, Err(e.clone()));
                }
                return Err(e);
            }
            st.insert(id, deadline, waiter);
            if !blocking {
                // Even if a caller is leading: the background thread owns
                // this call's deadline, and must recompute when it wakes.
                self.poke_background(&mut st);
            }
        }
        // Step 3: send it.
        if let Err(e) = self.writer.send(&frame) {
            if e.status == Status::ResourceExhausted {
                // Only this send was refused (the outbox is full because
                // the server reads slowly); the connection is fine. Fail
                // just this call: its future or callback gets the error.
                let d = {
                    let mut st = lock(&self.state);
                    let d = st.complete(id, Err(e.clone()));
                    if blocking {
                        st.remove(id);
                    }
                    d
                };
                self.run_deferred(d);
            } else {
                // The connection is gone: every call on it fails, this one
                // too (its callback or future gets the error through the
                // table).
                self.fail_all(e.clone());
                if blocking {
                    lock(&self.state).remove(id);
                }
            }
            return Err(e);
        }
        trace::emit(tracer, Side::Client, 3, Some(&frame), || {
            format!("sent the request frame to {}", self.peer)
        });
        if !blocking {
            return Ok((id, None));
        }
        // Step 4: wait for the answer.
        trace::emit(tracer, Side::Client, 4, None, || {
            format!("waiting for response {id} (deadline in {timeout:?})")
        });
        // A wait without a limit of its own always ends with a result.
        match self.wait(id, None) {
            Some(result) => {
                let frame = result?;
                if tracer.is_some() {
                    let mut bytes = frame.header.to_bytes().to_vec();
                    bytes.extend_from_slice(&frame.body);
                    trace::emit(tracer, Side::Client, 5, Some(&bytes), || {
                        format!("received the response frame for request {id}")
                    });
                }
                Ok((id, Some(frame)))
            }
            None => Err(RpcError::internal("wait returned without a result")),
        }
    }

    /// Wait on this thread for `id`'s result: read the socket ourselves if
    /// no one is, or sleep until the leader hands us our response (or the
    /// reader role). Gives up at the call's deadline (`DeadlineExceeded`,
    /// entry removed) or, if `until` is given and comes first, returns
    /// `None` and leaves the call pending for a later wait.
    pub(crate) fn wait(&self, id: u64, until: Option<Instant>) -> Option<Result<Frame, RpcError>> {
        let mut st = lock(&self.state);
        let Some(w) = st.pending.get(&id) else {
            return Some(Err(RpcError::new(
                Status::Cancelled,
                "this call's result was already taken",
            )));
        };
        let deadline = w.deadline;
        let wake = match &w.waiter {
            Waiter::Thread(cv) => Arc::clone(cv),
            _ => Arc::new(Condvar::new()),
        };
        st.set_waiter(id, Waiter::Thread(Arc::clone(&wake)));
        loop {
            if let Some(result) = st.take_result(id) {
                self.pass_lead(&mut st);
                return Some(result);
            }
            let now = Instant::now();
            if now >= deadline {
                st.remove(id);
                self.pass_lead(&mut st);
                return Some(Err(RpcError::deadline_exceeded(format!(
                    "no response within the call's timeout (request {id}); the server may still run it. Raise the timeout (Client::call_timeout) if it is just slow"
                ))));
            }
            let limit = until.map_or(deadline, |u| u.min(deadline));
            if now >= limit {
                // Our own wait is over but the call is not: hand it back to
                // the background reader.
                st.set_waiter(id, Waiter::Future(None));
                self.pass_lead(&mut st);
                return None;
            }
            if !st.leader {
                st.leader = true;
                drop(st);
                self.lead(Some(id), limit);
                st = lock(&self.state);
                st.leader = false;
                continue;
            }
            st = wake
                .wait_timeout(st, limit - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Store a waker for a future's `id`; returns its result if ready.
    pub(crate) fn poll_result(&self, id: u64, waker: &Waker) -> Option<Result<Frame, RpcError>> {
        let mut st = lock(&self.state);
        if !st.pending.contains_key(&id) {
            return Some(Err(RpcError::new(
                Status::Cancelled,
                "this call's result was already taken",
            )));
        }
        if let Some(r) = st.take_result(id) {
            return Some(r);
        }
        let w = st.pending.get_mut(&id)?;
        match &mut w.waiter {
            Waiter::Future(slot) => {
                if !slot.as_ref().is_some_and(|old| old.will_wake(waker)) {
                    *slot = Some(waker.clone());
                }
            }
            _ => st.set_waiter(id, Waiter::Future(Some(waker.clone()))),
        }
        self.poke_background(&mut st);
        None
    }

    /// Take `id`'s result if it has arrived, without blocking.
    pub(crate) fn try_take(&self, id: u64) -> Option<Result<Frame, RpcError>> {
        lock(&self.state).take_result(id)
    }

    /// Whether `id`'s result has arrived (or it is gone).
    pub(crate) fn is_ready(&self, id: u64) -> bool {
        lock(&self.state)
            .pending
            .get(&id)
            .is_none_or(|w| w.result.is_some())
    }

    /// Stop tracking `id` (its `Pending` was dropped). A late response is
    /// then dropped quietly.
    pub(crate) fn forget(&self, id: u64) {
        let mut st = lock(&self.state);
        st.remove(id);
        self.pass_lead(&mut st);
    }

    /// Tell the background thread that something changed (a new future or
    /// callback, a new waker): it recomputes its deadlines and whether to read.
    fn poke_background(&self, st: &mut State) {
        st.background_epoch = st.background_epoch.wrapping_add(1);
        self.background.notify_one();
    }

    /// If no one is reading and some call still needs reading, wake whoever
    /// should take over: a blocked caller first, else the background thread.
    fn pass_lead(&self, st: &mut State) {
        if st.leader {
            return;
        }
        let thread_waiter = st.pending.values().find_map(|w| match &w.waiter {
            Waiter::Thread(cv) if w.result.is_none() => Some(cv),
            _ => None,
        });
        match thread_waiter {
            Some(cv) => cv.notify_one(),
            None => {
                if st.background_needed > 0 || st.ping_sent.is_some() {
                    self.poke_background(st);
                }
            }
        }
    }

    /// Read and route frames as the leader until `my_id`'s response has
    /// arrived (for a blocked caller), or nothing needs the background reader
    /// any more (for the background thread, `my_id == None`), or `until`
    /// passes, or the connection breaks.
    fn lead(&self, my_id: Option<u64>, until: Instant) {
        let mut guard = lock(&self.reader);
        let ReaderState {
            frames: reader,
            timeout_now,
            batch,
        } = &mut *guard;
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            if !reader.has_buffered_frame() {
                // The socket timeout is how a blocked read gives up at our
                // limit. Setting it is a system call, so round the wait up to
                // a coarse step and skip the call when the socket already
                // has that value: back-to-back calls with the same timeout
                // then make none. (Waking up to a step late is harmless: the
                // loop checks `until` again.)
                let wait = round_up(until - now);
                if *timeout_now != Some(wait) {
                    if let Err(e) = reader.get_ref().set_read_timeout(Some(wait)) {
                        self.fail_all(RpcError::from_io("set_read_timeout", &e));
                        return;
                    }
                    *timeout_now = Some(wait);
                }
            }
            let err = match reader.read_frame() {
                Ok(frame) => {
                    // Take every frame that is already buffered too (no
                    // system call), and route them all under one lock.
                    batch.push(frame);
                    while reader.has_buffered_frame() {
                        match reader.read_frame() {
                            Ok(f) => batch.push(f),
                            // A bad frame stays in the buffer; the next read
                            // reports it.
                            Err(_) => break,
                        }
                    }
                    if self.route(batch, my_id) {
                        return;
                    }
                    continue;
                }
                Err(ReadError::TimedOut) | Err(ReadError::UnknownKind { .. }) => continue,
                Err(ReadError::Protocol(e)) | Err(ReadError::TooLarge { error: e, .. }) => {
                    RpcError::unavailable(format!(
                        "the server at {} sent a bad frame ({e}); connection closed",
                        self.peer
                    ))
                }
                Err(ReadError::Closed) | Err(ReadError::Truncated { .. }) => RpcError::unavailable(
                    format!("connection to {} was closed by the server", self.peer),
                ),
                Err(ReadError::Io(e)) => {
                    RpcError::from_io(&format!("connection to {} failed", self.peer), &e)
                }
            };
            self.fail_all(err);
            return;
        }
    }

    /// Hand each frame in `frames` (emptied) to whoever waits for it, under
    /// one lock; wake them after releasing it. Returns true when the leader
    /// should stop reading: its own response arrived, or (for the
    /// background reader) nothing needs it any more.
    fn route(&self, frames: &mut Vec<Frame>, my_id: Option<u64>) -> bool {
        let mut deferred = Vec::new();
        let mut pongs = Vec::new();
        let mut connection_error = None;
        let mut st = lock(&self.state);
        st.last_heard = Instant::now();
        st.ping_sent = None;
        st.last_ping = None;
        for frame in frames.drain(..) {
            let id = frame.header.request_id;
            match frame.header.kind {
                FrameKind::Response if id == 0 => {
                    // A connection-level error: the server is about to close.
                    connection_error = Some(match ResponseHead::parse(&frame.body) {
                        Ok(h) => RpcError::new(h.status, h.message.to_owned()),
                        Err(e) => e,
                    });
                }
                // A response whose caller timed out and left finds no entry
                // and is dropped quietly.
                FrameKind::Response => match st.complete(id, Ok(frame)) {
                    // The leader is awake already: no need to notify it.
                    Some(Deferred::Notify(_)) if Some(id) == my_id => {}
                    Some(d) => deferred.push(d),
                    None => {}
                },
                FrameKind::Ping => pongs.push(id),
                // Pongs only matter as signs of life (noted above); servers
                // send no requests.
                FrameKind::Pong | FrameKind::Request | FrameKind::Oneway | FrameKind::Cancel => {}
            }
        }
        let stop = match my_id {
            Some(mine) => st.pending.get(&mine).is_none_or(|w| w.result.is_some()),
            None => {
                st.closing
                    || (st.background_needed == 0 && st.ping_sent.is_none())
                    || st
                        .pending
                        .values()
                        .any(|w| matches!(w.waiter, Waiter::Thread(_)) && w.result.is_none())
            }
        };
        drop(st);
        for d in deferred {
            self.run_deferred(Some(d));
        }
        for id in pongs {
            let mut out = Vec::with_capacity(protocol::HEADER_LEN);
            protocol::control_frame(&mut out, FrameKind::Pong, id);
            let _ = self.writer.send(&out);
        }
        if let Some(e) = connection_error {
            self.fail_all(e);
            return true;
        }
        stop
    }

    fn run_deferred(&self, d: Option<Deferred>) {
        match d {
            Some(Deferred::Notify(cv)) => cv.notify_one(),
            Some(Deferred::Wake(w)) => w.wake(),
            Some(Deferred::Run(f, r)) => self.callbacks.run(f, r),
            None => {}
        }
    }

    /// The connection is unusable: fail every waiting call with `err` (each
    /// callback runs once with it), and close the socket.
    pub(crate) fn fail_all(&self, err: RpcError) {
        let mut st = lock(&self.state);
        if st.broken.is_none() {
            st.broken = Some(err.clone());
        }
        let ids: Vec<u64> = st.pending.keys().copied().collect();
        let deferred: Vec<Deferred> = ids
            .into_iter()
            .filter_map(|id| st.complete(id, Err(err.clone())))
            .collect();
        self.background.notify_one();
        drop(st);
        let _ = self.writer.stream().shutdown(Shutdown::Both);
        for d in deferred {
            self.run_deferred(Some(d));
        }
    }

    /// `Ok` unless the connection has failed.
    pub(crate) fn check_open(&self) -> Result<(), RpcError> {
        match &lock(&self.state).broken {
            Some(e) => Err(e.clone()),
            None => Ok(()),
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

    /// The background thread: expires futures and callbacks at their
    /// deadlines, sends heartbeats, declares a silent server dead, and reads
    /// the socket when only futures and callbacks are waiting.
    fn background_loop(&self) {
        let mut st = lock(&self.state);
        loop {
            if st.closing || st.broken.is_some() {
                return;
            }
            let epoch = st.background_epoch;
            let now = Instant::now();

            // 1. Futures and callbacks past their deadline fail now.
            let expired: Vec<u64> = st
                .pending
                .iter()
                .filter(|(_, w)| w.needs_background() && w.deadline <= now)
                .map(|(id, _)| *id)
                .collect();
            let mut deferred = Vec::new();
            for id in expired {
                let e = RpcError::deadline_exceeded(format!(
                    "no response within the call's timeout (request {id}); the server may still run it"
                ));
                deferred.extend(st.complete(id, Err(e)));
            }

            // 2. Heartbeats.
            let mut send_ping = false;
            let mut next = now + Duration::from_secs(3600);
            if let Some(hb) = self.heartbeat {
                // Dead only after `misses` intervals with a ping unanswered.
                let dead_after = hb.interval * hb.misses.max(1);
                if let Some(first) = st.ping_sent {
                    let waited = now.saturating_duration_since(first);
                    if waited >= dead_after {
                        drop(st);
                        for d in deferred {
                            self.run_deferred(Some(d));
                        }
                        self.fail_all(RpcError::unavailable(format!(
                            "the server at {} answered no heartbeat for {waited:?} ({} intervals of {:?}); connection closed",
                            self.peer, hb.misses, hb.interval
                        )));
                        return;
                    }
                    next = next.min(first + dead_after);
                }
                // Ping after an interval of silence, then every interval.
                let due = st.last_ping.unwrap_or(st.last_heard).max(st.last_heard) + hb.interval;
                if now >= due {
                    send_ping = true;
                    st.last_ping = Some(now);
                    st.ping_sent.get_or_insert(now);
                    next = next.min(now + hb.interval);
                } else {
                    next = next.min(due);
                }
            }
            if let Some(d) = st
                .pending
                .values()
                .filter(|w| w.needs_background())
                .map(|w| w.deadline)
                .min()
            {
                next = next.min(d);
            }

            // 3. Read, if something needs reading and no caller is.
            let need_read = st.background_needed > 0 || st.ping_sent.is_some();
            let lead = need_read && !st.leader;
            if lead {
                st.leader = true;
            }
            drop(st);
            for d in deferred {
                self.run_deferred(Some(d));
            }
            if send_ping {
                let mut out = Vec::with_capacity(protocol::HEADER_LEN);
                protocol::control_frame(&mut out, FrameKind::Ping, 0);
                if let Err(e) = self.writer.send(&out) {
                    self.fail_all(e);
                }
            }
            if lead {
                // A blocked read cannot be interrupted when a new future
                // with an earlier deadline arrives, so read in short slices
                // and come back to the top (to expire calls) between them.
                let slice = (Instant::now() + BACKGROUND_SLICE).min(next);
                self.lead(None, slice.max(Instant::now() + Duration::from_millis(1)));
                st = lock(&self.state);
                st.leader = false;
                self.pass_lead(&mut st);
                continue;
            }
            st = lock(&self.state);
            if st.closing || st.broken.is_some() {
                return;
            }
            if st.background_epoch != epoch {
                continue; // told something while busy: recompute first
            }
            let wait = next.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                continue;
            }
            st = self
                .background
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}
