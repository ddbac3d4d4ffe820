//! One connection's reader: read frames against deadlines, hand each
//! request to dispatch, and keep the peer within its bounds.
//!
//! Article: 本地调用VS远程调用 (server step 2, "wait for a request") and
//! 原理 › 流量控制. The one idea to take away: **a read needs two clocks**.
//! Between frames a connection may be quiet (it is reaped after
//! `idle_timeout` with no calls); once a frame has begun, it must arrive
//! whole within `frame_timeout`, or a peer sending one byte a second could
//! hold the connection, and the memory of its half-read frame, forever.
//!
//! ```text
//!   loop: flush inline responses ─► outbox half full? wait for room
//!         ─► read a frame (socket timeout = the clock that applies)
//!              ├─ request/oneway ─► dispatch (pool, or inline: see below)
//!              ├─ ping ─► pong          ├─ cancel ─► flag the call
//!              ├─ too large ─► answer that id, skip its body, go on
//!              └─ timed out ─► mid-frame past frame_timeout, or idle: close
//! ```
//!
//! **The reading role is a value.** [`ReadRole`] (the buffered socket, the
//! batch of inline responses, the connection's slot) is what a reader
//! thread holds. Before running a call inline the thread parks the role in
//! [`Conn::parked`]; if the call finishes promptly it takes the role back,
//! and if not, the relief (`src/server/relief.rs`) hands it to a new
//! thread. A compare-and-swap on [`Conn::inline_since`] decides which of the
//! two happens, exactly once.
//!
//! **One descriptor per connection.** The reader and the outbox share one
//! socket, an `Arc<TcpStream>`: `&TcpStream` implements `Read` and `Write`,
//! so nobody needs a `try_clone` (a second descriptor for the same socket,
//! which would halve the connections a descriptor limit allows). Each
//! connection thread runs on a small stack of
//! `ServerBuilder::connection_stack_size` (see [`spawn_conn_thread`]).

use super::acceptor::ConnSlot;
use super::builder::ServerBuilder;
use super::dispatch::{dispatch, run_call, InlineCall};
use super::handle::Inner;
use super::outbox::Outbox;
use crate::codec::CodecId;
use crate::error::RpcError;
use crate::protocol::{self, FrameKind};
use crate::sync::lock;
use crate::time::Deadline;
use crate::trace::{self, Side};
use crate::transport::scratch;
use crate::transport::spin::SpinRead;
use crate::transport::{FrameReader, ReadError};
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Responses of inline calls are sent once this many bytes have piled up,
/// even if more requests are waiting to be read.
const BATCH_MAX: usize = 64 * 1024;

/// One accepted connection, shared by its reader, the calls from it that
/// run on the pool (they need the outbox), and the relief.
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) outbox: Arc<Outbox>,
    /// Calls from this connection queued or running on the pool.
    pub(crate) in_flight: AtomicUsize,
    /// Bytes of this connection's requests queued or running.
    pub(crate) queued_bytes: AtomicUsize,
    /// Pool calls that a cancel frame can reach, by request id.
    pub(crate) cancels: Mutex<HashMap<u64, Arc<AtomicBool>>>,
    /// When the call now running inline started (server-clock nanos), or
    /// 0. Whoever swaps it back to 0 first, the reader or the relief,
    /// decides who reads next.
    pub(crate) inline_since: AtomicU64,
    /// Which method is running inline (its index), for the relief to demote.
    pub(crate) inline_method: AtomicUsize,
    /// The reading role while its reader runs a call inline.
    pub(crate) parked: Mutex<Option<ReadRole>>,
    /// The client seals its frames with a checksum, so we seal ours (set
    /// by the first sealed frame that arrives).
    pub(crate) sealed: AtomicBool,
}

impl Conn {
    /// One more call in flight on this connection; returns how many there
    /// were before. A connection going from none to some becomes one of the
    /// server's *active* connections, among which a busy queue is shared.
    pub(crate) fn enter(&self, inner: &Inner) -> usize {
        let before = self.in_flight.fetch_add(1, Ordering::SeqCst);
        if before == 0 {
            inner.active_connections.fetch_add(1, Ordering::SeqCst);
        }
        before
    }

    /// One call fewer in flight (the pair of [`enter`](Self::enter)).
    pub(crate) fn leave(&self, inner: &Inner) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            inner.active_connections.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn new(id: u64, peer: SocketAddr, outbox: Arc<Outbox>) -> Conn {
        Conn {
            id,
            peer,
            outbox,
            in_flight: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            cancels: Mutex::new(HashMap::new()),
            inline_since: AtomicU64::new(0),
            inline_method: AtomicUsize::new(0),
            parked: Mutex::new(None),
            sealed: AtomicBool::new(false),
        }
    }

    /// Seal the frame that starts at `start` in `out`, if this connection
    /// uses checksums (see [`protocol::seal`]).
    pub(crate) fn seal(&self, out: &mut Vec<u8>, start: usize) {
        if self.sealed.load(Ordering::Relaxed) {
            protocol::seal(out, start);
        }
    }

    /// Queue frames for the peer. If that fails the connection is already
    /// being closed (the outbox cut the peer off), and there is nobody left
    /// to tell.
    pub(crate) fn send(&self, frames: &[u8]) {
        let _ = self.outbox.send(frames);
    }

    /// Send a connection-level error (request id 0); the caller then closes.
    fn send_connection_error(&self, err: &RpcError) {
        let mut out = Vec::new();
        protocol::error_response(&mut out, CodecId::Binary, 0, err);
        self.seal(&mut out, 0);
        self.send(&out);
    }
}

/// The connection's one socket, shared by its reader and its outbox.
pub(crate) struct SharedStream(pub(crate) Arc<TcpStream>, SpinRead);

impl Read for SharedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let SharedStream(stream, spin) = self;
        // Polls first with `ServerBuilder::read_spin` (off by default).
        spin.read(stream, buf, |buf| (&**stream).read(buf))
    }
}

/// Start a thread of a connection (a reader, or its writer) on the small
/// stack `stack` bytes (`ServerBuilder::connection_stack_size`), not the
/// standard two megabytes: a server holds one such thread per connection,
/// and what a stack costs is measured in docs/04-transport.md.
pub(crate) fn spawn_conn_thread<F>(
    name: String,
    stack: usize,
    f: F,
) -> io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name(name)
        .stack_size(stack)
        .spawn(f)
}

/// What a reader thread holds while it reads (see the module docs).
pub(crate) struct ReadRole {
    frames: FrameReader<SharedStream>,
    /// Responses of calls run inline, waiting to go out together: when
    /// several requests arrived in one read, their answers leave in one write.
    pub(crate) batch: Vec<u8>,
    /// The socket's read timeout now (changed only when it must differ).
    timeout_now: Option<Duration>,
    /// The read timeout to use between frames.
    idle_wait: Option<Duration>,
    /// When the last request arrived: the idle clock (pings do not count).
    last_request: Instant,
    /// Frames taken out of the buffer since it was last empty: about how
    /// many requests the last read brought (for `read_spin`).
    frames_per_read: usize,
    /// Given back when the last reader of this connection ends.
    _slot: ConnSlot,
}

impl ReadRole {
    pub(crate) fn new(stream: Arc<TcpStream>, config: &ServerBuilder, slot: ConnSlot) -> ReadRole {
        let spin = SpinRead::new(config.read_spin);
        let mut frames = FrameReader::new(SharedStream(stream, spin), config.max_frame_bytes);
        frames.yield_mid_frame(true); // so the frame deadline is checked
        ReadRole {
            frames,
            batch: Vec::new(),
            timeout_now: None,
            idle_wait: config.idle_timeout,
            last_request: Instant::now(),
            frames_per_read: 0,
            _slot: slot,
        }
    }

    /// Set the socket's read timeout for what we are waiting for: the rest
    /// of a frame (its deadline), or the next one (the idle clock).
    fn arm_timeout(&mut self, config: &ServerBuilder) -> std::io::Result<()> {
        if self.frames.has_buffered_frame() {
            // The next frame needs no read, so no timeout. (Checked first:
            // `frame_started` walks every whole frame in the buffer, and a
            // peer that pipelines thousands of pings would make that walk
            // once per frame.)
            return Ok(());
        }
        let want = match self.frames.frame_started() {
            Some(started) => Some(
                Deadline::from_instant(started, config.frame_timeout)
                    .remaining_capped(config.frame_timeout)
                    .max(Duration::from_millis(1)),
            ),
            None => self.idle_wait,
        };
        if want != self.timeout_now {
            self.frames.get_ref().0.set_read_timeout(want)?;
            self.timeout_now = want;
        }
        Ok(())
    }
}

/// What the reader does after one frame.
// It lives for one loop iteration on the stack; boxing the large variant
// would cost an allocation per inline call to save a copy.
#[allow(clippy::large_enum_variant)]
enum Next {
    Continue,
    /// Run this call here, on the reader.
    Inline(InlineCall),
    Close,
}

/// A reader thread: read and dispatch until the connection ends, or until
/// the relief hands the role to another thread.
pub(crate) fn read_loop(inner: &Arc<Inner>, conn: &Arc<Conn>, mut role: ReadRole) {
    loop {
        // Flush when nothing more is waiting to be read, or when the batch
        // is big (so a flood of tiny requests cannot grow it unbounded).
        if !role.batch.is_empty()
            && (!role.frames.has_buffered_frame() || role.batch.len() >= BATCH_MAX)
        {
            conn.send(&role.batch);
            role.batch.clear();
        }
        // Backpressure: while the peer is not reading its responses, stop
        // reading its requests. They wait in its socket, not in our memory.
        if conn.outbox.is_backed_up() {
            let stopped = Instant::now();
            let deadline = Deadline::from_instant(stopped, inner.config.write_timeout);
            if !conn.outbox.wait_for_room(deadline) {
                break;
            }
            // A frame we had begun to read did not stall while we chose
            // not to read it: that wait is not the peer's, so it does not
            // count against frame_timeout. Up to write_timeout in all per
            // frame: however often its peer makes us wait, a frame ends by
            // frame_timeout + write_timeout from its first byte, plus the
            // wait it may be in when that passes (at most write_timeout).
            let most = inner.config.write_timeout;
            role.frames.pause_frame_clock(stopped.elapsed(), most);
        }
        match read_one(inner, conn, &mut role) {
            Next::Continue => {}
            Next::Close => break,
            Next::Inline(call) => match run_inline(inner, conn, role, call) {
                Some(back) => role = back,
                None => return, // the relief gave the role to a new reader
            },
        }
    }
    if !role.batch.is_empty() {
        conn.send(&role.batch);
    }
    if conn.outbox.is_cut_off() {
        // Nobody can receive the answers of this peer's queued calls: give
        // their places in the queue to clients that can.
        inner.pool.drop_tagged(conn.id);
    }
    // Stop reading. Writing goes on until the calls in flight have answered:
    // the socket closes when the last `Arc<Outbox>` goes. Dropping `role`
    // gives the connection's slot back.
    let _ = role.frames.get_ref().0.shutdown(Shutdown::Read);
}

/// Read one frame and act on it.
fn read_one(inner: &Arc<Inner>, conn: &Arc<Conn>, role: &mut ReadRole) -> Next {
    let config = &inner.config;
    trace::emit(&config.tracer, Side::Server, 2, None, || {
        format!("waiting for a request from {}", conn.peer)
    });
    if role.arm_timeout(config).is_err() {
        return Next::Close;
    }
    if !role.frames.has_buffered_bytes() {
        // About to read the socket. With `read_spin`, poll it only if the
        // last read brought one request: a lone caller, waiting for this
        // answer to send its next. A read that brought many means many
        // client threads are busy, and a spinning reader would take a
        // CPU from them (see `src/transport/spin.rs`).
        let lone = role.frames_per_read <= 1;
        role.frames.get_mut().1.allow(lone);
        role.frames_per_read = 0;
    }
    let frame = match role.frames.read_frame() {
        Ok(f) => {
            role.frames_per_read += 1;
            f
        }
        Err(ReadError::TimedOut) => return on_timeout(inner, conn, role),
        Err(ReadError::TooLarge { header, error }) => {
            // Framing is intact: refuse this one request, skip its body. A
            // sealed one gets a sealed refusal, and seals the connection's
            // answers from here on, as a sealed frame read whole would.
            if header.flags & protocol::FLAG_CHECKSUM != 0 {
                conn.sealed.store(true, Ordering::Relaxed);
            }
            match header.kind {
                FrameKind::Request if header.request_id != 0 => {
                    let mut out = Vec::new();
                    let id = header.request_id;
                    protocol::error_response(&mut out, CodecId::Binary, id, &error);
                    conn.seal(&mut out, 0);
                    conn.send(&out);
                    inner.stats.calls_failed.fetch_add(1, Ordering::Relaxed);
                }
                FrameKind::Oneway => {
                    inner.stats.calls_failed.fetch_add(1, Ordering::Relaxed);
                    inner.stats.oneway_failed.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            return Next::Continue;
        }
        Err(ReadError::UnknownKind { .. }) => return Next::Continue,
        Err(ReadError::Protocol(e)) => {
            // We can no longer find frame boundaries: say why, then close
            // (after the answers already computed, so they are not lost).
            let mut out = std::mem::take(&mut role.batch);
            let start = out.len();
            protocol::error_response(&mut out, CodecId::Binary, 0, &e);
            conn.seal(&mut out, start);
            conn.send(&out);
            return Next::Close;
        }
        // Clean close, truncated frame, reset: just close.
        Err(_) => return Next::Close,
    };
    if frame.header.flags & protocol::FLAG_CHECKSUM != 0 {
        conn.sealed.store(true, Ordering::Relaxed);
    }
    match frame.header.kind {
        FrameKind::Request if frame.header.request_id == 0 => {
            // Id 0 is reserved for connection-level errors: a response to
            // it would tell the client its connection is failing.
            conn.send_connection_error(&RpcError::invalid_argument(
                "request id 0 is reserved for connection errors; number requests from 1 (see docs/protocol.md)",
            ));
            Next::Close
        }
        FrameKind::Request | FrameKind::Oneway => {
            // One clock read for both: the idle clock and the call's
            // arrival (its deadline and latency count from here).
            let received = Instant::now();
            role.last_request = received;
            role.idle_wait = config.idle_timeout;
            match dispatch(inner, conn, frame, received) {
                Some(call) => Next::Inline(call),
                None => Next::Continue,
            }
        }
        FrameKind::Ping => {
            let mut out = Vec::with_capacity(protocol::HEADER_LEN);
            protocol::control_frame(&mut out, FrameKind::Pong, frame.header.request_id);
            conn.seal(&mut out, 0);
            conn.send(&out);
            // A ping is not a call: the idle clock keeps running from the
            // last request, so wait only for what is left of it.
            if let Some(idle) = config.idle_timeout {
                let left = idle.saturating_sub(role.last_request.elapsed());
                if left.is_zero() && conn.in_flight.load(Ordering::SeqCst) == 0 {
                    return close_idle(conn, idle); // idle, however often it pings
                }
                role.idle_wait = Some(left.max(Duration::from_millis(1)));
            }
            Next::Continue
        }
        FrameKind::Cancel => {
            if let Some(flag) = lock(&conn.cancels).get(&frame.header.request_id) {
                flag.store(true, Ordering::Relaxed);
            }
            Next::Continue
        }
        FrameKind::Pong => Next::Continue,
        FrameKind::Response => {
            conn.send_connection_error(&RpcError::invalid_argument(
                "a client sent a response frame; only servers send responses",
            ));
            Next::Close
        }
    }
}

/// The read timed out: decide which clock ran out.
fn on_timeout(inner: &Inner, conn: &Conn, role: &mut ReadRole) -> Next {
    let config = &inner.config;
    if let Some(started) = role.frames.frame_started() {
        let waited = started.elapsed();
        if waited < config.frame_timeout {
            return Next::Continue;
        }
        // A client that seals its frames refuses a plain answer: seal the
        // error if the frame being given up on was sealed.
        if role
            .frames
            .unfinished_flags()
            .is_some_and(|f| f & protocol::FLAG_CHECKSUM != 0)
        {
            conn.sealed.store(true, Ordering::Relaxed);
        }
        conn.send_connection_error(&RpcError::deadline_exceeded(format!(
            "a frame did not arrive whole within frame_timeout {:?} of its first byte; connection closed (see ServerBuilder::frame_timeout)",
            config.frame_timeout
        )));
        return Next::Close;
    }
    let Some(idle) = config.idle_timeout else {
        return Next::Continue;
    };
    let busy = conn.in_flight.load(Ordering::SeqCst) > 0;
    if busy || role.last_request.elapsed() < idle {
        // Calls are still running, or a ping moved the socket's clock:
        // wait the rest of the idle time (or a full one while busy).
        let left = idle.saturating_sub(role.last_request.elapsed());
        role.idle_wait = Some(if busy { idle } else { left }.max(Duration::from_millis(1)));
        if busy {
            role.last_request = Instant::now();
        }
        return Next::Continue;
    }
    close_idle(conn, idle)
}

/// Close an idle connection, saying so first (request id 0, `UNAVAILABLE`,
/// [`protocol::IDLE_CLOSE_NOTICE`]). Nothing is in flight, and nothing read
/// after this point is dispatched, so every request the client has not had
/// an answer to was never processed: the notice tells the client it may
/// send them again on a new connection.
fn close_idle(conn: &Conn, idle: Duration) -> Next {
    conn.send_connection_error(&RpcError::unavailable(format!(
        "{} after idle_timeout {idle:?} without calls; requests sent after this notice were not read, so it is safe to send them again",
        protocol::IDLE_CLOSE_NOTICE
    )));
    Next::Close
}

/// Run `call` on this thread, with the reading role parked where the
/// relief can take it. Returns the role, or `None` if the relief took it.
fn run_inline(
    inner: &Arc<Inner>,
    conn: &Arc<Conn>,
    role: ReadRole,
    call: InlineCall,
) -> Option<ReadRole> {
    *lock(&conn.parked) = Some(role);
    let started = inner.now_nanos();
    conn.inline_method
        .store(call.method.index, Ordering::Relaxed);
    conn.inline_since.store(started, Ordering::SeqCst);
    let out = run_call(inner, &call.method, &call.ctx, call.args(), call.oneway);
    let still_mine = conn
        .inline_since
        .compare_exchange(started, 0, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    let role = if still_mine {
        lock(&conn.parked).take()
    } else {
        None
    };
    match role {
        Some(mut role) => {
            if let Some(out) = out {
                role.batch.extend_from_slice(&out);
                scratch::give_back(out);
            }
            Some(role)
        }
        None => {
            // Another thread reads now; our answer goes straight out. The
            // relief counted this call as in flight when it took over (so
            // the idle clock could not close the connection under it).
            if let Some(out) = out {
                conn.send(&out);
                scratch::give_back(out);
            }
            conn.leave(inner);
            None
        }
    }
}
