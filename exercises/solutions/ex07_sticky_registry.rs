//! Reference solution of ex07_sticky_registry: a map from query to the
//! last list that came back.

use minirpc::discovery::{Instance, Registration, Registry, Subscription};
use minirpc::RpcError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

type Query = (String, String, String);

/// A registry that answers its last good list while the inner one is down.
pub struct Sticky<R> {
    inner: R,
    last: Mutex<HashMap<Query, Vec<Instance>>>,
}

impl<R: Registry> Sticky<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Sticky<R> {
        Sticky {
            inner,
            last: Mutex::new(HashMap::new()),
        }
    }
}

impl<R: Registry> Registry for Sticky<R> {
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        self.inner.register(instance, ttl)
    }

    fn lookup(&self, service: &str, group: &str, version: &str) -> Result<Vec<Instance>, RpcError> {
        let query = (service.to_string(), group.to_string(), version.to_string());
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match self.inner.lookup(service, group, version) {
            Ok(list) => {
                last.insert(query, list.clone());
                Ok(list)
            }
            Err(e) => last.get(&query).cloned().ok_or(e),
        }
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
