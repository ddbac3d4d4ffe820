//! Heartbeats: telling a silent server from a slow one.
//!
//! Article: 原理 › 服务发现 › 健康检查 ("通过心跳机制": a consumer's own
//! view of whether its provider is alive). A server that crashes cleanly
//! closes its sockets; one behind a pulled cable or in a frozen VM just
//! goes quiet, and quiet looks the same as slow. The one idea to take away:
//! **judge the server only by pings it failed to answer**, never by how
//! long it has been quiet: our own thread may have run late, and that is
//! not the server's fault.
//!
//! ```text
//!   silence ≥ interval ─► ping ─► (every interval, ping again while unanswered)
//!                           │
//!   any frame from the server resets everything ◄─ pong, response, ...
//!                           │
//!   first unanswered ping + interval × misses ─► dead: fail every call
//! ```
//!
//! This file is only the rule, as a small state machine over instants the
//! caller passes in (so the unit tests below step time instead of
//! sleeping). The background thread (`background.rs`) runs it and sends
//! the pings.

use crate::time::Deadline;
use std::time::{Duration, Instant};

/// Heartbeat settings (see `ClientBuilder::heartbeat`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heartbeat {
    pub(crate) interval: Duration,
    pub(crate) misses: u32,
}

impl Heartbeat {
    /// How long a ping may go unanswered before the server is dead:
    /// `misses` intervals, or "never" if that does not fit in a `Duration`.
    fn allowance(&self) -> Duration {
        self.interval
            .checked_mul(self.misses.max(1))
            .unwrap_or(Duration::MAX)
    }
}

/// What the client knows about the server's signs of life.
#[derive(Debug)]
pub(crate) struct Liveness {
    /// When we last read any frame from the server.
    last_heard: Instant,
    /// When we sent the first ping that nothing has answered yet. The
    /// server is judged from this moment, not from `last_heard`.
    ping_sent: Option<Instant>,
    /// When we sent the latest ping (to pace them one interval apart).
    last_ping: Option<Instant>,
}

/// What the background thread should do about heartbeats now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    /// The server has left a ping unanswered for `waited`: it is dead.
    Dead { waited: Duration },
    /// Alive; send a ping now if `ping`, and look again at `next`.
    Alive { ping: bool, next: Deadline },
}

impl Liveness {
    pub(crate) fn new(now: Instant) -> Liveness {
        Liveness {
            last_heard: now,
            ping_sent: None,
            last_ping: None,
        }
    }

    /// Any frame from the server is a sign of life, not just a pong.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.ping_sent = None;
        self.last_ping = None;
    }

    /// When we last heard from the server.
    pub(crate) fn last_heard(&self) -> Instant {
        self.last_heard
    }

    /// A ping is out and unanswered, so someone must read for its pong.
    pub(crate) fn awaiting_pong(&self) -> bool {
        self.ping_sent.is_some()
    }

    /// Apply the rule at `now`.
    pub(crate) fn tick(&mut self, hb: &Heartbeat, now: Instant) -> Beat {
        let mut next = Deadline::NEVER;
        if let Some(first) = self.ping_sent {
            let verdict = Deadline::from_instant(first, hb.allowance());
            if verdict <= Deadline::at(now) {
                return Beat::Dead {
                    waited: now.saturating_duration_since(first),
                };
            }
            next = verdict;
        }
        // Ping after an interval of silence, then every interval.
        let since = self
            .last_ping
            .map_or(self.last_heard, |p| p.max(self.last_heard));
        let due = Deadline::from_instant(since, hb.interval);
        if due <= Deadline::at(now) {
            self.last_ping = Some(now);
            self.ping_sent.get_or_insert(now);
            let again = Deadline::from_instant(now, hb.interval);
            Beat::Alive {
                ping: true,
                next: next.min(again),
            }
        } else {
            Beat::Alive {
                ping: false,
                next: next.min(due),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn hb() -> Heartbeat {
        Heartbeat {
            interval: 100 * MS,
            misses: 3,
        }
    }

    #[test]
    fn pings_after_one_interval_of_silence_and_again_every_interval() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        assert_eq!(
            l.tick(&hb(), t0 + 50 * MS),
            Beat::Alive {
                ping: false,
                next: Deadline::at(t0 + 100 * MS)
            }
        );
        assert!(matches!(
            l.tick(&hb(), t0 + 100 * MS),
            Beat::Alive { ping: true, .. }
        ));
        assert!(l.awaiting_pong());
        assert!(matches!(
            l.tick(&hb(), t0 + 150 * MS),
            Beat::Alive { ping: false, .. }
        ));
        assert!(matches!(
            l.tick(&hb(), t0 + 200 * MS),
            Beat::Alive { ping: true, .. }
        ));
    }

    #[test]
    fn dead_after_misses_intervals_from_the_first_unanswered_ping() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        assert!(matches!(
            l.tick(&hb(), t0 + 100 * MS),
            Beat::Alive { ping: true, .. }
        ));
        assert!(matches!(l.tick(&hb(), t0 + 399 * MS), Beat::Alive { .. }));
        assert_eq!(
            l.tick(&hb(), t0 + 400 * MS),
            Beat::Dead { waited: 300 * MS }
        );
    }

    #[test]
    fn a_late_background_thread_does_not_count_against_the_server() {
        // The thread that should have pinged at 100 ms only runs at 1 s:
        // that silence is ours, so it pings now and judges from now.
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        assert!(matches!(
            l.tick(&hb(), t0 + 1000 * MS),
            Beat::Alive { ping: true, .. }
        ));
        assert!(matches!(l.tick(&hb(), t0 + 1299 * MS), Beat::Alive { .. }));
    }

    #[test]
    fn any_frame_heard_clears_the_unanswered_ping() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        l.tick(&hb(), t0 + 100 * MS);
        l.heard(t0 + 150 * MS);
        assert!(!l.awaiting_pong());
        assert!(matches!(
            l.tick(&hb(), t0 + 1000 * MS),
            Beat::Alive { ping: true, .. }
        ));
    }

    #[test]
    fn huge_intervals_and_miss_counts_never_overflow() {
        let t0 = Instant::now();
        let huge = Heartbeat {
            interval: Duration::MAX,
            misses: u32::MAX,
        };
        let mut l = Liveness::new(t0);
        assert_eq!(
            l.tick(&huge, t0 + 1000 * MS),
            Beat::Alive {
                ping: false,
                next: Deadline::NEVER
            }
        );
        let long = Heartbeat {
            interval: Duration::from_secs(u64::MAX / 4),
            misses: u32::MAX,
        };
        assert!(matches!(l.tick(&long, t0), Beat::Alive { ping: false, .. }));
    }
}
