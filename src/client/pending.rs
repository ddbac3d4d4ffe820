//! `Pending<R>`: the result of a call that is still on its way (Future mode).
//!
//! Article: 模式 › Future模式. The article says Future and Callback are
//! wrappers around request-response; here that is literal. A `Pending` is
//! just a request id in the connection's pending table, plus the type to
//! decode the answer into. Waiting on it runs exactly the code a blocking
//! call runs ([`Connection::wait`]); polling it as a `std::future::Future`
//! stores the executor's `Waker` in the same table entry, and whoever reads
//! the response wakes it.

use super::conn::Connection;
use crate::codec::{Decode, Limits};
use crate::error::{RpcError, Status};
use crate::protocol::Frame;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
    pub(crate) fn in_flight(conn: Arc<Connection>, id: u64, limits: Limits) -> Pending<R> {
        Pending {
            state: Inner::InFlight { conn, id },
            limits,
            _result: PhantomData,
        }
    }

    pub(crate) fn failed(err: RpcError, limits: Limits) -> Pending<R> {
        Pending {
            state: Inner::Done(Some(err)),
            limits,
            _result: PhantomData,
        }
    }

    /// Block until the result arrives (or the call's deadline passes).
    pub fn wait(mut self) -> Result<R, RpcError> {
        match self.take_with(|conn, id| conn.wait(id, None)) {
            Some(r) => r,
            None => Err(RpcError::internal("wait returned without a result")),
        }
    }

    /// Block for at most `d`. `None` means not yet: the call is still in
    /// flight and you can wait again.
    pub fn wait_timeout(&mut self, d: Duration) -> Option<Result<R, RpcError>> {
        let until = Instant::now() + d;
        self.take_with(|conn, id| conn.wait(id, Some(until)))
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
        Some(frame.and_then(|f| super::decode_response(&f, self.limits)))
    }
}

fn already_taken() -> RpcError {
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
