//! Reference solution of ex09_retry_budget: hundredths of a token in one
//! atomic, changed only by compare-and-swap, so no deposit or withdrawal
//! is lost between threads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Retries as a share of calls.
pub struct RetryBudget {
    hundredths: AtomicU64,
    max: u64,
    earn: u64,
}

impl RetryBudget {
    /// A full budget of `max_tokens`, earning `percent` hundredths of a
    /// token per call.
    pub fn new(percent: u32, max_tokens: u32) -> RetryBudget {
        let max = u64::from(max_tokens) * 100;
        RetryBudget {
            hundredths: AtomicU64::new(max),
            max,
            earn: u64::from(percent),
        }
    }

    /// A call was made.
    pub fn on_request(&self) {
        let _ = self
            .hundredths
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some((t + self.earn).min(self.max))
            });
    }

    /// May this retry go? Spends a token if so.
    pub fn try_retry(&self) -> bool {
        self.hundredths
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(100))
            .is_ok()
    }
}
