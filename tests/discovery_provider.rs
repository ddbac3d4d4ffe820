//! A provider publishes itself (`ServerHandle::publish`) and, on a clean
//! shutdown, deregisters *before* it stops accepting: consumers learn it is
//! leaving while it still answers them.

use minirpc::discovery::{Instance, Lease, MemoryRegistry, Registration, Registry, Subscription};
use minirpc::{Client, RpcError, Server};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(5);

/// A registry that, at the moment a registration is revoked, calls the
/// provider it was for and records whether it still answered.
struct Probing {
    inner: MemoryRegistry,
    answered_at_revoke: Arc<Mutex<Option<Result<i32, RpcError>>>>,
}

struct ProbingLease {
    inner: Option<Registration>,
    addr: SocketAddr,
    answered: Arc<Mutex<Option<Result<i32, RpcError>>>>,
}

impl Lease for ProbingLease {
    fn revoke(&mut self) -> Result<(), RpcError> {
        let result = Client::builder()
            .connect_timeout(PATIENCE)
            .call_timeout(PATIENCE)
            .connect(self.addr)
            .and_then(|c| c.call::<_, i32>("Multiply", &(6, 7)));
        *self.answered.lock().unwrap() = Some(result);
        match self.inner.take() {
            Some(r) => r.deregister(),
            None => Ok(()),
        }
    }
}

impl Registry for Probing {
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        let inner = self.inner.register(instance, ttl)?;
        Ok(Registration::new(
            instance.clone(),
            Box::new(ProbingLease {
                inner: Some(inner),
                addr: instance.addr,
                answered: Arc::clone(&self.answered_at_revoke),
            }),
        ))
    }
    fn lookup(&self, s: &str, g: &str, v: &str) -> Result<Vec<Instance>, RpcError> {
        self.inner.lookup(s, g, v)
    }
    fn subscribe(&self, s: &str, g: &str, v: &str) -> Result<Subscription, RpcError> {
        self.inner.subscribe(s, g, v)
    }
}

fn provider() -> minirpc::ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").unwrap()
}

#[test]
fn a_provider_deregisters_before_it_stops_accepting() {
    let registry = Probing {
        inner: MemoryRegistry::new(),
        answered_at_revoke: Arc::new(Mutex::new(None)),
    };
    let mut server = provider();
    let me = Instance::new("Arith", server.local_addr()).group("stable");
    server
        .publish(&registry, &me, Duration::from_secs(10))
        .unwrap();
    let sub = registry.subscribe("Arith", "stable", "*").unwrap();
    let first = sub.next_timeout(PATIENCE).expect("the first list");
    assert_eq!(first.instances, vec![me.clone()]);

    server.shutdown();

    // At the moment it deregistered, the provider still served a call...
    let answered = registry.answered_at_revoke.lock().unwrap().take();
    assert_eq!(
        answered.expect("shutdown never deregistered"),
        Ok(42),
        "the provider had stopped serving before it deregistered"
    );
    // ...and the consumer was told it left.
    let after = sub
        .next_timeout(PATIENCE)
        .expect("no change after shutdown");
    assert!(after.instances.is_empty(), "{after:?}");
}

#[test]
fn a_published_provider_is_found_and_disappears_when_its_handle_is_dropped() {
    let registry = MemoryRegistry::new();
    let mut server = provider();
    let addr = server.local_addr();
    server
        .publish(
            &registry,
            &Instance::new("Arith", addr),
            Duration::from_secs(10),
        )
        .unwrap();
    let found = registry.lookup("Arith", "default", "*").unwrap();
    assert_eq!(found.len(), 1);
    let c = Client::connect(found[0].addr).unwrap();
    assert_eq!(c.call::<_, i32>("Multiply", &(2, 21)), Ok(42));
    drop(server);
    assert!(registry.lookup("Arith", "default", "*").unwrap().is_empty());
}
