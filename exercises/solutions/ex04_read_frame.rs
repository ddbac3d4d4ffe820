//! Reference solution of ex04_read_frame: `read_exact` loops over short
//! reads, and the length is checked before the body's buffer exists.

use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;

/// Read one frame's body from `stream`: at most `max` bytes.
pub fn read_frame(stream: &mut TcpStream, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    if n > max {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("a frame of {n} bytes is over the limit of {max}"),
        ));
    }
    let mut body = vec![0u8; n];
    stream.read_exact(&mut body)?;
    Ok(body)
}
