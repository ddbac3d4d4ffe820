//! Reference solution of ex10_gcra: the theoretical arrival time behind a
//! lock, and two comparisons per call.

use minirpc::flow::{Decision, RateLimiter};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `limit` calls per `period`, up to `burst` at once.
pub struct Gcra {
    limit: u32,
    period: Duration,
    /// The emission interval: one call's share of the period.
    interval: Duration,
    /// How early a call may be: `interval × (burst − 1)`.
    tolerance: Duration,
    burst: u32,
    /// The theoretical arrival time; `None` before the first call.
    tat: Mutex<Option<Instant>>,
}

impl Gcra {
    /// A limiter that has seen no calls.
    pub fn new(limit: u32, period: Duration, burst: u32) -> Gcra {
        let limit = limit.max(1);
        let burst = burst.max(1);
        let interval = period / limit;
        Gcra {
            limit,
            period,
            interval,
            tolerance: interval.saturating_mul(burst - 1),
            burst,
            tat: Mutex::new(None),
        }
    }
}

impl RateLimiter for Gcra {
    fn try_acquire(&self, now: Instant) -> Decision {
        let mut tat = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        let due = tat.map_or(now, |t| t.max(now));
        let early = due.saturating_duration_since(now);
        if early <= self.tolerance {
            *tat = Some(due + self.interval);
            Decision::Allow
        } else {
            Decision::Deny {
                retry_after: early - self.tolerance,
            }
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} per {:?} burst {} (GCRA)",
            self.limit, self.period, self.burst
        )
    }

    fn is_idle(&self, now: Instant) -> bool {
        let tat = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        tat.is_none_or(|t| t <= now)
    }
}
