//! Reference solution of ex14_chunked_body: a bounded line reader, the
//! size checked against the limit before the data is read, and the
//! trailers read to the empty line.

use std::io::{BufRead, Read};

/// The longest size line or trailer line read, CRLF included.
pub const MAX_LINE: usize = 1024;

/// The most trailer lines read after the last chunk.
pub const MAX_TRAILERS: usize = 64;

/// Why a chunked body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// The chunks add up to more than the limit: answer 413.
    TooLarge,
    /// The body does not follow the chunked format: answer 400, with the
    /// reason.
    Malformed(String),
}

fn malformed(why: impl Into<String>) -> BodyError {
    BodyError::Malformed(why.into())
}

/// One line without its CRLF, reading at most `MAX_LINE` bytes.
fn line(input: &mut dyn BufRead) -> Result<Vec<u8>, BodyError> {
    let mut buf = Vec::new();
    let read = input
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut buf)
        .map_err(|e| malformed(format!("reading the body failed: {e}")))?;
    if buf.last() != Some(&b'\n') {
        return Err(if read == MAX_LINE {
            malformed(format!("a line of the chunked body is longer than {MAX_LINE} bytes"))
        } else {
            malformed("the chunked body ended inside a line")
        });
    }
    buf.pop();
    if buf.pop() != Some(b'\r') {
        return Err(malformed("a line of the chunked body ends in LF without CR"));
    }
    Ok(buf)
}

/// The chunk size at the start of a size line.
fn size(line: &[u8]) -> Result<u64, BodyError> {
    let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
    if hex.is_empty() || hex.len() > 16 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(malformed(format!(
            "the chunk size {:?} is not 1 to 16 hex digits",
            String::from_utf8_lossy(&hex[..hex.len().min(32)])
        )));
    }
    let text = std::str::from_utf8(hex).map_err(|_| malformed("the chunk size is not text"))?;
    u64::from_str_radix(text, 16).map_err(|_| malformed("the chunk size does not fit a u64"))
}

/// The body's data, chunks joined, at most `max_body` bytes of it.
pub fn read_chunked_body(input: &mut dyn BufRead, max_body: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let n = size(&line(input)?)?;
        if n == 0 {
            break;
        }
        let total = (body.len() as u64).saturating_add(n);
        if total > max_body as u64 {
            return Err(BodyError::TooLarge);
        }
        let start = body.len();
        body.resize(total as usize, 0);
        input
            .read_exact(&mut body[start..])
            .map_err(|_| malformed("the chunked body ended inside a chunk"))?;
        if !line(input)?.is_empty() {
            return Err(malformed("a chunk's data is not followed by CRLF"));
        }
    }
    // Trailer lines, up to the empty line: each bounded, and their number.
    for _ in 0..=MAX_TRAILERS {
        if line(input)?.is_empty() {
            return Ok(body);
        }
    }
    Err(malformed(format!(
        "the chunked body has more than {MAX_TRAILERS} trailer lines"
    )))
}
