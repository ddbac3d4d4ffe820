//! Time: one `Deadline` type for every timeout that becomes an instant.
//!
//! Article: 远程过程调用带来的新问题 (a remote call can take forever, so
//! every wait needs an end). The one idea to take away: **turn a timeout
//! into a deadline once, at the edge, and pass the deadline down**. A
//! relative timeout re-applied at every step (connect 5 s, then write 5 s,
//! then read 5 s) lets one call take the sum; a deadline computed once
//! bounds the whole call, whatever it does on the way.
//!
//! `Instant::now() + timeout` panics when the timeout is huge
//! (`Duration::MAX`, "wait forever"). [`Deadline::after`] saturates
//! instead: a timeout too large to represent is simply no deadline.
//!
//! ```
//! use minirpc::time::Deadline;
//! use std::time::Duration;
//!
//! let forever = Deadline::after(Duration::MAX); // no panic
//! assert!(forever.is_never());
//! let soon = Deadline::after(Duration::from_millis(50));
//! assert!(soon.remaining().unwrap() <= Duration::from_millis(50));
//! assert_eq!(soon.min(forever), soon);
//! ```
//!
//! The second idea: **time is an input**. Everything driven by time takes a
//! [`Clock`], so a test steps a [`ManualClock`] instead of sleeping.

use std::time::{Duration, Instant};

/// A moment after which someone stops waiting, or never.
///
/// Ordered so that an earlier deadline is smaller and "never" is the
/// largest of all, so `a.min(b)` is the one that comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Deadline(Option<Instant>);

// Written by hand: `Option`'s own order puts `None` first, and here "never"
// must come last.
impl Ord for Deadline {
    fn cmp(&self, other: &Deadline) -> std::cmp::Ordering {
        match (self.0, other.0) {
            (Some(a), Some(b)) => a.cmp(&b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    }
}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Deadline) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Deadline {
    /// No deadline: wait as long as it takes.
    pub const NEVER: Deadline = Deadline(None);

    /// `timeout` from now; a timeout too large to add to the clock means
    /// no deadline (never a panic).
    pub fn after(timeout: Duration) -> Deadline {
        Deadline::from_instant(Instant::now(), timeout)
    }

    /// `timeout` after `start`, saturating like [`Deadline::after`].
    pub fn from_instant(start: Instant, timeout: Duration) -> Deadline {
        Deadline(start.checked_add(timeout))
    }

    /// The deadline at a given instant.
    pub fn at(instant: Instant) -> Deadline {
        Deadline(Some(instant))
    }

    /// The instant, or `None` for no deadline.
    pub fn instant(self) -> Option<Instant> {
        self.0
    }

    /// Whether this is "no deadline".
    pub fn is_never(self) -> bool {
        self.0.is_none()
    }

    /// Whether the deadline has passed.
    pub fn has_passed(self) -> bool {
        self.0.is_some_and(|d| Instant::now() >= d)
    }

    /// Time left (zero once passed), or `None` for no deadline.
    pub fn remaining(self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Time left, capped at `cap` (also the answer for no deadline): the
    /// value to give a socket timeout or a condvar wait, which need a
    /// finite number. Never zero, which sockets read as "block forever".
    pub fn remaining_capped(self, cap: Duration) -> Duration {
        self.remaining()
            .map_or(cap, |r| r.min(cap))
            .max(Duration::from_micros(1))
    }
}

impl From<Instant> for Deadline {
    fn from(i: Instant) -> Deadline {
        Deadline::at(i)
    }
}

/// A deadline fixed the first time it is asked about, by `make`. For a
/// bound that matters only once something has gone wrong (a write the
/// socket did not take whole): on the path where nothing does, no clock is
/// read at all. The writers use it (`src/transport/writer.rs`,
/// `src/server/outbox.rs`); chapter 04 counts what the clock reads cost.
pub(crate) struct LazyDeadline<F> {
    at: Option<Deadline>,
    make: F,
}

impl<F: Fn() -> Deadline> LazyDeadline<F> {
    /// A deadline that `make` computes when first needed.
    pub(crate) fn new(make: F) -> LazyDeadline<F> {
        LazyDeadline { at: None, make }
    }

    /// Whether it has passed, fixing it first if this is the first ask.
    pub(crate) fn has_passed(&mut self) -> bool {
        let make = &self.make;
        self.at.get_or_insert_with(make).has_passed()
    }
}

// ---- clocks ------------------------------------------------------------------

/// Where time-driven parts (health checks, rate limiters, registry TTLs,
/// adaptive balancing, backoff) read the time. Production code uses
/// [`SystemClock`]; tests use a [`ManualClock`] and step it, so a test of
/// "dead after 3 missed heartbeats" runs in microseconds and never flakes.
pub trait Clock: Send + Sync + 'static {
    /// The current time on this clock.
    fn now(&self) -> Instant;
}

/// The real clock: `Instant::now()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to: `advance` it in a test.
///
/// ```
/// use minirpc::time::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(clock.now() - t0, Duration::from_secs(30));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: std::sync::Mutex<Duration>,
    /// Notified on every `advance`, for code that waits "until the clock
    /// reaches T" (see [`ManualClock::wait_advanced`]).
    advanced: std::sync::Condvar,
}

impl ManualClock {
    /// A manual clock, shared (`Arc`) between the test and the code under test.
    pub fn new() -> std::sync::Arc<ManualClock> {
        std::sync::Arc::new(ManualClock {
            start: Instant::now(),
            offset: std::sync::Mutex::new(Duration::ZERO),
            advanced: std::sync::Condvar::new(),
        })
    }

    /// Move the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut off = crate::sync::lock(&self.offset);
        *off = off.saturating_add(d);
        self.advanced.notify_all();
    }

    /// Block (for at most `real` wall-clock time) until the clock is
    /// advanced: lets a background thread driven by this clock react to a
    /// step without a test sleeping. Returns the clock's time afterwards.
    pub fn wait_advanced(&self, real: Duration) -> Instant {
        let off = crate::sync::lock(&self.offset);
        let before = *off;
        let (off, _) = self
            .advanced
            .wait_timeout_while(off, real, |o| *o == before)
            .unwrap_or_else(|p| p.into_inner());
        self.start + *off
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *crate::sync::lock(&self.offset)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_deadline_is_fixed_once_at_the_first_ask() {
        let asked = std::cell::Cell::new(0);
        let mut d = LazyDeadline::new(|| {
            asked.set(asked.get() + 1);
            Deadline::after(Duration::from_secs(60))
        });
        assert_eq!(asked.get(), 0, "made before it was needed");
        assert!(!d.has_passed());
        assert!(!d.has_passed());
        assert_eq!(asked.get(), 1);
        let mut gone = LazyDeadline::new(|| Deadline::at(Instant::now()));
        assert!(gone.has_passed());
    }

    #[test]
    fn huge_timeouts_saturate_to_never() {
        assert!(Deadline::after(Duration::MAX).is_never());
        assert!(!Deadline::after(Duration::MAX).has_passed());
        assert_eq!(Deadline::after(Duration::MAX).remaining(), None);
        // A large but representable one is a real deadline.
        assert!(!Deadline::after(Duration::from_secs(3600)).is_never());
    }

    #[test]
    fn never_is_later_than_every_instant() {
        let soon = Deadline::after(Duration::from_millis(10));
        assert!(soon < Deadline::NEVER);
        assert_eq!(Deadline::NEVER.min(soon), soon);
    }

    #[test]
    fn a_zero_timeout_has_passed_at_once_and_caps_to_a_nonzero_wait() {
        let d = Deadline::after(Duration::ZERO);
        assert!(d.has_passed());
        assert_eq!(d.remaining(), Some(Duration::ZERO));
        assert!(!d.remaining_capped(Duration::from_secs(1)).is_zero());
        assert_eq!(
            Deadline::NEVER.remaining_capped(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
    }
}
