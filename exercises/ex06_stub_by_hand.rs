//! Exercise ex06_stub_by_hand (chapter 06): the client stub that
//! `service!` would write, written by hand.
//!
//! The check's server registers this service with the macro:
//!
//! ```text
//! service! {
//!     pub trait Arith, client ArithClient {
//!         fn multiply(l: i32, r: i32) -> i32, async multiply_async;
//!         fn negate(x: i32) -> i32, async negate_async;
//!     }
//! }
//! ```
//!
//! Write `HandArith`'s two methods so that they call it: the call id the
//! macro gives each method, and its arguments as one tuple. So far they
//! call an id the server does not have. Check it with
//! `cargo test --features exercises --test exercises -- ex06_stub_by_hand`.

use minirpc::{Client, RpcError};

/// A hand-written client stub for the `Arith` service.
pub struct HandArith<'a> {
    /// The connection the calls go through.
    pub client: &'a Client,
}

impl HandArith<'_> {
    /// `l × r`, remotely.
    pub fn multiply(&self, l: i32, r: i32) -> Result<i32, RpcError> {
        self.client.call("TODO", &(l, r))
    }

    /// `-x`, remotely.
    pub fn negate(&self, x: i32) -> Result<i32, RpcError> {
        self.client.call("TODO", &x)
    }
}
