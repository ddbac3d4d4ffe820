//! [`FaultProxy`]: a misbehaving network between a client and a server, on
//! real sockets, for tests and network exercises.
//!
//! Article: 本地调用VS远程调用 › 远程过程调用带来的新问题 › 网络传输. The one
//! idea to take away: **a network exercise is checked against the network a
//! real program meets**: short reads, stalls, cuts and flipped bits, on
//! demand and the same way every run.
//!
//! MIT 6.824's `labrpc` tests distributed code by routing every RPC through
//! a simulated network that a test can make drop, delay or reorder
//! messages. This is the same idea one layer down: a TCP proxy on
//! `127.0.0.1:0` that the client connects to instead of the server, and that
//! forwards the bytes of each connection, in each direction, through a fault
//! the test chooses and can change at any moment. Because the sockets are
//! real, the code under test meets what a real network does to it: short
//! reads, stalls in the middle of a frame, a connection cut after some
//! bytes, a peer that accepts but never answers, flipped bits.
//!
//! ```text
//!   client ──► FaultProxy ─── client→server: Fault ───► server
//!          ◄──            ◄── server→client: Fault ────
//!
//!   Fault::Pass            forward every chunk as it is read
//!   Fault::Delay(d)        hold each chunk for d, then forward it
//!   Fault::CutAfter(n)     forward n more bytes, then close the connection
//!   Fault::Blackhole       read and discard; forward nothing, close nothing
//!   Fault::Corrupt{..}     flip one byte in a fraction of the chunks
//!   Fault::Trickle(d)      forward one byte, wait d, the next byte, ...
//! ```
//!
//! A *chunk* is what one `read` on the incoming socket returned: how TCP
//! splits a stream is up to the kernel, so a test that needs one byte per
//! chunk sends one byte and waits for its echo before sending the next.
//! A new fault applies from the next chunk; a chunk being held by `Delay`
//! or `Trickle` is released at once when the fault of its direction changes
//! (so a test can hold bytes with `Delay(a long time)` and let them go with
//! `Pass`, without waiting).
//!
//! `Corrupt` draws from a xorshift generator seeded by
//! [`FaultProxy::start_seeded`] (and by the connection's number and the
//! direction), so the same seed and the same chunks flip the same bytes.
//!
//! **Bounded.** Every socket read has a timeout ([`TICK`]) after which its
//! thread checks whether the proxy is stopping; every write has one too
//! (`PATIENCE`); the waits of `Delay` and `Trickle` end early when the proxy
//! stops. Dropping the proxy stops accepting, closes every connection it
//! forwards, and joins every thread it started; [`FaultProxy::live_threads`]
//! lets a test check that.

use super::PATIENCE;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a proxy thread blocks in a read (or between two looks for a new
/// connection) before it checks whether the proxy is stopping.
pub const TICK: Duration = Duration::from_millis(10);

/// The seed of [`FaultProxy::start`].
pub const DEFAULT_SEED: u64 = 0x6e3b_3a40;

/// One direction of every forwarded connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bytes the client sends, on their way to the server.
    ClientToServer = 0,
    /// Bytes the server sends, on their way to the client.
    ServerToClient = 1,
}

impl Direction {
    /// Both directions.
    pub const BOTH: [Direction; 2] = [Direction::ClientToServer, Direction::ServerToClient];
}

/// What the proxy does to the bytes of one direction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// Forward each chunk as soon as it is read.
    Pass,
    /// Hold each chunk for this long, then forward it. Chunks queue up
    /// behind each other, as behind a slow link.
    Delay(Duration),
    /// Forward this many more bytes on each connection (counted from when
    /// the fault was set, or from the connection's start if later), then
    /// close that connection, both ways. With 0, the connection closes when
    /// its next byte arrives.
    CutAfter(u64),
    /// Read everything and forward nothing, not even the end of the stream;
    /// keep both sockets open. The sender sees a peer that never answers.
    Blackhole,
    /// Forward every chunk, but first flip every bit of one byte (chosen at
    /// random) in this fraction of the chunks: 0.0 none, 1.0 all.
    Corrupt {
        /// The share of chunks that get a flipped byte, from 0.0 to 1.0.
        fraction: f64,
    },
    /// Forward one byte at a time, waiting this long between two bytes.
    Trickle(Duration),
}

/// Counters for one direction, over every connection the proxy forwarded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes read from the sending side.
    pub read: u64,
    /// Bytes written to the receiving side.
    pub forwarded: u64,
    /// Writes made to the receiving side (one per chunk, or one per byte
    /// when trickling).
    pub writes: u64,
    /// Bytes thrown away by `Blackhole` (or left over past a `CutAfter`).
    pub dropped: u64,
    /// Bytes flipped by `Corrupt`.
    pub corrupted: u64,
    /// Chunks being held by `Delay` right now.
    pub held: u64,
}

/// A TCP proxy that forwards each connection to a target through a fault
/// per direction. See the module docs.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// How many of a proxy's threads are running; see [`FaultProxy::live_threads`].
#[derive(Clone)]
pub struct LiveThreads(Arc<AtomicUsize>);

impl LiveThreads {
    /// Threads started and not yet finished.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

struct Shared {
    target: SocketAddr,
    seed: u64,
    control: Mutex<Control>,
    /// Signalled when a fault changes or the proxy stops.
    changed: Condvar,
    stopping: AtomicBool,
    /// Both sockets of every forwarded connection, to close them on drop.
    links: Mutex<Vec<TcpStream>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
    connections: AtomicU64,
    stats: [Counters; 2],
    live: LiveThreads,
}

struct Control {
    faults: [Fault; 2],
    /// Bumped each time a direction's fault is set.
    generation: [u64; 2],
}

#[derive(Default)]
struct Counters {
    read: AtomicU64,
    forwarded: AtomicU64,
    writes: AtomicU64,
    dropped: AtomicU64,
    corrupted: AtomicU64,
    held: AtomicU64,
}

impl FaultProxy {
    /// Start a proxy on `127.0.0.1:0` that forwards to `target`, passing
    /// every byte through until told otherwise; `Corrupt` uses
    /// [`DEFAULT_SEED`].
    pub fn start(target: SocketAddr) -> FaultProxy {
        FaultProxy::start_seeded(target, DEFAULT_SEED)
    }

    /// Like [`start`](FaultProxy::start), with the seed that decides which
    /// chunks and bytes `Corrupt` flips.
    pub fn start_seeded(target: SocketAddr, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener
            .set_nonblocking(true)
            .expect("make the proxy's listener non-blocking");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target,
            seed,
            control: Mutex::new(Control {
                faults: [Fault::Pass; 2],
                generation: [0; 2],
            }),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
            links: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
            stats: Default::default(),
            live: LiveThreads(Arc::new(AtomicUsize::new(0))),
        });
        let acceptor = spawn(&shared.live, {
            let shared = Arc::clone(&shared);
            move || accept_loop(&shared, listener)
        });
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Where the client should connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From the next chunk on, do `fault` to the bytes going `dir`, on
    /// every connection (present and future).
    ///
    /// # Panics
    /// If a `Corrupt` fraction is not between 0.0 and 1.0.
    pub fn set(&self, dir: Direction, fault: Fault) {
        if let Fault::Corrupt { fraction } = fault {
            assert!(
                (0.0..=1.0).contains(&fraction),
                "a Corrupt fraction is between 0.0 and 1.0, not {fraction}"
            );
        }
        let mut c = self.shared.control();
        c.faults[dir as usize] = fault;
        c.generation[dir as usize] += 1;
        drop(c);
        self.shared.changed.notify_all();
    }

    /// [`set`](FaultProxy::set) both directions to `fault`.
    pub fn set_both(&self, fault: Fault) {
        for dir in Direction::BOTH {
            self.set(dir, fault);
        }
    }

    /// The fault the bytes going `dir` get now.
    pub fn fault(&self, dir: Direction) -> Fault {
        self.shared.control().faults[dir as usize]
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// What the proxy has done so far to the bytes going `dir`.
    pub fn stats(&self, dir: Direction) -> Stats {
        let c = &self.shared.stats[dir as usize];
        Stats {
            read: c.read.load(Ordering::SeqCst),
            forwarded: c.forwarded.load(Ordering::SeqCst),
            writes: c.writes.load(Ordering::SeqCst),
            dropped: c.dropped.load(Ordering::SeqCst),
            corrupted: c.corrupted.load(Ordering::SeqCst),
            held: c.held.load(Ordering::SeqCst),
        }
    }

    /// A count of the proxy's running threads that outlives the proxy: zero
    /// right after the drop, because dropping joins them all.
    pub fn live_threads(&self) -> LiveThreads {
        self.shared.live.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake every Delay and Trickle wait. Taking the lock first means no
        // thread is between its check of `stopping` and its wait.
        drop(self.shared.control());
        self.shared.changed.notify_all();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        // No new connections now. Close the open ones: a write blocked on a
        // full socket fails at once instead of at its timeout.
        for s in lock(&self.shared.links).drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        let pumps = std::mem::take(&mut *lock(&self.shared.pumps));
        for p in pumps {
            let _ = p.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Start a thread counted in `live` until it returns.
fn spawn(live: &LiveThreads, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    struct Running(Arc<AtomicUsize>);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    // Counted before the thread exists, so a test never sees it missing.
    live.0.fetch_add(1, Ordering::SeqCst);
    let running = Running(Arc::clone(&live.0));
    std::thread::spawn(move || {
        let _running = running;
        f()
    })
}

/// Why a wait of `Delay` or `Trickle` ended.
#[derive(Debug, PartialEq, Eq)]
enum Woke {
    /// The time was up.
    Elapsed,
    /// The fault of this direction was set again.
    Changed,
    /// The proxy is being dropped.
    Stopping,
}

impl Shared {
    fn control(&self) -> MutexGuard<'_, Control> {
        lock(&self.control)
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn fault(&self, dir: Direction) -> (Fault, u64) {
        let c = self.control();
        (c.faults[dir as usize], c.generation[dir as usize])
    }

    /// Wait `d`, unless `dir`'s fault changes from generation `generation`
    /// or the proxy stops first.
    fn pause(&self, dir: Direction, generation: u64, d: Duration) -> Woke {
        let start = Instant::now();
        let mut c = self.control();
        loop {
            if self.stopping() {
                return Woke::Stopping;
            }
            if c.generation[dir as usize] != generation {
                return Woke::Changed;
            }
            let waited = start.elapsed();
            if waited >= d {
                return Woke::Elapsed;
            }
            c = self
                .changed
                .wait_timeout(c, d - waited)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

// ---- accepting -------------------------------------------------------------------

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    while !shared.stopping() {
        match listener.accept() {
            Ok((client, _)) => forward(shared, client),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Nothing to accept (or a passing error): look again after a
            // tick, or at once if the proxy is stopping.
            Err(_) => {
                let c = shared.control();
                if !shared.stopping() {
                    let _ = shared.changed.wait_timeout(c, TICK);
                }
            }
        }
    }
}

/// Connect `client` to the target and start its two pumps.
fn forward(shared: &Arc<Shared>, client: TcpStream) {
    let Ok(server) = TcpStream::connect_timeout(&shared.target, PATIENCE) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let conn = shared.connections.fetch_add(1, Ordering::SeqCst);
    let set_up = |s: &TcpStream| {
        // An accepted socket may inherit the listener's non-blocking mode.
        s.set_nonblocking(false)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(TICK))?;
        s.set_write_timeout(Some(PATIENCE))
    };
    let clones = (|| {
        set_up(&client)?;
        set_up(&server)?;
        std::io::Result::Ok((
            client.try_clone()?,
            server.try_clone()?,
            client.try_clone()?,
            server.try_clone()?,
        ))
    })();
    let Ok((client_w, server_w, client_keep, server_keep)) = clones else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
        return;
    };
    lock(&shared.links).extend([client_keep, server_keep]);
    let mut pumps = lock(&shared.pumps);
    for (dir, from, to) in [
        (Direction::ClientToServer, client, server_w),
        (Direction::ServerToClient, server, client_w),
    ] {
        let shared2 = Arc::clone(shared);
        pumps.push(spawn(&shared.live, move || {
            pump(&shared2, dir, conn, from, to)
        }));
    }
}

// ---- forwarding one direction ---------------------------------------------------------

/// How a pump stopped.
enum End {
    /// The sender closed its side: pass that on.
    Eof,
    /// `CutAfter` reached its count, or a socket failed: close both ways.
    Close,
    /// The proxy is being dropped; it closes the sockets.
    Stopping,
}

/// Copy `from` to `to` through the fault of `dir` until one side closes or
/// the proxy stops.
fn pump(shared: &Shared, dir: Direction, conn: u64, mut from: TcpStream, mut to: TcpStream) {
    let stats = &shared.stats[dir as usize];
    let mut rng = XorShift::new(shared.seed, 2 * conn + dir as u64);
    let mut buf = vec![0u8; 16 * 1024];
    // For CutAfter: the generation of the fault we are counting under, and
    // the bytes forwarded under it on this connection.
    let mut counting = None;
    let mut under_fault = 0u64;
    // Counted before the write, so a receiver that has the bytes never
    // finds them missing from the counters; taken back if the write fails.
    let send = |to: &mut TcpStream, bytes: &[u8]| -> bool {
        let n = bytes.len() as u64;
        stats.writes.fetch_add(1, Ordering::SeqCst);
        stats.forwarded.fetch_add(n, Ordering::SeqCst);
        if to.write_all(bytes).is_err() {
            stats.writes.fetch_sub(1, Ordering::SeqCst);
            stats.forwarded.fetch_sub(n, Ordering::SeqCst);
            return false;
        }
        true
    };
    let end = loop {
        if shared.stopping() {
            break End::Stopping;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break End::Eof,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => break End::Close,
        };
        stats.read.fetch_add(n as u64, Ordering::SeqCst);
        let (fault, generation) = shared.fault(dir);
        if counting != Some(generation) {
            counting = Some(generation);
            under_fault = 0;
        }
        let chunk = &mut buf[..n];
        let sent = match fault {
            Fault::Pass => send(&mut to, chunk),
            Fault::Delay(d) => {
                stats.held.fetch_add(1, Ordering::SeqCst);
                let woke = shared.pause(dir, generation, d);
                stats.held.fetch_sub(1, Ordering::SeqCst);
                if woke == Woke::Stopping {
                    break End::Stopping;
                }
                send(&mut to, chunk)
            }
            Fault::CutAfter(limit) => {
                let k = limit.saturating_sub(under_fault).min(n as u64) as usize;
                let sent = k == 0 || send(&mut to, &chunk[..k]);
                under_fault += k as u64;
                stats.dropped.fetch_add((n - k) as u64, Ordering::SeqCst);
                if !sent || under_fault >= limit {
                    break End::Close;
                }
                true
            }
            Fault::Blackhole => {
                stats.dropped.fetch_add(n as u64, Ordering::SeqCst);
                true
            }
            Fault::Corrupt { fraction } => {
                if rng.chance(fraction) {
                    let i = rng.below(n);
                    chunk[i] ^= 0xff;
                    stats.corrupted.fetch_add(1, Ordering::SeqCst);
                }
                send(&mut to, chunk)
            }
            Fault::Trickle(every) => {
                let mut sent = true;
                for i in 0..n {
                    if i > 0 {
                        match shared.pause(dir, generation, every) {
                            Woke::Elapsed => {}
                            // The fault changed: let the rest of this chunk go.
                            Woke::Changed => {
                                sent = send(&mut to, &chunk[i..]);
                                break;
                            }
                            Woke::Stopping => return,
                        }
                    }
                    if !send(&mut to, &chunk[i..=i]) {
                        sent = false;
                        break;
                    }
                }
                sent
            }
        };
        if !sent {
            break End::Close;
        }
    };
    match end {
        // A blackhole forwards nothing, not even the end of the stream.
        End::Eof if shared.fault(dir).0 == Fault::Blackhole => {}
        // A clean half-close: pass it on; the other direction carries on.
        End::Eof => {
            let _ = to.shutdown(Shutdown::Write);
        }
        End::Close => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
        End::Stopping => {}
    }
}

/// xorshift64 (Marsaglia), seeded through splitmix64 so that nearby seeds
/// (one per connection and direction) give unrelated sequences.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64, stream: u64) -> XorShift {
        let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x9e37_79b9_7f4a_7c15 } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True with probability `p` (always for 1.0, never for 0.0).
    fn chance(&mut self, p: f64) -> bool {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64; // in [0, 1)
        unit < p
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
