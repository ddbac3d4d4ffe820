//! Tracing: watch the article's steps happen inside a real call.
//!
//! Article: 本地调用VS远程调用, the client's steps 1–5 and the server's steps
//! 1–6. Give a [`Tracer`] to `ServerBuilder::trace` and `ClientBuilder::trace`
//! and both sides report each step as they take it, with the frame bytes
//! where there are bytes to show. `cargo run --example multiply` prints the
//! steps; `-- --trace` adds the bytes. The one idea to take away: the steps in the article are not a
//! simplification; they are the code path, one for one.
//!
//! When no tracer is set, each trace point costs one branch on an `Option`:
//! the message is only formatted when someone will read it.

use std::fmt::Write as _;
use std::sync::Arc;

/// Which side of the call an event comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The caller.
    Client,
    /// The callee.
    Server,
}

/// One step of a call, as it happens.
#[derive(Debug)]
pub struct TraceEvent<'a> {
    /// Client or server.
    pub side: Side,
    /// The article's step number on that side (client 1–5, server 1–6).
    pub step: u8,
    /// What happened, in a sentence.
    pub message: &'a str,
    /// The bytes involved (a whole frame, or encoded arguments), if any.
    pub bytes: Option<&'a [u8]>,
}

/// A function that receives trace events. It runs on the thread that took
/// the step, so it should be quick.
pub type Tracer = Arc<dyn Fn(&TraceEvent<'_>) + Send + Sync>;

/// Report a step if there is a tracer; `message` is only called if there is.
/// (Inlined, so that without a tracer a step costs one test, not a call:
/// a call passes seven of them.)
#[inline]
pub(crate) fn emit(
    tracer: &Option<Tracer>,
    side: Side,
    step: u8,
    bytes: Option<&[u8]>,
    message: impl FnOnce() -> String,
) {
    if let Some(t) = tracer {
        report(t, side, step, bytes, message());
    }
}

#[cold]
#[inline(never)]
fn report(t: &Tracer, side: Side, step: u8, bytes: Option<&[u8]>, message: String) {
    t(&TraceEvent {
        side,
        step,
        message: &message,
        bytes,
    });
}

/// Bytes as space-separated hex, 16 to a line, each line indented by
/// `indent` and prefixed with its offset.
pub fn hex(bytes: &[u8], indent: &str) -> String {
    let mut s = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(s, "{indent}{:04x}  ", i * 16);
        for (j, b) in chunk.iter().enumerate() {
            if j > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{b:02x}");
        }
        s.push('\n');
    }
    s
}

/// A frame's bytes with each field named: the header field by field, then
/// the envelope of a request or response, then the codec bytes. Used by the
/// `--trace` output and to generate the dump in `docs/protocol.md`.
pub fn annotate_frame(frame: &[u8]) -> String {
    use crate::protocol::{FrameKind, Header, HEADER_LEN};
    let mut s = String::new();
    let mut line = |bytes: &[u8], what: &str| {
        let h: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(s, "{:<36} {what}", h.join(" "));
    };
    if frame.len() < HEADER_LEN {
        line(frame, "(shorter than a header)");
        return s;
    }
    let header = match Header::parse(frame[..HEADER_LEN].try_into().unwrap()) {
        Ok(h) => h,
        Err(e) => {
            line(&frame[..HEADER_LEN], &format!("(not a valid header: {e})"));
            return s;
        }
    };
    line(&frame[0..2], "magic \"MR\"");
    line(&frame[2..3], "version 1");
    line(
        &frame[3..4],
        &format!("kind {} ({:?})", frame[3], header.kind),
    );
    line(&frame[4..5], &format!("codec {}", frame[4]));
    line(&frame[5..6], "flags");
    line(&frame[6..14], &format!("request id {}", header.request_id));
    line(&frame[14..18], &format!("body length {}", header.body_len));
    let body = &frame[HEADER_LEN..];
    let mut pos = 0usize;
    let u32_at = |p: usize| -> Option<usize> {
        body.get(p..p + 4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()) as usize)
    };
    match header.kind {
        FrameKind::Request | FrameKind::Oneway => {
            let Some(n) = u32_at(pos) else { return s };
            line(&body[pos..pos + 4], &format!("call id length {n}"));
            pos += 4;
            let Some(id) = body.get(pos..pos + n) else {
                return s;
            };
            line(id, &format!("call id \"{}\"", String::from_utf8_lossy(id)));
            pos += n;
            let Some(t) = u32_at(pos) else { return s };
            line(&body[pos..pos + 4], &format!("timeout {t} ms"));
            pos += 4;
            let Some(m) = u32_at(pos) else { return s };
            line(&body[pos..pos + 4], &format!("metadata pairs {m}"));
            pos += 4;
            for _ in 0..m * 2 {
                let Some(n) = u32_at(pos) else { return s };
                let Some(v) = body.get(pos..pos + 4 + n) else {
                    return s;
                };
                line(
                    v,
                    &format!("metadata \"{}\"", String::from_utf8_lossy(&v[4..])),
                );
                pos += 4 + n;
            }
            if pos < body.len() {
                line(&body[pos..], "arguments (codec bytes)");
            }
        }
        FrameKind::Response => {
            let Some(st) = body.first() else { return s };
            line(&body[0..1], &format!("status {st}"));
            pos = 1;
            let Some(n) = u32_at(pos) else { return s };
            line(&body[pos..pos + 4], &format!("message length {n}"));
            pos += 4;
            if n > 0 {
                let Some(m) = body.get(pos..pos + n) else {
                    return s;
                };
                line(m, "message (UTF-8)");
                pos += n;
            }
            if pos < body.len() {
                line(&body[pos..], "result (codec bytes)");
            }
        }
        FrameKind::Ping | FrameKind::Pong | FrameKind::Cancel => {}
    }
    s
}
