//! The background thread: the reader of last resort, and the clock for
//! futures, callbacks and heartbeats.
//!
//! Article: 模式 (Future and Callback: no thread of the caller waits) and
//! 原理 › 服务发现 › 健康检查 (heartbeats). The one idea to take away:
//! **something must keep time for calls nobody is waiting on**. A blocked
//! caller reads the socket and watches its own deadline; a future nobody
//! waits on yet, or a callback, has no thread at all. So each connection
//! has one background thread that, round after round:
//!
//! ```text
//!   1. expire   futures and callbacks past their deadline fail now
//!   2. beat     ping after an interval of silence; a ping left unanswered
//!               too long means the server is dead: fail every call
//!   3. read     if a future, a callback or a pong needs reading and no
//!               caller is leading: lead, for one short slice
//!      or sleep until the next deadline, or until told something changed
//! ```
//!
//! It reads in slices because a blocked read cannot be interrupted when a
//! new future with an earlier deadline arrives; between slices it comes
//! back to step 1. And it gives the reading up as soon as a blocked caller
//! can do it (see `leader.rs`): blocking calls never wait for this thread.

use super::conn::{Connection, State};
use super::heartbeat::Beat;
use super::leader::{Leading, Role};
use super::table::Deferred;
use crate::error::RpcError;
use crate::protocol::FrameKind;
use crate::sync::lock;
use crate::time::Deadline;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

/// The longest the background thread reads before it checks deadlines
/// again: a future or callback expires at most this late.
const BACKGROUND_SLICE: Duration = Duration::from_millis(20);

/// The longest it sleeps when nothing at all is scheduled.
const IDLE_NAP: Duration = Duration::from_secs(60);

/// Whatever ends the background thread, no call may be left waiting for
/// it: if it unwinds, the connection fails (every pending call gets an
/// error; the next call reconnects, with a new background thread).
struct ExitGuard<'a>(&'a Connection);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail_all(RpcError::internal(format!(
                "the client's background thread for {} panicked; connection closed",
                self.0.peer
            )));
        }
    }
}

impl Connection {
    /// Start this connection's background thread.
    pub(super) fn spawn_background(self: &Arc<Self>) -> Result<(), RpcError> {
        let conn = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("minirpc-client-bg".into())
            .spawn(move || conn.background_loop())
            .map_err(|e| RpcError::from_io("starting the client's background thread", &e))?;
        *lock(&self.background_thread) = Some(handle);
        Ok(())
    }

    /// Tell the background thread that something changed (a new future or
    /// callback, a new waker): it recomputes its deadlines and whether to
    /// read.
    pub(super) fn poke_background(&self, st: &mut State) {
        st.background_epoch = st.background_epoch.wrapping_add(1);
        self.background.notify_one();
    }

    fn background_loop(&self) {
        let _exit = ExitGuard(self);
        let mut st = lock(&self.state);
        while !st.closing && st.broken.is_none() {
            let epoch = st.background_epoch;
            let now = Instant::now();
            let (expired, expired_ids) = expire_overdue(&mut st, now);
            let mut cancels = std::mem::take(&mut st.to_cancel);
            cancels.extend(expired_ids);
            let (ping, next) = match self.beat(&mut st, now) {
                Ok(beat) => beat,
                Err(dead) => {
                    drop(st);
                    run(expired, self);
                    self.fail_all(dead);
                    return;
                }
            };
            let next = next.min(st.table.next_background_deadline());
            let needs_reading = st.table.needs_background() || st.liveness.awaiting_pong();
            let leading = needs_reading
                .then(|| Leading::take(self, &mut st))
                .flatten();
            let bound = st.table.next_deadline_after(now);
            drop(st);
            run(expired, self);
            self.send_cancels(cancels);
            if ping {
                if let Err(e) = self.send_control(FrameKind::Ping, 0) {
                    self.fail_all(e);
                }
            }
            st = match leading {
                Some(leading) => self.read_a_slice(leading, next, bound),
                None => self.sleep(epoch, next),
            };
        }
    }

    /// Step 2: apply the heartbeat rule. `Ok((ping now?, look again at))`,
    /// or `Err` when the server has been silent too long.
    fn beat(&self, st: &mut State, now: Instant) -> Result<(bool, Deadline), RpcError> {
        let Some(hb) = self.heartbeat else {
            return Ok((false, Deadline::NEVER));
        };
        match st.liveness.tick(&hb, now) {
            Beat::Alive { ping, next } => Ok((ping, next)),
            Beat::Dead { waited } => Err(RpcError::unavailable(format!(
                "the server at {} answered no heartbeat for {waited:?} ({} intervals of {:?}); connection closed",
                self.peer, hb.misses, hb.interval
            ))),
        }
    }

    /// Step 3: read for one slice (or until `next`), then give the role
    /// back.
    fn read_a_slice<'a>(
        &'a self,
        leading: Leading<'a>,
        next: Deadline,
        bound: Deadline,
    ) -> MutexGuard<'a, State> {
        let until = Deadline::after(BACKGROUND_SLICE).min(next);
        self.lead(Role::Background, until, bound);
        let mut st = leading.release();
        self.pass_lead(&mut st);
        st
    }

    /// Or step 3: sleep until `next`, unless something changed since
    /// `epoch` (told while busy: recompute first).
    fn sleep(&self, epoch: u64, next: Deadline) -> MutexGuard<'_, State> {
        let st = lock(&self.state);
        if st.closing || st.broken.is_some() || st.background_epoch != epoch || next.has_passed() {
            return st;
        }
        self.background
            .wait_timeout(st, next.remaining_capped(IDLE_NAP))
            .unwrap_or_else(|p| p.into_inner())
            .0
    }
}

/// Step 1: futures and callbacks past their deadline fail now (a blocked
/// caller expires its own call).
/// Also returns their ids, for the cancel frames that tell the server.
fn expire_overdue(st: &mut State, now: Instant) -> (Vec<Deferred>, Vec<u64>) {
    let overdue = st.table.overdue_background(now);
    let mut deferred = Vec::new();
    for &id in &overdue {
        let e = RpcError::deadline_exceeded(format!(
            "no response within the call's timeout (request {id}); the server was told to cancel it"
        ));
        deferred.extend(st.table.complete(id, Err(e)));
    }
    (deferred, overdue)
}

fn run(deferred: Vec<Deferred>, conn: &Connection) {
    for d in deferred {
        d.run(&conn.callbacks);
    }
}
