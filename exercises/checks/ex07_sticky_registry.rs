//! The check of ex07_sticky_registry: `check_registry` while all is well,
//! then an outage.

use crate::exercises::ex07_sticky_registry::Sticky;
use crate::exercises::{broke, unfinished};
use minirpc::discovery::{Instance, MemoryRegistry, Registration, Registry, Subscription};
use minirpc::testkit::{registry_failures, Time};
use minirpc::time::ManualClock;
use minirpc::RpcError;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "ex07_sticky_registry";

/// What the starting point fails with.
pub const UNFINISHED: &str =
    "lookup() passed the outage's error on; answer the last list that worked for the same query";

/// A registry the check can switch off.
struct Flaky {
    inner: MemoryRegistry,
    down: Arc<AtomicBool>,
}

impl Flaky {
    fn up(&self) -> Result<(), RpcError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(RpcError::unavailable(
                "the registry is down (switched off by the check)",
            ));
        }
        Ok(())
    }
}

impl Registry for Flaky {
    fn register(&self, i: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        self.up()?;
        self.inner.register(i, ttl)
    }
    fn lookup(&self, s: &str, g: &str, v: &str) -> Result<Vec<Instance>, RpcError> {
        self.up()?;
        self.inner.lookup(s, g, v)
    }
    fn subscribe(&self, s: &str, g: &str, v: &str) -> Result<Subscription, RpcError> {
        self.up()?;
        self.inner.subscribe(s, g, v)
    }
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let clock = ManualClock::new();
    let c = clock.clone();
    let make = move || -> Box<dyn Registry> {
        Box::new(Sticky::new(MemoryRegistry::with_clock(c.clone())))
    };
    if let Some(f) = registry_failures(make, &Time::Manual(clock.clone())).first() {
        return Err(broke(NAME, f));
    }
    let down = Arc::new(AtomicBool::new(false));
    let reg = Sticky::new(Flaky {
        inner: MemoryRegistry::with_clock(clock),
        down: Arc::clone(&down),
    });
    let a = Instance::new("Sticky", SocketAddr::from(([127, 0, 0, 1], 7001)));
    let _held = reg
        .register(&a, Duration::from_secs(10))
        .map_err(|e| broke(NAME, e))?;
    let before = reg
        .lookup("Sticky", "default", "*")
        .map_err(|e| broke(NAME, e))?;
    down.store(true, Ordering::SeqCst);
    match reg.lookup("Sticky", "default", "*") {
        Ok(list) if list == before => {}
        Ok(list) => return Err(broke(NAME, format!("during the outage lookup answered {list:?}, expected the last good list {before:?}"))),
        Err(_) => return Err(unfinished(NAME, UNFINISHED)),
    }
    if let Ok(list) = reg.lookup("Sticky", "other-group", "*") {
        return Err(broke(NAME, format!("during the outage, a query never answered before gave Ok({list:?}); only a list that was seen may be answered")));
    }
    Ok(())
}
