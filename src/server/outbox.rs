//! A connection's outbox: how responses leave without any worker waiting
//! on a slow peer.
//!
//! Article: 原理 › 流量控制 (a server must defend itself against its
//! callers) and 网络传输. The one idea to take away: **a thread that serves
//! everyone must never wait for one peer**. A blocking `write` returns only
//! when the peer's kernel has taken the bytes; a client that stops reading
//! makes it wait forever, and with it every call that worker would have run.
//!
//! ```text
//!  worker / reader ── send(frame) ──► pending bytes (at most max_outbox_bytes)
//!        │                                  │
//!        │ nobody writing? take the role:   │ the socket stopped taking bytes
//!        │ write() now (the fast path,      │ (a write timed out after one
//!        │ one syscall, no hand-off)        │ short slice): hand the role to
//!        ▼                                  ▼
//!     socket ◄──────────────────── the connection's writer thread, which
//!                                  writes against a real deadline:
//!                                  every byte within write_timeout of being
//!                                  queued, or the peer is cut off
//! ```
//!
//! The socket's send timeout is one short slice ([`WRITE_SLICE`]), so a
//! sender on the fast path spends at most that long on a socket that has
//! stopped taking bytes; then the connection's writer thread (started only
//! for a stalled connection, gone once it has drained) takes over and the
//! sender goes back to work. Netty does the same: write at once while the
//! channel is writable, else queue and let the event loop finish later.
//!
//! Two bounds keep a slow peer from costing memory: the outbox holds at most
//! `max_outbox_bytes`, counting the batch being written (past it the peer
//! is cut off: it is not reading), and
//! the connection's reader stops reading new requests while the outbox is
//! more than half full (see [`Outbox::wait_for_room`]), so the peer's own
//! requests back up in its own socket, not in our memory.

use super::connection::spawn_conn_thread;
use crate::error::RpcError;
use crate::sync::lock;
use crate::time::{Deadline, LazyDeadline};
use crate::transport::spin::no_room_yet;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The socket's send timeout: the longest one `write` blocks. (Linux
/// rounds it up to one scheduler tick, a few milliseconds.)
pub(crate) const WRITE_SLICE: Duration = Duration::from_millis(1);

/// The largest buffer an outbox keeps for reuse once written. Everyday
/// batches of answers are far smaller; one that held a burst of big
/// answers is freed, so an idle connection does not keep the memory of its
/// busiest moment.
const SPARE_MAX: usize = 256 << 10;

/// How long a sender on the fast path keeps writing a batch the socket
/// takes only in part, before it hands the rest to the writer thread.
const FAST_PATH_BUDGET: Duration = Duration::from_millis(2);

/// Outgoing bytes of one connection and who is writing them.
pub(crate) struct Outbox {
    /// The connection's one socket; its reader holds the other reference.
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    state: Mutex<State>,
    /// The reader waits here for the outbox to drain (backpressure).
    room: Condvar,
    max_bytes: usize,
    write_timeout: Duration,
    /// Stack size of the writer thread (`ServerBuilder::connection_stack_size`).
    writer_stack: usize,
}

#[derive(Default)]
struct State {
    /// Bytes waiting to be written.
    pending: Vec<u8>,
    /// Bytes whoever writes has taken out of `pending` and not yet
    /// written (known at each partial write). They count against the
    /// bounds as much as `pending` does: a stalled batch is still memory,
    /// and answers the peer has not read.
    in_hand: usize,
    /// A second buffer, swapped with `pending` so neither is reallocated.
    spare: Vec<u8>,
    /// When the oldest byte in `pending` was queued: its deadline is this
    /// plus `write_timeout`.
    pending_since: Option<Instant>,
    /// Someone holds the writing role: a sender on the fast path, or the
    /// writer thread. Others just append and leave.
    writing: bool,
    /// The socket failed or the peer was too slow; every send fails now.
    broken: Option<RpcError>,
    /// The writer thread, while (or since) it ran.
    thread: Option<JoinHandle<()>>,
    /// A reader is waiting on `room`.
    room_waiter: bool,
}

impl State {
    /// Every byte queued and not yet written.
    fn queued(&self) -> usize {
        self.pending.len() + self.in_hand
    }

    /// Keep a written buffer to swap in next time, unless it grew past
    /// [`SPARE_MAX`] (a burst of big answers: that memory goes back to the
    /// allocator now, not when the connection closes) or the peer was cut
    /// off meanwhile.
    fn keep_spare(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= SPARE_MAX && self.broken.is_none() {
            buf.clear();
            self.spare = buf;
        }
    }
}

/// How far one attempt to write a batch got.
enum Wrote {
    All,
    /// The socket stopped taking bytes after this many.
    Stalled(usize),
    Failed(io::Error),
}

impl Outbox {
    /// An outbox writing to `stream` (whose send timeout is set here).
    pub(crate) fn new(
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        max_bytes: usize,
        write_timeout: Duration,
        writer_stack: usize,
    ) -> Arc<Outbox> {
        let _ = stream.set_write_timeout(Some(WRITE_SLICE));
        Arc::new(Outbox {
            stream,
            peer,
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            max_bytes,
            write_timeout,
            writer_stack,
        })
    }

    /// The socket (to shut it down).
    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Queue one or more complete frames. Never waits for the peer: the
    /// bytes are written now if the socket takes them, else by the writer
    /// thread. Fails (and cuts the peer off) when the outbox is full, and
    /// fails at once on a connection already cut off.
    pub(crate) fn send(self: &Arc<Self>, frames: &[u8]) -> Result<(), RpcError> {
        let mut st = lock(&self.state);
        if let Some(e) = &st.broken {
            return Err(e.clone());
        }
        // An empty outbox takes any one frame (it was checked against the
        // frame limit already); after that, the bound applies.
        let queued = st.queued();
        if queued > 0 && queued + frames.len() > self.max_bytes {
            let e = RpcError::resource_exhausted(format!(
                "the peer {} is not reading: {queued} bytes of responses are waiting (max_outbox_bytes {}); connection closed (see ServerBuilder::max_outbox_bytes)",
                self.peer,
                self.max_bytes
            ));
            self.cut_off(&mut st, e.clone());
            return Err(e);
        }
        if st.writing {
            // Whoever writes will take our bytes too; they wait from now.
            if st.pending.is_empty() {
                st.pending_since = Some(Instant::now());
            }
            st.pending.extend_from_slice(frames);
            return Ok(());
        }
        // We write them ourselves, at once: their clock starts only if the
        // socket stalls (see `write_fast`), so the fast path reads no clock.
        st.pending.extend_from_slice(frames);
        st.writing = true;
        self.write_fast(st)
    }

    /// The fast path: write on the sender's own thread until the outbox is
    /// empty, or hand the rest to the writer thread if the socket stalls.
    fn write_fast<'a>(
        self: &'a Arc<Self>,
        mut st: std::sync::MutexGuard<'a, State>,
    ) -> Result<(), RpcError> {
        loop {
            let since = st.pending_since.take();
            let spare = std::mem::take(&mut st.spare);
            let batch = std::mem::replace(&mut st.pending, spare);
            st.in_hand = batch.len();
            drop(st);
            let wrote = write_some(
                &self.stream,
                &batch,
                || Deadline::after(FAST_PATH_BUDGET),
                |left| self.progress(left),
            );
            st = lock(&self.state);
            st.in_hand = 0; // written, put back, or dropped by the cut-off
            match wrote {
                Wrote::All => {
                    st.keep_spare(batch);
                    if st.pending.is_empty() {
                        st.writing = false;
                        self.wake_room_waiter(&st);
                        return Ok(());
                    }
                }
                Wrote::Stalled(n) => {
                    // Bytes we wrote at once have waited since now (at
                    // most FAST_PATH_BUDGET late: the deadline is seconds).
                    let since = since.or_else(|| Some(Instant::now()));
                    self.put_back(&mut st, batch, n, since);
                    return self.start_writer(&mut st);
                }
                Wrote::Failed(e) => {
                    let err = RpcError::from_io("writing to the connection failed", &e);
                    self.cut_off(&mut st, err.clone());
                    return Err(err);
                }
            }
        }
    }

    /// Put what was not written of `batch` back in front of the bytes that
    /// arrived meanwhile, keeping the older deadline.
    fn put_back(&self, st: &mut State, mut batch: Vec<u8>, written: usize, since: Option<Instant>) {
        batch.drain(..written);
        batch.extend_from_slice(&st.pending);
        st.pending.clear();
        let emptied = std::mem::replace(&mut st.pending, batch);
        st.keep_spare(emptied);
        st.pending_since = since.or(st.pending_since);
    }

    /// Hand the writing role to a writer thread.
    fn start_writer(self: &Arc<Self>, st: &mut State) -> Result<(), RpcError> {
        if let Some(old) = st.thread.take() {
            // It gave up the role before we took it, so it has finished or
            // is about to: joining cannot wait long.
            let _ = old.join();
        }
        let me = Arc::clone(self);
        let name = "minirpc-writer".to_owned();
        match spawn_conn_thread(name, self.writer_stack, move || me.writer_loop()) {
            Ok(h) => {
                st.thread = Some(h);
                Ok(())
            }
            Err(e) => {
                let err = RpcError::from_io("server cannot start a writer thread", &e);
                self.cut_off(st, err.clone());
                Err(err)
            }
        }
    }

    /// The writer thread: it holds the writing role until the outbox is
    /// empty, writing each batch against its deadline, then exits.
    fn writer_loop(&self) {
        let mut st = lock(&self.state);
        loop {
            if st.broken.is_some() || st.pending.is_empty() {
                st.writing = false;
                self.wake_room_waiter(&st);
                return;
            }
            let since = st.pending_since.take().unwrap_or_else(Instant::now);
            let deadline = Deadline::from_instant(since, self.write_timeout);
            let spare = std::mem::take(&mut st.spare);
            let batch = std::mem::replace(&mut st.pending, spare);
            st.in_hand = batch.len();
            drop(st);
            let mut written = 0;
            let mut no_room = None;
            let outcome = loop {
                let rest = &batch[written..];
                match write_some(&self.stream, rest, || deadline, |left| self.progress(left)) {
                    Wrote::All => break Ok(()),
                    Wrote::Stalled(n) => {
                        written += n;
                        if n == 0 {
                            // No room, said at once (a spinning reader has
                            // the socket non-blocking): pause, not spin.
                            no_room_yet(&mut no_room);
                        }
                        if deadline.has_passed() {
                            break Err(RpcError::unavailable(format!(
                                "the peer {} took only {written} of {} bytes within write_timeout {:?}; connection closed (see ServerBuilder::write_timeout)",
                                self.peer,
                                batch.len(),
                                self.write_timeout
                            )));
                        }
                    }
                    Wrote::Failed(e) => {
                        break Err(RpcError::from_io("writing to the connection failed", &e))
                    }
                }
            };
            st = lock(&self.state);
            st.in_hand = 0;
            match outcome {
                Ok(()) => {
                    st.keep_spare(batch);
                    self.wake_room_waiter(&st);
                }
                Err(e) => self.cut_off(&mut st, e),
            }
        }
    }

    /// Give up on this peer: drop what is queued and close the socket, so
    /// its reader sees the end and its later responses are refused at once.
    fn cut_off(&self, st: &mut State, err: RpcError) {
        if st.broken.is_none() {
            st.broken = Some(err);
        }
        st.pending = Vec::new();
        st.spare = Vec::new();
        st.in_hand = 0;
        let _ = self.stream.shutdown(Shutdown::Both);
        self.wake_room_waiter(st);
    }

    /// A write took part of the batch in hand and `left` bytes of it are
    /// still to go: the bounds see it at once, and a reader waiting for
    /// room may go on. (Against a peer that reads steadily one batch can
    /// take seconds to write; counted whole until the end, it cut off a
    /// peer that was reading, as "not reading".)
    fn progress(&self, left: usize) {
        let mut st = lock(&self.state);
        if st.broken.is_none() {
            st.in_hand = left;
            self.wake_room_waiter(&st);
        }
    }

    /// Wake the reader waiting for room, if there is room now (or never
    /// will be: the peer was cut off).
    fn wake_room_waiter(&self, st: &State) {
        if st.room_waiter && (st.queued() <= self.max_bytes / 2 || st.broken.is_some()) {
            self.room.notify_all();
        }
    }

    /// Whether the peer has been cut off (or the socket failed): nothing
    /// more can be sent.
    pub(crate) fn is_cut_off(&self) -> bool {
        lock(&self.state).broken.is_some()
    }

    /// Whether more than half of the outbox is taken: the reader should
    /// stop reading requests until it drains.
    pub(crate) fn is_backed_up(&self) -> bool {
        lock(&self.state).queued() > self.max_bytes / 2
    }

    /// Wait (the reader, when [`is_backed_up`](Self::is_backed_up)) until
    /// the outbox is at most half full. Returns `false` if the peer was cut
    /// off or `deadline` passed first.
    pub(crate) fn wait_for_room(&self, deadline: Deadline) -> bool {
        let mut st = lock(&self.state);
        loop {
            if st.broken.is_some() {
                return false;
            }
            if st.queued() <= self.max_bytes / 2 {
                return true;
            }
            if deadline.has_passed() {
                return false;
            }
            st.room_waiter = true;
            let wait = deadline.remaining_capped(Duration::from_secs(1));
            st = self
                .room
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            st.room_waiter = false;
        }
    }

    /// The writer thread, if one ran (for shutdown to join).
    pub(crate) fn take_thread(&self) -> Option<JoinHandle<()>> {
        lock(&self.state).thread.take()
    }
}

/// Write `bytes` until done, until it fails, or until the socket stops
/// taking them: a send timeout, or `until` passing while it takes them
/// only in part (a peer reading a trickle makes every write return a
/// little). `until` is asked for only at the first partial write, so a
/// write that takes everything at once reads no clock; after each partial
/// write, `progress` is told how many bytes are left.
fn write_some(
    mut stream: &TcpStream,
    bytes: &[u8],
    until: impl Fn() -> Deadline,
    mut progress: impl FnMut(usize),
) -> Wrote {
    let mut until = LazyDeadline::new(until);
    let mut off = 0;
    while off < bytes.len() {
        match stream.write(&bytes[off..]) {
            Ok(0) => return Wrote::Failed(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                off += n;
                if off < bytes.len() {
                    progress(bytes.len() - off);
                    if until.has_passed() {
                        return Wrote::Stalled(off);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return Wrote::Stalled(off)
            }
            Err(e) => return Wrote::Failed(e),
        }
    }
    Wrote::All
}
