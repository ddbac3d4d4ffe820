//! HMAC-SHA256 (RFC 2104), and comparing two MACs in constant time.
//!
//! Article: 原理 › 安全认证. The one idea to take away: **a MAC is a hash
//! only the holders of a secret can compute**. Hashing `secret ‖ message`
//! is not one (SHA-256's length extension lets anyone append to the
//! message and fix up the hash); HMAC hashes twice, with the key mixed in
//! by two different pads, and that closes the hole.
//!
//! ```text
//!   K0 = key, hashed first if longer than 64 bytes, then zero-padded to 64
//!   inner = SHA-256( (K0 ⊕ 0x36…36) ‖ message )
//!   mac   = SHA-256( (K0 ⊕ 0x5c…5c) ‖ inner )
//! ```
//!
//! Checked against every test case of RFC 4231 in `tests/auth_vectors.rs`.

use super::sha256::{Sha256, BLOCK_LEN, DIGEST_LEN};

/// HMAC-SHA256 of `message` under `key` (any length; RFC 2104 §2).
///
/// ```
/// use minirpc::auth::{hex, hmac::hmac_sha256};
///
/// // RFC 4231, test case 2.
/// let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
/// assert_eq!(
///     hex::encode(&mac),
///     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
/// );
/// ```
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; DIGEST_LEN] {
    let mut mac = HmacSha256::new(key);
    mac.update(message);
    mac.finalize()
}

/// An HMAC-SHA256 computation in progress, for a message that arrives in
/// pieces (the canonical bytes of a request are fed field by field).
#[derive(Clone)]
pub struct HmacSha256 {
    inner: Sha256,
    /// The key XOR opad, kept for the outer hash.
    outer_key: [u8; BLOCK_LEN],
}

impl std::fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The padded key is secret: never print it.
        f.write_str("HmacSha256 { .. }")
    }
}

impl HmacSha256 {
    /// Start a MAC under `key`.
    pub fn new(key: &[u8]) -> HmacSha256 {
        // RFC 2104 §2: a key longer than the block is replaced by its
        // hash; a shorter one is padded with zeros.
        let mut k0 = [0u8; BLOCK_LEN];
        if key.len() > BLOCK_LEN {
            k0[..DIGEST_LEN].copy_from_slice(&Sha256::digest(key));
        } else {
            k0[..key.len()].copy_from_slice(key);
        }
        let mut inner_key = [0u8; BLOCK_LEN];
        let mut outer_key = [0u8; BLOCK_LEN];
        for i in 0..BLOCK_LEN {
            inner_key[i] = k0[i] ^ 0x36;
            outer_key[i] = k0[i] ^ 0x5c;
        }
        let mut inner = Sha256::new();
        inner.update(&inner_key);
        HmacSha256 { inner, outer_key }
    }

    /// Feed more of the message.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The MAC.
    pub fn finalize(self) -> [u8; DIGEST_LEN] {
        let inner = self.inner.finalize();
        let mut outer = Sha256::new();
        outer.update(&self.outer_key);
        outer.update(&inner);
        outer.finalize()
    }
}

/// Whether `a` and `b` are equal, taking the same time wherever they
/// differ. An ordinary `==` stops at the first differing byte, so a caller
/// who can time many guesses learns how many leading bytes of a signature
/// they got right, and can find a valid one byte by byte. Only the lengths
/// (which are public: a signature is always 32 bytes) can end it early.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into an
    // early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_every_byte_and_the_length() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn feeding_in_pieces_gives_the_one_shot_mac() {
        let mut m = HmacSha256::new(b"key");
        m.update(b"The quick brown fox ");
        m.update(b"jumps over the lazy dog");
        assert_eq!(
            m.finalize(),
            hmac_sha256(b"key", b"The quick brown fox jumps over the lazy dog")
        );
    }
}
