//! Reading a response's bytes: every read by a deadline, every line bounded.
//!
//! HTTP/1.1 is lines of text (the status line, the headers, the size of
//! each chunk) and then raw bytes. A peer decides how long a line is and
//! how slowly it arrives, so the reader must decide how long it waits
//! ([`Deadline`]) and how much it keeps (`max` on every line; callers check
//! a body's length against their limit before reading it). [`Input`] is a
//! small buffered reader that does both; [`Source`] is the byte supply
//! under it: a `TcpStream` in real use, a byte slice in the unit tests.

use crate::error::RpcError;
use crate::time::Deadline;
use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;
use std::time::Duration;

/// Somewhere bytes come from, by a deadline.
pub trait Source {
    /// Read some bytes into `buf` (0 means the end of the stream), giving
    /// up with `ErrorKind::TimedOut` once `deadline` has passed.
    fn read_by(&mut self, buf: &mut [u8], deadline: Deadline) -> io::Result<usize>;
}

/// The longest a single blocking read waits before the deadline is looked
/// at again (a socket timeout must be finite).
const SLICE: Duration = Duration::from_secs(60);

impl Source for TcpStream {
    fn read_by(&mut self, buf: &mut [u8], deadline: Deadline) -> io::Result<usize> {
        loop {
            if deadline.has_passed() {
                return Err(ErrorKind::TimedOut.into());
            }
            self.set_read_timeout(Some(deadline.remaining_capped(SLICE)))?;
            match self.read(buf) {
                // A socket timeout shows as WouldBlock on Unix, TimedOut on
                // Windows; either way, look at the deadline again.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

/// Canned bytes, for tests: never waits.
impl Source for &[u8] {
    fn read_by(&mut self, buf: &mut [u8], _deadline: Deadline) -> io::Result<usize> {
        self.read(buf)
    }
}

/// How much one read asks the source for.
const READ_SIZE: usize = 8 * 1024;

/// A buffered reader over a [`Source`] that reads lines and runs of bytes,
/// each by a deadline. It counts every byte it has taken in, so a caller
/// can bound a whole response.
pub struct Input<S> {
    src: S,
    /// Bytes read but not yet consumed are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Every byte read from the source so far.
    total: u64,
}

impl<S: Source> Input<S> {
    /// A reader with nothing buffered yet.
    pub fn new(src: S) -> Input<S> {
        Input {
            src,
            buf: Vec::new(),
            pos: 0,
            total: 0,
        }
    }

    /// Every byte read from the source so far (consumed or buffered).
    pub fn total_read(&self) -> u64 {
        self.total
    }

    /// The source (e.g. to clone the socket so another thread can close it).
    pub fn source(&self) -> &S {
        &self.src
    }

    /// Read more bytes into the buffer; `Ok(0)` at the end of the stream.
    fn fill(&mut self, deadline: Deadline, what: &str) -> Result<usize, RpcError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_SIZE, 0);
        let r = self.src.read_by(&mut self.buf[old..], deadline);
        let n = *r.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n);
        self.total += n as u64;
        r.map_err(|e| io_error(&e, what))
    }

    /// One line, without its `\r\n` (a bare `\n` is accepted too, as
    /// RFC 9112 §2.2 allows). Longer than `max` bytes: refused, without
    /// reading the rest. The stream ends first: `Unavailable`.
    pub fn line(
        &mut self,
        max: usize,
        deadline: Deadline,
        what: &str,
    ) -> Result<Vec<u8>, RpcError> {
        let mut scanned = 0;
        loop {
            let unread = &self.buf[self.pos..];
            if let Some(i) = unread[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + i;
                let mut line = unread[..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.pos += end + 1;
                if line.len() > max {
                    return Err(too_long(what, max));
                }
                return Ok(line);
            }
            scanned = unread.len();
            if scanned > max {
                return Err(too_long(what, max));
            }
            if self.fill(deadline, what)? == 0 {
                return Err(RpcError::unavailable(format!(
                    "the connection closed in the middle of the {what} (after {} bytes of response)",
                    self.total
                )));
            }
        }
    }

    /// Exactly `n` more bytes, appended to `out`. The caller has already
    /// checked `n` against its limit; `out` still grows only as bytes
    /// arrive, so a peer that claims much and sends little costs little.
    pub fn exact(
        &mut self,
        n: u64,
        out: &mut Vec<u8>,
        deadline: Deadline,
        what: &str,
    ) -> Result<(), RpcError> {
        let mut left = n;
        while left > 0 {
            if self.pos == self.buf.len() && self.fill(deadline, what)? == 0 {
                return Err(RpcError::unavailable(format!(
                    "the connection closed with {left} of the {n} bytes of the {what} still to come"
                )));
            }
            let take = (self.buf.len() - self.pos).min(usize::try_from(left).unwrap_or(usize::MAX));
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take as u64;
        }
        Ok(())
    }

    /// Everything up to the end of the stream, appended to `out`; more than
    /// `max` bytes in all: refused.
    pub fn to_end(
        &mut self,
        max: usize,
        out: &mut Vec<u8>,
        deadline: Deadline,
        what: &str,
    ) -> Result<(), RpcError> {
        loop {
            out.extend_from_slice(&self.buf[self.pos..]);
            self.pos = self.buf.len();
            if out.len() > max {
                return Err(too_big(what, out.len() as u64, max));
            }
            if self.fill(deadline, what)? == 0 {
                return Ok(());
            }
        }
    }
}

/// An I/O failure while reading `what`, as an error a caller can act on.
pub fn io_error(e: &io::Error, what: &str) -> RpcError {
    match e.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            RpcError::deadline_exceeded(format!("no answer in time while reading the {what}"))
        }
        _ => RpcError::unavailable(format!("reading the {what} failed: {e}")),
    }
}

fn too_long(what: &str, max: usize) -> RpcError {
    RpcError::internal(format!(
        "the {what} is longer than {max} bytes, which no sane server sends; refused"
    ))
}

/// A body (or chunk) of `len` bytes over the `max` a caller allows.
pub fn too_big(what: &str, len: u64, max: usize) -> RpcError {
    RpcError::new(
        crate::Status::ResourceExhausted,
        format!(
            "the {what} of {len} bytes or more exceeds max_response_bytes {max} \
             (see HttpSettings::max_response_bytes)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn input(bytes: &'static [u8]) -> Input<&'static [u8]> {
        Input::new(bytes)
    }

    #[test]
    fn lines_end_at_crlf_or_lf_and_bytes_follow() {
        let mut i = input(b"one\r\ntwo\nrest-of-it");
        let d = Deadline::NEVER;
        assert_eq!(i.line(10, d, "line").unwrap(), b"one");
        assert_eq!(i.line(10, d, "line").unwrap(), b"two");
        let mut out = Vec::new();
        i.exact(4, &mut out, d, "body").unwrap();
        assert_eq!(out, b"rest");
        out.clear();
        i.to_end(100, &mut out, d, "body").unwrap();
        assert_eq!(out, b"-of-it");
        assert_eq!(i.total_read(), 19);
    }

    #[test]
    fn a_line_past_its_bound_is_refused_before_the_rest_is_read() {
        let long: &'static [u8] = Vec::leak(vec![b'x'; 1 << 20]);
        let mut i = input(long);
        let e = i.line(8192, Deadline::NEVER, "header line").unwrap_err();
        assert_eq!(e.status, Status::Internal);
        assert!(e.message.contains("header line is longer than 8192"), "{e}");
        assert!(i.total_read() < 64 * 1024, "read {} bytes", i.total_read());
    }

    #[test]
    fn a_stream_that_ends_early_says_how_far_it_got() {
        let e = input(b"HTTP/1.1 200")
            .line(100, Deadline::NEVER, "status line")
            .unwrap_err();
        assert_eq!(e.status, Status::Unavailable);
        assert!(
            e.message
                .contains("closed in the middle of the status line"),
            "{e}"
        );
        let mut out = Vec::new();
        let e = input(b"abc")
            .exact(10, &mut out, Deadline::NEVER, "body")
            .unwrap_err();
        assert!(e.message.contains("7 of the 10 bytes of the body"), "{e}");
        let e = input(b"abcdef")
            .to_end(4, &mut out, Deadline::NEVER, "body")
            .unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
    }
}
