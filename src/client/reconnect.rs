//! Keeping a connection: the slot that holds it, and when to try again.
//!
//! Article: 原理 › 组件 (RPC Connector: "负责维持客户方和服务方的连接通道").
//! The one idea to take away: **reconnecting is shared work with its own
//! clock**. One caller makes the attempt, outside every lock; the others
//! wait for its outcome, each no longer than its own deadline. And failed
//! attempts space themselves out (backoff), so a server that is down or
//! full is not flooded with connections:
//!
//! ```text
//!   call ─► slot: live connection? ──yes──► use it
//!                │ no
//!                ├─ an attempt is under way ─► wait for it (up to my deadline)
//!                ├─ too soon after the last attempt ─► fail fast, say when
//!                └─ else: I attempt (outside the lock) ─► publish, wake the waiters
//! ```
//!
//! The backoff is gRPC's (its connection-backoff spec): each attempt waits
//! 1.6 times longer than the one before, up to a maximum, with ±20 %
//! random jitter so that many clients of a restarted server do not all
//! come back at the same instant. It restarts from the minimum only once a
//! connection has proved good, by answering a call. A TCP connect alone
//! proves nothing: a server at its connection limit accepts, sends an error
//! and closes (see `docs/protocol.md`), and a client that took the accept
//! for success would reconnect at once, again and again.

use super::conn::Connection;
use crate::error::RpcError;
use crate::sync::lock;
use crate::time::Deadline;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Each delay is the last one times this (gRPC's `MULTIPLIER`).
const MULTIPLIER: f64 = 1.6;
/// Each delay is moved by up to this fraction, either way (gRPC's `JITTER`).
const JITTER: f64 = 0.2;
/// The longest a caller sleeps on an attempt before looking again, when its
/// own wait has no end.
const NAP: Duration = Duration::from_secs(60);

/// When the next connection attempt may start.
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    /// The delay the next attempt will start, before jitter.
    delay: Duration,
    next_attempt: Deadline,
    rng: XorShift,
}

impl Backoff {
    /// A schedule that allows an attempt at `now`. `seed` fixes the jitter
    /// (tests); [`Backoff::random_seed`] gives a different one per client.
    pub(crate) fn new(min: Duration, max: Duration, seed: u64, now: Instant) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            delay: min,
            next_attempt: Deadline::at(now),
            rng: XorShift::new(seed),
        }
    }

    /// A seed that differs between clients and runs: std's `RandomState`
    /// is seeded from the operating system's randomness.
    pub(crate) fn random_seed() -> u64 {
        RandomState::new().hash_one(0u8)
    }

    /// How long until an attempt may start, or `None` if one may now.
    pub(crate) fn wait_left(&self, now: Instant) -> Option<Duration> {
        match self.next_attempt.instant() {
            Some(at) if at <= now => None,
            Some(at) => Some(at - now),
            None => Some(Duration::MAX),
        }
    }

    /// An attempt starts at `now`: the next may start one (jittered) delay
    /// later, whatever this one's outcome. Returns that delay.
    pub(crate) fn attempt_started(&mut self, now: Instant) -> Duration {
        let spread = 1.0 + JITTER * (2.0 * self.rng.next_unit() - 1.0);
        let wait = scale(self.delay, spread);
        self.next_attempt = Deadline::from_instant(now, wait);
        self.delay = scale(self.delay, MULTIPLIER).min(self.max);
        wait
    }

    /// A connection proved good: the next attempt, if one is ever needed,
    /// may start at once, and the delays start again from the minimum.
    pub(crate) fn reset(&mut self, now: Instant) {
        self.delay = self.min;
        self.next_attempt = Deadline::at(now);
    }
}

/// `d × factor`, saturating instead of panicking.
fn scale(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// xorshift64* (Vigna): a few lines of arithmetic, plenty random for
/// spreading reconnects (not for anything secret).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed | 1) // the state must never be zero
    }

    /// A number in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The client's current connection, and the reconnect schedule.
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    /// Signalled when an attempt ends.
    attempt_done: Condvar,
}

struct SlotState {
    conn: Option<Arc<Connection>>,
    /// A caller is connecting right now (outside the lock).
    attempting: bool,
    backoff: Backoff,
    /// Why the last connection failed or could not be made.
    last_error: Option<RpcError>,
}

/// What to do, decided under the slot lock.
enum Next {
    Use(Arc<Connection>),
    Retire(Arc<Connection>),
    Attempt(Duration),
}

/// "An attempt is under way", set by the caller making it and cleared, with
/// the waiters woken, however the attempt ends.
struct Attempting<'a>(&'a Slot);

impl Drop for Attempting<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).attempting = false;
        self.0.attempt_done.notify_all();
    }
}

impl Slot {
    /// A slot holding `conn`, made by an attempt that `backoff` has seen.
    pub(crate) fn new(conn: Arc<Connection>, backoff: Backoff) -> Slot {
        Slot {
            state: Mutex::new(SlotState {
                conn: Some(conn),
                attempting: false,
                backoff,
                last_error: None,
            }),
            attempt_done: Condvar::new(),
        }
    }

    /// The current connection, whatever its health.
    pub(crate) fn current(&self) -> Option<Arc<Connection>> {
        lock(&self.state).conn.clone()
    }

    /// Empty the slot (the client is going away).
    pub(crate) fn take(&self) -> Option<Arc<Connection>> {
        lock(&self.state).conn.take()
    }

    /// A live connection: the current one, or a new one made with `open`
    /// (given the time it may take), within `deadline`. While the server
    /// stays unreachable, calls fail fast with the last error and the time
    /// of the next attempt.
    pub(crate) fn connection(
        &self,
        deadline: Deadline,
        server: SocketAddr,
        open: impl FnOnce(Duration) -> Result<Arc<Connection>, RpcError>,
    ) -> Result<Arc<Connection>, RpcError> {
        if let Some(c) = self.current() {
            if c.is_usable() {
                return Ok(c);
            }
        }
        loop {
            match self.next_step(deadline, server)? {
                Next::Use(c) => return Ok(c),
                // Closing joins its background thread: never under our lock.
                Next::Retire(old) => old.close(),
                Next::Attempt(wait) => return self.attempt(deadline, wait, open),
            }
        }
    }

    fn next_step(&self, deadline: Deadline, server: SocketAddr) -> Result<Next, RpcError> {
        let mut s = lock(&self.state);
        loop {
            if let Some(c) = s.conn.take() {
                if !c.is_broken() {
                    s.conn = Some(Arc::clone(&c));
                    return Ok(Next::Use(c)); // another caller reconnected
                }
                if c.proven() {
                    s.backoff.reset(Instant::now());
                }
                s.last_error = c.broken_error();
                return Ok(Next::Retire(c));
            }
            if deadline.has_passed() {
                return Err(RpcError::deadline_exceeded(format!(
                    "the call's timeout passed while the client was reconnecting to {server}"
                )));
            }
            if s.attempting {
                s = self.wait_for_attempt(s, deadline);
                continue;
            }
            let now = Instant::now();
            if let Some(left) = s.backoff.wait_left(now) {
                let last = s.last_error.as_ref().map_or("", |e| e.message.as_str());
                return Err(RpcError::unavailable(format!(
                    "server {server} is unavailable ({last}); next reconnect attempt in {left:?}"
                )));
            }
            s.attempting = true;
            return Ok(Next::Attempt(s.backoff.attempt_started(now)));
        }
    }

    fn wait_for_attempt<'a>(
        &'a self,
        s: MutexGuard<'a, SlotState>,
        deadline: Deadline,
    ) -> MutexGuard<'a, SlotState> {
        self.attempt_done
            .wait_timeout(s, deadline.remaining_capped(NAP))
            .unwrap_or_else(|p| p.into_inner())
            .0
    }

    /// Connect, outside the lock, for no longer than the caller's deadline
    /// allows; publish the outcome. `wait` is the backoff until the next
    /// attempt may start.
    fn attempt(
        &self,
        deadline: Deadline,
        wait: Duration,
        open: impl FnOnce(Duration) -> Result<Arc<Connection>, RpcError>,
    ) -> Result<Arc<Connection>, RpcError> {
        let attempting = Attempting(self);
        let timeout = deadline.remaining_capped(Duration::MAX);
        let result = open(timeout);
        let mut s = lock(&self.state);
        let outcome = match result {
            Ok(c) => {
                s.last_error = None;
                s.conn = Some(Arc::clone(&c));
                Ok(c)
            }
            Err(e) => {
                s.last_error = Some(e.clone());
                Err(RpcError::unavailable(format!(
                    "{}; retrying no sooner than {wait:?} from now",
                    e.message
                )))
            }
        };
        drop(s);
        drop(attempting);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn each_delay_is_1_6_times_the_last_within_20_percent_up_to_the_max() {
        let t0 = Instant::now();
        let mut b = Backoff::new(100 * MS, 1000 * MS, 42, t0);
        let mut base = 100.0;
        for _ in 0..10 {
            let d = b.attempt_started(t0).as_secs_f64() * 1000.0;
            assert!(
                d >= base * 0.8 - 1e-6 && d <= base * 1.2 + 1e-6,
                "{d} vs {base}"
            );
            base = (base * 1.6).min(1000.0);
        }
    }

    #[test]
    fn the_jitter_spreads_delays_instead_of_repeating_one() {
        let t0 = Instant::now();
        let delays: Vec<Duration> = (0..20)
            .map(|seed| Backoff::new(1000 * MS, 1000 * MS, seed, t0).attempt_started(t0))
            .collect();
        let (lo, hi) = (delays.iter().min().unwrap(), delays.iter().max().unwrap());
        assert!(*hi - *lo > 100 * MS, "{delays:?}");
    }

    #[test]
    fn no_attempt_before_the_delay_and_one_at_once_after_a_reset() {
        let t0 = Instant::now();
        let mut b = Backoff::new(100 * MS, 1000 * MS, 7, t0);
        assert_eq!(b.wait_left(t0), None);
        let d = b.attempt_started(t0);
        assert!(b.wait_left(t0).is_some());
        assert!(b.wait_left(t0 + d - MS).is_some());
        assert_eq!(b.wait_left(t0 + d), None);
        b.attempt_started(t0 + d);
        b.reset(t0 + d);
        assert_eq!(b.wait_left(t0 + d), None);
        let again = b.attempt_started(t0 + d);
        assert!(again <= 120 * MS, "{again:?}");
    }

    #[test]
    fn huge_delays_saturate_instead_of_panicking() {
        let t0 = Instant::now();
        let mut b = Backoff::new(Duration::MAX, Duration::MAX, 1, t0);
        b.attempt_started(t0);
        b.attempt_started(t0);
        assert!(b.wait_left(t0).is_some());
    }
}
