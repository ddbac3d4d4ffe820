//! Who reads the socket: a waiting caller, as the *leader*.
//!
//! Article: 模式 (RR: "每个调用都要有具体的返回结果信息") and 原理 › 组件
//! (RPC Invoker, client side: "等待调用结果返回"). The one idea to take
//! away: **a waiting caller reads the socket itself** when no one else is.
//! Responses it reads for other calls it hands over; when its own arrives
//! it stops and passes the role to another waiting caller (the
//! Leader/Followers pattern). A lone caller so reads its own response, with
//! no thread hand-off at all (the `client` module docs say why that
//! matters).
//!
//! ```text
//!   caller A: wait(7) ─► no leader: lead ─► read: resp 9 ─► B's: store it, wake B
//!                                          read: resp 7 ─► mine: stop, pass the lead
//!   caller B: wait(9) ─► A leads: sleep on my condvar ─► woken with resp 9 ─► return
//! ```
//!
//! Three rules keep it correct:
//!
//! - **The role belongs to a guard.** The flag in `State` is set and
//!   cleared only by [`Leading`]. If anything panics while leading, the
//!   guard still clears the flag, marks the connection broken and passes
//!   the role on, so no later call waits for a reader that is gone.
//! - **No read outlasts a waiting call's deadline.** A reader reads for
//!   everyone, so it reads only until the earliest deadline of any call
//!   still waiting. If it gets there in the middle of a frame, that frame
//!   has made a call late, and every response behind it is stuck too (TCP
//!   delivers bytes in order): the connection is broken at once, and every
//!   call on it fails then, instead of one by one at their deadlines.
//! - **Wake-ups happen after the lock.** Results are stored under the state
//!   lock; condvars, wakers and callbacks are run after releasing it.

use super::conn::{Connection, ReaderState, State};
use super::pending::already_taken;
use super::table::{Deferred, Waiter};
use crate::error::{RpcError, Status};
use crate::protocol::{Frame, FrameKind, ResponseHead};
use crate::sync::lock;
use crate::time::Deadline;
use crate::transport::ReadError;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

/// The longest a waiting caller sleeps before looking again when its wait
/// has no end (it is woken long before, by a result or to lead).
const NAP: Duration = Duration::from_secs(60);

/// Who is reading: a caller waiting for its own call, or the connection's
/// background thread.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Caller(u64),
    Background,
}

/// The reader role, held. Dropping it without [`release`](Leading::release)
/// means reading ended by a panic.
pub(super) struct Leading<'a> {
    conn: &'a Connection,
    released: bool,
}

impl<'a> Leading<'a> {
    /// Become the reader, if nobody is.
    pub(super) fn take(conn: &'a Connection, st: &mut State) -> Option<Leading<'a>> {
        if st.leader {
            return None;
        }
        st.leader = true;
        Some(Leading {
            conn,
            released: false,
        })
    }

    /// Stop reading. Returns the state, locked, with the role free: the
    /// caller passes it on once it has looked at its own call.
    pub(super) fn release(mut self) -> MutexGuard<'a, State> {
        let mut st = lock(&self.conn.state);
        st.leader = false;
        self.released = true;
        st
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Unwinding: frames may have been read and not routed, so no call
        // can trust this connection any more.
        self.conn.fail_all(RpcError::internal(format!(
            "a panic while reading from the server at {}; connection closed",
            self.conn.peer
        )));
        let mut st = lock(&self.conn.state);
        st.leader = false;
        self.conn.pass_lead(&mut st);
    }
}

impl Connection {
    /// Wait on this thread for `id`'s result: read the socket ourselves if
    /// no one is, or sleep until the leader hands us our response (or the
    /// reader role). Gives up at the call's deadline (`DeadlineExceeded`,
    /// entry removed) or, if `until` comes first, returns `None` and leaves
    /// the call pending for a later wait.
    pub(crate) fn wait(&self, id: u64, until: Deadline) -> Option<Result<Frame, RpcError>> {
        let mut st = lock(&self.state);
        let Some(deadline) = st.table.deadline(id) else {
            return Some(Err(already_taken()));
        };
        // A blocking call's entry has its thread waiter already; a future
        // being waited on gets one for this wait.
        let mut before = None;
        let wake = match st.table.thread_condvar(id) {
            Some(cv) => cv,
            None => {
                let cv = st.table.condvar();
                before = st.table.set_waiter(id, Waiter::Thread(Arc::clone(&cv)));
                cv
            }
        };
        let limit = until.min(deadline);
        let result = loop {
            if let Some(result) = st.table.take_result(id) {
                break Some(result);
            }
            let now = Instant::now();
            if deadline <= Deadline::at(now) {
                st.table.remove(id);
                self.note_cancel(&mut st, id);
                break Some(Err(RpcError::deadline_exceeded(format!(
                    "no response within the call's timeout (request {id}); the server was told to cancel it. Raise the timeout (Client::call_timeout) if it is just slow"
                ))));
            }
            if limit <= Deadline::at(now) {
                // Our own wait is over but the call is not: give the entry
                // back to whoever had it (a future's waker), and its
                // reading to the background thread.
                let back = match before.take() {
                    Some(Waiter::Future(waker)) => Waiter::Future(waker),
                    _ => Waiter::Future(None),
                };
                st.table.set_waiter(id, back);
                self.poke_background(&mut st);
                break None;
            }
            if let Some(leading) = Leading::take(self, &mut st) {
                let bound = st.table.next_deadline_after(now);
                drop(st);
                self.lead(Role::Caller(id), limit, bound);
                st = leading.release();
                continue;
            }
            // Marked asleep under the same lock the sleep releases, so a
            // leader that hands us the reading finds us listening.
            st.table.asleep(id, true);
            st = wake
                .wait_timeout(st, limit.remaining_capped(NAP))
                .unwrap_or_else(|p| p.into_inner())
                .0;
            st.table.asleep(id, false);
        };
        self.pass_lead(&mut st);
        st.table.recycle(wake);
        drop(st);
        drop(before); // a future's old waker is someone else's code: drop it unlocked
        result
    }

    /// If no one is reading and some call still needs reading, wake whoever
    /// should take over: a blocked caller first, else the background thread.
    pub(super) fn pass_lead(&self, st: &mut State) {
        if st.leader {
            return;
        }
        if let Some(cv) = st.table.thread_to_wake() {
            cv.notify_one();
        } else if st.table.needs_background() || st.liveness.awaiting_pong() {
            self.poke_background(st);
        }
    }

    /// Read and route frames as `role` until it may stop (a caller's
    /// response has arrived; for the background reader, nothing needs it),
    /// or `until` passes, or the connection breaks. `bound` is the earliest
    /// deadline of a waiting call when the reading began; no read lasts
    /// past it.
    pub(super) fn lead(&self, role: Role, until: Deadline, bound: Deadline) {
        let mut corked = false;
        let last_bound = self.read_and_route(role, until, bound, &mut corked);
        // Requests sent while the last batch was handed out wait in the
        // corked writer: send them before giving up the role.
        if corked {
            if let Err(e) = self.writer.uncork(until.min(last_bound)) {
                self.fail_all(e);
            }
        }
    }

    /// The loop of [`lead`](Connection::lead); returns the last bound.
    /// `corked` says whether the writer is corked (see `route`).
    fn read_and_route(
        &self,
        role: Role,
        until: Deadline,
        mut bound: Deadline,
        corked: &mut bool,
    ) -> Deadline {
        let mut guard = lock(&self.reader);
        let ReaderState { frames, batch } = &mut *guard;
        while !until.has_passed() {
            // Before a read that may block, send what the callers woken by
            // the last batch queued meanwhile: all in one write.
            if std::mem::take(corked) {
                if let Err(e) = self.writer.uncork(until.min(bound)) {
                    self.fail_all(e);
                    return bound;
                }
            }
            frames.get_ref().read_until(until.min(bound));
            // With `read_spin`, poll only while a single call is waiting:
            // with more, the callers just woken need the CPU to send their
            // next requests (see `src/transport/spin.rs`).
            if frames.get_ref().spins() {
                frames
                    .get_ref()
                    .allow_spin(lock(&self.state).table.len() <= 1);
            }
            let next = match frames.read_frame() {
                Ok(frame) => {
                    // Take every frame that is already buffered too (no
                    // system call), and route them all under one lock.
                    batch.push(frame);
                    while frames.has_buffered_frame() {
                        match frames.read_frame() {
                            Ok(f) => batch.push(f),
                            // A bad frame stays in the buffer; the next read
                            // reports it.
                            Err(_) => break,
                        }
                    }
                    self.route(batch, role, corked)
                }
                Err(ReadError::TimedOut) => self.read_timed_out(frames.mid_frame(), bound),
                // A newer server's frame kind: skipped, the connection goes on.
                Err(ReadError::UnknownKind { .. }) => Some(bound),
                // A response over our limit: its body is skipped as it
                // arrives, and only the call it answers fails.
                Err(ReadError::TooLarge { header, error }) => {
                    self.refused(header.request_id, error)
                }
                Err(e) => {
                    self.fail_all(self.read_failed(e));
                    None
                }
            };
            match next {
                Some(next_bound) => bound = next_bound,
                None => return bound,
            }
        }
        bound
    }

    /// Hand each frame in `frames` (emptied) to whoever waits for it, under
    /// one lock; wake them after releasing it. Returns `None` when `role`
    /// should stop reading, else the bound for the next read.
    fn route(&self, frames: &mut Vec<Frame>, role: Role, corked: &mut bool) -> Option<Deadline> {
        let mut deferred = Vec::new();
        let mut pongs = Vec::new();
        let mut connection_error = None;
        let mut st = lock(&self.state);
        let now = Instant::now();
        st.liveness.heard(now);
        for frame in frames.drain(..) {
            let id = frame.header.request_id;
            if self.sealed && frame.header.flags & crate::protocol::FLAG_CHECKSUM == 0 {
                // We seal every frame, and a minirpc server answers sealed
                // frames sealed: an unsealed one cannot be checked, so it
                // cannot be believed.
                connection_error = Some(RpcError::new(
                    Status::DataLoss,
                    format!(
                        "the server at {} sent a frame without a checksum although this client uses checksums (ClientBuilder::checksums); connection closed",
                        self.peer
                    ),
                ));
                break;
            }
            match frame.header.kind {
                FrameKind::Response if id == 0 => {
                    // A connection-level error: the server is about to close.
                    connection_error = Some(match ResponseHead::parse(&frame.body) {
                        Ok(h) => connection_closed(self.peer, h.status, h.message),
                        Err(e) => e,
                    });
                }
                FrameKind::Response => {
                    st.proven = true;
                    // A response whose caller timed out and left finds no
                    // entry and is dropped quietly.
                    match st.table.complete(id, Ok(frame)) {
                        // The leader is awake already: no need to notify it.
                        Some(Deferred::Notify(_)) if role == Role::Caller(id) => {}
                        Some(d) => deferred.push(d),
                        None => {}
                    }
                }
                FrameKind::Ping => pongs.push(id),
                // Pongs only matter as signs of life (noted above); servers
                // send no requests.
                FrameKind::Pong | FrameKind::Request | FrameKind::Oneway | FrameKind::Cancel => {}
            }
        }
        let done = match role {
            Role::Caller(mine) => st.table.is_ready(mine),
            // The background reader steps aside as soon as a blocked caller
            // can read for itself, or nothing needs reading.
            Role::Background => {
                st.closing
                    || st.table.threads_waiting() > 0
                    || !(st.table.needs_background() || st.liveness.awaiting_pong())
            }
        };
        let bound = st.table.next_deadline_after(now);
        drop(st);
        if !deferred.is_empty() && !*corked {
            // The callers woken below send their next requests at once:
            // corked, the writer keeps them for the uncork before our next
            // read, one write for them all instead of one each (system
            // calls per call under 8 and 64 callers, chapter 04's
            // performance section). A lone caller wakes nobody and never
            // corks.
            self.writer.cork();
            *corked = true;
        }
        for d in deferred {
            d.run(&self.callbacks);
        }
        for id in pongs {
            let _ = self.send_control(FrameKind::Pong, id);
        }
        if let Some(e) = connection_error {
            self.fail_all(e);
            return None;
        }
        (!done).then_some(bound)
    }

    /// A read stopped at its limit. If it stopped in the middle of a frame
    /// and the limit was `bound`, the deadline of a call waiting when the
    /// read began, that frame has made a call late and everything behind it
    /// is stuck: break the connection (calls past their deadline get
    /// `DeadlineExceeded`, the rest `Unavailable`) and return `None`.
    /// Otherwise return the bound for the next read.
    fn read_timed_out(&self, mid_frame: bool, bound: Deadline) -> Option<Deadline> {
        let mut st = lock(&self.state);
        let now = Instant::now();
        if !mid_frame || Deadline::at(now) < bound {
            return Some(st.table.next_deadline_after(now));
        }
        let late = RpcError::deadline_exceeded(format!(
            "no response within the call's timeout: a frame from the server at {} was still arriving at the deadline; connection closed",
            self.peer
        ));
        let overdue = st.table.overdue(now);
        let deferred: Vec<_> = overdue
            .into_iter()
            .filter_map(|id| st.table.complete(id, Err(late.clone())))
            .collect();
        drop(st);
        for d in deferred {
            d.run(&self.callbacks);
        }
        self.fail_all(RpcError::unavailable(format!(
            "a frame from the server at {} was still incomplete at the deadline of a waiting call, \
             and every response behind it was stuck too (TCP delivers in order); connection closed",
            self.peer
        )));
        None
    }

    /// Fail the one call whose response the reader refused (too large),
    /// and return the bound for the next read.
    fn refused(&self, id: u64, error: RpcError) -> Option<Deadline> {
        let mut st = lock(&self.state);
        let deferred = st.table.complete(id, Err(error));
        let bound = st.table.next_deadline_after(Instant::now());
        drop(st);
        if let Some(d) = deferred {
            d.run(&self.callbacks);
        }
        Some(bound)
    }

    fn read_failed(&self, e: ReadError) -> RpcError {
        match e {
            // A damaged frame keeps its DATA_LOSS: it says more than
            // "unavailable" (the network corrupts bytes, not just drops them).
            ReadError::Protocol(e) if e.status == Status::DataLoss => RpcError::new(
                Status::DataLoss,
                format!(
                    "the server at {} sent a damaged frame ({}); connection closed",
                    self.peer, e.message
                ),
            ),
            ReadError::Protocol(e) => RpcError::unavailable(format!(
                "the server at {} sent a bad frame ({e}); connection closed",
                self.peer
            )),
            ReadError::Closed | ReadError::Truncated { .. } => RpcError::unavailable(format!(
                "connection to {} was closed by the server",
                self.peer
            )),
            ReadError::Io(e) => {
                RpcError::from_io(&format!("connection to {} failed", self.peer), &e)
            }
            ReadError::TimedOut | ReadError::UnknownKind { .. } | ReadError::TooLarge { .. } => {
                RpcError::new(Status::Internal, "a timed-out read was taken for a failure")
            }
        }
    }
}

/// The error every pending call gets when the server closes the connection
/// with a connection-level error (request id 0). The calls themselves did
/// nothing wrong, so they fail `Unavailable` (try again, maybe elsewhere),
/// with the server's reason in the message; only "too busy"
/// (`ResourceExhausted`) and "damaged on the way" (`DataLoss`) keep their
/// status, since they tell the caller more.
fn connection_closed(peer: std::net::SocketAddr, status: Status, message: &str) -> RpcError {
    match status {
        Status::ResourceExhausted | Status::DataLoss => RpcError::new(status, message),
        _ => RpcError::unavailable(format!(
            "the server at {peer} closed the connection: {}: {message}",
            status.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::callbacks::CallbackPool;
    use crate::client::ClientBuilder;
    use std::net::TcpListener;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn a_panic_while_leading_frees_the_role_and_fails_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let conn = Connection::open(
            &[listener.local_addr().unwrap()],
            &ClientBuilder::default().heartbeat(None),
            Arc::new(CallbackPool::new()),
            Duration::from_secs(5),
        )
        .unwrap();
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let mut st = lock(&conn.state);
            let _leading = Leading::take(&conn, &mut st).expect("nobody reads yet");
            drop(st);
            panic!("a bug while reading (on purpose, in a test)");
        }));
        assert!(unwound.is_err());
        assert!(!lock(&conn.state).leader, "the reader role was left taken");
        let e = conn.broken_error().expect("the connection was not failed");
        assert_eq!(e.status, Status::Internal, "{e}");
        conn.close();
    }
}
