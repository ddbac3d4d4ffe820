//! Reading a request on the server side: the head within its limits and
//! its time, then exactly the body it announced.
//!
//! ```text
//!  POST /call/Multiply HTTP/1.1\r\n         request line: method, target, version
//!  Host: localhost\r\n                      headers, one per line (read by
//!  Content-Length: 7\r\n                    response.rs's `read_fields`, the
//!  \r\n                                     client's own header parser)
//!  [10,20]                                  exactly Content-Length bytes
//! ```
//!
//! The one idea to take away: **a server decides how much it reads and
//! for how long, never the peer** (article: 对比 › RPC与HTTP; the same rule
//! as the frame deadline of 网络传输). The head is read into one buffer of at
//! most [`HttpLimits::max_head_bytes`] (past it: 431), and must be complete
//! within [`HttpLimits::header_timeout`] of its first byte (else 408) — so
//! a client sending one byte a minute cannot hold a thread for an hour.
//! The body is read only after its `Content-Length` has been checked
//! against [`HttpLimits::max_body_bytes`] (413), and must arrive within
//! [`HttpLimits::body_timeout`].
//!
//! Chunked request bodies are **refused** with 411 Length Required: every
//! client that matters can send a `Content-Length` for a JSON call, and
//! refusing keeps one framing rule, and with it no room for a request
//! smuggled between two framings (RFC 9112 §6.3, §11.2).

use super::input::{Input, Source};
use super::response::{read_fields, MAX_HEADERS};
use crate::time::Deadline;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

/// The limits a server puts on every request it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// The longest request line (method, target, version). Longer: 414.
    /// Default 8 KiB.
    pub max_request_line: usize,
    /// The largest whole head (request line and headers). Larger: 431.
    /// Default 16 KiB.
    pub max_head_bytes: usize,
    /// The largest body accepted. Larger: 413, before a byte of it is
    /// read. Default 4 MiB.
    pub max_body_bytes: usize,
    /// From the first byte of a request, the whole head must arrive within
    /// this long, or the answer is 408. Default 5 s.
    pub header_timeout: Duration,
    /// Once the head is in, the whole body must arrive within this long,
    /// or the answer is 408. Default 10 s.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_request_line: 8 * 1024,
            max_head_bytes: 16 * 1024,
            max_body_bytes: 4 << 20,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// One request, as a handler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, e.g. `"POST"` (case-sensitive, as RFC 9110 says).
    pub method: String,
    /// The request target as sent, e.g. `"/call/Multiply?x=1"`.
    pub target: String,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Every header in order, names as sent, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (empty if none was sent).
    pub body: Vec<u8>,
    /// Where the request came from (set by the server; `None` when parsed
    /// from canned bytes).
    pub peer: Option<SocketAddr>,
}

impl HttpRequest {
    /// The first header called `name` (case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string, e.g. `"/call/Multiply"`.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Whether the connection ends after this request: HTTP/1.0 unless it
    /// asked for `keep-alive`, HTTP/1.1 only if it said `close`.
    pub fn wants_close(&self) -> bool {
        let says = |word: &str| {
            self.header("connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(word)))
        };
        if self.minor_version == 0 {
            !says("keep-alive")
        } else {
            says("close")
        }
    }
}

/// A request the server refuses: the status to answer with, and why.
/// The connection is closed after the answer, since after a framing error
/// nobody knows where the next request would start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 408, 411, 413, 414, 431 or 505.
    pub status: u16,
    /// What was wrong and what to do, for the response body.
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

/// What waiting for the next request found.
#[derive(Debug)]
pub enum Next {
    /// A whole request.
    Request(HttpRequest),
    /// The peer closed, or sent nothing within the idle time: close quietly.
    Idle,
    /// A request to refuse, then close.
    Refused(Refusal),
}

/// Reads requests one after another from one connection (pipelined bytes
/// that arrive early stay in the buffer for the next call).
pub struct RequestReader<S> {
    src: S,
    buf: Vec<u8>,
}

const READ_SIZE: usize = 8 * 1024;

impl<S: Source> RequestReader<S> {
    /// A reader over `src` with nothing buffered.
    pub fn new(src: S) -> RequestReader<S> {
        RequestReader {
            src,
            buf: Vec::new(),
        }
    }

    /// The source under the reader.
    pub fn source(&self) -> &S {
        &self.src
    }

    /// More bytes into the buffer: `Ok(0)` at the end of the stream,
    /// `Err(())` when `deadline` passed first (or the socket failed).
    fn fill(&mut self, deadline: Deadline) -> Result<usize, ErrorKind> {
        let old = self.buf.len();
        self.buf.resize(old + READ_SIZE, 0);
        let r = self.src.read_by(&mut self.buf[old..], deadline);
        let n = *r.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        r.map_err(|e| e.kind())
    }

    /// Wait up to `idle` for a request to begin, then read it whole within
    /// `limits`. `before_body` runs once the head is accepted and a body is
    /// still to come (the server uses it to answer `Expect: 100-continue`).
    pub fn next(
        &mut self,
        limits: &HttpLimits,
        idle: Deadline,
        before_body: impl FnOnce(&HttpRequest),
    ) -> Next {
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        loop {
            let blank = self.buf.iter().take_while(|&&b| b == b'\r' || b == b'\n');
            let skip = blank.count();
            self.buf.drain(..skip);
            if !self.buf.is_empty() {
                break;
            }
            match self.fill(idle) {
                Ok(0) | Err(_) => return Next::Idle,
                Ok(_) => {}
            }
        }
        let head_deadline = Deadline::after(limits.header_timeout);
        let head_len = match self.head_end(limits, head_deadline) {
            Ok(n) => n,
            Err(r) => return Next::Refused(r),
        };
        let head: Vec<u8> = self.buf.drain(..head_len).collect();
        let mut req = match parse_head(&head, limits) {
            Ok(r) => r,
            Err(r) => return Next::Refused(r),
        };
        let length = match body_length(&req, limits) {
            Ok(n) => n,
            Err(r) => return Next::Refused(r),
        };
        if length > 0 {
            before_body(&req);
            match self.body(length, Deadline::after(limits.body_timeout)) {
                Ok(body) => req.body = body,
                Err(r) => return Next::Refused(r),
            }
        }
        Next::Request(req)
    }

    /// The length of the head (through its empty line), reading until it
    /// is all buffered.
    fn head_end(&mut self, limits: &HttpLimits, deadline: Deadline) -> Result<usize, Refusal> {
        let mut scanned = 0;
        loop {
            if let Some(end) = find_head_end(&self.buf, scanned) {
                return Ok(end);
            }
            // The request line alone may be checked before the head ends.
            let line_end = self.buf.iter().position(|&b| b == b'\n');
            if line_end.unwrap_or(self.buf.len()) > limits.max_request_line + 1 {
                return Err(refuse(
                    414,
                    format!(
                        "the request line is longer than {} bytes (see HttpLimits::max_request_line)",
                        limits.max_request_line
                    ),
                ));
            }
            if self.buf.len() > limits.max_head_bytes {
                return Err(head_too_large(limits));
            }
            scanned = self.buf.len().saturating_sub(3);
            match self.fill(deadline) {
                Ok(0) => {
                    return Err(refuse(
                        400,
                        "the connection closed in the middle of the request head",
                    ))
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(refuse(
                        408,
                        format!(
                            "the request head did not arrive whole within {:?} of its first byte (see HttpLimits::header_timeout)",
                            limits.header_timeout
                        ),
                    ))
                }
            }
        }
    }

    /// Exactly `n` body bytes by `deadline` (the caller checked `n`).
    fn body(&mut self, n: usize, deadline: Deadline) -> Result<Vec<u8>, Refusal> {
        while self.buf.len() < n {
            match self.fill(deadline) {
                Ok(0) => {
                    return Err(refuse(
                        400,
                        format!(
                            "the connection closed after {} of the {n} body bytes its Content-Length announced",
                            self.buf.len()
                        ),
                    ))
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(refuse(
                        408,
                        format!(
                            "only {} of the {n} body bytes its Content-Length announced arrived in time (see HttpLimits::body_timeout)",
                            self.buf.len()
                        ),
                    ))
                }
            }
        }
        Ok(self.buf.drain(..n).collect())
    }
}

fn head_too_large(limits: &HttpLimits) -> Refusal {
    refuse(
        431,
        format!(
            "the request head is larger than {} bytes or has more than {MAX_HEADERS} headers (see HttpLimits::max_head_bytes)",
            limits.max_head_bytes
        ),
    )
}

/// Where the head ends (just past `\r\n\r\n` or `\n\n`), searching from
/// `from` so a head that trickles in is not scanned again and again.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1..].starts_with(b"\n") {
                return Some(i + 2);
            }
            if buf[i + 1..].starts_with(b"\r\n") {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// The request line and headers of a whole head.
fn parse_head(head: &[u8], limits: &HttpLimits) -> Result<HttpRequest, Refusal> {
    control_bytes(head)?;
    let mut input = Input::new(head);
    let line = input
        .line(limits.max_request_line, Deadline::NEVER, "request line")
        .map_err(|e| refuse(400, e.message))?;
    let (method, target, minor_version) = parse_request_line(&line)?;
    // One line per header plus the request line and the empty line.
    if head.iter().filter(|&&b| b == b'\n').count() > MAX_HEADERS + 2 {
        return Err(head_too_large(limits));
    }
    let headers =
        read_fields(&mut input, Deadline::NEVER, "header").map_err(|e| refuse(400, e.message))?;
    Ok(HttpRequest {
        method,
        target,
        minor_version,
        headers,
        body: Vec::new(),
        peer: None,
    })
}

/// Refuse a head with a control byte anywhere but in a line ending (a tab
/// is whitespace and stays). A bare CR is the dangerous one: a proxy in
/// front that ends lines at it reads `X: a\rContent-Length: 5` as two
/// headers where this parser sees one, and the two then disagree on
/// where the next request starts (RFC 9112 §2.2, RFC 9110 §5.5).
fn control_bytes(head: &[u8]) -> Result<(), Refusal> {
    for (i, &b) in head.iter().enumerate() {
        let line_end = b == b'\n' || (b == b'\r' && head.get(i + 1) == Some(&b'\n'));
        if (b < 0x20 && b != b'\t' && !line_end) || b == 0x7f {
            return Err(refuse(
                400,
                format!(
                    "the request head has the control byte 0x{b:02x} at offset {i}, outside a line ending; send header values without CR, LF, NUL or other control characters"
                ),
            ));
        }
    }
    Ok(())
}

/// `METHOD SP request-target SP HTTP/1.x` (RFC 9112 §3).
fn parse_request_line(line: &[u8]) -> Result<(String, String, u8), Refusal> {
    let bad = || {
        refuse(
            400,
            format!(
                "malformed request line {:?} (expected e.g. \"POST /call/Multiply HTTP/1.1\")",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            ),
        )
    };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || !method.bytes().all(token) {
        return Err(bad());
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        v if v.starts_with("HTTP/") => {
            return Err(refuse(
                505,
                format!("{v} is not supported; this server speaks HTTP/1.1 and HTTP/1.0"),
            ))
        }
        _ => return Err(bad()),
    };
    Ok((method.to_owned(), target.to_owned(), minor))
}

/// How many body bytes follow this head (RFC 9112 §6.3, for requests:
/// neither header means no body).
fn body_length(req: &HttpRequest, limits: &HttpLimits) -> Result<usize, Refusal> {
    if let Some(te) = req.header("transfer-encoding") {
        if req.header("content-length").is_some() {
            return Err(refuse(
                400,
                "both Transfer-Encoding and Content-Length: refused, since the two could frame the body differently",
            ));
        }
        return Err(refuse(
            411,
            format!(
                "request bodies with Transfer-Encoding {te:?} are not accepted; send a Content-Length"
            ),
        ));
    }
    let mut length: Option<u64> = None;
    for (_, v) in req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let n = v
            .parse()
            .ok()
            .filter(|_| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| refuse(400, format!("malformed Content-Length {v:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(refuse(400, "two different Content-Length headers"));
        }
        length = Some(n);
    }
    let n = length.unwrap_or(0);
    if n > 0 && (req.method == "GET" || req.method == "HEAD") {
        return Err(refuse(
            400,
            format!(
                "a {} request carries no body here; this one announced {n} bytes",
                req.method
            ),
        ));
    }
    if n > limits.max_body_bytes as u64 {
        return Err(refuse(
            413,
            format!(
                "a body of {n} bytes is over the limit of {} (see HttpLimits::max_body_bytes)",
                limits.max_body_bytes
            ),
        ));
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &'static [u8]) -> Next {
        RequestReader::new(bytes).next(&HttpLimits::default(), Deadline::NEVER, |_| {})
    }

    fn refused(bytes: &'static [u8]) -> u16 {
        match read(bytes) {
            Next::Refused(r) => r.status,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_post_with_a_body_and_pipelined_requests_are_read_in_order() {
        let mut r = RequestReader::new(
            &b"\r\nPOST /call/Multiply?x=1 HTTP/1.1\r\nContent-Length: 7\r\n\r\n[10,20]GET / HTTP/1.0\n\n"[..],
        );
        let l = HttpLimits::default();
        let Next::Request(a) = r.next(&l, Deadline::NEVER, |_| {}) else {
            panic!("first request")
        };
        assert_eq!((a.method.as_str(), a.path()), ("POST", "/call/Multiply"));
        assert_eq!(a.body, b"[10,20]");
        assert!(!a.wants_close());
        let Next::Request(b) = r.next(&l, Deadline::NEVER, |_| {}) else {
            panic!("second request")
        };
        assert_eq!((b.method.as_str(), b.minor_version), ("GET", 0));
        assert!(
            b.wants_close(),
            "HTTP/1.0 closes unless it asks to keep alive"
        );
        assert!(matches!(r.next(&l, Deadline::NEVER, |_| {}), Next::Idle));
    }

    #[test]
    fn each_kind_of_bad_head_gets_its_status() {
        assert_eq!(refused(b"garbage\r\n\r\n"), 400);
        assert_eq!(refused(b"GET / HTTP/1.1 extra\r\n\r\n"), 400);
        assert_eq!(refused(b"GET nopath HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(refused(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(refused(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
            400
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            411
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"),
            400
        );
        assert_eq!(refused(b"POST / HTTP/1.1\r\nHost: x"), 400);
        // A bare CR, a NUL, DEL: control bytes outside a line ending.
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nX: a\rContent-Length: 5\r\n\r\nhello"),
            400
        );
        assert_eq!(refused(b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), 400);
        assert_eq!(refused(b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n"), 400);
        assert!(matches!(
            read(b"GET / HTTP/1.1\r\nX: a\tb\n\r\n"),
            Next::Request(_)
        ));
    }

    #[test]
    fn oversized_heads_and_lines_are_refused_before_they_end() {
        let mut long = b"GET /".to_vec();
        long.resize(20_000, b'a');
        let long: &'static [u8] = Vec::leak(long);
        assert_eq!(refused(long), 414);
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        while big.len() < 64 * 1024 {
            big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let big: &'static [u8] = Vec::leak(big);
        assert_eq!(refused(big), 431);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let many: &'static [u8] = Vec::leak(many);
        assert_eq!(refused(many), 431);
    }
}
