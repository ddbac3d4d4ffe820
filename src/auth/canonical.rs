//! The bytes a signature covers: one function, used by the client that
//! signs and by the server that checks.
//!
//! Article: 原理 › 安全认证. The one idea to take away: **both sides must
//! sign exactly the same bytes, and no two different requests may produce
//! the same bytes**. So every field is written with its length in front
//! (the envelope's own rule, `docs/protocol.md` §1), never joined by a
//! separator that a field could itself contain: with `key + ":" + call`,
//! the key `a:b` calling `c` and the key `a` calling `b:c` would sign the
//! same text.
//!
//! ```text
//!   u32 len │ "minirpc-hmac-sha256-v1"   the scheme (a signature for nothing else)
//!   u32 len │ key id                     e.g. "billing-1"
//!   u32 len │ timestamp                  decimal Unix seconds, as sent in auth-ts
//!   u32 len │ nonce                      as sent in auth-nonce
//!   u32 len │ call id                    e.g. "Arith.Multiply"
//!   32 bytes│ SHA-256 of the argument bytes (exactly as they are in the frame)
//! ```
//!
//! All lengths are big-endian u32s. The signature is HMAC-SHA256 of these
//! bytes under the key's secret, sent as 64 lowercase hex digits.

use super::hmac::HmacSha256;
use super::sha256::Sha256;

/// The first field of every signed message: names the scheme and its
/// version, so a MAC made for anything else (another scheme, a later
/// version of this one) never verifies as a request signature.
pub const SCHEME: &str = "minirpc-hmac-sha256-v1";

/// Metadata key: the key id (which secret signed this request).
pub const META_KEY: &str = "auth-key";
/// Metadata key: when the request was signed, decimal Unix seconds.
pub const META_TS: &str = "auth-ts";
/// Metadata key: a value the signer never uses twice.
pub const META_NONCE: &str = "auth-nonce";
/// Metadata key: the signature, 64 lowercase hex digits.
pub const META_SIG: &str = "auth-sig";

/// The longest key id, in bytes.
pub const MAX_KEY_ID: usize = 64;
/// The shortest nonce, in characters: 16 hex digits are 64 bits, the least
/// a signer picking nonces at random needs to stay clear of collisions.
pub const MIN_NONCE: usize = 16;
/// The longest nonce, in characters (it is kept in the replay cache).
pub const MAX_NONCE: usize = 64;

/// The fields of one request that its signature covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signed<'a> {
    /// Which key signed (the `auth-key` metadata).
    pub key_id: &'a str,
    /// When, as sent (the `auth-ts` metadata).
    pub timestamp: &'a str,
    /// The nonce, as sent (the `auth-nonce` metadata).
    pub nonce: &'a str,
    /// The call id of the request.
    pub call_id: &'a str,
    /// The argument bytes of the request, in whatever codec it uses.
    pub args: &'a [u8],
}

impl Signed<'_> {
    /// The canonical bytes (see the module docs for the layout).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            5 * 4
                + SCHEME.len()
                + self.key_id.len()
                + self.timestamp.len()
                + self.nonce.len()
                + self.call_id.len()
                + 32,
        );
        for field in [
            SCHEME,
            self.key_id,
            self.timestamp,
            self.nonce,
            self.call_id,
        ] {
            // Every field is bounded by the frame it came in (at most
            // 4 GiB), so its length always fits the u32.
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out.extend_from_slice(&Sha256::digest(self.args));
        out
    }

    /// HMAC-SHA256 of the canonical bytes under `secret`.
    pub fn signature(&self, secret: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new(secret);
        mac.update(&self.canonical_bytes());
        mac.finalize()
    }
}

/// Whether `id` may be a key id: 1 to [`MAX_KEY_ID`] bytes of ASCII
/// letters, digits, `.`, `_` and `-` (so it is safe to print in an error).
pub fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `nonce` may be a nonce: [`MIN_NONCE`] to [`MAX_NONCE`] ASCII
/// letters, digits, `_` and `-` (a hex string is one).
pub fn valid_nonce(nonce: &str) -> bool {
    (MIN_NONCE..=MAX_NONCE).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// The timestamp's value: 1 to 19 decimal digits (no sign, no spaces), or
/// `None`.
pub fn parse_timestamp(ts: &str) -> Option<u64> {
    if ts.is_empty() || ts.len() > 19 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    ts.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(key_id: &'a str, call_id: &'a str) -> Signed<'a> {
        Signed {
            key_id,
            timestamp: "1700000000",
            nonce: "00112233445566778899aabbccddeeff",
            call_id,
            args: b"",
        }
    }

    #[test]
    fn moving_a_byte_from_one_field_to_the_next_changes_the_bytes() {
        // With a separator instead of lengths these two would collide.
        let a = fields("a:b", "c").canonical_bytes();
        let b = fields("a", "b:c").canonical_bytes();
        assert_ne!(a, b);
        let c = fields("ab", "c").canonical_bytes();
        let d = fields("a", "bc").canonical_bytes();
        assert_ne!(c, d);
    }

    #[test]
    fn the_layout_is_length_prefixed_fields_then_the_digest() {
        let bytes = fields("k", "M").canonical_bytes();
        assert_eq!(&bytes[..4], &(SCHEME.len() as u32).to_be_bytes());
        assert_eq!(&bytes[4..4 + SCHEME.len()], SCHEME.as_bytes());
        let after = &bytes[4 + SCHEME.len()..];
        assert_eq!(&after[..5], &[0, 0, 0, 1, b'k']);
        assert_eq!(&bytes[bytes.len() - 32..], &Sha256::digest(b""));
    }

    #[test]
    fn formats_are_checked_strictly() {
        assert!(valid_key_id("billing-1.a_b"));
        assert!(!valid_key_id(""));
        assert!(!valid_key_id("has space"));
        assert!(!valid_key_id(&"k".repeat(MAX_KEY_ID + 1)));
        assert!(valid_nonce(&"ab".repeat(8)));
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce(&"a".repeat(MAX_NONCE + 1)));
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("-1"), None);
        assert_eq!(parse_timestamp("+1"), None);
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(parse_timestamp("99999999999999999999"), None);
    }
}
