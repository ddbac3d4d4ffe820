//! The wire protocol: what one frame looks like, byte by byte.
//!
//! Article: 本地调用VS远程调用 › 网络传输, and 原理 › 建立通信 / 网络传输.
//! TCP delivers a stream of bytes with no boundaries, so both sides need a
//! rule for where one message ends and the next begins, and a place to put
//! the things that are not arguments: which call this is, which response
//! answers which request, how long the caller will wait. The one idea to
//! take away: **a fixed-size header that states the body's length**, read
//! first, lets the receiver know exactly how much to read next (and refuse a
//! length it will not accept before reading a byte of it).
//!
//! # The header (18 bytes, every frame)
//!
//! ```text
//!   0       2       3       4       5       6                              14              18
//!   +-------+-------+-------+-------+-------+------------------------------+---------------+
//!   | magic |version| kind  | codec | flags |          request id          |  body length  |
//!   | "MR"  |   1   | 1..=6 | 0 / 1 | 0 / 1 |      u64, big-endian         | u32, big-end. |
//!   +-------+-------+-------+-------+-------+------------------------------+---------------+
//!
//!   kind:  1 request   2 response   3 oneway (a request that gets no response)
//!          4 ping      5 pong       (empty bodies; a pong echoes the ping's id)
//!          6 cancel    (empty body; "I no longer want request <id>")
//!   A kind this build does not know is skipped (its body too), so a newer
//!   peer can add kinds without breaking an older one.
//!   codec: 0 binary (crate::codec)  1 JSON (crate::json)
//!   flags: bit 0 = the frame ends with a CRC-32C (see below); other bits 0
//! ```
//!
//! # The optional checksum (flag bit 0)
//!
//! ```text
//!   | header (flags = 01, body length counts the 4 CRC bytes) | body | CRC-32C, u32 big-endian |
//!   CRC-32C over the 18 header bytes as sent and the body before the CRC
//! ```
//!
//! A client that turns checksums on (`ClientBuilder::checksums`) seals every
//! frame it sends, and the server answers a sealed request with a sealed
//! response. A frame whose CRC does not match closes the connection with
//! `DATA_LOSS`: its header may be damaged too, so nothing after it can be
//! trusted. TCP checks each hop; this checks the whole path (see
//! [`crate::checksum`]).
//!
//! The request id is chosen by the client; the response carries the same id.
//! That is what lets one connection carry many calls at once and lets the
//! server answer them in any order (see [`crate::client`]).
//!
//! # The request body (kinds 1 and 3)
//!
//! ```text
//!   +-----------+-------------+------------+-------------------------------+------------+
//!   | call id   | timeout ms  | meta count | meta: key, value, key, ...    |   args     |
//!   | u32 len + | u32, 0 =    | u32        | each a u32 len + UTF-8        | the rest,  |
//!   | UTF-8     | no deadline |            |                               | in `codec` |
//!   +-----------+-------------+------------+-------------------------------+------------+
//! ```
//!
//! The timeout is *relative* (milliseconds the caller will still wait, as
//! gRPC's `grpc-timeout` header), so the two machines' clocks never need to
//! agree. Metadata is a list of string pairs; the client sends `caller` when
//! it has a caller id.
//!
//! # The response body (kind 2)
//!
//! ```text
//!   +--------+-------------------+-------------------------------+
//!   | status | message           | result                        |
//!   | u8     | u32 len + UTF-8   | the rest, in `codec`; empty   |
//!   |        | (empty when OK)   | unless status is 0 (OK)       |
//!   +--------+-------------------+-------------------------------+
//!
//!   an error (status ≠ 0) may go on after its message:
//!   | meta count u32 | key, value, ... (as in a request) |
//! ```
//!
//! That trailing list is how a refusal says when to retry
//! ([`META_RETRY_AFTER_MS`]). It is absent unless there is something to
//! say, and a reader that ignores what follows an error's message (as
//! older minirpc clients do) is unaffected.
//!
//! A response with request id 0 is about the connection, not a call (a bad
//! magic number, too many connections, a frame that did not arrive in time);
//! the server closes
//! the connection after sending it.
//!
//! The envelope (call id, timeout, metadata, status, message) is always in
//! this fixed layout, whatever the codec: only the arguments and the result
//! are in the codec the header names. So the server can resolve the call id
//! *before* it decodes a single argument, and never decodes arguments for a
//! method that does not exist (Dubbo's CVE-2020-1948 came from doing that).

use crate::codec::CodecId;
use crate::error::{RpcError, Status};

/// The first two bytes of every frame: ASCII `MR`.
pub const MAGIC: [u8; 2] = *b"MR";
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// The header's size in bytes.
pub const HEADER_LEN: usize = 18;
/// The default largest body a peer accepts: 4 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// Header flag: the frame ends with a CRC-32C of header and body.
pub const FLAG_CHECKSUM: u8 = 0x01;
/// The metadata key that carries the caller's identity.
pub const META_CALLER: &str = "caller";
/// The call id every minirpc server answers without a handler: the health
/// probe (探活). Its arguments are ignored and its result is `()`. It is
/// answered by the connection's reader, ahead of any queue, so a slow
/// handler elsewhere does not make a live server look dead.
pub const PING_CALL_ID: &str = "$minirpc.ping";
/// How a server's idle-close notice begins: a response with request id 0,
/// status `UNAVAILABLE`, sent just before the server closes a connection
/// that had no calls for its idle timeout. The server processed no request
/// it had not answered before the notice, so a client may send those
/// requests again on a new connection.
pub const IDLE_CLOSE_NOTICE: &str = "the server closed this idle connection";
/// The most metadata pairs a request (or an error response) may carry.
pub const MAX_METADATA: usize = 64;
/// The metadata key of an error response that says how long the caller
/// should wait before trying again, in whole milliseconds rounded up
/// (decimal ASCII; `18446744073709551615`, `u64::MAX`, means never).
/// A rate limit's refusal carries it (see [`crate::flow`]).
pub const META_RETRY_AFTER_MS: &str = "retry-after-ms";

/// What a frame is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// A call that expects a response.
    Request = 1,
    /// The answer to a request, with the same request id.
    Response = 2,
    /// A call whose caller does not want an answer (单向调用).
    Oneway = 3,
    /// "Are you there?" (heartbeat).
    Ping = 4,
    /// "Yes", echoing the ping's request id.
    Pong = 5,
    /// The client no longer wants the answer to this request id (it timed
    /// out or dropped its `Pending`): a server drops the call if it has not
    /// started, and lets a running handler see it
    /// (`CallContext::is_cancelled`). Never answered.
    Cancel = 6,
}

impl FrameKind {
    /// The kind for a header byte, if it is one.
    pub fn from_byte(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Request),
            2 => Some(FrameKind::Response),
            3 => Some(FrameKind::Oneway),
            4 => Some(FrameKind::Ping),
            5 => Some(FrameKind::Pong),
            6 => Some(FrameKind::Cancel),
            _ => None,
        }
    }
}

/// The fixed 18-byte header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the frame is for.
    pub kind: FrameKind,
    /// The raw codec byte. Kept raw because an unknown codec is a per-call
    /// error (the frame boundary is still known), not a reason to drop the
    /// connection.
    pub codec: u8,
    /// Bit 0: the frame carries a checksum ([`FLAG_CHECKSUM`]).
    pub flags: u8,
    /// Matches a response to its request.
    pub request_id: u64,
    /// How many body bytes follow the header.
    pub body_len: u32,
}

impl Header {
    /// The header's 18 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&MAGIC);
        b[2] = VERSION;
        b[3] = self.kind as u8;
        b[4] = self.codec;
        b[5] = self.flags;
        b[6..14].copy_from_slice(&self.request_id.to_be_bytes());
        b[14..18].copy_from_slice(&self.body_len.to_be_bytes());
        b
    }

    /// Parse a header. A bad magic number or an unknown version or kind
    /// means we cannot trust anything after it, so the caller should answer
    /// with the error (request id 0) and close the connection.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, RpcError> {
        if b[0..2] != MAGIC {
            return Err(RpcError::invalid_argument(format!(
                "bad magic number {:02x} {:02x}: this peer speaks minirpc, whose frames start with 4d 52 (\"MR\"); see docs/protocol.md",
                b[0], b[1]
            )));
        }
        if b[2] != VERSION {
            return Err(RpcError::new(
                Status::Unimplemented,
                format!(
                    "protocol version {} is not supported; this peer speaks version {VERSION}",
                    b[2]
                ),
            ));
        }
        let kind = FrameKind::from_byte(b[3]).ok_or_else(|| {
            RpcError::invalid_argument(format!(
                "unknown frame kind {}; kinds are 1 request, 2 response, 3 oneway, 4 ping, 5 pong, 6 cancel",
                b[3]
            ))
        })?;
        if b[5] & !FLAG_CHECKSUM != 0 {
            return Err(RpcError::invalid_argument(format!(
                "unknown header flags {:#04x}; this peer knows only bit 0 (checksum)",
                b[5]
            )));
        }
        Ok(Header {
            kind,
            codec: b[4],
            flags: b[5],
            request_id: u64::from_be_bytes(b[6..14].try_into().unwrap()),
            body_len: u32::from_be_bytes(b[14..18].try_into().unwrap()),
        })
    }
}

/// One whole frame as read from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The decoded header.
    pub header: Header,
    /// Exactly `header.body_len` bytes.
    pub body: Vec<u8>,
}

/// A request body, parsed: everything but the arguments, which stay bytes
/// until the server knows which method (and so which types) they are for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// The name the server looks up in its call table.
    pub call_id: &'a str,
    /// How long the caller will wait, in milliseconds; 0 means no deadline.
    pub timeout_ms: u32,
    /// Key/value pairs (caller identity, ...).
    pub metadata: Vec<(&'a str, &'a str)>,
    /// The encoded arguments.
    pub args: &'a [u8],
}

impl<'a> RequestHead<'a> {
    /// Parse a request body. Errors are `InvalidArgument` and name the field.
    pub fn parse(body: &'a [u8]) -> Result<RequestHead<'a>, RpcError> {
        let mut cur = Cursor { b: body, pos: 0 };
        let call_id = cur.str("call id")?;
        let timeout_ms = cur.u32("timeout")?;
        let count = cur.u32("metadata count")? as usize;
        if count > MAX_METADATA {
            return Err(RpcError::invalid_argument(format!(
                "request carries {count} metadata pairs, over the limit of {MAX_METADATA}"
            )));
        }
        let mut metadata = Vec::with_capacity(count);
        for _ in 0..count {
            let k = cur.str("metadata key")?;
            let v = cur.str("metadata value")?;
            metadata.push((k, v));
        }
        Ok(RequestHead {
            call_id,
            timeout_ms,
            metadata,
            args: &body[cur.pos..],
        })
    }

    /// The value of a metadata key, if present.
    pub fn meta(&self, key: &str) -> Option<&'a str> {
        self.metadata
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// A response body, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    /// OK, or why the call failed.
    pub status: Status,
    /// Empty when OK.
    pub message: &'a str,
    /// An error's metadata, after its message (e.g. `retry-after-ms`);
    /// always empty when OK.
    pub metadata: Vec<(&'a str, &'a str)>,
    /// The encoded result (empty unless OK).
    pub result: &'a [u8],
}

impl<'a> ResponseHead<'a> {
    /// Parse a response body.
    pub fn parse(body: &'a [u8]) -> Result<ResponseHead<'a>, RpcError> {
        let mut cur = Cursor { b: body, pos: 0 };
        let status = Status::from_code(cur.take(1, "status")?[0]);
        let message = cur.str("message")?;
        let mut metadata = Vec::new();
        if status != Status::Ok && cur.pos < body.len() {
            let count = cur.u32("error metadata count")? as usize;
            if count > MAX_METADATA {
                return Err(RpcError::invalid_argument(format!(
                    "error response carries {count} metadata pairs, over the limit of {MAX_METADATA}"
                )));
            }
            for _ in 0..count {
                let k = cur.str("error metadata key")?;
                let v = cur.str("error metadata value")?;
                metadata.push((k, v));
            }
        }
        Ok(ResponseHead {
            status,
            message,
            metadata,
            result: &body[cur.pos..],
        })
    }

    /// The value of an error metadata key, if present.
    pub fn meta(&self, key: &str) -> Option<&'a str> {
        self.metadata
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The result bytes, or the error this response carries (with its
    /// [`RpcError::retry_after`] when the response says `retry-after-ms`).
    pub fn into_result(self) -> Result<&'a [u8], RpcError> {
        if self.status == Status::Ok {
            return Ok(self.result);
        }
        let mut e = RpcError::new(self.status, self.message);
        if let Some(ms) = self
            .meta(META_RETRY_AFTER_MS)
            .and_then(|v| v.parse::<u64>().ok())
        {
            e = e.with_retry_after(match ms {
                u64::MAX => std::time::Duration::MAX,
                ms => std::time::Duration::from_millis(ms),
            });
        }
        Err(e)
    }
}

/// A tiny cursor for the envelope fields (the codec's [`crate::codec::Reader`]
/// is for arguments; the envelope has its own, simpler rules).
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RpcError> {
        if self.b.len() - self.pos < n {
            return Err(RpcError::invalid_argument(format!(
                "malformed frame body: {what} needs {n} bytes at offset {} but the body has {}",
                self.pos,
                self.b.len()
            )));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32, RpcError> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn str(&mut self, what: &str) -> Result<&'a str, RpcError> {
        let n = self.u32(what)? as usize;
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes)
            .map_err(|_| RpcError::invalid_argument(format!("{what} is not valid UTF-8")))
    }
}

// ---- writing frames ----------------------------------------------------------
//
// Each writer builds the whole frame (header and body) in one buffer, so a
// frame is one `write` on the socket. The body length is not known until the
// arguments are encoded, so the header is written with a zero length first
// and patched at the end.

fn put_str(out: &mut Vec<u8>, s: &str) {
    let n = u32::try_from(s.len()).expect("string longer than 4 GiB in a frame envelope");
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Start a frame in `out`: the header with a placeholder length. Finish it
/// with [`finish_frame`].
pub fn begin_frame(out: &mut Vec<u8>, kind: FrameKind, codec: CodecId, request_id: u64) -> usize {
    let start = out.len();
    let header = Header {
        kind,
        codec: codec as u8,
        flags: 0,
        request_id,
        body_len: 0,
    };
    out.extend_from_slice(&header.to_bytes());
    start
}

/// Patch the body length of the frame that [`begin_frame`] started at `start`.
pub fn finish_frame(out: &mut [u8], start: usize) {
    let body_len = out.len() - start - HEADER_LEN;
    let n = u32::try_from(body_len).expect("frame body longer than 4 GiB");
    out[start + 14..start + 18].copy_from_slice(&n.to_be_bytes());
}

/// Write a request's header and envelope; the caller then appends the
/// encoded arguments and calls [`finish_frame`].
pub fn begin_request(
    out: &mut Vec<u8>,
    kind: FrameKind,
    codec: CodecId,
    request_id: u64,
    call_id: &str,
    timeout_ms: u32,
    metadata: &[(&str, &str)],
) -> usize {
    let start = begin_frame(out, kind, codec, request_id);
    put_str(out, call_id);
    out.extend_from_slice(&timeout_ms.to_be_bytes());
    out.extend_from_slice(&(metadata.len() as u32).to_be_bytes());
    for (k, v) in metadata {
        put_str(out, k);
        put_str(out, v);
    }
    start
}

/// Write a successful response's header and envelope; the caller then
/// appends the encoded result and calls [`finish_frame`].
pub fn begin_ok_response(out: &mut Vec<u8>, codec: CodecId, request_id: u64) -> usize {
    let start = begin_frame(out, FrameKind::Response, codec, request_id);
    out.push(Status::Ok.code());
    out.extend_from_slice(&0u32.to_be_bytes());
    start
}

/// Seal the finished frame that starts at `start` (the last frame in
/// `out`) with a CRC-32C: set the checksum flag, count 4 more body bytes,
/// and append the CRC of header and body.
pub fn seal(out: &mut Vec<u8>, start: usize) {
    out[start + 5] |= FLAG_CHECKSUM;
    let body_len = out.len() - start - HEADER_LEN + 4;
    let n = u32::try_from(body_len).expect("frame body longer than 4 GiB");
    out[start + 14..start + 18].copy_from_slice(&n.to_be_bytes());
    let crc = crate::checksum::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Append a complete error response frame to `out`.
pub fn error_response(out: &mut Vec<u8>, codec: CodecId, request_id: u64, err: &RpcError) {
    let start = begin_frame(out, FrameKind::Response, codec, request_id);
    // An error response never says OK, even if a handler built one that way.
    let status = if err.status == Status::Ok {
        Status::Unknown
    } else {
        err.status
    };
    out.push(status.code());
    put_str(out, &err.message);
    if let Some(d) = err.retry_after() {
        // Whole milliseconds, rounded up: "0 ms" must never mean "too early".
        let ms = u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        out.extend_from_slice(&1u32.to_be_bytes());
        put_str(out, META_RETRY_AFTER_MS);
        put_str(out, &ms.to_string());
    }
    finish_frame(out, start);
}

/// Append a complete empty-bodied frame (ping or pong) to `out`.
pub fn control_frame(out: &mut Vec<u8>, kind: FrameKind, request_id: u64) {
    let start = begin_frame(out, kind, CodecId::Binary, request_id);
    finish_frame(out, start);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header {
            kind: FrameKind::Oneway,
            codec: 0,
            flags: FLAG_CHECKSUM,
            request_id: u64::MAX - 1,
            body_len: 1234,
        };
        assert_eq!(Header::parse(&h.to_bytes()).unwrap(), h);
    }

    #[test]
    fn bad_magic_is_refused_with_a_pointer_to_the_docs() {
        let mut b = Header {
            kind: FrameKind::Ping,
            codec: 0,
            flags: 0,
            request_id: 1,
            body_len: 0,
        }
        .to_bytes();
        b[0] = b'G';
        let e = Header::parse(&b).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(e.message.contains("docs/protocol.md"), "{e}");
    }

    #[test]
    fn request_envelope_round_trips() {
        let mut out = Vec::new();
        let start = begin_request(
            &mut out,
            FrameKind::Request,
            CodecId::Binary,
            7,
            "Multiply",
            1500,
            &[("caller", "doc-test")],
        );
        out.extend_from_slice(&[1, 2, 3]);
        finish_frame(&mut out, start);
        let h = Header::parse(out[..HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(h.body_len as usize, out.len() - HEADER_LEN);
        let req = RequestHead::parse(&out[HEADER_LEN..]).unwrap();
        assert_eq!(req.call_id, "Multiply");
        assert_eq!(req.timeout_ms, 1500);
        assert_eq!(req.meta("caller"), Some("doc-test"));
        assert_eq!(req.args, &[1, 2, 3]);
    }

    #[test]
    fn truncated_envelope_names_the_field() {
        let e = RequestHead::parse(&[0, 0, 0, 9, b'M']).unwrap_err();
        assert!(e.message.contains("call id"), "{e}");
    }

    #[test]
    fn error_response_never_carries_ok() {
        let mut out = Vec::new();
        error_response(
            &mut out,
            CodecId::Binary,
            3,
            &RpcError::new(Status::Ok, "x"),
        );
        let r = ResponseHead::parse(&out[HEADER_LEN..]).unwrap();
        assert_eq!(r.status, Status::Unknown);
    }
}
