//! Exercise ex12_key_rotation (chapter 12): replace a key's secret without
//! refusing a single honest call.
//!
//! Callers cannot all change their secret at the same moment. So for a
//! while, the rotation, the server accepts the key id `billing` signed with
//! the old secret **or** the new one; then it retires the old one.
//! `Rotation` holds the server's `Authenticator`s: `rotate(next)` makes
//! `next` (the same key ids, new secrets) the current one and keeps the one
//! it replaces as the previous; `finish()` drops the previous; `verify`
//! checks a parsed request as `Authenticator::verify` does.
//!
//! Try the current one first. Only when it says the signature is bad (an
//! `UNAUTHENTICATED` error whose message begins `bad signature`) may the
//! request have been signed with the previous secret: then the previous
//! one's answer is the answer. Any other refusal from the current one (a
//! replay, a stale timestamp, a permission it lacks) stands: the previous
//! one could only say "bad signature" instead, and the caller would go
//! looking for the wrong mistake. So far `rotate` throws the old
//! `Authenticator` away, and calls signed with the old secret are refused
//! at once. Check it with
//! `cargo test --features exercises --test exercises -- ex12_key_rotation`.

use minirpc::auth::{Authenticator, Identity};
use minirpc::protocol::RequestHead;
use minirpc::RpcError;

/// The server's keys, during and between rotations.
pub struct Rotation {
    current: Authenticator,
}

impl Rotation {
    /// Accept what `current` accepts.
    pub fn new(current: Authenticator) -> Rotation {
        Rotation { current }
    }

    /// Start a rotation: `next` becomes the current one, and the one it
    /// replaces stays valid until [`finish`](Rotation::finish).
    pub fn rotate(&mut self, next: Authenticator) {
        self.current = next;
    }

    /// End the rotation: only the current secrets are accepted from now on.
    pub fn finish(&mut self) {}

    /// Check a request (see the module docs for the order).
    pub fn verify(&self, head: &RequestHead<'_>) -> Result<Identity, RpcError> {
        self.current.verify(head)
    }
}
