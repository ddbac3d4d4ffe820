//! [`FrameWriter`]: many threads send on one socket; the first one writes
//! what piled up, within a deadline. See the module docs of
//! [`crate::transport`].

use crate::error::RpcError;
use crate::time::{Deadline, LazyDeadline};
use crate::transport::spin::no_room_yet;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Sends frames from many threads on one socket, batching frames that are
/// ready together into one write. See the module docs.
#[derive(Debug)]
pub struct FrameWriter {
    stream: TcpStream,
    outbox: Mutex<Outbox>,
    /// Senders waiting in [`reserve`](FrameWriter::reserve) for room.
    room: Condvar,
    max_outbox_bytes: usize,
    write_timeout: Duration,
}

/// The socket's send timeout under a [`FrameWriter`]: each `write` blocks at
/// most this long, so the flusher can check its deadline between writes.
const WRITE_SLICE: Duration = Duration::from_millis(5);

/// While the writer is corked (see [`FrameWriter::cork`]), senders leave
/// their frames for the uncorker only until this many bytes wait; past it
/// a sender writes as usual. It keeps the uncorker's write small, so a
/// write that has to wait for the peer never falls to it.
const CORK_MAX: usize = 16 * 1024;

#[derive(Debug, Default)]
struct Outbox {
    /// Frames waiting for the flusher.
    pending: Vec<u8>,
    /// A second buffer, swapped with `pending` so neither is reallocated.
    spare: Vec<u8>,
    /// Someone is writing right now; just append and leave.
    flushing: bool,
    /// Someone has promised to write what piles up (see
    /// [`FrameWriter::cork`]); append and leave.
    corked: bool,
    /// Set once a write failed; every later send fails with it.
    broken: Option<RpcError>,
    /// Bytes set aside by [`FrameWriter::reserve`] for frames not yet sent.
    reserved: usize,
    /// Senders asleep in [`FrameWriter::reserve`].
    room_waiters: usize,
}

impl Outbox {
    /// Bytes waiting for the flusher, or promised to a reserved frame.
    fn queued(&self) -> usize {
        self.pending.len() + self.reserved
    }
}

/// Room for one frame in a [`FrameWriter`]'s outbox, set aside by
/// [`FrameWriter::reserve`]; [`send`](Reserved::send) uses it, and dropping
/// it unused gives it back.
#[derive(Debug)]
pub struct Reserved<'a> {
    writer: &'a FrameWriter,
    len: usize,
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
            room: Condvar::new(),
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
    /// `deadline` (or `write_timeout` after its first write that the
    /// socket did not take whole, whichever comes first): a
    /// batch written only in part leaves a broken frame on the wire, so the
    /// writer is then broken and every later send fails. So a caller never
    /// waits on a peer that does not read for longer than its own deadline.
    pub fn send_by(&self, frame: &[u8], deadline: Deadline) -> Result<(), RpcError> {
        let ob = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &ob.broken {
            return Err(e.clone());
        }
        let queued = ob.queued();
        if queued + frame.len() > self.max_outbox_bytes && queued > 0 {
            return Err(buffer_full(queued));
        }
        self.append(ob, frame, deadline)
    }

    /// Wait until a frame of `len` bytes fits in the outbox (any one frame
    /// fits an empty one), at most until `deadline`, and set its room
    /// aside. A sender that must announce its frame before sending it (a
    /// client registers the call, so the answer cannot beat it to the
    /// table) reserves first: a full outbox then delays the call, at the
    /// pace the peer reads, instead of failing it. With no deadline it
    /// does not wait: it is refused at once, as [`send_by`](Self::send_by)
    /// refuses.
    pub fn reserve(&self, len: usize, deadline: Deadline) -> Result<Reserved<'_>, RpcError> {
        let mut ob = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(e) = &ob.broken {
                return Err(e.clone());
            }
            let queued = ob.queued();
            if queued == 0 || queued + len <= self.max_outbox_bytes {
                ob.reserved += len;
                return Ok(Reserved { writer: self, len });
            }
            let wait = match deadline.remaining() {
                None => return Err(buffer_full(queued)),
                Some(left) if left.is_zero() => {
                    return Err(RpcError::deadline_exceeded(format!(
                        "the send buffer stayed full until the call's deadline ({queued} bytes waiting for a peer that reads slowly); the call was not sent"
                    )))
                }
                Some(left) => left,
            };
            ob.room_waiters += 1;
            ob = self
                .room
                .wait_timeout(ob, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            ob.room_waiters -= 1;
        }
    }

    /// Tell the senders waiting for room to look again (the flusher took
    /// the pending bytes, a reservation was given back, or the writer
    /// broke).
    fn wake_room_waiters(&self, ob: &Outbox) {
        if ob.room_waiters > 0 {
            self.room.notify_all();
        }
    }

    /// Append `frame` and write it, or leave it to whoever writes.
    fn append<'a>(
        &'a self,
        mut ob: MutexGuard<'a, Outbox>,
        frame: &[u8],
        deadline: Deadline,
    ) -> Result<(), RpcError> {
        ob.pending.extend_from_slice(frame);
        if ob.flushing {
            return Ok(()); // the flusher will pick our bytes up
        }
        if ob.corked && ob.pending.len() <= CORK_MAX {
            return Ok(()); // so will the uncorker (see `cork`)
        }
        ob.flushing = true;
        self.flush(ob, deadline)
    }

    /// Until [`uncork`](Self::uncork), senders append their frames and
    /// return without writing (up to a few KiB): the thread that corked
    /// has promised to write them all in one go. The client's reader corks
    /// while it hands out a batch of responses, so the callers it wakes,
    /// which send their next requests at once, share one write instead of
    /// one each (system calls per call, in chapter 04's performance
    /// section).
    pub fn cork(&self) {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner()).corked = true;
    }

    /// End [`cork`](Self::cork) and write what piled up meanwhile (unless a
    /// flusher is writing already, which takes it), giving up at
    /// `deadline` or after `write_timeout` as [`send_by`](Self::send_by)
    /// does.
    pub fn uncork(&self, deadline: Deadline) -> Result<(), RpcError> {
        let mut ob = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        ob.corked = false;
        if let Some(e) = &ob.broken {
            return Err(e.clone());
        }
        if ob.flushing || ob.pending.is_empty() {
            return Ok(());
        }
        ob.flushing = true;
        self.flush(ob, deadline)
    }

    /// [`uncork`](Self::uncork) if that writes nothing (nothing piled up,
    /// or a flusher takes it) and return true; otherwise change nothing and
    /// return false. Lets a caller skip what it does around a write.
    pub fn uncork_if_nothing_to_write(&self) -> bool {
        let mut ob = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        if ob.broken.is_none() && (ob.pending.is_empty() || ob.flushing) {
            ob.corked = false;
            return true;
        }
        false
    }

    /// Write until the outbox is empty, as the flusher (`flushing` is set
    /// and `ob` holds the lock).
    fn flush<'a>(
        &'a self,
        mut ob: MutexGuard<'a, Outbox>,
        deadline: Deadline,
    ) -> Result<(), RpcError> {
        // The whole flush ends by `deadline` or `write_timeout`, whichever
        // is first; the timeout counts from the first write that falls
        // short (a flush whose writes all go through reads no clock).
        let write_timeout = self.write_timeout;
        let mut limit = LazyDeadline::new(|| deadline.min(Deadline::after(write_timeout)));
        loop {
            let spare = std::mem::take(&mut ob.spare);
            let mut batch = std::mem::replace(&mut ob.pending, spare);
            self.wake_room_waiters(&ob);
            drop(ob);
            let result = write_by(&self.stream, &batch, &mut limit);
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
                self.wake_room_waiters(&ob);
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

impl Reserved<'_> {
    /// Send `frame` in the room set aside for it (see
    /// [`FrameWriter::send_by`]); it must be no longer than reserved.
    pub fn send(self, frame: &[u8], deadline: Deadline) -> Result<(), RpcError> {
        let writer = self.writer;
        let mut ob = writer.outbox.lock().unwrap_or_else(|p| p.into_inner());
        ob.reserved -= self.len;
        std::mem::forget(self); // its room is used, not given back
        if let Some(e) = &ob.broken {
            return Err(e.clone());
        }
        writer.append(ob, frame, deadline)
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let mut ob = self.writer.outbox.lock().unwrap_or_else(|p| p.into_inner());
        ob.reserved -= self.len;
        self.writer.wake_room_waiters(&ob);
    }
}

/// The refusal of a frame that does not fit: `queued` bytes are waiting.
fn buffer_full(queued: usize) -> RpcError {
    RpcError::resource_exhausted(format!(
        "send buffer full ({queued} bytes waiting): the peer is not reading fast enough"
    ))
}

/// Why [`write_by`] stopped short.
enum WriteError {
    /// The deadline passed after this many bytes.
    Stalled(usize),
    Failed(io::Error),
}
use WriteError::{Failed, Stalled};

/// Write all of `bytes`, one send-timeout slice at a time, until `limit`:
/// the sender's deadline, or `write_timeout` after the first write that
/// fell short, whichever comes first.
fn write_by(
    mut stream: &TcpStream,
    bytes: &[u8],
    limit: &mut LazyDeadline<impl Fn() -> Deadline>,
) -> Result<(), WriteError> {
    let mut off = 0;
    let mut no_room = None;
    while off < bytes.len() {
        match stream.write(&bytes[off..]) {
            Ok(0) => return Err(Failed(io::ErrorKind::WriteZero.into())),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // No room (after the send timeout, or at once while a spinning
            // reader has the socket non-blocking: then pause, not spin).
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                no_room_yet(&mut no_room)
            }
            Err(e) => return Err(Failed(e)),
        }
        if off < bytes.len() && limit.has_passed() {
            return Err(Stalled(off));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A writer over one end of a loopback connection, and the other end.
    fn pair() -> (FrameWriter, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let out = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (peer, _) = listener.accept().unwrap();
        (FrameWriter::new(out, 1 << 20, Duration::from_secs(5)), peer)
    }

    /// Whatever the peer can read without waiting.
    fn available(peer: &mut TcpStream) -> Vec<u8> {
        peer.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match peer.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        peer.set_nonblocking(false).unwrap();
        got
    }

    /// Read exactly `n` bytes, waiting for them.
    fn read_n(peer: &mut TcpStream, n: usize) -> Vec<u8> {
        peer.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = vec![0u8; n];
        peer.read_exact(&mut got).unwrap();
        got
    }

    #[test]
    fn corked_frames_wait_for_the_uncork_and_go_out_together_in_order() {
        let (w, mut peer) = pair();
        w.cork();
        w.send(b"one.").unwrap();
        w.send(b"two.").unwrap();
        w.send(b"three.").unwrap();
        // Nothing was written: a corked send only appends.
        assert!(available(&mut peer).is_empty());
        w.uncork(Deadline::NEVER).unwrap();
        assert_eq!(read_n(&mut peer, 14), b"one.two.three.");
        // Uncorked, a send writes at once again.
        w.send(b"four.").unwrap();
        assert_eq!(read_n(&mut peer, 5), b"four.");
    }

    #[test]
    fn a_corked_writer_still_writes_once_the_pile_passes_its_cap() {
        let (w, mut peer) = pair();
        w.cork();
        let big = vec![7u8; CORK_MAX];
        w.send(b"x").unwrap();
        // This one takes the pile over the cap: its sender writes it all.
        w.send(&big).unwrap();
        let got = read_n(&mut peer, 1 + CORK_MAX);
        assert_eq!(got[0], b'x');
        assert!(got[1..].iter().all(|&b| b == 7));
        w.uncork(Deadline::NEVER).unwrap();
        assert!(available(&mut peer).is_empty());
    }

    #[test]
    fn uncorking_with_nothing_piled_up_writes_nothing() {
        let (w, mut peer) = pair();
        w.cork();
        assert!(w.uncork_if_nothing_to_write());
        w.cork();
        w.send(b"y").unwrap();
        assert!(!w.uncork_if_nothing_to_write(), "a frame is waiting");
        w.uncork(Deadline::NEVER).unwrap();
        assert_eq!(read_n(&mut peer, 1), b"y");
    }
}
