//! `Signer`: the client's side of signing. A key id, its secret, and a
//! fresh timestamp and nonce for every request.
//!
//! Article: 原理 › 安全认证. The one idea to take away: **a signature is
//! only as fresh as what it covers**: the timestamp bounds how long a
//! captured request stays usable, and the nonce makes every request
//! different, so even two identical calls in the same second have
//! different signatures and the server can refuse the second copy of one.
//!
//! ```text
//!   call id, argument bytes ─┐
//!   now (Unix s), nonce ─────┼─► canonical bytes ─► HMAC-SHA256(secret) ─► auth-sig
//!   key id ──────────────────┘
//!   metadata: auth-key, auth-ts, auth-nonce, auth-sig
//! ```
//!
//! **About the nonces.** A nonce must never repeat under one key within the
//! window; it need not be secret (an attacker who predicts one still
//! cannot sign with it). This one is 128 bits: 64 from the crate's
//! xorshift generator ([`crate::balance::Rng`], seeded from the standard
//! library's per-process random keys) and 64 that mix a per-process
//! counter, the time and the signer's address, so two signers in one
//! process, or two processes started together, do not collide. It is **not
//! a cryptographically secure generator**; production code takes nonces
//! from the operating system's (`getrandom`, `/dev/urandom`, a UUIDv4).

use super::canonical::{Signed, META_KEY, META_NONCE, META_SIG, META_TS};
use super::clock::UnixClock;
use super::hex;
use crate::balance::Rng;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Signs requests with one key (give it to `ClientBuilder::signer`, or let
/// `ClientBuilder::credentials` make one).
pub struct Signer {
    key_id: String,
    secret: Vec<u8>,
    clock: UnixClock,
    rng: Rng,
    counter: AtomicU64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The four metadata values that carry one request's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedMeta {
    /// `auth-key`: the key id.
    pub key_id: String,
    /// `auth-ts`: decimal Unix seconds.
    pub timestamp: String,
    /// `auth-nonce`.
    pub nonce: String,
    /// `auth-sig`: 64 lowercase hex digits.
    pub signature: String,
}

impl SignedMeta {
    /// The metadata pairs, in the order the client sends them.
    pub fn pairs(&self) -> [(&str, &str); 4] {
        [
            (META_KEY, self.key_id.as_str()),
            (META_TS, self.timestamp.as_str()),
            (META_NONCE, self.nonce.as_str()),
            (META_SIG, self.signature.as_str()),
        ]
    }
}

impl Signer {
    /// A signer for key `key_id` with `secret`, on the system clock.
    pub fn new(key_id: impl Into<String>, secret: impl AsRef<[u8]>) -> Signer {
        Signer {
            key_id: key_id.into(),
            secret: secret.as_ref().to_vec(),
            clock: UnixClock::system(),
            rng: Rng::from_entropy(),
            counter: AtomicU64::new(0),
        }
    }

    /// Read the time from `clock` instead of the system clock.
    pub fn clock(mut self, clock: UnixClock) -> Signer {
        self.clock = clock;
        self
    }

    /// The key id this signer signs with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Sign a call to `call_id` whose encoded arguments are `args`, now,
    /// with a fresh nonce.
    pub fn sign(&self, call_id: &str, args: &[u8]) -> SignedMeta {
        let ts = self.clock.now_secs();
        let nonce = self.fresh_nonce();
        self.sign_with(call_id, args, ts, &nonce)
    }

    /// Sign with a timestamp and a nonce of the caller's choosing: for
    /// tests, examples and the worked example of `docs/protocol.md` §15,
    /// which need a fixed or a stale one. A real client uses
    /// [`sign`](Signer::sign).
    pub fn sign_with(&self, call_id: &str, args: &[u8], ts: u64, nonce: &str) -> SignedMeta {
        let timestamp = ts.to_string();
        let sig = Signed {
            key_id: &self.key_id,
            timestamp: &timestamp,
            nonce,
            call_id,
            args,
        }
        .signature(&self.secret);
        SignedMeta {
            key_id: self.key_id.clone(),
            timestamp,
            nonce: nonce.to_owned(),
            signature: hex::encode(&sig),
        }
    }

    /// 32 hex digits never used before by this signer (see the module docs
    /// for how, and why it is not a CSPRNG).
    pub fn fresh_nonce(&self) -> String {
        let random = self.rng.next_u64();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // A keyed hash (the standard library's per-process random keys)
        // of the counter, the time and this signer's address.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(nanos);
        h.write_usize(self as *const Signer as usize);
        // The counter is added outside the hash, so within one signer the
        // low half never repeats for the same random half.
        let unique = h.finish().wrapping_add(n);
        format!("{random:016x}{unique:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nonces_are_32_hex_digits_and_do_not_repeat() {
        let s = Signer::new("k", "secret");
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let n = s.fresh_nonce();
            assert_eq!(n.len(), 32);
            assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(seen.insert(n), "a nonce repeated");
        }
    }

    #[test]
    fn the_same_request_signed_twice_differs_only_by_nonce() {
        let s = Signer::new("k", "secret");
        let a = s.sign("M", b"args");
        let b = s.sign("M", b"args");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.signature, b.signature);
        let again = s.sign_with("M", b"args", 7, "0123456789abcdef");
        assert_eq!(again, s.sign_with("M", b"args", 7, "0123456789abcdef"));
    }
}
