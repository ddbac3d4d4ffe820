//! Reference solution of ex11_canary_split: a caller's bucket is its hash
//! modulo 100, fixed for ever; the first `canary_percent` buckets are the
//! canary. Raising the percentage adds buckets, so it only moves callers
//! one way.

use minirpc::balance::hash::{fnv1a64, mix64};

/// The group `caller` should call, with `canary_percent` of the callers on
/// the canary.
pub fn group_for(caller: &str, canary_percent: u32) -> &'static str {
    let bucket = mix64(fnv1a64(caller.as_bytes())) % 100;
    if bucket < u64::from(canary_percent.min(100)) {
        "canary"
    } else {
        "stable"
    }
}
