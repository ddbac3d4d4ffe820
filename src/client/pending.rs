//! `Pending<R>`: the result of a call that is still on its way (Future mode).
//!
//! Article: 模式 › Future模式. The article says Future and Callback are
//! wrappers around request-response; here that is literal. A `Pending` is
//! just a request id in the connection's pending table, plus the type to
//! decode the answer into. Waiting on it runs exactly the code a blocking
//! call runs ([`Connection::wait`]); polling it as a `std::future::Future`
//! stores the executor's `Waker` in the same table entry, and whoever reads
//! the response wakes it.
//!
//! ```text
//!   call_async ─► entry 7: Future(no waker) ─► the background thread reads for it
//!   poll        ─► entry 7: Future(waker)    ─► the reader wakes the executor
//!   wait        ─► entry 7: Thread(condvar)  ─► this thread reads (leads) or sleeps
//!   drop        ─► entry 7 removed           ─► a late response is dropped quietly
//! ```

use super::conn::Connection;
use crate::codec::{Decode, Limits};
use crate::error::{RpcError, Status};
use crate::metrics::CallProbe;
use crate::protocol::Frame;
use crate::sync::lock;
use crate::time::Deadline;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A call in flight whose result of type `R` can be collected later: block
/// with [`wait`](Pending::wait), poll with [`try_take`](Pending::try_take),
/// or `.await` it on any executor.
///
/// Dropping a `Pending` abandons the call: its response, when it comes, is
/// dropped quietly. The call's own deadline (the client's call timeout, or
/// the one given to `call_async_timeout`) still applies: when it passes, the
/// result becomes `DeadlineExceeded`.
#[must_use = "a Pending does nothing unless you wait for it, poll it or await it"]
pub struct Pending<R> {
    state: Inner,
    limits: Limits,
    /// Times the call for the client's metrics, until its result is taken.
    probe: Option<CallProbe>,
    _result: PhantomData<fn() -> R>,
}

enum Inner {
    InFlight {
        conn: Arc<Connection>,
        id: u64,
    },
    /// Failed before it was sent (e.g. the server is down), or taken.
    Done(Option<RpcError>),
}

impl<R: Decode> Pending<R> {
    pub(crate) fn in_flight(
        conn: Arc<Connection>,
        id: u64,
        limits: Limits,
        probe: CallProbe,
    ) -> Pending<R> {
        Pending {
            state: Inner::InFlight { conn, id },
            limits,
            probe: Some(probe),
            _result: PhantomData,
        }
    }

    pub(crate) fn failed(err: RpcError, limits: Limits, probe: CallProbe) -> Pending<R> {
        probe.finish::<()>(None, &Err(err.clone()));
        Pending {
            state: Inner::Done(Some(err)),
            limits,
            probe: None,
            _result: PhantomData,
        }
    }

    /// Block until the result arrives (or the call's deadline passes).
    pub fn wait(mut self) -> Result<R, RpcError> {
        match self.take_with(|conn, id| conn.wait(id, Deadline::NEVER)) {
            Some(r) => r,
            None => Err(RpcError::internal("wait returned without a result")),
        }
    }

    /// Block for at most `d` (`Duration::MAX` is as long as it takes).
    /// `None` means not yet: the call is still in flight and you can wait
    /// again.
    pub fn wait_timeout(&mut self, d: Duration) -> Option<Result<R, RpcError>> {
        let until = Deadline::after(d);
        self.take_with(|conn, id| conn.wait(id, until))
    }

    /// The result if it has arrived, without blocking; `None` if not yet.
    pub fn try_take(&mut self) -> Option<Result<R, RpcError>> {
        self.take_with(|conn, id| conn.try_take(id))
    }

    /// Whether [`try_take`](Pending::try_take) would return a result now.
    pub fn is_ready(&self) -> bool {
        match &self.state {
            Inner::InFlight { conn, id } => conn.is_ready(*id),
            Inner::Done(_) => true,
        }
    }

    /// Run `get` on the connection; if it yields a result, this `Pending` is
    /// spent and the result is decoded.
    fn take_with(
        &mut self,
        get: impl FnOnce(&Connection, u64) -> Option<Result<Frame, RpcError>>,
    ) -> Option<Result<R, RpcError>> {
        let frame = match &mut self.state {
            Inner::InFlight { conn, id } => get(conn, *id)?,
            Inner::Done(err) => {
                return Some(Err(err.take().unwrap_or_else(already_taken)));
            }
        };
        self.state = Inner::Done(None);
        let value = (frame.as_ref().map_err(Clone::clone))
            .and_then(|f| super::decode_response(f, self.limits));
        if let Some(probe) = self.probe.take() {
            probe.finish(frame.as_ref().ok(), &value);
        }
        Some(value)
    }
}

pub(super) fn already_taken() -> RpcError {
    RpcError::new(Status::Cancelled, "this call's result was already taken")
}

impl<R: Decode> Future for Pending<R> {
    type Output = Result<R, RpcError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Pending` holds no self-references, so it is `Unpin` and we can
        // use it as a plain `&mut`.
        let this = self.get_mut();
        let waker = cx.waker();
        match this.take_with(|conn, id| conn.poll_result(id, waker)) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl<R> Drop for Pending<R> {
    fn drop(&mut self) {
        if let Inner::InFlight { conn, id } = &self.state {
            conn.forget(*id);
        }
    }
}

impl<R> std::fmt::Debug for Pending<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            Inner::InFlight { id, .. } => write!(f, "Pending(request {id})"),
            Inner::Done(_) => write!(f, "Pending(done)"),
        }
    }
}

/// What a [`Pending`] asks of its connection's pending table.
impl Connection {
    /// Store a waker for a future's `id`; returns its result if ready.
    pub(crate) fn poll_result(&self, id: u64, waker: &Waker) -> Option<Result<Frame, RpcError>> {
        let mut st = lock(&self.state);
        if st.table.deadline(id).is_none() {
            return Some(Err(already_taken()));
        }
        if let Some(r) = st.table.take_result(id) {
            return Some(r);
        }
        let replaced = st.table.set_waker(id, waker);
        if replaced.is_some() {
            // The entry may have just become the background thread's to
            // read for (a thread that waited on it has given up).
            self.poke_background(&mut st);
        }
        drop(st);
        drop(replaced); // the old waker is someone else's code: drop it unlocked
        None
    }

    /// Take `id`'s result if it has arrived, without blocking.
    pub(crate) fn try_take(&self, id: u64) -> Option<Result<Frame, RpcError>> {
        lock(&self.state).table.take_result(id)
    }

    /// Whether `id`'s result has arrived (or it is gone).
    pub(crate) fn is_ready(&self, id: u64) -> bool {
        lock(&self.state).table.is_ready(id)
    }

    /// Stop tracking `id` (its `Pending` was dropped). A late response is
    /// then dropped quietly.
    pub(crate) fn forget(&self, id: u64) {
        let mut st = lock(&self.state);
        let gone = st.table.remove(id);
        if gone.as_ref().is_some_and(|e| !e.has_result()) {
            // Abandoned before its answer came: the server may stop.
            self.note_cancel(&mut st, id);
        }
        self.pass_lead(&mut st);
        drop(st);
        drop(gone);
    }
}
