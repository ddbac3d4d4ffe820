//! Reference solution of ex12_key_rotation: the previous `Authenticator`
//! is asked only when the current one says the signature is bad.

use minirpc::auth::{Authenticator, Identity};
use minirpc::protocol::RequestHead;
use minirpc::{RpcError, Status};

/// The server's keys, during and between rotations.
pub struct Rotation {
    current: Authenticator,
    previous: Option<Authenticator>,
}

impl Rotation {
    /// Accept what `current` accepts.
    pub fn new(current: Authenticator) -> Rotation {
        Rotation {
            current,
            previous: None,
        }
    }

    /// Start a rotation: `next` becomes the current one, and the one it
    /// replaces stays valid until [`finish`](Rotation::finish).
    pub fn rotate(&mut self, next: Authenticator) {
        self.previous = Some(std::mem::replace(&mut self.current, next));
    }

    /// End the rotation: only the current secrets are accepted from now on.
    pub fn finish(&mut self) {
        self.previous = None;
    }

    /// Check a request (see the module docs for the order).
    pub fn verify(&self, head: &RequestHead<'_>) -> Result<Identity, RpcError> {
        match (self.current.verify(head), &self.previous) {
            (Err(e), Some(previous)) if bad_signature(&e) => previous.verify(head),
            (answer, _) => answer,
        }
    }
}

fn bad_signature(e: &RpcError) -> bool {
    e.status == Status::Unauthenticated && e.message.starts_with("bad signature")
}
