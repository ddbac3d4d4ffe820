//! Exercise ex07_sticky_registry (chapter 07): keep calling through a
//! registry outage.
//!
//! A registry that is down should not take the services down with it: the
//! providers are still there. `Sticky<R>` wraps a registry. Make its
//! `lookup` remember the last list that worked for each query
//! (service, group, version) and answer that list when the inner registry
//! fails; a query it never answered still fails. Registering and
//! subscribing pass straight through. So far `lookup` passes the failure
//! on. Check it with
//! `cargo test --features exercises --test exercises -- ex07_sticky_registry`.

use minirpc::discovery::{Instance, Registration, Registry, Subscription};
use minirpc::RpcError;
use std::time::Duration;

/// A registry that answers its last good list while the inner one is down.
pub struct Sticky<R> {
    inner: R,
}

impl<R: Registry> Sticky<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Sticky<R> {
        Sticky { inner }
    }
}

impl<R: Registry> Registry for Sticky<R> {
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        self.inner.register(instance, ttl)
    }

    fn lookup(&self, service: &str, group: &str, version: &str) -> Result<Vec<Instance>, RpcError> {
        self.inner.lookup(service, group, version)
    }

    fn subscribe(
        &self,
        service: &str,
        group: &str,
        version: &str,
    ) -> Result<Subscription, RpcError> {
        self.inner.subscribe(service, group, version)
    }
}
