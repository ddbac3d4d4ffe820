//! Client step 2: the request frame.
//!
//! Article: 本地调用VS远程调用 (client step 2, "将Call ID，lvalue和rvalue序列化"),
//! and 网络传输 (the frame that carries it). The one idea to take away:
//! **everything the server needs travels in one frame**: the call id, the
//! deadline, the caller's metadata and the encoded arguments, behind a
//! header that states the body's length (`docs/protocol.md`):
//!
//! ```text
//!   header (18 bytes) │ call id │ timeout ms │ metadata │ arguments, in the client's codec
//!                       └──────── the envelope ────────┘
//! ```
//!
//! A client with credentials (`ClientBuilder::credentials`) also signs
//! the request here: four `auth-*` metadata pairs (see [`crate::auth`]).
//!
//! Two things are decided here, before anything is sent: how the deadline
//! is written (milliseconds left, rounded up, saturating), and whether the
//! request is small enough for the server to accept at all.

use super::conn::Mode;
use super::ClientBuilder;
use crate::codec::{self, Encode};
use crate::error::RpcError;
use crate::metrics::MethodMetrics;
use crate::protocol::{self, FrameKind, HEADER_LEN};
use crate::time::Deadline;
use crate::trace::{self, Side};

/// Client step 2: the call id, the metadata and the arguments, serialized
/// into one frame; refused here, before anything is sent, if it is larger
/// than `ClientBuilder::max_request_bytes`. (Sent anyway, the server would
/// close the connection, failing every other call on it instead of this
/// one.) The frame is written into `frame` (empty; the caller reuses it,
/// see `src/transport/scratch.rs`), and its size counted on `counter`.
#[allow(clippy::too_many_arguments)]
pub(super) fn encode<A: Encode + ?Sized>(
    frame: &mut Vec<u8>,
    id: u64,
    call_id: &str,
    args: &A,
    deadline: Deadline,
    config: &ClientBuilder,
    mode: &Mode,
    counter: &MethodMetrics,
) -> Result<(), RpcError> {
    // Room for the header, the call id, the metadata and the arguments at
    // once (`Encode::encoded_len`; JSON may still grow it): buys a large
    // argument one allocation instead of several (allocations per call, in
    // chapter 04's performance section).
    frame.reserve(
        64 + call_id.len()
            + config.caller_id.as_ref().map_or(0, |c| c.len() + 16)
            + config.signer.as_ref().map_or(0, |_| 256)
            + args.encoded_len(),
    );
    // Empty until something is pushed: a plain call allocates nothing here.
    let mut meta: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = &config.caller_id {
        meta.push((protocol::META_CALLER, c.as_str()));
    }
    // A signature covers the argument bytes, which the frame carries after
    // the metadata, so a signing client encodes them first (原理 › 安全认证).
    let mut signed_args = Vec::new();
    let signed = config.signer.as_ref().map(|signer| {
        codec::encode_as(config.codec, args, &mut signed_args);
        signer.sign(call_id, &signed_args)
    });
    if let Some(s) = &signed {
        meta.extend(s.pairs());
    }
    let kind = match mode {
        Mode::Oneway => FrameKind::Oneway,
        _ => FrameKind::Request,
    };
    let timeout_ms = wire_timeout(deadline);
    let start = protocol::begin_request(frame, kind, config.codec, id, call_id, timeout_ms, &meta);
    let args_at = frame.len();
    if signed.is_some() {
        frame.extend_from_slice(&signed_args);
    } else {
        codec::encode_as(config.codec, args, frame);
    }
    check_request_size(frame.len() - start - HEADER_LEN, config.max_request_bytes)?;
    protocol::finish_frame(frame, start);
    if config.checksums {
        protocol::seal(frame, start);
    }
    counter.add_bytes_out(frame.len() - start);
    trace::emit(
        &config.tracer,
        Side::Client,
        2,
        Some(&frame[args_at..]),
        || {
            format!(
            "serialized the arguments into {} bytes and wrapped them, with the call id, in a {}-byte frame (request id {id})",
            frame.len() - args_at,
            frame.len()
        )
        },
    );
    Ok(())
}

/// The deadline as the wire carries it: milliseconds the caller will still
/// wait, rounded up (so the server never gives up first) and at least 1
/// (0 would mean "no deadline"). Too long for the 32-bit field, or no
/// deadline at all, saturates at `u32::MAX` ms (about 49 days).
fn wire_timeout(deadline: Deadline) -> u32 {
    match deadline.remaining() {
        Some(left) => u32::try_from(left.as_nanos().div_ceil(1_000_000).max(1)).unwrap_or(u32::MAX),
        None => u32::MAX,
    }
}

/// The request body must fit the client's limit, and the wire's 32-bit
/// length field whatever the limit says.
fn check_request_size(body: usize, max_request_bytes: usize) -> Result<(), RpcError> {
    let limit = max_request_bytes.min(u32::MAX as usize);
    if body <= limit {
        return Ok(());
    }
    Err(RpcError::resource_exhausted(format!(
        "request of {body} bytes exceeds max_request_bytes {limit} (see ClientBuilder::max_request_bytes; \
         the server refuses frames over its own ServerBuilder::max_frame_bytes); nothing was sent"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Status;
    use std::time::Duration;

    #[test]
    fn wire_timeouts_round_up_and_saturate() {
        assert_eq!(wire_timeout(Deadline::NEVER), u32::MAX);
        let far = Deadline::after(Duration::from_secs(100 * 24 * 3600));
        assert_eq!(wire_timeout(far), u32::MAX);
        assert_eq!(wire_timeout(Deadline::after(Duration::ZERO)), 1);
        let soon = wire_timeout(Deadline::after(Duration::from_millis(1500)));
        assert!((1499..=1500).contains(&soon), "{soon}");
    }

    #[test]
    fn a_request_over_the_limit_names_the_limit_and_the_setting() {
        assert!(check_request_size(100, 100).is_ok());
        let e = check_request_size(101, 100).unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
        assert!(e.message.contains("101 bytes"), "{e}");
        assert!(e.message.contains("max_request_bytes 100"), "{e}");
        assert!(
            e.message.contains("ClientBuilder::max_request_bytes"),
            "{e}"
        );
        let huge = check_request_size(u32::MAX as usize + 1, usize::MAX).unwrap_err();
        assert!(huge.message.contains("4294967295"), "{huge}");
    }
}
