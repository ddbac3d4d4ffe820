//! Reference solution of ex11_version_range: compare the prefix and the
//! dot after it, so that `1.*` stops at `1.` and never reaches `10.`.

/// Whether a consumer asking for `wanted` may call a provider at `have`.
pub fn accepts(wanted: &str, have: &str) -> bool {
    if wanted == "*" {
        return true;
    }
    match wanted.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('.') => have.starts_with(prefix),
        _ => wanted == have,
    }
}
