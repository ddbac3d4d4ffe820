//! Future mode (模式 › 异步调用) on a cluster: a [`Pending`] that reports
//! how it ended.
//!
//! Article: 原理 › 负载均衡 (every outcome feeds the balancer and the health
//! state machine), and the client's 模式. The one idea to take away: **a
//! future's outcome is known only when someone looks at it**, so the
//! report to the balancer and the tracker happens then: when the result is
//! taken, or when the future is dropped unfinished (a cancellation, which
//! blames no one).
//!
//! ```text
//!  call_async ─► pick ─► Client::call_async_timeout ─► ClusterPending
//!                                                        │ wait / poll / drop
//!                    balancer.finished + tracker.record ◄┘
//! ```
//!
//! A future is one try on one instance, whatever the strategy: retrying
//! would need a thread or an executor of our own, and minirpc has neither.

use super::members::Inner;
use crate::balance::Outcome;
use crate::client::Pending;
use crate::codec::Decode;
use crate::error::RpcError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The result of a cluster call, to come: [`wait`](ClusterPending::wait)
/// for it, poll it, or `.await` it. Dropping it cancels the call.
pub struct ClusterPending<R> {
    state: State<R>,
}

enum State<R> {
    /// The call could not be sent (no instance, no connection).
    Failed(Option<RpcError>),
    /// Sent to `addr`; reported once, when it ends or is dropped.
    Live {
        inner: Arc<Inner>,
        addr: SocketAddr,
        started: Instant,
        pending: Pending<R>,
    },
    Done,
}

impl<R: Decode> ClusterPending<R> {
    pub(super) fn failed(e: RpcError) -> ClusterPending<R> {
        ClusterPending {
            state: State::Failed(Some(e)),
        }
    }

    pub(super) fn live(
        inner: Arc<Inner>,
        addr: SocketAddr,
        started: Instant,
        pending: Pending<R>,
    ) -> ClusterPending<R> {
        ClusterPending {
            state: State::Live {
                inner,
                addr,
                started,
                pending,
            },
        }
    }

    /// The instance the call went to, if it was sent.
    pub fn addr(&self) -> Option<SocketAddr> {
        match &self.state {
            State::Live { addr, .. } => Some(*addr),
            _ => None,
        }
    }

    /// Block until the result arrives (the call's deadline bounds it).
    pub fn wait(mut self) -> Result<R, RpcError> {
        self.step(|p| p.wait_timeout(Duration::MAX))
            .unwrap_or_else(|| Err(RpcError::internal("wait returned without a result")))
    }

    /// Block for at most `d`; `None`: not yet.
    pub fn wait_timeout(&mut self, d: Duration) -> Option<Result<R, RpcError>> {
        self.step(|p| p.wait_timeout(d))
    }

    /// The result if it has arrived, without blocking.
    pub fn try_take(&mut self) -> Option<Result<R, RpcError>> {
        self.step(|p| p.try_take())
    }

    /// Ask the inner future; report and finish if it has a result.
    fn step(
        &mut self,
        get: impl FnOnce(&mut Pending<R>) -> Option<Result<R, RpcError>>,
    ) -> Option<Result<R, RpcError>> {
        let result = match &mut self.state {
            State::Failed(e) => {
                let e = e.take();
                self.state = State::Done;
                return Some(Err(e.unwrap_or_else(taken)));
            }
            State::Done => return Some(Err(taken())),
            State::Live {
                inner,
                addr,
                started,
                pending,
            } => {
                let r = get(pending)?;
                inner.report(*addr, *started, r.as_ref().err());
                r
            }
        };
        self.state = State::Done;
        Some(result)
    }
}

fn taken() -> RpcError {
    RpcError::new(
        crate::error::Status::Cancelled,
        "this call's result was already taken",
    )
}

impl<R: Decode> Future for ClusterPending<R> {
    type Output = Result<R, RpcError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both fields are Unpin (Pending holds no self-references).
        let this = self.get_mut();
        match this.step(|p| match Pin::new(p).poll(cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

impl<R> Drop for ClusterPending<R> {
    fn drop(&mut self) {
        // Dropped unfinished: the caller cancelled, which blames no one,
        // but `started` must still be paired with `finished`.
        if let State::Live {
            inner,
            addr,
            started,
            ..
        } = &self.state
        {
            inner
                .balancer
                .finished(*addr, Outcome::success(started.elapsed()));
        }
    }
}

impl<R> std::fmt::Debug for ClusterPending<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Failed(_) => "failed".to_owned(),
            State::Live { addr, .. } => format!("in flight to {addr}"),
            State::Done => "done".to_owned(),
        };
        write!(f, "ClusterPending({state})")
    }
}
