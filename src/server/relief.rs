//! The relief: a new reader for a connection whose reader is stuck in a
//! call it ran inline.
//!
//! The one idea to take away: **an optimisation must not change what a
//! program can do**. Running short calls on the reader thread saves a
//! thread hand-off (see `Method` in `src/server/table.rs`), but a call that
//! waits for a *later* request on the same connection (a semaphore the next
//! call releases, a long poll) would then wait forever: nobody reads that
//! request. The pool would have run it fine. So one server-wide thread
//! looks at the connections every [`TICK`]; a call that has run inline for
//! longer than that loses the reading role to a fresh reader thread (the
//! server side of leader/followers), and its method goes back to the pool.
//!
//! ```text
//!  reader: park role ─► inline_since = t ─► run call ... still running
//!  relief:                      sees t older than TICK ─► CAS t → 0 ─► take role
//!                                                         ─► spawn new reader(role)
//!  reader: call returns ─► CAS t → 0 fails ─► send its answer, exit
//! ```
//!
//! When nothing runs inline the relief only wakes once per tick to look,
//! and costs nothing else; an inline call pays two atomic writes.

use super::connection::{read_loop, spawn_conn_thread, Conn};
use super::handle::Inner;
use crate::sync::lock;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the relief looks, and how long a call may run inline before
/// its reader is replaced.
pub(crate) const TICK: Duration = Duration::from_millis(20);

pub(crate) fn relief_loop(inner: &Arc<Inner>) {
    while !inner.shutting_down.load(Ordering::SeqCst) {
        std::thread::sleep(TICK);
        let conns: Vec<Arc<Conn>> = lock(&inner.connections)
            .values()
            .filter(|e| e.conn.inline_since.load(Ordering::Relaxed) != 0)
            .map(|e| Arc::clone(&e.conn))
            .collect();
        let now = inner.now_nanos();
        for conn in conns {
            let since = conn.inline_since.load(Ordering::SeqCst);
            if since != 0 && now.saturating_sub(since) >= TICK.as_nanos() as u64 {
                relieve(inner, &conn, since);
            }
        }
    }
}

/// Take the reading role from a reader stuck since `since`, if it is still
/// stuck, and give it to a new thread.
fn relieve(inner: &Arc<Inner>, conn: &Arc<Conn>, since: u64) {
    // Once we take over, the stuck call is an ordinary call in flight: it
    // keeps the idle clock from closing the connection, and its thread
    // gives this back when it finishes (see `run_inline`). Counted before
    // the swap, so that give-back can never come first.
    conn.enter(inner);
    if conn
        .inline_since
        .compare_exchange(since, 0, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // The call finished just now; its reader goes on.
        conn.leave(inner);
        return;
    }
    if let Some(m) = inner
        .methods
        .get(conn.inline_method.load(Ordering::Relaxed))
    {
        m.demote();
    }
    let Some(role) = lock(&conn.parked).take() else {
        return;
    };
    let spawned = {
        let inner = Arc::clone(inner);
        let conn = Arc::clone(conn);
        let name = format!("minirpc-conn-{}", conn.id);
        let stack = inner.config.connection_stack_size;
        spawn_conn_thread(name, stack, move || read_loop(&inner, &conn, role))
    };
    match spawned {
        Ok(h) => {
            if let Some(entry) = lock(&inner.connections).get_mut(&conn.id) {
                entry.readers.push(h);
            }
        }
        // No thread, no reader: the role (and the connection's slot) was
        // dropped with the closure; close so the client hears it.
        Err(_) => {
            let _ = conn.outbox.stream().shutdown(std::net::Shutdown::Both);
        }
    }
}
