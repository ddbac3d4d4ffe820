//! Exercise ex04_read_frame (chapter 04): read one whole frame from a TCP
//! stream, however the network cuts it up.
//!
//! A frame here is a `u32` big-endian body length, then the body. TCP is a
//! stream of bytes, not of messages: one `read` may return one byte of a
//! frame, or half of it. Write `read_frame`: read until the 4 length bytes
//! are in, refuse a length over `max` with `ErrorKind::InvalidData`
//! *before* reserving anything for it, then read until the whole body is
//! in. A stream that ends inside a frame is `ErrorKind::UnexpectedEof`.
//! (The check sets a read timeout on the stream, so a silent peer ends
//! the read with an error.) So far it does one `read` and returns what it
//! got. Check it with
//! `cargo test --features exercises --test exercises -- ex04_read_frame`.

use std::io::{self, Read};
use std::net::TcpStream;

/// Read one frame's body from `stream`: at most `max` bytes.
pub fn read_frame(stream: &mut TcpStream, max: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 4 + max];
    let n = stream.read(&mut buf)?;
    buf.truncate(n);
    Ok(buf.split_off(4.min(n)))
}
