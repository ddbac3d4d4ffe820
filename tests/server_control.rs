//! `ServerControl`: a management center takes a provider out of rotation
//! by publishing it with weight 0, and brings it back, in the registry
//! itself — with the in-process `MemoryRegistry` and with a real etcd.
//! Consumers see the change through their subscription; the provider never
//! leaves the list and never stops serving.

mod common;

use common::etcd::Etcd;
use common::PATIENCE;
use minirpc::discovery::{EtcdRegistry, Instance, MemoryRegistry, Registry, Subscription};
use minirpc::{Server, Status};
use std::time::{Duration, Instant};

fn multiply_server() -> minirpc::ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").expect("bind")
}

/// Wait (bounded) for a snapshot in which the one instance has `weight`.
fn await_weight(sub: &Subscription, weight: u32) -> Instance {
    let end = Instant::now() + PATIENCE * 2;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no snapshot with weight {weight} within {:?}",
            PATIENCE * 2
        );
        if let Some(snap) = sub.next_timeout(left) {
            if let [only] = snap.instances.as_slice() {
                if only.weight == weight {
                    return only.clone();
                }
            }
        }
    }
}

fn weight_goes_to_zero_and_back(registry: &dyn Registry) {
    let mut handle = multiply_server();
    let addr = handle.local_addr();
    let instance = Instance::new("Arith", addr).weight(7).meta("zone", "a");
    handle
        .publish(registry, &instance, Duration::from_secs(5))
        .unwrap();
    let control = handle.control();
    let sub = registry.subscribe("Arith", "default", "*").unwrap();
    await_weight(&sub, 7);

    control.set_weight(0).unwrap();
    let drained = await_weight(&sub, 0);
    assert_eq!(drained.addr, addr);
    assert_eq!(
        drained.metadata.get("zone").map(String::as_str),
        Some("a"),
        "metadata is kept"
    );
    assert_eq!(control.published()[0].weight, 0);
    // Out of rotation is not out of service: it still answers.
    common::assert_serves(addr);

    control.set_weight(7).unwrap();
    await_weight(&sub, 7);
    assert_eq!(
        registry.lookup("Arith", "default", "*").unwrap()[0].weight,
        7
    );

    handle.shutdown();
    let e = control.set_weight(1).unwrap_err();
    assert_eq!(e.status, Status::NotFound, "{e}");
    assert!(e.message.contains("ServerHandle::publish"), "{e}");
    assert!(control.published().is_empty());
}

#[test]
fn set_weight_republishes_in_a_memory_registry() {
    let registry = MemoryRegistry::new();
    weight_goes_to_zero_and_back(&registry);
}

#[test]
fn set_weight_republishes_in_etcd() {
    let Some(etcd) = Etcd::start("set_weight_republishes_in_etcd") else {
        return;
    };
    let registry = EtcdRegistry::connect(&etcd.url()).unwrap();
    weight_goes_to_zero_and_back(&registry);
}

#[test]
fn a_registration_cannot_change_its_identity() {
    let registry = MemoryRegistry::new();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let mut r = registry
        .register(&Instance::new("Arith", addr), Duration::from_secs(5))
        .unwrap();
    let e = r.update(|i| i.service = "Other".into()).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    assert_eq!(registry.lookup("Arith", "default", "*").unwrap().len(), 1);
    assert!(registry.lookup("Other", "default", "*").unwrap().is_empty());
}
