//! Exercise ex11_version_range (chapter 11): ask for "any 1.x" instead of
//! one exact version.
//!
//! minirpc's lookups take a version that matches exactly, or `"*"` for
//! any. Write `accepts(wanted, have)` with one more form: a wanted version
//! ending in `.*` accepts every version that starts with the part before
//! it, as whole numbers: `"1.*"` accepts `"1.0.0"` and `"1.4.2"` but not
//! `"10.0.0"` or `"2.0.0"`; `"1.2.*"` accepts `"1.2.9"` but not
//! `"1.20.0"`. Anything else matches exactly. So far only `"*"` and exact
//! matches work. Check it with
//! `cargo test --features exercises --test exercises -- ex11_version_range`.

/// Whether a consumer asking for `wanted` may call a provider at `have`.
pub fn accepts(wanted: &str, have: &str) -> bool {
    wanted == "*" || wanted == have
}
