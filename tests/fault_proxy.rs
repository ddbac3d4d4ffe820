//! The fault-injecting proxy of `tests/common/fault.rs` does what each of its
//! faults says, shown against a small echo server written here: what the
//! client sends through the proxy, the echo server reports (on a channel)
//! and sends back.
//!
//! No test times anything. A fault's effect is shown by what arrives and by
//! the proxy's own counters (`FaultProxy::stats`): "held" chunks for
//! `Delay`, dropped bytes for `Blackhole`, one write per byte for `Trickle`.
//! Every wait is bounded by `PATIENCE`.
//!
//! The last test is the reason such a proxy exists: it stalls a frame
//! halfway, the way a slow network does, and checks that minirpc's
//! `FrameReader` keeps the half it has across a read timeout.

mod common;

use common::fault::{Direction, Fault, FaultProxy};
use common::PATIENCE;
use minirpc::protocol::{self, FrameKind};
use minirpc::transport::{FrameReader, ReadError};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use Direction::{ClientToServer, ServerToClient};

// ---- an echo server that reports what it receives ---------------------------------

/// What the echo server saw on a connection.
#[derive(Debug)]
enum Seen {
    /// One read's worth of bytes (already sent back).
    Bytes(Vec<u8>),
    /// The connection ended after this many bytes in all.
    Closed(usize),
}

/// A TCP server on `127.0.0.1:0` that sends back every byte it reads and
/// reports each read on a channel. Dropping it stops and joins its threads.
struct Echo {
    addr: SocketAddr,
    seen: mpsc::Receiver<Seen>,
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Echo {
    fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, threads) = (Arc::clone(&stop), Arc::clone(&threads));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (stop, tx) = (Arc::clone(&stop), tx.clone());
                            let t = std::thread::spawn(move || echo(s, &stop, &tx));
                            threads.lock().unwrap().push(t);
                        }
                        // Nothing to accept yet: look again shortly.
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Echo {
            addr,
            seen,
            stop,
            threads,
            acceptor: Some(acceptor),
        }
    }

    /// The next `n` bytes the server receives (from any connection).
    fn receive(&self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + PATIENCE;
        let mut got = Vec::new();
        while got.len() < n {
            match self
                .seen
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Seen::Bytes(b)) => got.extend(b),
                Ok(Seen::Closed(total)) => {
                    panic!("the connection closed after {total} bytes; wanted {n}, got {got:?}")
                }
                Err(e) => panic!(
                    "wanted {n} bytes, got {} within {PATIENCE:?}: {e}",
                    got.len()
                ),
            }
        }
        assert_eq!(got.len(), n, "more bytes than expected: {got:?}");
        got
    }

    /// Everything the server receives until a connection closes, and the
    /// total it reported then.
    fn receive_until_closed(&self) -> (Vec<u8>, usize) {
        let deadline = Instant::now() + PATIENCE;
        let mut got = Vec::new();
        loop {
            match self
                .seen
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Seen::Bytes(b)) => got.extend(b),
                Ok(Seen::Closed(total)) => return (got, total),
                Err(e) => panic!("the connection did not close within {PATIENCE:?}: {e}"),
            }
        }
    }

    /// Assert that the server has received nothing so far.
    fn has_received_nothing(&self) {
        match self.seen.try_recv() {
            Err(TryRecvError::Empty) => {}
            other => panic!("expected nothing to have reached the server, got {other:?}"),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for t in std::mem::take(&mut *self.threads.lock().unwrap()) {
            let _ = t.join();
        }
    }
}

/// One echo connection: read (with a timeout, to notice `stop`), report,
/// send back.
fn echo(mut s: TcpStream, stop: &AtomicBool, seen: &mpsc::Sender<Seen>) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while !stop.load(Ordering::SeqCst) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                let _ = seen.send(Seen::Bytes(buf[..n].to_vec()));
                let _ = s.write_all(&buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = seen.send(Seen::Closed(total));
}

// ---- the client side -------------------------------------------------------------------

fn connect(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect_timeout(&proxy.addr(), PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    s.read_exact(&mut got)
        .unwrap_or_else(|e| panic!("expected {n} bytes back within {PATIENCE:?}: {e}"));
    got
}

/// Assert that the proxy has closed `s`: reads end (after at most what was
/// in flight) rather than time out.
fn assert_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue, // echoes that were already on their way
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the connection was not closed within {PATIENCE:?}")
            }
            Err(_) => return, // a reset is a close too
        }
    }
    panic!("the connection kept sending for {PATIENCE:?} instead of closing");
}

/// Wait (bounded) until `done` says the proxy has got that far.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `n` distinct-looking bytes.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

// ---- the faults -------------------------------------------------------------------------

#[test]
fn pass_forwards_every_byte_both_ways() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    let mut c = connect(&proxy);
    let data = pattern(100_000);
    c.write_all(&data).unwrap();
    assert_eq!(echo.receive(data.len()), data);
    assert_eq!(read_n(&mut c, data.len()), data);
    assert_eq!(proxy.stats(ClientToServer).forwarded, data.len() as u64);
    assert_eq!(proxy.stats(ServerToClient).forwarded, data.len() as u64);
}

#[test]
fn cut_after_10_bytes_delivers_exactly_10_then_closes_the_connection() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    proxy.set(ClientToServer, Fault::CutAfter(10));
    let mut c = connect(&proxy);
    let data = pattern(100);
    c.write_all(&data).unwrap();
    let (got, total) = echo.receive_until_closed();
    assert_eq!(total, 10);
    assert_eq!(got, data[..10]);
    assert_closed(&mut c);
}

#[test]
fn cut_after_counts_from_the_moment_it_is_set() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    let mut c = connect(&proxy);
    c.write_all(b"hello").unwrap();
    assert_eq!(read_n(&mut c, 5), b"hello");
    proxy.set(ClientToServer, Fault::CutAfter(3));
    c.write_all(b"0123456789").unwrap();
    let (got, total) = echo.receive_until_closed();
    assert_eq!(total, 5 + 3);
    assert_eq!(got, b"hello012");
}

#[test]
fn blackhole_reads_everything_forwards_nothing_and_keeps_the_connection_open() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    proxy.set(ClientToServer, Fault::Blackhole);
    let mut c = connect(&proxy);
    c.write_all(&pattern(50)).unwrap();
    wait_until("the proxy reads the 50 bytes", || {
        proxy.stats(ClientToServer).dropped == 50
    });
    // The proxy has read them and written nothing, so nothing can have
    // arrived: no race in this check.
    echo.has_received_nothing();
    assert_eq!(proxy.stats(ClientToServer).forwarded, 0);
    // The connection is still open: writes succeed, and a read waits
    // instead of seeing the end of the stream.
    c.write_all(b"more").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    match c.read(&mut [0u8; 16]) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("expected the read to wait on an open connection, got {other:?}"),
    }
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    wait_until("the proxy reads the 4 more bytes", || {
        proxy.stats(ClientToServer).dropped == 54
    });
    // Switched back at run time, the same connection carries bytes again
    // (the ones thrown away are gone, as on a real network).
    proxy.set(ClientToServer, Fault::Pass);
    c.write_all(b"after").unwrap();
    assert_eq!(echo.receive(5), b"after");
    assert_eq!(read_n(&mut c, 5), b"after");
}

#[test]
fn delay_holds_each_chunk_until_its_time_or_until_the_fault_changes() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    // Longer than any test runs: only a change of fault can release it.
    proxy.set(ClientToServer, Fault::Delay(Duration::from_secs(3600)));
    let mut c = connect(&proxy);
    c.write_all(b"held").unwrap();
    wait_until("the proxy holds the chunk", || {
        proxy.stats(ClientToServer).held == 1
    });
    echo.has_received_nothing();
    proxy.set(ClientToServer, Fault::Pass);
    assert_eq!(echo.receive(4), b"held");
    assert_eq!(read_n(&mut c, 4), b"held");
    assert_eq!(proxy.stats(ClientToServer).held, 0);
}

#[test]
fn a_short_delay_forwards_every_byte_intact() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    proxy.set_both(Fault::Delay(Duration::from_millis(5)));
    let mut c = connect(&proxy);
    let data = pattern(10_000);
    c.write_all(&data).unwrap();
    assert_eq!(read_n(&mut c, data.len()), data);
    assert_eq!(echo.receive(data.len()), data);
}

#[test]
fn corrupt_at_fraction_one_flips_one_byte_in_every_chunk() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    proxy.set(ClientToServer, Fault::Corrupt { fraction: 1.0 });
    let mut c = connect(&proxy);
    let data = pattern(1000);
    c.write_all(&data).unwrap();
    let got = echo.receive(data.len());
    assert_eq!(read_n(&mut c, data.len()), got, "the way back is untouched");
    let flipped: Vec<usize> = (0..data.len()).filter(|&i| got[i] != data[i]).collect();
    let stats = proxy.stats(ClientToServer);
    assert!(!flipped.is_empty(), "nothing was corrupted");
    assert_eq!(flipped.len() as u64, stats.corrupted, "one byte per chunk");
    assert_eq!(stats.corrupted, stats.writes, "every chunk");
    for i in flipped {
        assert_eq!(got[i], data[i] ^ 0xff, "byte {i} has every bit flipped");
    }
}

#[test]
fn corrupt_at_fraction_zero_changes_nothing() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    proxy.set_both(Fault::Corrupt { fraction: 0.0 });
    let mut c = connect(&proxy);
    let data = pattern(10_000);
    c.write_all(&data).unwrap();
    assert_eq!(read_n(&mut c, data.len()), data);
    assert_eq!(proxy.stats(ClientToServer).corrupted, 0);
}

/// Send 64 bytes one at a time through a proxy seeded with `seed` that
/// corrupts half the chunks; return which of them arrived changed. One byte
/// in flight at a time makes each byte its own chunk.
fn corrupted_positions(seed: u64) -> Vec<usize> {
    let echo = Echo::start();
    let proxy = FaultProxy::start_seeded(echo.addr, seed);
    proxy.set(ClientToServer, Fault::Corrupt { fraction: 0.5 });
    let mut c = connect(&proxy);
    let mut changed = Vec::new();
    for i in 0..64u8 {
        c.write_all(&[i]).unwrap();
        if read_n(&mut c, 1) != [i] {
            changed.push(usize::from(i));
        }
    }
    assert_eq!(proxy.stats(ClientToServer).writes, 64, "one chunk per byte");
    changed
}

#[test]
fn corruption_is_decided_by_the_seed() {
    let a = corrupted_positions(1);
    assert_eq!(a, corrupted_positions(1), "the same seed, the same bytes");
    assert_ne!(a, corrupted_positions(2), "another seed, other bytes");
    assert!(!a.is_empty() && a.len() < 64, "about half: {a:?}");
}

#[test]
fn trickle_delivers_every_byte_one_write_at_a_time() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    proxy.set(ClientToServer, Fault::Trickle(Duration::from_millis(1)));
    let mut c = connect(&proxy);
    let data = pattern(40);
    c.write_all(&data).unwrap();
    assert_eq!(echo.receive(data.len()), data);
    assert_eq!(read_n(&mut c, data.len()), data);
    let stats = proxy.stats(ClientToServer);
    assert_eq!((stats.forwarded, stats.writes), (40, 40));
}

#[test]
fn dropping_the_proxy_joins_every_thread_even_mid_fault() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    let live = proxy.live_threads();
    // Bytes to the server trickle with an hour between two bytes; bytes
    // back to the client are held for an hour.
    proxy.set(ClientToServer, Fault::Trickle(Duration::from_secs(3600)));
    proxy.set(ServerToClient, Fault::Delay(Duration::from_secs(3600)));
    let mut trickled = connect(&proxy);
    trickled.write_all(b"ab").unwrap();
    // "a" went through; the pump now waits its hour before "b"...
    assert_eq!(echo.receive(1), b"a");
    // ...and the echo of "a" is held on its way back.
    wait_until("the echo of \"a\" is held", || {
        proxy.stats(ServerToClient).held == 1
    });
    // A second connection, idle: its pumps wait in reads.
    let mut idle = connect(&proxy);
    wait_until("the acceptor and two pumps per connection run", || {
        live.count() == 1 + 2 * 2
    });
    drop(proxy);
    assert_eq!(live.count(), 0, "every thread of the proxy has been joined");
    // And the connections it forwarded are closed, not left hanging.
    assert_closed(&mut trickled);
    assert_closed(&mut idle);
}

// ---- what the proxy is for: a frame stalled halfway -----------------------------------

#[test]
fn a_frame_reader_keeps_a_partial_frame_across_a_read_timeout() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    let mut c = connect(&proxy);
    let mut ping = Vec::new();
    protocol::control_frame(&mut ping, FrameKind::Ping, 77);
    // A short read timeout, as the client uses to stop at a call's deadline.
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut reader = FrameReader::new(c.try_clone().unwrap(), 1024);

    // The first 10 of the 18 bytes come back; the rest are not even sent.
    c.write_all(&ping[..10]).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match reader.read_frame() {
            // Timed out: with the 10 bytes buffered, or before they came.
            Err(ReadError::TimedOut) if reader.has_buffered_bytes() => break,
            Err(ReadError::TimedOut) => {
                assert!(Instant::now() < deadline, "the 10 bytes never came back")
            }
            other => panic!("expected a timeout in the middle of the frame, got {other:?}"),
        }
    }

    // The rest arrives; the next read continues where the last one stopped.
    c.write_all(&ping[10..]).unwrap();
    let frame = loop {
        match reader.read_frame() {
            Ok(f) => break f,
            Err(ReadError::TimedOut) => {
                assert!(Instant::now() < deadline, "the frame was never completed")
            }
            Err(e) => panic!("the frame did not resume: {e:?}"),
        }
    };
    assert_eq!(frame.header.kind, FrameKind::Ping);
    assert_eq!(frame.header.request_id, 77);
    assert!(frame.body.is_empty());
    assert!(!reader.has_buffered_bytes(), "nothing left over");
}
