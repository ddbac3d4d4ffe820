//! Spinning reads: poll the socket for a moment before sleeping on it.
//!
//! Article: 为什么要用RPC (RPC exists to be efficient) and 原理 › 网络传输.
//! The one idea to take away: **on a busy connection the next bytes are
//! usually microseconds away, and sleeping for them costs more than
//! waiting awake**. A blocking `read` that finds nothing puts the thread
//! to sleep; when the bytes come, the kernel must wake it, and on a
//! machine whose idle CPU has halted (every VM here) that wake-up costs
//! tens of microseconds, more than the whole call. Go's scheduler avoids
//! it by spinning a little before it parks a thread; this is the same
//! idea for one socket:
//!
//! ```text
//!   read ─► bytes? ─yes─► return them            (socket left non-blocking:
//!             │ no                                the next read is one syscall)
//!             ▼
//!   read again, and again ... for at most `window`
//!             │ (bare for the first 20 µs, then yielding the CPU between reads)
//!             │ still nothing
//!             ▼
//!   switch the socket to blocking ─► blocking read (sleeps, as without spinning)
//! ```
//!
//! It is off unless asked for (`ServerBuilder::read_spin`,
//! `ClientBuilder::read_spin`): a spinning reader burns up to `window` of
//! CPU every time its connection goes quiet, which buys a much faster call
//! when calls follow each other closely and is waste when they do not.
//! It spins only while a lone call waits (see [`SpinRead::allow`]), and
//! never in a process allowed one CPU. Chapter 04 measures both sides of
//! the trade (`examples/read_spin.rs`).
//!
//! Non-blocking mode belongs to the socket's file description, so while a
//! reader spins, a write on the same socket that finds no room returns
//! `WouldBlock` at once instead of waiting. Both writers (the server's
//! outbox, the client's `FrameWriter`) already treat that as "no room
//! yet", and [`no_room_yet`] makes them wait a moment before they try
//! again rather than spin on a peer that is not reading.

use std::io::{self, ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a reader polls without yielding its CPU: about one round trip
/// of a spinning pair here (p99 18 µs). After that it yields between
/// polls. Both halves were measured (chapter 04): a bare spin for the whole
/// window made two spinning ends that shared a CPU wait out each other's
/// window (460 µs a call instead of 35 µs), and yielding from the first
/// poll, on a machine busy with other work, gave the CPU away for a whole
/// scheduler slice (1.9 ms a call instead of 63 µs).
const BARE: Duration = Duration::from_micros(20);

/// How to read one socket: block at once, or spin first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpinRead {
    /// How long to poll before blocking; zero means never poll.
    window: Duration,
    /// Whether the socket is in non-blocking mode now (set by us).
    nonblocking: bool,
    /// Whether the next read may spin (see [`allow`](SpinRead::allow)).
    allowed: bool,
}

impl SpinRead {
    /// Spin for at most `window` before each blocking read (zero: never).
    /// A process allowed only one CPU never spins: whoever would send the
    /// bytes needs that very CPU, so every poll would only delay them
    /// (measured with the peer suite's pinned pass: 60 µs a call spinning,
    /// 20 µs not).
    pub(crate) fn new(window: Duration) -> SpinRead {
        SpinRead::for_cpus(window, crate::pool::allowed_cpus())
    }

    /// [`new`](SpinRead::new) for a process allowed `cpus` CPUs.
    fn for_cpus(window: Duration, cpus: usize) -> SpinRead {
        SpinRead {
            window: if cpus > 1 { window } else { Duration::ZERO },
            nonblocking: false,
            allowed: true,
        }
    }

    /// Whether this reader spins at all (a window was set).
    pub(crate) fn spins(&self) -> bool {
        !self.window.is_zero()
    }

    /// Whether reads may spin now. The owner says no while many calls are
    /// in flight: then the other threads of the process have work, and a
    /// spinning reader would hold a CPU one of them needs (measured in
    /// chapter 04: spinning at 8 callers cost a quarter of the throughput).
    /// A read that may not spin still takes what is already there without
    /// blocking, if the socket is non-blocking from an earlier spin.
    pub(crate) fn allow(&mut self, yes: bool) {
        self.allowed = yes;
    }

    /// Read into `buf` from `socket`: poll it for up to the window, then,
    /// if nothing came, put it back in blocking mode and call `blocking`
    /// (the caller's read, with its timeouts). With a zero window this is
    /// just `blocking(buf)`.
    pub(crate) fn read(
        &mut self,
        socket: &TcpStream,
        buf: &mut [u8],
        blocking: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if self.window.is_zero() {
            return blocking(buf);
        }
        if !self.nonblocking {
            if !self.allowed {
                return blocking(buf);
            }
            socket.set_nonblocking(true)?;
            self.nonblocking = true;
        }
        let mut started = None;
        loop {
            match (&*socket).read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !self.allowed {
                        break;
                    }
                    let t0 = *started.get_or_insert_with(Instant::now);
                    let spun = t0.elapsed();
                    if spun >= self.window {
                        break;
                    }
                    if spun < BARE {
                        std::hint::spin_loop();
                    } else {
                        // Past a round trip's worth, yield between polls:
                        // if the thread we wait for was woken on this very
                        // CPU, a bare spin would keep it from running
                        // until our window ends (see `BARE`).
                        std::thread::yield_now();
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Bytes, the end, or an error: the socket stays
                // non-blocking, so the next read costs one system call.
                other => return other,
            }
        }
        self.blocking(socket)?;
        blocking(buf)
    }

    /// Put the socket back in blocking mode (if we had changed it), before
    /// anything that must block on it.
    pub(crate) fn blocking(&mut self, socket: &TcpStream) -> io::Result<()> {
        if self.nonblocking {
            socket.set_nonblocking(false)?;
            self.nonblocking = false;
        }
        Ok(())
    }

    /// Forget what mode the socket is in: someone else (the client's idle
    /// probe) has changed it and put it back to blocking.
    pub(crate) fn reset(&mut self) {
        self.nonblocking = false;
    }
}

/// What a writer does each time the socket has no room: if it said so
/// twice in quick succession, a spinning reader has the socket in
/// non-blocking mode, so wait a moment before trying again instead of
/// spinning on a peer that is not reading. A blocking write that timed out
/// has waited already, so its "no room"s are a send timeout apart and it
/// never pauses. `last` is the writer's note of the previous one (start
/// it at `None`); nothing here reads the clock until a write has failed.
pub(crate) fn no_room_yet(last: &mut Option<Instant>) {
    // Half of the server's send-timeout slice: a stalled writer tries
    // about 2,000 times a second, as it would in blocking mode.
    const PAUSE: Duration = Duration::from_micros(500);
    let now = Instant::now();
    if last.is_some_and(|prev| now.saturating_duration_since(prev) < PAUSE) {
        std::thread::sleep(PAUSE);
    }
    *last = Some(Instant::now());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    /// Whether `s` is non-blocking now: a read with nothing to read says
    /// `WouldBlock` at once, where a blocking one waits out its timeout
    /// (long, so a loaded machine cannot blur the two).
    fn is_nonblocking(s: &TcpStream) -> bool {
        s.set_read_timeout(Some(Duration::from_millis(800)))
            .unwrap();
        let mut b = [0u8; 1];
        let started = Instant::now();
        let r = (&*s).read(&mut b);
        matches!(r, Err(e) if e.kind() == ErrorKind::WouldBlock)
            && started.elapsed() < Duration::from_millis(400)
    }

    #[test]
    fn bytes_already_there_are_read_and_the_socket_stays_non_blocking() {
        let (mut a, b) = pair();
        a.write_all(b"hello").unwrap();
        std::thread::sleep(Duration::from_millis(20)); // let them arrive
        let mut spin = SpinRead::for_cpus(Duration::from_millis(50), 2);
        let mut buf = [0u8; 16];
        let n = spin
            .read(&b, &mut buf, |_| panic!("no blocking read was needed"))
            .unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert!(is_nonblocking(&b));
        // Before anything that must block, the owner puts it back.
        spin.blocking(&b).unwrap();
        assert!(!is_nonblocking(&b));
    }

    #[test]
    fn after_a_quiet_window_the_read_blocks_in_blocking_mode() {
        let (_a, b) = pair();
        let mut spin = SpinRead::for_cpus(Duration::from_micros(200), 2);
        let mut buf = [0u8; 16];
        let mut blocked = false;
        let n = spin
            .read(&b, &mut buf, |_| {
                blocked = true;
                Ok(0)
            })
            .unwrap();
        assert_eq!(n, 0);
        assert!(blocked, "nothing came, so the blocking read must run");
        assert!(
            !is_nonblocking(&b),
            "a blocking read on a non-blocking socket"
        );
    }

    #[test]
    fn a_reader_told_not_to_spin_never_switches_the_socket() {
        let (_a, b) = pair();
        let mut spin = SpinRead::for_cpus(Duration::from_millis(50), 2);
        spin.allow(false);
        let mut buf = [0u8; 16];
        let mut blocked = false;
        spin.read(&b, &mut buf, |_| {
            blocked = true;
            Ok(0)
        })
        .unwrap();
        assert!(blocked);
        assert!(!is_nonblocking(&b));
        // And a zero window is plain blocking reads.
        let mut off = SpinRead::for_cpus(Duration::ZERO, 2);
        assert!(!off.spins());
        off.read(&b, &mut buf, |_| Ok(0)).unwrap();
        assert!(!is_nonblocking(&b));
    }

    #[test]
    fn a_process_with_one_cpu_never_spins() {
        assert!(!SpinRead::for_cpus(Duration::from_millis(1), 1).spins());
        assert!(SpinRead::for_cpus(Duration::from_millis(1), 2).spins());
    }

    #[test]
    fn a_writer_told_no_room_twice_at_once_pauses_before_trying_again() {
        let mut last = None;
        no_room_yet(&mut last); // the first time: nothing to compare with
        assert!(last.is_some());
        let started = Instant::now();
        no_room_yet(&mut last);
        assert!(started.elapsed() >= Duration::from_micros(500));
    }
}
