//! `service!` stubs over a `ClusterClient` (issue 10, item 2: "works with
//! `service!` stubs"), and failover through the stub when a provider's
//! network dies under load, through `common::fault::FaultProxy`.
//!
//! Every wait is bounded: each call has the cluster's call timeout, the
//! caller threads stop after a fixed number of calls or `PATIENCE`.

mod common;

use common::fault::{Direction, Fault, FaultProxy};
use common::PATIENCE;
use minirpc::balance::RoundRobin;
use minirpc::cluster::{ClusterClient, Strategy};
use minirpc::discovery::{Instance, MemoryRegistry, Registry};
use minirpc::{service, RpcError, Server, ServerHandle};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICE: &str = "Echo";
const TTL: Duration = Duration::from_secs(30);
/// The deadline of one call, retries included.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

service! {
    /// Echo, and say who answered.
    pub trait Echo, client EchoClient {
        /// The argument back: safe to run twice, so marked idempotent.
        fn echo(n: u64) -> u64, async echo_async, idempotent;
        /// The provider's name.
        fn who() -> String, async who_async;
    }
}

struct Provider {
    name: String,
    calls: Arc<AtomicUsize>,
}

impl Echo for Provider {
    fn echo(&self, n: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        n
    }
    fn who(&self) -> String {
        self.name.clone()
    }
}

/// A provider named `name`, counting its `echo` calls in `calls`; the
/// test publishes it under its own address or a proxy's.
fn provider(name: &str, calls: &Arc<AtomicUsize>) -> ServerHandle {
    let mut server = Server::new();
    Provider {
        name: name.to_owned(),
        calls: Arc::clone(calls),
    }
    .register_service(&mut server);
    server.serve("127.0.0.1:0").unwrap()
}

fn publish(handle: &mut ServerHandle, registry: &MemoryRegistry, addr: SocketAddr) {
    handle
        .publish(registry, &Instance::new(SERVICE, addr), TTL)
        .unwrap();
}

fn cluster(registry: &Arc<MemoryRegistry>, strategy: Strategy) -> ClusterClient {
    let r: Arc<dyn Registry> = Arc::clone(registry) as Arc<dyn Registry>;
    ClusterClient::builder(r, SERVICE, "default", "1.0.0")
        .balancer(Box::new(RoundRobin::new()))
        .strategy(strategy)
        .call_timeout(CALL_TIMEOUT)
        // The retry budget has its own test in tests/cluster.rs; here it
        // must not be what decides whether a retry happens.
        .retry_budget(10_000, 1.0)
        .connect()
        .unwrap()
}

#[test]
fn a_service_stub_calls_through_a_cluster_client() {
    let registry = Arc::new(MemoryRegistry::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut a = provider("a", &calls);
    let mut b = provider("b", &calls);
    let (addr_a, addr_b) = (a.local_addr(), b.local_addr());
    publish(&mut a, &registry, addr_a);
    publish(&mut b, &registry, addr_b);

    let echo: EchoClient<ClusterClient> = EchoClient::new(cluster(&registry, Strategy::FailFast));
    let mut seen = BTreeSet::new();
    for n in 0..20u64 {
        assert_eq!(echo.echo(n).unwrap(), n);
    }
    for _ in 0..4 {
        seen.insert(echo.who().unwrap());
    }
    assert_eq!(
        seen,
        BTreeSet::from(["a".to_owned(), "b".to_owned()]),
        "round robin reaches both providers through the stub"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 20);

    // The future variant, over the cluster: a ClusterPending.
    let pending = echo.echo_async(42);
    assert_eq!(pending.wait().unwrap(), 42);
    let name = echo.who_async().wait().unwrap();
    assert!(name == "a" || name == "b", "{name}");

    // The cluster client underneath is still there for untyped calls.
    let raw: u64 = echo.client().call("Echo.echo", &(7u64,)).unwrap();
    assert_eq!(raw, 7);
}

#[test]
fn failover_through_the_stub_loses_no_idempotent_call_when_a_provider_is_cut() {
    let registry = Arc::new(MemoryRegistry::new());
    let calls_a = Arc::new(AtomicUsize::new(0));
    let calls_b = Arc::new(AtomicUsize::new(0));
    let mut a = provider("a", &calls_a);
    let mut b = provider("b", &calls_b);
    // Each provider is known to the registry only by its proxy's address:
    // every byte of every call crosses a FaultProxy.
    let proxy_a = FaultProxy::start(a.local_addr());
    let proxy_b = FaultProxy::start(b.local_addr());
    publish(&mut a, &registry, proxy_a.addr());
    publish(&mut b, &registry, proxy_b.addr());

    let echo = EchoClient::new(cluster(&registry, Strategy::Failover { retries: 2 }));
    const THREADS: u64 = 3;
    const BEFORE_CUT: usize = 60;
    const AFTER_CUT: usize = 150;
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let give_up = Instant::now() + PATIENCE;

    let results: Vec<Vec<(u64, Result<u64, RpcError>)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (echo, done, stop) = (&echo, &done, &stop);
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::SeqCst) && Instant::now() < give_up {
                        let n = t * 1_000_000 + i;
                        out.push((n, echo.echo(n)));
                        done.fetch_add(1, Ordering::SeqCst);
                        i += 1;
                    }
                    out
                })
            })
            .collect();

        let wait_for = |count: usize| {
            while done.load(Ordering::SeqCst) < count {
                assert!(Instant::now() < give_up, "callers stalled at {count}");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        wait_for(BEFORE_CUT);
        // Provider a's network dies mid-run: every connection through its
        // proxy, open or new, closes as soon as its next byte arrives.
        proxy_a.set_both(Fault::CutAfter(0));
        let cut_at = done.load(Ordering::SeqCst);
        wait_for(cut_at + AFTER_CUT);
        stop.store(true, Ordering::SeqCst);
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let mut total = 0;
    for (n, result) in results.iter().flatten() {
        match result {
            Ok(v) => assert_eq!(v, n),
            Err(e) => panic!("idempotent call {n} failed under failover: {e}"),
        }
        total += 1;
    }
    assert!(total >= BEFORE_CUT + AFTER_CUT, "{total} calls");
    assert!(
        calls_a.load(Ordering::SeqCst) > 0,
        "a served before the cut"
    );
    assert!(
        proxy_a.stats(Direction::ClientToServer).dropped > 0,
        "the cut did throw calls away: they were retried on b"
    );
    assert!(
        calls_b.load(Ordering::SeqCst) >= AFTER_CUT,
        "b took over: {} calls",
        calls_b.load(Ordering::SeqCst)
    );
}
