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

use crate::error::RpcError;
use crate::protocol::{Frame, Header, HEADER_LEN};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
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
    /// The read timed out. Any partial frame is kept; calling again resumes.
    TimedOut,
    /// The peer closed the connection in the middle of a frame.
    Truncated {
        /// Bytes of the unfinished frame that did arrive.
        got: usize,
    },
    /// The header was not a minirpc header (bad magic, version or kind), or
    /// claimed a body over the limit. The connection cannot be trusted past
    /// this point; the error says why, ready to send back to the peer.
    Protocol(RpcError),
    /// Some other I/O error (connection reset, ...).
    Io(io::Error),
}

/// Reads frames from a stream through a buffer. See the module docs.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes `buf[start..end]` have been read but not yet returned.
    start: usize,
    end: usize,
    max_frame_bytes: usize,
}

/// How much one `read` asks the kernel for.
const READ_CHUNK: usize = 64 * 1024;

impl<R: Read> FrameReader<R> {
    /// A reader that refuses bodies over `max_frame_bytes`.
    pub fn new(inner: R, max_frame_bytes: usize) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            max_frame_bytes,
        }
    }

    /// The stream underneath (e.g. to change its read timeout).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Whether any unread bytes are buffered.
    pub fn has_buffered_bytes(&self) -> bool {
        self.end > self.start
    }

    /// Whether a whole frame is already buffered, so the next
    /// [`read_frame`](Self::read_frame) will not block.
    pub fn has_buffered_frame(&self) -> bool {
        let avail = self.end - self.start;
        if avail < HEADER_LEN {
            return false;
        }
        let len = u32::from_be_bytes(
            self.buf[self.start + 14..self.start + 18]
                .try_into()
                .unwrap(),
        );
        avail >= HEADER_LEN + len as usize
    }

    /// Whether some bytes of an unfinished frame are buffered: a read that
    /// timed out stopped in the middle of a frame, and the next
    /// [`read_frame`](Self::read_frame) will resume it.
    pub fn mid_frame(&self) -> bool {
        let mut at = self.start;
        while self.end - at >= HEADER_LEN {
            let len = u32::from_be_bytes(self.buf[at + 14..at + 18].try_into().unwrap()) as usize;
            if self.end - at - HEADER_LEN < len {
                return true;
            }
            at += HEADER_LEN + len;
        }
        at < self.end
    }

    /// Read the next frame.
    pub fn read_frame(&mut self) -> Result<Frame, ReadError> {
        self.fill_to(HEADER_LEN)?;
        let header_bytes: &[u8; HEADER_LEN] = self.buf[self.start..self.start + HEADER_LEN]
            .try_into()
            .unwrap();
        let header = Header::parse(header_bytes).map_err(ReadError::Protocol)?;
        let body_len = header.body_len as usize;
        // The check that keeps a 4 GiB claim from costing 4 GiB: done on the
        // header alone, before the body is read or any room made for it.
        if body_len > self.max_frame_bytes {
            return Err(ReadError::Protocol(RpcError::resource_exhausted(format!(
                "frame of {body_len} bytes exceeds max_frame_bytes {} (see ServerBuilder::max_frame_bytes / ClientBuilder::max_frame_bytes)",
                self.max_frame_bytes
            ))));
        }
        self.fill_to(HEADER_LEN + body_len)?;
        let body_start = self.start + HEADER_LEN;
        let body = self.buf[body_start..body_start + body_len].to_vec();
        self.start = body_start + body_len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(Frame { header, body })
    }

    /// Make sure at least `n` unread bytes are buffered.
    fn fill_to(&mut self, n: usize) -> Result<(), ReadError> {
        if self.end - self.start >= n {
            return Ok(());
        }
        // Move the unread tail to the front, and grow only if one frame needs
        // more room than we have (bounded by max_frame_bytes + HEADER_LEN).
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        while self.end < n {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) if self.end == 0 => return Err(ReadError::Closed),
                Ok(0) => return Err(ReadError::Truncated { got: self.end }),
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(ReadError::TimedOut)
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        // Give a big frame's memory back once it has been read.
        if self.buf.len() > 4 * READ_CHUNK && n <= READ_CHUNK {
            self.buf.truncate(READ_CHUNK.max(self.end));
            self.buf.shrink_to_fit();
        }
        Ok(())
    }
}

/// Sends frames from many threads on one socket, batching frames that are
/// ready together into one write. See the module docs.
#[derive(Debug)]
pub struct FrameWriter {
    stream: TcpStream,
    outbox: Mutex<Outbox>,
    max_outbox_bytes: usize,
}

#[derive(Debug, Default)]
struct Outbox {
    /// Frames waiting for the flusher.
    pending: Vec<u8>,
    /// A second buffer, swapped with `pending` so neither is reallocated.
    spare: Vec<u8>,
    /// Someone is writing right now; just append and leave.
    flushing: bool,
    /// Set once a write failed; every later send fails with it.
    broken: Option<RpcError>,
}

impl FrameWriter {
    /// A writer over `stream`. A sender finds the outbox full (and gets
    /// `ResourceExhausted`) when more than `max_outbox_bytes` are waiting
    /// because the peer is not reading.
    pub fn new(stream: TcpStream, max_outbox_bytes: usize) -> FrameWriter {
        FrameWriter {
            stream,
            outbox: Mutex::new(Outbox::default()),
            max_outbox_bytes,
        }
    }

    /// Send one complete frame (or several, back to back).
    ///
    /// Returns once the bytes are written or handed to the thread that is
    /// writing; a later write failure marks the writer broken, and the
    /// connection's owner fails the calls that were waiting on it.
    pub fn send(&self, frame: &[u8]) -> Result<(), RpcError> {
        let mut ob = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &ob.broken {
            return Err(e.clone());
        }
        if ob.pending.len() + frame.len() > self.max_outbox_bytes && !ob.pending.is_empty() {
            return Err(RpcError::resource_exhausted(format!(
                "send buffer full ({} bytes waiting): the peer is not reading fast enough",
                ob.pending.len()
            )));
        }
        ob.pending.extend_from_slice(frame);
        if ob.flushing {
            return Ok(()); // the flusher will pick our bytes up
        }
        ob.flushing = true;
        loop {
            let spare = std::mem::take(&mut ob.spare);
            let mut batch = std::mem::replace(&mut ob.pending, spare);
            drop(ob);
            let result = (&self.stream).write_all(&batch);
            batch.clear();
            ob = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            ob.spare = batch;
            if let Err(e) = result {
                let err = RpcError::from_io("writing to the connection failed", &e);
                ob.broken = Some(err.clone());
                ob.flushing = false;
                ob.pending.clear();
                drop(ob);
                let _ = self.stream.shutdown(Shutdown::Both);
                return Err(err);
            }
            if ob.pending.is_empty() {
                ob.flushing = false;
                return Ok(());
            }
        }
    }

    /// The socket underneath.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecId;
    use crate::protocol::{control_frame, FrameKind};

    #[test]
    fn reads_frames_split_and_joined_arbitrarily() {
        let mut bytes = Vec::new();
        for id in 1..=3 {
            control_frame(&mut bytes, FrameKind::Ping, id);
        }
        // A reader that returns one byte per read: the worst split there is.
        struct OneByte(Vec<u8>, usize);
        impl Read for OneByte {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1 == self.0.len() {
                    return Ok(0);
                }
                out[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let mut r = FrameReader::new(OneByte(bytes, 0), 1024);
        for id in 1..=3 {
            assert_eq!(r.read_frame().unwrap().header.request_id, id);
        }
        assert!(matches!(r.read_frame(), Err(ReadError::Closed)));
    }

    #[test]
    fn a_header_claiming_4_gib_is_refused_before_reading_the_body() {
        let mut bytes = Vec::new();
        let start =
            crate::protocol::begin_frame(&mut bytes, FrameKind::Request, CodecId::Binary, 1);
        let _ = start;
        bytes[14..18].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut r = FrameReader::new(&bytes[..], 4 << 20);
        match r.read_frame() {
            Err(ReadError::Protocol(e)) => {
                assert!(e.message.contains("4294967295"), "{e}");
                assert!(e.message.contains("max_frame_bytes"), "{e}");
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn eof_in_the_middle_of_a_frame_is_truncated() {
        let mut bytes = Vec::new();
        control_frame(&mut bytes, FrameKind::Ping, 1);
        let mut r = FrameReader::new(&bytes[..10], 1024);
        assert!(matches!(
            r.read_frame(),
            Err(ReadError::Truncated { got: 10 })
        ));
    }
}
