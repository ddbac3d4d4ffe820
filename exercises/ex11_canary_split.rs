//! Exercise ex11_canary_split (chapter 11): send a share of the callers to
//! the canary, the same callers every time.
//!
//! A canary gets a small share of the traffic first, and a caller should
//! not flip between versions from one call to the next. Write
//! `group_for`: `"canary"` for about `canary_percent` of all callers and
//! `"stable"` for the rest, decided by a hash of `caller` alone (so the
//! same caller always lands in the same group). Raising the percentage
//! only moves callers from stable to canary, never back. Percentages over
//! 100 count as 100. So far every caller goes to `"stable"`. Check it with
//! `cargo test --features exercises --test exercises -- ex11_canary_split`.

/// The group `caller` should call, with `canary_percent` of the callers on
/// the canary.
pub fn group_for(caller: &str, canary_percent: u32) -> &'static str {
    let _ = (caller, canary_percent);
    "stable"
}
