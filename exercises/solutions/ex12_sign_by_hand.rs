//! Reference solution of ex12_sign_by_hand: length-prefixed fields, the
//! arguments' digest, one HMAC.

use minirpc::auth::hex;
use minirpc::auth::hmac::hmac_sha256;
use minirpc::auth::sha256::Sha256;

/// The bytes a signature covers, for a request with these fields
/// (`docs/protocol.md` §15).
pub fn canonical_bytes(
    key_id: &str,
    timestamp: &str,
    nonce: &str,
    call_id: &str,
    args: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    for field in ["minirpc-hmac-sha256-v1", key_id, timestamp, nonce, call_id] {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(&Sha256::digest(args));
    out
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
    let timestamp = ts.to_string();
    let mac = hmac_sha256(
        secret,
        &canonical_bytes(key_id, &timestamp, nonce, call_id, args),
    );
    vec![
        ("auth-key".to_owned(), key_id.to_owned()),
        ("auth-ts".to_owned(), timestamp),
        ("auth-nonce".to_owned(), nonce.to_owned()),
        ("auth-sig".to_owned(), hex::encode(&mac)),
    ]
}
