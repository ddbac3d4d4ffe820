//! A response's head (status line and headers) and how its body is framed.
//!
//! ```text
//!  HTTP/1.1 200 OK\r\n                      status line: version, code, reason
//!  Content-Type: application/json\r\n       headers, one per line
//!  Content-Length: 114\r\n                  ... or Transfer-Encoding: chunked
//!  \r\n                                     an empty line ends the head
//!  {"header":{...}}                         the body
//! ```
//!
//! A body is framed one of three ways (RFC 9112 §6.3): `Transfer-Encoding:
//! chunked` (see `chunked.rs`), `Content-Length: n`, or neither, when the
//! body runs until the server closes the connection. Every limit here is a
//! constant because no real server comes near it; the body's limit is the
//! caller's setting.

use super::chunked::read_chunk;
use super::input::{too_big, Input, Source};
use crate::error::RpcError;
use crate::time::Deadline;

/// The longest status line or header line accepted.
pub const MAX_LINE: usize = 8 * 1024;

/// The most header lines accepted in one response (or in chunked trailers).
pub const MAX_HEADERS: usize = 100;

/// The status line and headers of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The status code, e.g. 200 or 404.
    pub status: u16,
    /// The reason phrase, e.g. `"OK"` (informational only).
    pub reason: String,
    /// Every header in order, names as sent.
    pub headers: Vec<(String, String)>,
}

/// How the body after a head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection does.
    UntilClose,
    /// No body at all (204, 304, 1xx).
    Empty,
}

impl Head {
    /// The first header called `name` (case-insensitively), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How the body is framed. Two different `Content-Length`s, one that is
    /// not a number, or a transfer coding other than chunked: refused, as
    /// RFC 9112 §6.3 says, since a reader that guesses here can be made to
    /// read one response as two.
    pub fn framing(&self) -> Result<Framing, RpcError> {
        if self.status == 204 || self.status == 304 || self.status < 200 {
            return Ok(Framing::Empty);
        }
        if let Some(te) = self.header("transfer-encoding") {
            let last = te.rsplit(',').next().unwrap_or("").trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(RpcError::internal(format!(
                    "unsupported Transfer-Encoding {te:?} (only chunked is understood)"
                )));
            }
            return Ok(Framing::Chunked);
        }
        let mut length = None;
        for (_, v) in self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            let n: u64 = v
                .parse()
                .ok()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| RpcError::internal(format!("malformed Content-Length {v:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(RpcError::internal("two different Content-Length headers"));
            }
            length = Some(n);
        }
        Ok(length.map_or(Framing::UntilClose, Framing::Length))
    }
}

/// Read a head. Informational (1xx) heads are skipped: they precede the
/// real one.
pub fn read_head<S: Source>(input: &mut Input<S>, deadline: Deadline) -> Result<Head, RpcError> {
    for _ in 0..8 {
        let line = input.line(MAX_LINE, deadline, "status line")?;
        let (status, reason) = parse_status_line(&line)?;
        let headers = read_fields(input, deadline, "header")?;
        if !(100..200).contains(&status) {
            return Ok(Head {
                status,
                reason,
                headers,
            });
        }
    }
    Err(RpcError::internal(
        "more than 8 informational (1xx) responses in a row",
    ))
}

/// `HTTP/1.x NNN reason`.
fn parse_status_line(line: &[u8]) -> Result<(u16, String), RpcError> {
    let bad = || {
        RpcError::internal(format!(
            "malformed status line {:?} (expected e.g. \"HTTP/1.1 200 OK\"); is this an HTTP server?",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ))
    };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let rest = text.strip_prefix("HTTP/1.").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if minor.len() != 1 || !minor.as_bytes()[0].is_ascii_digit() {
        return Err(bad());
    }
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) || code.starts_with('0') {
        return Err(bad());
    }
    let status = code.parse().map_err(|_| bad())?;
    Ok((status, parts.next().unwrap_or("").to_owned()))
}

/// Header fields up to the empty line (also used for chunked trailers).
pub fn read_fields<S: Source>(
    input: &mut Input<S>,
    deadline: Deadline,
    what: &str,
) -> Result<Vec<(String, String)>, RpcError> {
    let mut fields = Vec::new();
    let what_line = format!("{what} line");
    loop {
        let line = input.line(MAX_LINE, deadline, &what_line)?;
        if line.is_empty() {
            return Ok(fields);
        }
        if fields.len() == MAX_HEADERS {
            return Err(RpcError::internal(format!(
                "more than {MAX_HEADERS} {what} lines; refused"
            )));
        }
        let bad = || {
            RpcError::internal(format!(
                "malformed {what} line {:?} (expected \"Name: value\")",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            ))
        };
        // A control byte (a bare CR above all) in a field line is where two
        // parsers disagree about where a header ends: refuse it, on both
        // sides (the server's own reader adds a 400 for it, request.rs).
        if let Some(at) = line
            .iter()
            .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(RpcError::internal(format!(
                "{what} line has the control byte 0x{:02x} at offset {at}; refused",
                line[at]
            )));
        }
        let text = std::str::from_utf8(&line).map_err(|_| bad())?;
        let (name, value) = text.split_once(':').ok_or_else(bad)?;
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(bad());
        }
        fields.push((name.to_owned(), value.trim().to_owned()));
    }
}

/// Read the whole body framed as `framing`, at most `max` bytes.
pub fn read_body<S: Source>(
    input: &mut Input<S>,
    framing: Framing,
    max: usize,
    deadline: Deadline,
) -> Result<Vec<u8>, RpcError> {
    let mut body = Vec::new();
    match framing {
        Framing::Empty => {}
        Framing::Length(n) => {
            if n > max as u64 {
                return Err(too_big("response body", n, max));
            }
            input.exact(n, &mut body, deadline, "response body")?;
        }
        Framing::UntilClose => input.to_end(max, &mut body, deadline, "response body")?,
        Framing::Chunked => {
            while let Some(chunk) = read_chunk(input, max - body.len(), max, deadline)? {
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn head_of(bytes: &'static [u8]) -> Result<Head, RpcError> {
        read_head(&mut Input::new(bytes), Deadline::NEVER)
    }

    fn whole(bytes: &'static [u8], max: usize) -> Result<(Head, Vec<u8>), RpcError> {
        let mut input = Input::new(bytes);
        let head = read_head(&mut input, Deadline::NEVER)?;
        let body = read_body(&mut input, head.framing()?, max, Deadline::NEVER)?;
        Ok((head, body))
    }

    #[test]
    fn a_content_length_response_is_read_whole() {
        let (h, body) = whole(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}extra",
            100,
        )
        .unwrap();
        assert_eq!((h.status, h.reason.as_str()), (200, "OK"));
        assert_eq!(h.header("Content-Type"), Some("application/json"));
        assert_eq!(body, b"{}");
    }

    #[test]
    fn a_chunked_response_with_trailers_is_read_whole() {
        // What etcd 3.4's gateway sends for an error: chunked, with a trailer.
        let (h, body) = whole(
            b"HTTP/1.1 404 Not Found\r\nTrailer: Grpc-Trailer-Content-Type\r\n\
              Transfer-Encoding: chunked\r\n\r\n6\r\n{\"a\":1\r\n1\r\n}\r\n0\r\n\
              Grpc-Trailer-Content-Type: application/grpc\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!(h.status, 404);
        assert_eq!(body, b"{\"a\":1}");
    }

    #[test]
    fn a_body_without_framing_runs_to_the_close_and_is_bounded() {
        let (_, body) = whole(b"HTTP/1.0 200 OK\r\n\r\nall of it", 100).unwrap();
        assert_eq!(body, b"all of it");
        let e = whole(b"HTTP/1.0 200 OK\r\n\r\nall of it", 4).unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
    }

    #[test]
    fn malformed_status_lines_are_refused_by_name() {
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200OK\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
            b"\r\n\r\n",
        ] {
            let e = head_of(bad).unwrap_err();
            assert_eq!(e.status, Status::Internal, "{bad:?}");
            assert!(e.message.contains("malformed status line"), "{e}");
        }
    }

    #[test]
    fn malformed_headers_are_refused_by_name() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
        ] {
            let e = head_of(bad).unwrap_err();
            assert!(e.message.contains("malformed header line"), "{e}");
        }
        let many: Vec<u8> = b"HTTP/1.1 200 OK\r\n"
            .iter()
            .copied()
            .chain((0..=MAX_HEADERS).flat_map(|i| format!("X-{i}: y\r\n").into_bytes()))
            .chain(*b"\r\n")
            .collect();
        let e = read_head(&mut Input::new(&many[..]), Deadline::NEVER).unwrap_err();
        assert!(e.message.contains("more than 100 header lines"), "{e}");
    }

    #[test]
    fn a_bare_cr_or_another_control_byte_in_a_header_is_refused() {
        // A bare CR can hide a header from one parser and not another
        // (request smuggling's shape, RFC 9112 §2.2); refuse, do not guess.
        for bad in [
            &b"HTTP/1.1 200 OK\r\nX-Note: a\rContent-Length: 5\r\n\r\nhello"[..],
            b"HTTP/1.1 200 OK\r\nX-Note: a\x00b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX-Note: a\x7fb\r\n\r\n",
        ] {
            let e = read_head(&mut Input::new(bad), Deadline::NEVER).unwrap_err();
            assert!(e.message.contains("control byte"), "{e}");
        }
        // A tab inside a value is allowed (RFC 9110 §5.5).
        let h = head_of(b"HTTP/1.1 200 OK\r\nX-Note: a\tb\r\n\r\n").unwrap();
        assert_eq!(h.header("x-note"), Some("a\tb"));
    }

    #[test]
    fn a_one_mebibyte_header_line_is_refused() {
        let mut bytes = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
        bytes.resize(bytes.len() + (1 << 20), b'a');
        bytes.extend_from_slice(b"\r\n\r\n");
        let mut input = Input::new(&bytes[..]);
        let e = read_head(&mut input, Deadline::NEVER).unwrap_err();
        assert!(e.message.contains("header line is longer than 8192"), "{e}");
        assert!(input.total_read() < 64 * 1024);
    }

    #[test]
    fn ambiguous_or_oversized_lengths_are_refused() {
        let e = whole(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            99,
        )
        .unwrap_err();
        assert!(e.message.contains("two different Content-Length"), "{e}");
        let e = whole(b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", 99).unwrap_err();
        assert!(e.message.contains("malformed Content-Length"), "{e}");
        let e = whole(
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n",
            99,
        )
        .unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
        let e = whole(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 99).unwrap_err();
        assert!(e.message.contains("unsupported Transfer-Encoding"), "{e}");
        let e = whole(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 99).unwrap_err();
        assert_eq!(e.status, Status::Unavailable, "truncated: {e}");
    }

    #[test]
    fn informational_heads_are_skipped() {
        let (h, body) = whole(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            9,
        )
        .unwrap();
        assert_eq!((h.status, body), (200, b"x".to_vec()));
    }
}
