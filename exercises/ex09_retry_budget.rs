//! Exercise ex09_retry_budget (chapter 09): retries that cannot turn an
//! outage into a storm.
//!
//! A retry budget lets retries be at most a fixed share of the calls:
//! every call (`on_request`) earns `percent` hundredths of a token, every
//! retry (`try_retry`) spends a whole token, and is refused when there is
//! not one. The balance starts at `max_tokens` and never grows past it, so
//! a long quiet spell does not save up a burst. Many threads call both at
//! once. So far `try_retry` always says yes. (Finagle's `RetryBudget` is
//! this idea; `minirpc::cluster::RetryBudget` is gRPC's variant, with a
//! half-full bucket as the threshold.) Check it with
//! `cargo test --features exercises --test exercises -- ex09_retry_budget`.

/// Retries as a share of calls.
pub struct RetryBudget {}

impl RetryBudget {
    /// A full budget of `max_tokens`, earning `percent` hundredths of a
    /// token per call.
    pub fn new(percent: u32, max_tokens: u32) -> RetryBudget {
        let _ = (percent, max_tokens);
        RetryBudget {}
    }

    /// A call was made.
    pub fn on_request(&self) {}

    /// May this retry go? Spends a token if so.
    pub fn try_retry(&self) -> bool {
        true
    }
}
