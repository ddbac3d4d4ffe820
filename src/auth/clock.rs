//! `UnixClock`: wall-clock seconds, through the crate's injectable clock.
//!
//! Article: 原理 › 安全认证 (the timestamp of a signed request). The one
//! idea to take away: **a time that crosses machines must be wall-clock
//! time**. A request's timestamp is compared by another machine, so it must
//! be a time both agree on: seconds since the Unix epoch (the crate's
//! [`Clock`] gives an `Instant`, which means nothing outside its own
//! process). The system version reads the real wall clock;
//! the driven version follows a [`ManualClock`](crate::time::ManualClock)
//! from a Unix time the test chooses, so a test steps across the edges of
//! the timestamp window without waiting.

use crate::time::Clock;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where signing and verifying read the time: seconds since the Unix epoch.
#[derive(Clone)]
pub struct UnixClock(Source);

#[derive(Clone)]
enum Source {
    System,
    Driven {
        clock: Arc<dyn Clock>,
        origin: Instant,
        origin_unix: Duration,
    },
}

impl std::fmt::Debug for UnixClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::System => f.write_str("UnixClock::system"),
            Source::Driven { .. } => write!(f, "UnixClock::driven_by(.. now {})", self.now_secs()),
        }
    }
}

impl Default for UnixClock {
    fn default() -> UnixClock {
        UnixClock::system()
    }
}

impl UnixClock {
    /// The machine's wall clock (`SystemTime`). Production servers keep it
    /// right with NTP: a clock that is off by more than the window refuses
    /// every honest request.
    pub fn system() -> UnixClock {
        UnixClock(Source::System)
    }

    /// A clock that reads `unix_now` now and then moves as `clock` does.
    ///
    /// ```
    /// use minirpc::auth::UnixClock;
    /// use minirpc::time::ManualClock;
    /// use std::time::Duration;
    ///
    /// let manual = ManualClock::new();
    /// let unix = UnixClock::driven_by(manual.clone(), Duration::from_secs(1_700_000_000));
    /// manual.advance(Duration::from_secs(90));
    /// assert_eq!(unix.now_secs(), 1_700_000_090);
    /// ```
    pub fn driven_by(clock: Arc<dyn Clock>, unix_now: Duration) -> UnixClock {
        let origin = clock.now();
        UnixClock(Source::Driven {
            clock,
            origin,
            origin_unix: unix_now,
        })
    }

    /// Whole seconds since 1970-01-01 00:00:00 UTC (0 for a clock set
    /// before it).
    pub fn now_secs(&self) -> u64 {
        match &self.0 {
            Source::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            Source::Driven {
                clock,
                origin,
                origin_unix,
            } => origin_unix
                .saturating_add(clock.now().saturating_duration_since(*origin))
                .as_secs(),
        }
    }
}
