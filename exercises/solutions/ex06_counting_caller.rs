//! Reference solution of ex06_counting_caller: an atomic counter, since a
//! stub may be used from many threads.

use minirpc::service::Caller;
use minirpc::{Decode, Encode, RpcError};
use std::sync::atomic::{AtomicU64, Ordering};

/// A caller that counts the calls it forwards.
pub struct Counting<C> {
    inner: C,
    calls: AtomicU64,
}

impl<C> Counting<C> {
    /// Wrap `inner`.
    pub fn new(inner: C) -> Counting<C> {
        Counting {
            inner,
            calls: AtomicU64::new(0),
        }
    }

    /// The calls forwarded so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl<C: Caller> Caller for Counting<C> {
    type Pending<R: Decode> = C::Pending<R>;

    fn call<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.count();
        self.inner.call(call_id, args)
    }

    fn call_idempotent<A, R>(&self, call_id: &str, args: &A) -> Result<R, RpcError>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.count();
        self.inner.call_idempotent(call_id, args)
    }

    fn call_async<A, R>(&self, call_id: &str, args: &A) -> Self::Pending<R>
    where
        A: Encode + ?Sized,
        R: Decode,
    {
        self.count();
        self.inner.call_async(call_id, args)
    }
}
