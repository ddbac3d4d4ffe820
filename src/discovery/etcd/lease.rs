//! A registration's lease: granted, renewed every TTL/3, granted again if
//! it expired, revoked when the registration goes.
//!
//! ```text
//!  register ─► grant(TTL) ─► put(key, value, lease)
//!                 keepalive thread, every TTL/3:
//!                   keepalive(lease) ─ TTL back ─────────► fine, sleep
//!                                    ─ no TTL (expired) ─► grant + put again
//!                                    ─ error ────────────► say so once, retry next tick
//!  drop ─► stop the thread ─► revoke(lease): the key is gone at once
//! ```
//!
//! Why TTL/3: two renewals can be lost (a slow etcd, a dropped connection)
//! before the lease runs out. etcd's own client renews at TTL/3 for the
//! same reason. A lease expires when its owner stops renewing for any
//! reason — the process died, or it was paused (a long GC, a stopped VM,
//! a network partition) — and a paused owner that wakes up finds
//! "no TTL" and simply registers again, so a pause costs a gap in the list,
//! not a provider lost for good.

use super::gateway::Gateway;
use super::value;
use super::worker::{Stop, Worker};
use crate::discovery::{Instance, Lease};
use crate::error::RpcError;
use crate::sync::lock;
use crate::time::Deadline;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The [`Lease`] behind an etcd [`Registration`](crate::discovery::Registration).
pub struct EtcdLease {
    gw: Gateway,
    key: String,
    /// The value written under the key; shared with the keepalive thread,
    /// which writes it again if the lease must be granted anew.
    value: Arc<Mutex<String>>,
    /// The lease now in use; `None` while it must be granted again.
    current: Arc<Mutex<Option<i64>>>,
    keepalive: Option<Worker>,
}

/// What the keepalive thread needs to register again on its own.
struct Keeper {
    gw: Gateway,
    key: String,
    value: Arc<Mutex<String>>,
    ttl: i64,
    current: Arc<Mutex<Option<i64>>>,
    failing: bool,
}

impl EtcdLease {
    /// Grant a lease of `ttl` (rounded up to whole seconds), write `key` =
    /// `value` under it, and start renewing it.
    pub fn start(
        gw: Gateway,
        key: String,
        value: String,
        ttl: Duration,
    ) -> Result<EtcdLease, RpcError> {
        // etcd counts TTLs in whole seconds, at most 9e9 (its MaxLeaseTTL).
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let ttl_secs = secs.clamp(1, 9_000_000_000) as i64;
        let (id, granted) = gw.grant(ttl_secs)?;
        if let Err(e) = gw.put(&key, value.as_bytes(), id) {
            let _ = gw.revoke(id);
            return Err(e);
        }
        let current = Arc::new(Mutex::new(Some(id)));
        let value = Arc::new(Mutex::new(value));
        let mut keeper = Keeper {
            gw: gw.clone(),
            key: key.clone(),
            value: Arc::clone(&value),
            ttl: granted.max(1),
            current: Arc::clone(&current),
            failing: false,
        };
        // A tick makes at most two requests, each bounded by the timeout.
        let bound = gw.request_timeout() * 2 + Duration::from_secs(1);
        let keepalive = Worker::spawn("minirpc-etcd-keepalive", bound, move |stop| {
            keeper.run(stop)
        });
        Ok(EtcdLease {
            gw,
            key,
            value,
            current,
            keepalive: Some(keepalive),
        })
    }
}

impl Lease for EtcdLease {
    fn revoke(&mut self) -> Result<(), RpcError> {
        // Stop renewing first, so nothing grants a new lease behind us.
        if let Some(mut k) = self.keepalive.take() {
            k.stop_and_join();
        }
        match lock(&self.current).take() {
            Some(id) => self.gw.revoke(id),
            None => Ok(()),
        }
    }

    fn update(&mut self, instance: &Instance) -> Result<(), RpcError> {
        let encoded = value::encode(instance);
        // Under the value's lock, so the keepalive thread cannot write the
        // old value after us when it registers again.
        let mut v = lock(&self.value);
        if let Some(id) = *lock(&self.current) {
            self.gw.put(&self.key, encoded.as_bytes(), id)?;
        }
        *v = encoded;
        Ok(())
    }
}

impl Keeper {
    fn run(&mut self, stop: &Stop) {
        let interval = Duration::from_millis((self.ttl as u64).saturating_mul(1000) / 3);
        while !stop.sleep(interval) {
            let r = self.tick();
            match (&r, self.failing) {
                (Err(e), false) => eprintln!(
                    "minirpc: cannot keep {} registered in etcd ({e}); retrying every {interval:?}",
                    self.key
                ),
                (Ok(()), true) => eprintln!("minirpc: {} is registered in etcd again", self.key),
                _ => {}
            }
            self.failing = r.is_err();
        }
    }

    /// One renewal, or one registration again if the lease is gone.
    fn tick(&mut self) -> Result<(), RpcError> {
        let id = *lock(&self.current);
        if let Some(id) = id {
            // A renewal later than the TTL is useless: give up by then.
            let deadline = Deadline::after(
                self.gw
                    .request_timeout()
                    .min(Duration::from_secs(self.ttl as u64)),
            );
            if self.gw.keepalive(id, deadline)?.is_some() {
                return Ok(());
            }
            eprintln!(
                "minirpc: the etcd lease of {} expired (was this process paused?); registering again",
                self.key
            );
            *lock(&self.current) = None;
        }
        let (new, _) = self.gw.grant(self.ttl)?;
        let value = lock(&self.value);
        if let Err(e) = self.gw.put(&self.key, value.as_bytes(), new) {
            let _ = self.gw.revoke(new);
            return Err(e);
        }
        *lock(&self.current) = Some(new);
        Ok(())
    }
}
