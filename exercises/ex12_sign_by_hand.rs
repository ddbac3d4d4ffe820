//! Exercise ex12_sign_by_hand (chapter 12): sign a request yourself, from
//! the specification alone.
//!
//! `docs/protocol.md` §15 gives the bytes a signature covers: five strings,
//! each a `u32` big-endian length and its UTF-8 bytes (the scheme
//! `"minirpc-hmac-sha256-v1"`, the key id, the timestamp as sent, the nonce,
//! the call id), then the 32-byte SHA-256 of the argument bytes. Write
//! `canonical_bytes` to make them, and `signed_metadata` to return the four
//! metadata pairs a signed request carries: `auth-key`, `auth-ts` (the
//! timestamp in decimal), `auth-nonce` and `auth-sig` (HMAC-SHA256 of the
//! canonical bytes under the secret, as 64 lowercase hex digits).
//!
//! Build them from the pieces only: `minirpc::auth::sha256::Sha256`,
//! `minirpc::auth::hmac::hmac_sha256` and `minirpc::auth::hex::encode`.
//! `Signed` and `Signer` do all of this for you, and the check compares
//! your bytes with theirs; then it sends a raw frame carrying your
//! metadata to a real server that authenticates, which must accept it and
//! refuse the same signature over changed arguments. So far both functions
//! return nothing. Check it with
//! `cargo test --features exercises --test exercises -- ex12_sign_by_hand`.

/// The bytes a signature covers, for a request with these fields
/// (`docs/protocol.md` §15).
pub fn canonical_bytes(
    key_id: &str,
    timestamp: &str,
    nonce: &str,
    call_id: &str,
    args: &[u8],
) -> Vec<u8> {
    let _ = (key_id, timestamp, nonce, call_id, args);
    Vec::new()
}

/// The metadata pairs that sign a call to `call_id` with arguments `args`,
/// made at Unix time `ts` with `nonce`, by key `key_id` holding `secret`.
pub fn signed_metadata(
    key_id: &str,
    secret: &[u8],
    ts: u64,
    nonce: &str,
    call_id: &str,
    args: &[u8],
) -> Vec<(String, String)> {
    let _ = (key_id, secret, ts, nonce, call_id, args);
    Vec::new()
}
