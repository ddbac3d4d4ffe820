//! `ServerControl`: what a management center may do to a running server
//! from the outside — read its counters and change the weight it is
//! published with — without owning it.
//!
//! Article: the 管理中心 row of 框架 › 对比 (a management center sees every
//! provider and can take one out of rotation). The one idea to take away:
//! **taking a provider out of rotation is a change in the registry, not a
//! shutdown.** The provider keeps serving the calls it has; consumers that
//! balance by weight stop choosing it once they see weight 0, and it comes
//! back the same way.
//!
//! ```text
//!   admin page ─ POST disable ─► ServerControl::set_weight(0)
//!        │                          └─► every Registration::update(weight 0)
//!        │                                 └─► registry ─► consumers' next snapshot
//!        └─ GET ─► ServerControl::stats()      (the server's own counters)
//! ```

use super::describe::MethodDescription;
use super::handle::{metrics_of, Inner, ServerHandle, ServerStats};
use crate::discovery::{Instance, Registration};
use crate::error::{RpcError, Status};
use crate::metrics::MetricsSnapshot;
use crate::sync::lock;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A shareable handle on a running server, for a management center: its
/// address, counters and published instances, and the power to change the
/// weight it is published with. It does not keep the server running: once
/// the [`ServerHandle`] shuts down, the control reports an empty
/// publication list and refuses weight changes.
#[derive(Clone)]
pub struct ServerControl {
    addr: SocketAddr,
    inner: Arc<Inner>,
    registrations: Arc<Mutex<Vec<Registration>>>,
}

impl ServerControl {
    pub(crate) fn new(handle: &ServerHandle) -> ServerControl {
        ServerControl {
            addr: handle.local_addr(),
            inner: Arc::clone(handle.inner()),
            registrations: Arc::clone(&handle.registrations),
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether `addr` names this server: the address it listens on, or one
    /// it is published under. A provider bound to `0.0.0.0` publishes the
    /// address consumers dial, and a management center sees only that one.
    pub fn serves_at(&self, addr: SocketAddr) -> bool {
        self.addr == addr
            || lock(&self.registrations)
                .iter()
                .any(|r| r.instance().addr == addr)
    }

    /// A snapshot of the server's counters (as [`ServerHandle::stats`]).
    pub fn stats(&self) -> ServerStats {
        ServerStats::of(&self.inner)
    }

    /// Every method's counters (as [`ServerHandle::metrics`]).
    pub fn metrics(&self) -> MetricsSnapshot {
        metrics_of(&self.inner)
    }

    /// This server's call table, as `$minirpc.describe` reports it.
    pub fn describe(&self) -> Vec<MethodDescription> {
        super::describe::describe(&self.inner)
    }

    /// Each rate-limit rule of this server (see
    /// [`ServerBuilder::rate_limit`](crate::ServerBuilder::rate_limit)), in
    /// words, with how many calls it has refused.
    pub fn limits(&self) -> Vec<(String, u64)> {
        self.inner.flow.report()
    }

    /// The instances this server is published as, one per registry.
    pub fn published(&self) -> Vec<Instance> {
        lock(&self.registrations)
            .iter()
            .map(|r| r.instance().clone())
            .collect()
    }

    /// Publish this server with `weight` in every registry it is published
    /// in. Weight 0 takes it out of rotation for weighted balancers; the
    /// server itself goes on serving whoever still calls it.
    pub fn set_weight(&self, weight: u32) -> Result<(), RpcError> {
        let mut published = lock(&self.registrations);
        if published.is_empty() {
            return Err(RpcError::new(
                Status::NotFound,
                format!(
                    "the server at {} is not published in any registry (see ServerHandle::publish), or it has shut down",
                    self.addr
                ),
            ));
        }
        for r in published.iter_mut() {
            r.update(|i| i.weight = weight)?;
        }
        Ok(())
    }
}
