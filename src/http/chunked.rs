//! `Transfer-Encoding: chunked`: a body sent in pieces, each with its size.
//!
//! A server that does not know how long its answer will be (etcd's watch
//! never ends) cannot send a `Content-Length`. It sends the body as chunks
//! instead: each is its size in hex on a line, the bytes, and a line end;
//! a chunk of size 0 ends the body, followed by optional trailer fields.
//! These are the first bytes of a real etcd watch:
//!
//! ```text
//!  8d\r\n                                   141 bytes follow
//!  {"result":{"header":{...},"created":true}}\n
//!  \r\n                                     end of this chunk
//!  117\r\n                                  279 bytes follow
//!  {"result":{...,"events":[{"kv":{...}}]}}\n
//!  \r\n
//!  0\r\n                                    the last chunk (when it ends)
//!  \r\n                                     no trailers
//! ```
//!
//! The one idea to take away: **the size line is a claim by the peer, so
//! check it against your limit before reading the bytes**. A size of
//! `ffffffffffff` (256 TiB) is refused from its line alone.
//! [`ChunkedReader`] hands out one chunk at a time, which is what a
//! streaming reply like the watch needs.

use super::input::{Input, Source};
use super::response::{read_fields, MAX_LINE};
use crate::error::{RpcError, Status};
use crate::time::Deadline;

/// Read one chunk: `Some(bytes)`, or `None` after the last (size 0) chunk
/// and its trailers. A chunk bigger than `room` is refused (the message
/// names `max`, the setting that `room` was derived from).
pub fn read_chunk<S: Source>(
    input: &mut Input<S>,
    room: usize,
    max: usize,
    deadline: Deadline,
) -> Result<Option<Vec<u8>>, RpcError> {
    let line = input.line(MAX_LINE, deadline, "chunk size line")?;
    let size = parse_chunk_size(&line)?;
    if size == 0 {
        read_fields(input, deadline, "trailer")?;
        return Ok(None);
    }
    if size > room as u64 {
        return Err(RpcError::new(
            Status::ResourceExhausted,
            format!(
                "a chunk of {size} bytes exceeds max_response_bytes {max} \
                 (see HttpSettings::max_response_bytes)"
            ),
        ));
    }
    let mut data = Vec::new();
    input.exact(size, &mut data, deadline, "chunk")?;
    let end = input.line(MAX_LINE, deadline, "end of a chunk")?;
    if !end.is_empty() {
        return Err(RpcError::internal(format!(
            "a chunk of {size} bytes is followed by {:?} instead of a line end \
             (the size line lied, or the stream is corrupt)",
            String::from_utf8_lossy(&end[..end.len().min(40)])
        )));
    }
    Ok(Some(data))
}

/// The size on a chunk size line: hex digits, then optional `;extensions`
/// (which nobody uses, and which are ignored).
fn parse_chunk_size(line: &[u8]) -> Result<u64, RpcError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
    let digits = digits.trim_ascii();
    let bad = || {
        RpcError::internal(format!(
            "malformed chunk size line {:?} (expected the size in hex, e.g. \"8d\")",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        ))
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    // 16 hex digits fill a u64; more cannot be a size anyone means.
    if digits.len() > 16 {
        return Err(RpcError::internal(format!(
            "chunk size of {} hex digits is too large to be real",
            digits.len()
        )));
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}

/// The chunks of one chunked body, one at a time, from a reader that owns
/// its connection (the watch's). After an error the body is broken, so
/// every later call fails too.
pub struct ChunkedReader<S> {
    input: Input<S>,
    max_chunk: usize,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Ended,
    Broken,
}

impl<S: Source> ChunkedReader<S> {
    /// Read chunks from `input` (positioned just after the head), each at
    /// most `max_chunk` bytes.
    pub fn new(input: Input<S>, max_chunk: usize) -> ChunkedReader<S> {
        ChunkedReader {
            input,
            max_chunk,
            state: State::Open,
        }
    }

    /// The next chunk, waiting until `deadline`; `None` once the body has
    /// ended cleanly.
    pub fn next_chunk(&mut self, deadline: Deadline) -> Result<Option<Vec<u8>>, RpcError> {
        match self.state {
            State::Ended => return Ok(None),
            State::Broken => {
                return Err(RpcError::unavailable(
                    "this chunked body already failed; open a new request",
                ))
            }
            State::Open => {}
        }
        let r = read_chunk(&mut self.input, self.max_chunk, self.max_chunk, deadline);
        self.state = match r {
            Ok(Some(_)) => State::Open,
            Ok(None) => State::Ended,
            Err(_) => State::Broken,
        };
        r
    }

    /// The source under the reader (e.g. its socket).
    pub fn source(&self) -> &S {
        self.input.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8]) -> ChunkedReader<&'static [u8]> {
        ChunkedReader::new(Input::new(bytes), 1024)
    }

    fn all(bytes: &'static [u8]) -> Result<Vec<Vec<u8>>, RpcError> {
        let mut r = reader(bytes);
        let mut out = Vec::new();
        while let Some(c) = r.next_chunk(Deadline::NEVER)? {
            out.push(c);
        }
        Ok(out)
    }

    #[test]
    fn chunks_come_one_at_a_time_and_end_at_size_zero() {
        let mut r = reader(b"3\r\nabc\r\nA;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nnext");
        assert_eq!(r.next_chunk(Deadline::NEVER).unwrap().unwrap(), b"abc");
        assert_eq!(
            r.next_chunk(Deadline::NEVER).unwrap().unwrap(),
            b"0123456789"
        );
        assert_eq!(r.next_chunk(Deadline::NEVER).unwrap(), None);
        assert_eq!(r.next_chunk(Deadline::NEVER).unwrap(), None, "stays ended");
    }

    #[test]
    fn a_huge_chunk_size_is_refused_from_its_line_alone() {
        let e = all(b"ffffffffffff\r\nabc").unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
        assert!(
            e.message
                .contains("281474976710655 bytes exceeds max_response_bytes 1024"),
            "{e}"
        );
        let e = all(b"ffffffffffffffffff\r\n").unwrap_err();
        assert!(e.message.contains("18 hex digits"), "{e}");
    }

    #[test]
    fn malformed_chunk_framing_is_refused_by_name() {
        for (bytes, why) in [
            (&b"zz\r\nabc\r\n"[..], "malformed chunk size line"),
            (b"\r\n", "malformed chunk size line"),
            (b"-1\r\n", "malformed chunk size line"),
            (
                b"3\r\nabcdef\r\n",
                "followed by \"def\" instead of a line end",
            ),
            (b"3\r\nab", "closed with 1 of the 3 bytes"),
            (
                b"3\r\nabc\r\n",
                "closed in the middle of the chunk size line",
            ),
            (b"0\r\nbroken trailer\r\n\r\n", "malformed trailer line"),
        ] {
            let e = all(bytes).unwrap_err();
            assert!(
                e.message.contains(why),
                "{:?}: {e}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn after_an_error_the_body_stays_broken() {
        let mut r = reader(b"zz\r\n3\r\nabc\r\n");
        assert!(r.next_chunk(Deadline::NEVER).is_err());
        let e = r.next_chunk(Deadline::NEVER).unwrap_err();
        assert!(e.message.contains("already failed"), "{e}");
    }
}
