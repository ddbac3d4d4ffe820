//! The callback pool: where Callback-mode closures run.
//!
//! Article: 模式 › Callback模式. The one idea to take away: **a callback is
//! someone else's code, so it never runs on the thread that reads the
//! socket, and its panic is its own**. The reading thread reads for every
//! call on the connection; a callback that is slow, blocks or panics there
//! would hold up (or take down) every other call's response. So a routed
//! result is handed to two pool threads, created the first time a callback
//! is used:
//!
//! ```text
//!   reader: response 7 ─► entry 7 is Callback(f) ─► pool.run(f, result) ─► read on
//!                                                        │
//!   callback thread:                                     └─► f(result), panic caught
//! ```
//!
//! [`contain`] is the same rule for the other foreign code the reader
//! calls: a future's `Waker`.

use crate::error::RpcError;
use crate::pool::ThreadPool;
use crate::protocol::Frame;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Duration;

/// A callback waiting for its response, type-erased (it decodes inside).
pub(crate) type RawCallback = Box<dyn FnOnce(Result<Frame, RpcError>) + Send + 'static>;

thread_local! {
    /// Whether this thread is running user code for us (see [`contain`]).
    static IN_USER_CODE: Cell<bool> = const { Cell::new(false) };
}

/// Run user code (a waker, a callback) so that a panic in it stops there.
/// The default panic hook has already printed it; nothing of ours was
/// half-done, because user code never runs under our locks.
pub(crate) fn contain(f: impl FnOnce()) {
    let was = IN_USER_CODE.replace(true);
    let _ = catch_unwind(AssertUnwindSafe(f));
    IN_USER_CODE.set(was);
}

/// Whether the current thread is inside [`contain`]: a callback thread, or
/// the reader running a waker. A call made from there must not wait for
/// room in a full send buffer: it would hold one of the two callback
/// threads (and every callback queued behind it) or the reader itself
/// for as long as its deadline.
pub(crate) fn in_user_code() -> bool {
    IN_USER_CODE.get()
}

/// Callbacks run here, never on the thread that reads the socket.
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

    /// Run `f(result)` on a pool thread, exactly once.
    pub(crate) fn run(&self, f: RawCallback, result: Result<Frame, RpcError>) {
        // Under `contain` on the pool too, so `in_user_code` holds there.
        let job = Box::new(move || contain(move || f(result)));
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
                    contain(job);
                }
            }
            None => contain(job),
        }
    }
}
