//! Transport: frames over a TCP connection.
//!
//! Article: 本地调用VS远程调用 › 网络传输, and 原理 › 建立通信. The article
//! notes any transport that moves the call id and the bytes will do; minirpc
//! uses one TCP connection per client, kept open (长连接) and shared by every
//! call. The one idea to take away: **reading and writing frames is where
//! the speed is won or lost**, because every system call and every thread
//! wake-up costs more than the work of a small call.
//!
//! ```text
//!   FrameWriter::send(frame) ─┐                      ┌─► FrameReader::read_frame()
//!   FrameWriter::send(frame) ─┼─► outbox ─► write() ═╪═► 64 KiB buffer ─► Frame
//!   FrameWriter::send(frame) ─┘   (one syscall for   │   (one read() may hold
//!                                  all that waited)  │    many frames)
//! ```
//!
//! - [`FrameReader`] reads through a buffer, so when ten small frames arrive
//!   together one `read` fetches them all. It checks the header's body
//!   length against the limit *before* reading the body, so a header that
//!   claims 4 GiB costs nothing. It is resumable: if a read times out in the
//!   middle of a frame, the bytes already read stay in the buffer and the
//!   next call continues where this one stopped.
//! - [`FrameWriter`] lets many threads send on one socket. The first sender
//!   becomes the *flusher* and writes; senders that arrive while it writes
//!   just append their frame to the outbox and return, and the flusher writes
//!   everything that piled up in its next `write`. Under load that turns 64
//!   small writes into one (the trick tarpc and Netty's write batching use);
//!   with one caller it costs nothing extra.
//! - Every socket gets `TCP_NODELAY`: the frames are already batched by the
//!   writer, so Nagle's algorithm would only add delay (up to 40 ms when it
//!   meets the peer's delayed ACK).
//!
//! # Where things are
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | `connect`, and [`ReadError`]: why no frame came |
//! | `reader.rs` | [`FrameReader`]: buffered, resumable, bounded reads; checksums checked |
//! | `writer.rs` | [`FrameWriter`]: batched writes from many threads, bounded by a deadline |
//! | `spin.rs` | reads that poll before they sleep (opt-in `read_spin`) |

mod reader;
pub(crate) mod scratch;
pub(crate) mod spin;
mod writer;

pub use reader::FrameReader;
pub use writer::{FrameWriter, Reserved};

use crate::error::RpcError;
use crate::protocol::Header;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Open a TCP connection with a timeout, trying each address `addr`
/// resolves to, and switch on `TCP_NODELAY`.
pub fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> Result<TcpStream, RpcError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| RpcError::unavailable(format!("cannot resolve address: {e}")))?
        .collect();
    let mut last = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, timeout) {
            Ok(s) => {
                s.set_nodelay(true)
                    .map_err(|e| RpcError::from_io("set TCP_NODELAY", &e))?;
                return Ok(s);
            }
            Err(e) => last = Some((a, e)),
        }
    }
    Err(match last {
        Some((a, e)) => RpcError::unavailable(format!(
            "cannot connect to {a}: {e} (is the server running? timeout was {timeout:?})"
        )),
        None => RpcError::unavailable("address resolved to nothing"),
    })
}

/// Why [`FrameReader::read_frame`] returned no frame.

#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection cleanly, between frames.
    Closed,
    /// The read timed out (or, with [`FrameReader::yield_mid_frame`], a
    /// read brought part of a frame). Any partial frame is kept; calling
    /// again resumes.
    TimedOut,
    /// The peer closed the connection in the middle of a frame.
    Truncated {
        /// Bytes of the unfinished frame that did arrive.
        got: usize,
    },
    /// The header was not a minirpc header (bad magic or version, unknown
    /// flags), or a sealed frame's checksum did not match. Frame boundaries
    /// can no longer be trusted past this point; the error says why, ready
    /// to send back to the peer before closing.
    Protocol(RpcError),
    /// Some other I/O error (connection reset, ...).
    Io(io::Error),
    /// A frame of a kind this build does not know (a newer peer's): its
    /// body has been skipped, and the connection goes on.
    UnknownKind {
        /// The kind byte.
        kind: u8,
        /// The frame's request id.
        request_id: u64,
    },
    /// The header is sound but its body is over the limit. Nothing of the
    /// body is kept: the reader skips its bytes as they arrive (costing no
    /// memory) and the next call returns the frame after it. The receiver
    /// answers this one request id and the connection goes on.
    TooLarge {
        /// The refused frame's header.
        header: Header,
        /// Why, ready to send back (`ResourceExhausted`, naming the limit).
        error: RpcError,
    },
}
