//! [`LocalCaller`]: the running server's call table, callable from inside
//! the process — the seam another front door (the HTTP gateway) plugs into.
//!
//! Article: 对比 › RPC与HTTP ("HTTP is a special RPC"). The one idea to
//! take away: **a second protocol is a second reader, not a second
//! server**. A call that comes in over HTTP is looked up in the same
//! table, admitted by the same queue and deadline rules, and run by the
//! same `run_call` on the same worker pool as a call read from a minirpc
//! frame; only the bytes around it differ.
//!
//! ```text
//!  minirpc frame ─► connection reader ─┐
//!                                      ├─► table lookup ─► pool (bounded) ─► run_call ─► frame
//!  HTTP request ─► LocalCaller::call ──┘                                          │
//!        ▲                                                   result or RpcError ◄─┘
//!        └──────────────── waits for it by the call's deadline
//! ```

use super::admit;
use super::dispatch::run_call;
use super::handle::Inner;
use crate::codec::CodecId;
use crate::error::{RpcError, Status};
use crate::protocol::{self, Header, RequestHead, ResponseHead, HEADER_LEN};
use crate::time::Deadline;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::context::CallContext;

/// A handle on a running server's call table (from
/// [`ServerHandle::local_caller`](super::ServerHandle::local_caller)).
/// Cheap to clone; it keeps the server's shared state alive, not its
/// threads: after shutdown every call is `Unavailable`.
#[derive(Clone)]
pub struct LocalCaller {
    inner: Arc<Inner>,
}

/// One call as a front door hands it in.
#[derive(Clone, Debug)]
pub struct LocalCall<'a> {
    /// The call id, e.g. `"Multiply"`.
    pub call_id: &'a str,
    /// The codec `args` are in (and the result will be in).
    pub codec: CodecId,
    /// The encoded arguments.
    pub args: &'a [u8],
    /// How long the caller waits; the call's deadline, as on the wire.
    pub timeout: Duration,
    /// The request's metadata, as a frame carries it (docs/protocol.md §4):
    /// `caller`, and the `auth-*` signature fields (§15).
    pub metadata: &'a [(&'a str, &'a str)],
    /// Where the call came from (`CallContext::peer`).
    pub peer: SocketAddr,
}

/// Gives back the bytes a queued call holds of `max_queued_bytes`.
struct Queued {
    inner: Arc<Inner>,
    bytes: usize,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.inner
            .queued_bytes
            .fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

impl LocalCaller {
    pub(crate) fn new(inner: Arc<Inner>) -> LocalCaller {
        LocalCaller { inner }
    }

    /// The call ids served, sorted.
    pub fn call_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.inner.table.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The largest arguments a call may carry: the server's
    /// `max_frame_bytes`, as for a call read from a frame.
    pub fn max_args_bytes(&self) -> usize {
        self.inner.config.max_frame_bytes
    }

    /// Run one call as the server runs a call read from a frame, and
    /// return its encoded result, or the error the frame would carry.
    /// Waits at most `call.timeout`.
    pub fn call(&self, call: &LocalCall<'_>) -> Result<Vec<u8>, RpcError> {
        let inner = &self.inner;
        let refuse = |e: RpcError| {
            inner.stats.calls_failed.fetch_add(1, Ordering::Relaxed);
            Err(e)
        };
        if inner.shutting_down.load(Ordering::SeqCst) {
            return Err(RpcError::unavailable(
                "the server is shutting down; call another instance",
            ));
        }
        if call.call_id == protocol::PING_CALL_ID {
            let mut out = Vec::new();
            crate::codec::encode_as(call.codec, &(), &mut out);
            return Ok(out);
        }
        // The same admission as a call read from a frame (admit.rs).
        let head = RequestHead {
            call_id: call.call_id,
            timeout_ms: 0,
            metadata: call.metadata.to_vec(),
            args: call.args,
        };
        // The other built-in, as the reader answers it: a tool on the HTTP
        // side discovers the same table, is refused the same way when
        // `ServerBuilder::describe(false)`, and on a server that
        // authenticates is shown it only with a key allowed it.
        if call.call_id == super::describe::DESCRIBE_CALL_ID && inner.config.describe {
            if let Err(e) = admit::identify(inner, &head) {
                return refuse(e);
            }
            let mut out = Vec::new();
            crate::codec::encode_as(call.codec, &super::describe::describe(inner), &mut out);
            return Ok(out);
        }
        let Some(method) = inner.table.get(call.call_id) else {
            return refuse(RpcError::new(
                Status::Unimplemented,
                format!(
                    "no method \"{}\" is registered on this server (call ids are case-sensitive; see Server::register)",
                    call.call_id
                ),
            ));
        };
        // The signature, if the server authenticates, then the rate limits.
        let identity = match admit::identify(inner, &head) {
            Ok(identity) => identity,
            Err(e) => {
                method.metrics.count(e.status);
                return refuse(e);
            }
        };
        if let Err(e) = admit::within_limits(inner, call.call_id, identity.as_ref()) {
            method.metrics.count(e.status);
            return refuse(e);
        }
        let max = inner.config.max_frame_bytes;
        if call.args.len() > max {
            return refuse(RpcError::resource_exhausted(format!(
                "arguments of {} bytes exceed max_frame_bytes {max} (see ServerBuilder::max_frame_bytes)",
                call.args.len()
            )));
        }
        let bytes = call.args.len();
        let all = inner.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
        let queued = Queued {
            inner: Arc::clone(inner),
            bytes,
        };
        if all > 0 && all + bytes > inner.config.max_queued_bytes {
            inner.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
            return refuse(RpcError::resource_exhausted(format!(
                "server is busy: queued requests already hold {all} bytes; this {bytes}-byte request would pass max_queued_bytes {} (retry later, or raise ServerBuilder::max_queued_bytes)",
                inner.config.max_queued_bytes
            )));
        }
        let received = Instant::now();
        let deadline = Deadline::from_instant(received, call.timeout);
        let ctx = CallContext {
            received,
            call_id: Arc::clone(&method.signature.call_id),
            request_id: 0,
            deadline,
            identity,
            peer: call.peer,
            codec: call.codec,
            limits: inner.config.limits,
            whitelist: Arc::clone(&inner.whitelist),
            tracer: inner.config.tracer.clone(),
            cancelled: None,
            sealed: false,
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let job_inner = Arc::clone(inner);
        let method = Arc::clone(method);
        let args = call.args.to_vec();
        let job = Box::new(move || {
            let _queued = queued;
            let frame = run_call(&job_inner, &method, &ctx, &args, false);
            let _ = tx.send(frame);
        });
        if inner.pool.try_execute(job).is_err() {
            inner.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
            return refuse(RpcError::resource_exhausted(format!(
                "server is busy: {} calls are already waiting for a worker (queue_capacity {}); retry later, or raise ServerBuilder::workers / queue_capacity",
                inner.pool.queued(),
                inner.config.queue_capacity
            )));
        }
        match rx.recv_timeout(deadline.remaining_capped(call.timeout)) {
            Ok(Some(frame)) => result_of(&frame),
            Ok(None) => Err(RpcError::internal("the call produced no response frame")),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(RpcError::deadline_exceeded(format!(
                "\"{}\" did not finish within its timeout of {:?}; it may still run to its end",
                call.call_id, call.timeout
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(RpcError::unavailable(
                "the server stopped before the call ran (it is shutting down)",
            )),
        }
    }
}

/// The result bytes of a response frame built by `run_call`, or its error.
fn result_of(frame: &[u8]) -> Result<Vec<u8>, RpcError> {
    let bad = || RpcError::internal("run_call built a malformed response frame");
    let head: &[u8; HEADER_LEN] = frame
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(bad)?;
    let header = Header::parse(head)?;
    let body = frame
        .get(HEADER_LEN..HEADER_LEN + header.body_len as usize)
        .ok_or_else(bad)?;
    ResponseHead::parse(body)?.into_result().map(<[u8]>::to_vec)
}
