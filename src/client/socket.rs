//! The connection's socket, as its two halves: reads that end at a
//! deadline, and sends that an idle probe can wait out.
//!
//! Article: 本地调用VS远程调用 › 网络传输 (组件: RPC Channel). The one idea
//! to take away: **a read must end at a deadline, not at a quiet moment**.
//! A socket's read timeout bounds each `read` system call, not the frame:
//! a peer that sends one byte just before each timeout keeps a frame
//! "arriving" for ever, and the caller waiting behind it with it. So the
//! read half carries the moment its reader must stop, and gives each
//! `read` only the time that is left:
//!
//! ```text
//!   until = 12:00:00.300
//!   12:00:00.000  read (timeout 300 ms) ─► 1 byte
//!   12:00:00.100  read (timeout 200 ms) ─► 1 byte
//!   12:00:00.200  read (timeout 100 ms) ─► 1 byte
//!   12:00:00.300  TimedOut, though bytes kept coming: the frame is late
//! ```
//!
//! The socket's timeout is a system call to change, so it is rounded up to
//! a coarse step and changed only when the rounded value changes;
//! back-to-back calls with the same timeout then make none. (Waking up to
//! a step late is harmless: the reader checks the deadline again.)

use crate::error::RpcError;
use crate::time::Deadline;
use crate::transport::spin::SpinRead;
use crate::transport::{FrameWriter, Reserved};
use std::cell::Cell;
use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::{PoisonError, RwLock, RwLockWriteGuard, TryLockError};
use std::time::Duration;

/// The read half. Only the reader (the leader, under the connection's
/// reader lock) uses it, so the cells need no lock of their own.
pub(crate) struct ReadHalf {
    socket: TcpStream,
    /// Reads give up at this moment; set before each `read_frame`.
    until: Cell<Deadline>,
    /// The read timeout the socket has now.
    timeout_now: Cell<Option<Duration>>,
    /// Whether to poll before blocking (`ClientBuilder::read_spin`).
    spin: Cell<SpinRead>,
}

impl ReadHalf {
    pub(crate) fn new(socket: TcpStream, read_spin: Duration) -> ReadHalf {
        ReadHalf {
            socket,
            until: Cell::new(Deadline::NEVER),
            timeout_now: Cell::new(None),
            spin: Cell::new(SpinRead::new(read_spin)),
        }
    }

    /// Whether reads spin at all (`ClientBuilder::read_spin` is set).
    pub(crate) fn spins(&self) -> bool {
        self.spin.get().spins()
    }

    /// Let reads spin first, or not (see [`SpinRead::allow`]).
    pub(crate) fn allow_spin(&self, yes: bool) {
        let mut spin = self.spin.get();
        spin.allow(yes);
        self.spin.set(spin);
    }

    /// Make reads give up (with `TimedOut`) at `until`.
    pub(crate) fn read_until(&self, until: Deadline) {
        self.until.set(until);
    }

    fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        if self.timeout_now.get() != timeout {
            self.socket.set_read_timeout(timeout)?;
            self.timeout_now.set(timeout);
        }
        Ok(())
    }

    /// Whether the peer has closed its end: a pending end-of-stream, seen
    /// without blocking and without consuming a byte.
    ///
    /// Non-blocking mode belongs to the file description, which the write
    /// half shares (`try_clone` duplicates the descriptor, not the
    /// description), so a write that started meanwhile would fail with
    /// `WouldBlock`. The caller must therefore hold both the reader lock
    /// and [`Writer::idle`]. (A short read timeout instead would leave the
    /// writer alone, but Linux rounds it up to a scheduler tick or two,
    /// milliseconds added to the first call after every idle spell.)
    pub(crate) fn closed_by_peer(&self, _no_sends: &RwLockWriteGuard<'_, ()>) -> bool {
        if self.socket.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let closed = match self.socket.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        };
        // A socket stuck in non-blocking mode would fail its next write or
        // read at random: report it closed, so the connection is replaced.
        let stuck = self.socket.set_nonblocking(false).is_err();
        let mut spin = self.spin.get();
        spin.reset(); // blocking now, whatever a spinning read left it in
        self.spin.set(spin);
        stuck || closed
    }
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let wait = match self.until.get().remaining() {
                Some(left) if left.is_zero() => return Err(ErrorKind::TimedOut.into()),
                left => left.map(round_up),
            };
            self.set_timeout(wait)?;
            // Polls first with `ClientBuilder::read_spin` (off by default).
            let mut spin = self.spin.get();
            let read = spin.read(&self.socket, buf, |buf| (&self.socket).read(buf));
            self.spin.set(spin);
            match read {
                // The kernel's timer may fire a little before our deadline.
                Err(e)
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                        && !self.until.get().has_passed() => {}
                other => return other,
            }
        }
    }
}

/// Round a read timeout up to a step that grows with it (1 ms below 100 ms,
/// 10 ms below 1 s, 100 ms above): close enough for a deadline, coarse
/// enough that consecutive calls usually want the same value. Never zero,
/// which would mean "block forever".
fn round_up(d: Duration) -> Duration {
    let step = if d < Duration::from_millis(100) {
        1
    } else if d < Duration::from_secs(1) {
        10
    } else {
        100
    };
    let ms = u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX / 2);
    Duration::from_millis(ms.div_ceil(step).max(1) * step)
}

/// The write half: the batching [`FrameWriter`], plus a note of whether
/// anyone is sending right now.
pub(crate) struct Writer {
    frames: FrameWriter,
    /// Held shared by every send for as long as it runs (the writer's
    /// flushing always happens inside some thread's send); taken
    /// exclusively, never waited for, by the idle probe, which then knows
    /// that no write is in progress or can start.
    sending: RwLock<()>,
}

impl Writer {
    pub(crate) fn new(
        stream: TcpStream,
        max_outbox_bytes: usize,
        write_timeout: Duration,
    ) -> Writer {
        Writer {
            frames: FrameWriter::new(stream, max_outbox_bytes, write_timeout),
            sending: RwLock::new(()),
        }
    }

    /// Send one complete frame (see [`FrameWriter::send`]).
    pub(crate) fn send(&self, frame: &[u8]) -> Result<(), RpcError> {
        self.send_by(frame, Deadline::NEVER)
    }

    /// Send one complete frame, waiting on the server at most until
    /// `deadline` (see [`FrameWriter::send_by`]).
    pub(crate) fn send_by(&self, frame: &[u8], deadline: Deadline) -> Result<(), RpcError> {
        let _sending = self.sending.read().unwrap_or_else(PoisonError::into_inner);
        self.frames.send_by(frame, deadline)
    }

    /// Wait for room for a frame of `len` bytes, until `deadline`, and set
    /// it aside (see [`FrameWriter::reserve`]).
    pub(crate) fn reserve(&self, len: usize, deadline: Deadline) -> Result<Reserved<'_>, RpcError> {
        self.frames.reserve(len, deadline)
    }

    /// Send one complete frame in the room `room` set aside for it.
    pub(crate) fn send_reserved(
        &self,
        room: Reserved<'_>,
        frame: &[u8],
        deadline: Deadline,
    ) -> Result<(), RpcError> {
        let _sending = self.sending.read().unwrap_or_else(PoisonError::into_inner);
        room.send(frame, deadline)
    }

    /// Senders leave their frames for [`uncork`](Writer::uncork) to write
    /// (see [`FrameWriter::cork`]).
    pub(crate) fn cork(&self) {
        self.frames.cork();
    }

    /// Write what piled up since [`cork`](Writer::cork), by `deadline`.
    pub(crate) fn uncork(&self, deadline: Deadline) -> Result<(), RpcError> {
        if self.frames.uncork_if_nothing_to_write() {
            // Nobody sent meanwhile: no write, so no need to tell the
            // idle probe that one is running.
            return Ok(());
        }
        let _sending = self.sending.read().unwrap_or_else(PoisonError::into_inner);
        self.frames.uncork(deadline)
    }

    /// Proof that nobody is sending, held until dropped; `None` if someone is.
    pub(crate) fn idle(&self) -> Option<RwLockWriteGuard<'_, ()>> {
        match self.sending.try_write() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Close the socket, both ways: any blocked read or write returns.
    pub(crate) fn shutdown(&self) {
        let _ = self.frames.stream().shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::round_up;
    use std::time::Duration;

    #[test]
    fn read_timeouts_round_up_to_a_coarse_step_and_never_to_zero() {
        let ms = Duration::from_millis;
        assert_eq!(round_up(Duration::from_micros(1)), ms(1));
        assert_eq!(round_up(ms(42)), ms(42));
        assert_eq!(round_up(Duration::from_micros(41_001)), ms(42));
        assert_eq!(round_up(ms(421)), ms(430));
        assert_eq!(round_up(Duration::from_millis(9_950)), ms(10_000));
        assert!(round_up(Duration::MAX) > Duration::from_secs(1 << 40));
    }
}
