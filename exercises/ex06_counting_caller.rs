//! Exercise ex06_counting_caller (chapter 06): a layer between the stub and
//! the connection.
//!
//! A `service!` stub calls through any `Caller`, so a wrapper can stand
//! between the stub and the `Client` and see every call: Dubbo's filters
//! and gRPC's interceptors are this idea. `Counting<C>` forwards every
//! call to the caller it wraps; make it also count them (every kind: call,
//! call_idempotent, call_async), so that `calls()` says how many went
//! through. So far it forwards and counts nothing.
//! Check it with `cargo test --features exercises --test exercises -- ex06_counting_caller`.

use minirpc::service::Caller;
use minirpc::{Decode, Encode, RpcError};

/// A caller that counts the calls it forwards.
pub struct Counting<C> {
    inner: C,
}

impl<C> Counting<C> {
    /// Wrap `inner`.
    pub fn new(inner: C) -> Counting<C> {
        Counting { inner }
    }

    /// The calls forwarded so far.
    pub fn calls(&self) -> u64 {
        0
    }
}

impl<C: Caller> Caller for Counting<C> {
    type Pending<R: Decode> = C::Pending<R>;

    fn call<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.inner.call(call_id, args)
    }

    fn call_idempotent<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.inner.call_idempotent(call_id, args)
    }

    fn call_async<A, R>(&self, call_id: &str, args: &A) -> Self::Pending<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.inner.call_async(call_id, args)
    }
}
