//! Reference solution of ex06_stub_by_hand: `"Trait.method"`, and the
//! arguments as a tuple (a 1-tuple for one argument).

use minirpc::{Client, RpcError};

/// A hand-written client stub for the `Arith` service.
pub struct HandArith<'a> {
    /// The connection the calls go through.
    pub client: &'a Client,
}

impl HandArith<'_> {
    /// `l × r`, remotely.
    pub fn multiply(&self, l: i32, r: i32) -> Result<i32, RpcError> {
        self.client.call("Arith.multiply", &(l, r))
    }

    /// `-x`, remotely.
    pub fn negate(&self, x: i32) -> Result<i32, RpcError> {
        self.client.call("Arith.negate", &(x,))
    }
}
