//! [`FrameWriter`]: many threads send on one socket; the first one writes
//! what piled up, within a deadline. See the module docs of
//! [`crate::transport`].

use crate::error::RpcError;
use crate::time::Deadline;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

/// Sends frames from many threads on one socket, batching frames that are
/// ready together into one write. See the module docs.
#[derive(Debug)]
pub struct FrameWriter {
    stream: TcpStream,
    outbox: Mutex<Outbox>,
    max_outbox_bytes: usize,
    write_timeout: Duration,
}

/// The socket's send timeout under a [`FrameWriter`]: each `write` blocks at
/// most this long, so the flusher can check its deadline between writes.
const WRITE_SLICE: Duration = Duration::from_millis(5);

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
    /// because the peer is not reading; a batch the peer does not take
    /// within `write_timeout` (or the sender's own deadline, see
    /// [`send_by`](Self::send_by)) breaks the writer. Sets the socket's send
    /// timeout to a short slice, so that deadline is checked as it writes.
    pub fn new(stream: TcpStream, max_outbox_bytes: usize, write_timeout: Duration) -> FrameWriter {
        let _ = stream.set_write_timeout(Some(
            WRITE_SLICE.min(write_timeout).max(Duration::from_millis(1)),
        ));
        FrameWriter {
            stream,
            outbox: Mutex::new(Outbox::default()),
            max_outbox_bytes,
            write_timeout,
        }
    }

    /// Send one complete frame (or several), giving the peer at most
    /// `write_timeout` to take the batch it goes out in.
    pub fn send(&self, frame: &[u8]) -> Result<(), RpcError> {
        self.send_by(frame, Deadline::NEVER)
    }

    /// Send one complete frame (or several, back to back).
    ///
    /// Returns once the bytes are written or handed to the thread that is
    /// writing; a later write failure marks the writer broken, and the
    /// connection's owner fails the calls that were waiting on it.
    ///
    /// If this sender ends up writing (it is the flusher), it gives up at
    /// `deadline` (or after `write_timeout`, whichever comes first): a
    /// batch written only in part leaves a broken frame on the wire, so the
    /// writer is then broken and every later send fails. So a caller never
    /// waits on a peer that does not read for longer than its own deadline.
    pub fn send_by(&self, frame: &[u8], deadline: Deadline) -> Result<(), RpcError> {
        let deadline = deadline.min(Deadline::after(self.write_timeout));
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
            let result = write_by(&self.stream, &batch, deadline);
            let len = batch.len();
            batch.clear();
            ob = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
            ob.spare = batch;
            if let Err(e) = result {
                let err = match e {
                    Stalled(n) => RpcError::unavailable(format!(
                        "the peer took only {n} of {len} bytes before the sender's deadline or write_timeout ({:?}); it is not reading, so the connection was closed",
                        self.write_timeout
                    )),
                    Failed(e) => RpcError::from_io("writing to the connection failed", &e),
                };
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

/// Why [`write_by`] stopped short.
enum WriteError {
    /// The deadline passed after this many bytes.
    Stalled(usize),
    Failed(io::Error),
}
use WriteError::{Failed, Stalled};

/// Write all of `bytes`, one send-timeout slice at a time, until `deadline`.
fn write_by(mut stream: &TcpStream, bytes: &[u8], deadline: Deadline) -> Result<(), WriteError> {
    let mut off = 0;
    while off < bytes.len() {
        match stream.write(&bytes[off..]) {
            Ok(0) => return Err(Failed(io::ErrorKind::WriteZero.into())),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            }
            Err(e) => return Err(Failed(e)),
        }
        if off < bytes.len() && deadline.has_passed() {
            return Err(Stalled(off));
        }
    }
    Ok(())
}
