//! Dispatch: server steps 3–6 for one request. Parse the envelope, look the
//! call id up, admit the call within the limits, and run it.
//!
//! Article: 本地调用VS远程调用 (server steps 3–6), Call ID映射, and
//! 原理 › 流量控制. The one idea to take away: **decide cheaply, before
//! spending anything**. The call id is resolved before a single argument
//! byte is decoded (Dubbo's CVE-2020-1948 came from decoding the arguments
//! of an unknown method), and a call is admitted to the queue only if this
//! connection and the whole server are within their limits; otherwise it
//! is answered `ResourceExhausted` at once, which costs one small frame.
//!
//! ```text
//!   frame ─► codec known? ─► envelope parses? ─► call id in the table?
//!        ─► signed and allowed? (when the server authenticates)
//!        ─► within its rate limits (crate::flow)?
//!        ─► proven short? run here (inline) ─────────────────────────┐
//!        ─► within in-flight and byte limits? ─► queue for a worker ─┤
//!                                                                    ▼
//!      run_call: deadline passed or cancelled? skip ─► handler ─► result
//!                within max_frame_bytes? ─► response frame ─► outbox
//! ```

use super::admit;
use super::connection::Conn;
use super::context::CallContext;
use super::describe;
use super::handle::Inner;
use super::table::Method;
use crate::codec::CodecId;
use crate::error::{RpcError, Status};
use crate::protocol::{self, FrameKind, RequestHead, HEADER_LEN};
use crate::sync::lock;
use crate::time::Deadline;
use crate::trace::{self, Side};
use crate::transport::scratch;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A call to run on the reader thread (its method has proven short).
pub(crate) struct InlineCall {
    pub(crate) method: Arc<Method>,
    pub(crate) ctx: CallContext,
    body: Vec<u8>,
    args_start: usize,
    pub(crate) oneway: bool,
}

impl InlineCall {
    pub(crate) fn args(&self) -> &[u8] {
        &self.body[self.args_start..]
    }
}

/// Steps 3–4 for one request, `received` when its frame was read: answer
/// at once if anything is wrong; else queue the call on the pool, or
/// return it to be run inline.
pub(crate) fn dispatch(
    inner: &Arc<Inner>,
    conn: &Arc<Conn>,
    frame: protocol::Frame,
    received: Instant,
) -> Option<InlineCall> {
    let frame_bytes = HEADER_LEN + frame.header.body_len as usize;
    let id = frame.header.request_id;
    let oneway = frame.header.kind == FrameKind::Oneway;
    let tracer = &inner.config.tracer;
    let reject = |err: RpcError, codec: CodecId| reject(inner, conn, id, oneway, codec, err);

    let Some(codec) = CodecId::from_byte(frame.header.codec) else {
        // Counted before the answer goes out, so whoever reads the answer
        // also sees it counted.
        inner
            .unknown_calls
            .refused(frame_bytes, Status::Unimplemented);
        reject(
            RpcError::new(
                Status::Unimplemented,
                format!(
                    "codec {} is not supported by this server (supported: 0 = binary, 1 = JSON)",
                    frame.header.codec
                ),
            ),
            CodecId::Binary,
        );
        return None;
    };
    let head = match RequestHead::parse(&frame.body) {
        Ok(h) => h,
        Err(e) => {
            inner.unknown_calls.refused(frame_bytes, e.status);
            reject(e, codec);
            return None;
        }
    };
    trace::emit(tracer, Side::Server, 3, Some(&frame.body), || {
        format!(
            "read a {}-byte request body (request id {id}); its call id is \"{}\"",
            frame.body.len(),
            head.call_id
        )
    });
    if head.call_id == protocol::PING_CALL_ID {
        // The built-in health probe (原理 › 健康检查, 探活): answered here,
        // on the reader, with no handler and no queue, so it measures
        // whether the server reads and answers, not how busy its workers are.
        if !oneway {
            let mut out = Vec::with_capacity(32);
            let start = protocol::begin_ok_response(&mut out, codec, id);
            crate::codec::encode_as(codec, &(), &mut out);
            protocol::finish_frame(&mut out, start);
            conn.seal(&mut out, 0);
            conn.send(&out);
        }
        return None;
    }
    if head.call_id == describe::DESCRIBE_CALL_ID && inner.config.describe {
        // The call table is the map of what to attack, so a server that
        // authenticates lists it only to a key allowed this call id.
        if let Err(e) = admit::identify(inner, &head) {
            reject(e, codec);
            return None;
        }
        if !oneway {
            describe::answer(inner, conn, codec, id);
        }
        return None;
    }
    // The call id is resolved before a single argument byte is decoded.
    let Some(method) = inner.table.get(head.call_id) else {
        trace::emit(tracer, Side::Server, 4, None, || {
            format!(
                "\"{}\" is not in the call table: answering Unimplemented without decoding its arguments",
                head.call_id
            )
        });
        inner
            .unknown_calls
            .refused(frame_bytes, Status::Unimplemented);
        reject(
            RpcError::new(
                Status::Unimplemented,
                format!(
                    "no method \"{}\" is registered on this server (call ids are case-sensitive; see Server::register)",
                    head.call_id
                ),
            ),
            codec,
        );
        return None;
    };
    method.metrics.add_bytes_in(frame_bytes);
    trace::emit(tracer, Side::Server, 4, None, || {
        format!("found \"{}\" in the call table (call_id_map)", head.call_id)
    });
    // ---- admission (原理 › 安全认证, 流量控制): who is calling, and may they ----
    // Both before a single argument byte is decoded and before the call may
    // take a place in the queue (see admit.rs). The health probe above is
    // answered before this: a load balancer or registry probing liveness
    // holds no key, and the probe runs no handler and reads no argument, so
    // there is nothing in it to protect or to ration.
    let identity = match admit::identify(inner, &head) {
        Ok(identity) => identity,
        Err(e) => {
            trace::emit(tracer, Side::Server, 4, None, || {
                format!("refused \"{}\" before decoding it: {e}", head.call_id)
            });
            method.metrics.count(e.status);
            reject(e, codec);
            return None;
        }
    };
    if let Err(e) = admit::within_limits(inner, head.call_id, identity.as_ref()) {
        method.metrics.count(e.status);
        reject(e, codec);
        return None;
    }
    // ---- end of admission ----
    let deadline = match head.timeout_ms {
        0 => Deadline::NEVER,
        ms => Deadline::from_instant(received, Duration::from_millis(ms.into())),
    };
    let mut ctx = CallContext {
        call_id: Arc::clone(&method.signature.call_id),
        request_id: id,
        deadline,
        received,
        identity,
        peer: conn.peer,
        codec,
        limits: inner.config.limits,
        whitelist: Arc::clone(&inner.whitelist),
        tracer: tracer.clone(),
        cancelled: None,
        sealed: conn.sealed.load(Ordering::Relaxed),
    };
    let args_start = frame.body.len() - head.args.len();
    let body = frame.body;
    let method = Arc::clone(method);

    if method.inline.load(Ordering::Relaxed) {
        return Some(InlineCall {
            method,
            ctx,
            body,
            args_start,
            oneway,
        });
    }
    let mut charge = match Charge::admit(inner, conn, id, body.len()) {
        Ok(c) => c,
        Err(e) => {
            inner.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
            method.metrics.count(e.status);
            reject(e, codec);
            return None;
        }
    };
    ctx.cancelled = (!oneway).then(|| charge.track_cancel());
    let index = method.index;
    let job_inner = Arc::clone(inner);
    let job_conn = Arc::clone(conn);
    let job = Box::new(move || {
        let _charge = charge; // released when the call is done, on every path
        if job_conn.outbox.is_cut_off() {
            // The peer was cut off (it stopped reading, or the connection
            // failed): nobody can receive this answer, so do not compute it.
            return;
        }
        // A cancelled call (the caller has given up and said so) is not
        // run if it has not started, and not answered if it has.
        let cancelled = || {
            let c = ctx
                .cancelled
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed));
            if c {
                job_inner.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            c
        };
        if cancelled() {
            return;
        }
        let out = run_call(&job_inner, &method, &ctx, &body[args_start..], oneway);
        if cancelled() {
            return;
        }
        if let Some(out) = out {
            job_conn.send(&out);
            scratch::give_back(out);
        }
    });
    if inner.pool.try_execute_tagged(conn.id, job).is_err() {
        // The refused job (and the charge inside it) is dropped here.
        inner.stats.rejected_busy.fetch_add(1, Ordering::Relaxed);
        inner.methods[index]
            .metrics
            .count(Status::ResourceExhausted);
        let queued = inner.pool.queued();
        reject(
            RpcError::resource_exhausted(format!(
                "server is busy: {queued} calls are already waiting for a worker (queue_capacity {}); retry later, or raise ServerBuilder::workers / queue_capacity",
                inner.config.queue_capacity
            )),
            codec,
        );
    }
    None
}

/// Answer request `id` with `err` now (or just count it, for oneway calls,
/// which get no answer).
fn reject(inner: &Inner, conn: &Conn, id: u64, oneway: bool, codec: CodecId, err: RpcError) {
    inner.stats.calls_failed.fetch_add(1, Ordering::Relaxed);
    if oneway {
        inner.stats.oneway_failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut out = Vec::new();
    protocol::error_response(&mut out, codec, id, &err);
    conn.seal(&mut out, 0);
    conn.send(&out);
}

/// What a queued call holds of its connection's and the server's limits:
/// one call in flight and its request's bytes. Given back when dropped,
/// whether the call ran, was refused by the queue, or panicked.
struct Charge {
    inner: Arc<Inner>,
    conn: Arc<Conn>,
    id: u64,
    bytes: usize,
    cancel: Option<Arc<AtomicBool>>,
}

impl Charge {
    /// Take one call and `bytes` from the limits, or say which is full.
    fn admit(
        inner: &Arc<Inner>,
        conn: &Arc<Conn>,
        id: u64,
        bytes: usize,
    ) -> Result<Charge, RpcError> {
        let cfg = &inner.config;
        let calls = conn.enter(inner);
        let conn_bytes = conn.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
        let all_bytes = inner.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
        // From here on, dropping the charge gives all three back.
        let charge = Charge {
            inner: Arc::clone(inner),
            conn: Arc::clone(conn),
            id,
            bytes,
            cancel: None,
        };
        if calls >= cfg.max_in_flight_per_connection {
            return Err(RpcError::resource_exhausted(format!(
                "this connection already has {calls} calls in flight (max_in_flight_per_connection {}); wait for some to finish, or raise ServerBuilder::max_in_flight_per_connection",
                cfg.max_in_flight_per_connection
            )));
        }
        // Fairness when the queue is filling: no connection may hold more
        // than its share of it, or a few greedy peers fill it and everyone
        // else is refused. (While the queue is less than half full, a
        // connection may use up to its own cap.)
        // The shares of the connections that have calls in flight add up
        // to a quarter of the queue, so it keeps room for a newcomer. A
        // connection alone (the others idle) has nobody to share with.
        let active = inner.active_connections.load(Ordering::Relaxed);
        if active > 1 && inner.pool.queued() * 2 > cfg.queue_capacity {
            let live = active;
            let share = (cfg.queue_capacity / (4 * live)).max(1);
            if calls >= share {
                return Err(RpcError::resource_exhausted(format!(
                    "server is busy: its queue is more than half full and this connection already has {calls} calls in flight, its fair share ({share}: a quarter of queue_capacity {} over the {live} connections with calls in flight); retry later",
                    cfg.queue_capacity
                )));
            }
        }
        if conn_bytes + bytes > cfg.max_queued_bytes_per_connection {
            return Err(RpcError::resource_exhausted(format!(
                "this connection's queued requests already hold {conn_bytes} bytes; this {bytes}-byte request would pass max_queued_bytes_per_connection {} (see ServerBuilder::max_queued_bytes_per_connection)",
                cfg.max_queued_bytes_per_connection
            )));
        }
        // A connection with nothing queued may always queue one request, so
        // a few connections holding the whole budget cannot lock out a
        // newcomer (the same reason as the fair share above); the total can
        // then pass the budget by one request per such connection.
        if conn_bytes > 0 && all_bytes + bytes > cfg.max_queued_bytes {
            return Err(RpcError::resource_exhausted(format!(
                "server is busy: queued requests already hold {all_bytes} bytes; this {bytes}-byte request would pass max_queued_bytes {} (retry later, or raise ServerBuilder::max_queued_bytes)",
                cfg.max_queued_bytes
            )));
        }
        Ok(charge)
    }

    /// Make the call reachable by a cancel frame; returns its flag.
    fn track_cancel(&mut self) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        lock(&self.conn.cancels).insert(self.id, Arc::clone(&flag));
        self.cancel = Some(Arc::clone(&flag));
        flag
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.conn.leave(&self.inner);
        self.conn
            .queued_bytes
            .fetch_sub(self.bytes, Ordering::SeqCst);
        self.inner
            .queued_bytes
            .fetch_sub(self.bytes, Ordering::SeqCst);
        if let Some(mine) = &self.cancel {
            // Remove our entry only: a client that reused the request id
            // for a newer call owns the entry now.
            let mut cancels = lock(&self.conn.cancels);
            if cancels.get(&self.id).is_some_and(|f| Arc::ptr_eq(f, mine)) {
                cancels.remove(&self.id);
            }
        }
    }
}

/// Server steps 5–6, on a worker or on the reader: run the handler and
/// build the response frame (`None` for oneway calls, which get none).
pub(crate) fn run_call(
    inner: &Inner,
    method: &Method,
    ctx: &CallContext,
    args: &[u8],
    oneway: bool,
) -> Option<Vec<u8>> {
    method.metrics.enter();
    let mut out = scratch::take(64);
    // When the handler (or the refusal below) finished: one clock read
    // for the method's speed and the call's latency both.
    let mut ended = None;
    // One clock read for "has the deadline passed" and the handler's start.
    let began = Instant::now();
    let result = if ctx.deadline <= Deadline::at(began) {
        // The caller has already given up: running the handler would be
        // wasted work, and the queue may be long precisely because we are
        // overloaded.
        Err(RpcError::deadline_exceeded(format!(
            "the deadline of \"{}\" passed before it started (it waited in the server's queue); the handler was not run",
            ctx.call_id
        )))
    } else {
        run_handler(inner, method, ctx, args, &mut out, began, &mut ended)
    };
    let latency = ended
        .unwrap_or_else(Instant::now)
        .saturating_duration_since(ctx.received);
    match &result {
        Ok(()) => inner.stats.calls_ok.fetch_add(1, Ordering::Relaxed),
        Err(_) => inner.stats.calls_failed.fetch_add(1, Ordering::Relaxed),
    };
    let status = result.as_ref().map_or_else(|e| e.status, |_| Status::Ok);
    if oneway {
        method.metrics.answered(status, latency, 0);
        if result.is_err() {
            inner.stats.oneway_failed.fetch_add(1, Ordering::Relaxed);
        }
        return None;
    }
    if let Err(e) = result {
        out.clear();
        protocol::error_response(&mut out, ctx.codec, ctx.request_id, &e);
    }
    if ctx.sealed {
        protocol::seal(&mut out, 0);
    }
    method.metrics.answered(status, latency, out.len());
    ctx.trace(6, Some(&out), || {
        format!(
            "sending the {}-byte response frame (request id {})",
            out.len(),
            ctx.request_id
        )
    });
    Some(out)
}

/// Call the handler, catching a panic, and check the result's size.
fn run_handler(
    inner: &Inner,
    method: &Method,
    ctx: &CallContext,
    args: &[u8],
    out: &mut Vec<u8>,
    began: Instant,
    ended: &mut Option<Instant>,
) -> Result<(), RpcError> {
    let start = protocol::begin_ok_response(out, ctx.codec, ctx.request_id);
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (method.handler)(ctx, args, out)
    }));
    let result = match ran {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(RpcError::internal(format!(
                "the handler for \"{}\" panicked: {what}",
                ctx.call_id
            )))
        }
    };
    let now = Instant::now();
    *ended = Some(now);
    method.observe(
        now.saturating_duration_since(began),
        inner.config.inline_max,
        result.is_ok(),
    );
    result?;
    // A result the peer would refuse must not go out: it would cost the
    // whole frame to send and then fail at the other end.
    let crc = if ctx.sealed { 4 } else { 0 };
    let body = out.len() - start - HEADER_LEN + crc;
    let max = inner.config.max_frame_bytes;
    if body > max {
        return Err(RpcError::resource_exhausted(format!(
            "the response to \"{}\" would be a {body}-byte frame body, over max_frame_bytes {max}; return less per call (page through it), or raise ServerBuilder::max_frame_bytes and the client's ClientBuilder::max_frame_bytes",
            ctx.call_id
        )));
    }
    protocol::finish_frame(out, start);
    Ok(())
}
