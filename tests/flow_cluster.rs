//! Cluster limiting (集群限流) with real servers: three servers share one
//! global rate through a token server found in a registry; when the token
//! server dies each falls back to its local share, and when a token
//! server is back they return to the shared quota.
//!
//! Time is a `ManualClock` shared by the token server and the three
//! limiters, stepped 100 ms at a time, and every step sends more calls
//! than the limit allows: so "how many passed" depends only on the
//! limits, never on how fast this machine is. The asks to the token
//! server get a generous timeout here (the default is 20 ms), so a slow CI
//! machine does not fall back by accident; the fallback test kills the
//! token server instead.

mod common;

use common::{Gate, PATIENCE};
use minirpc::discovery::{Instance, MemoryRegistry, Registry};
use minirpc::flow::{ClusterLimiter, ClusterMode, Rule, TokenServer, TOKEN_CALL_ID, TOKEN_SERVICE};
use minirpc::time::ManualClock;
use minirpc::{Client, Server, ServerHandle, Status};
use std::sync::Arc;
use std::time::Duration;

const FLOW: &str = "Arith";
const RATE: f64 = 100.0;
const BURST: u32 = 20;
const STEP: Duration = Duration::from_millis(100);
/// Calls sent to each server per step: far more than a step's tokens.
const DEMAND: u32 = 15;

struct Cluster {
    clock: Arc<ManualClock>,
    registry: Arc<MemoryRegistry>,
    token_server: Option<(Arc<TokenServer>, ServerHandle)>,
    limiters: Vec<Arc<ClusterLimiter>>,
    _servers: Vec<ServerHandle>,
    clients: Vec<Client>,
}

fn start_token_server(
    clock: &Arc<ManualClock>,
    registry: &Arc<MemoryRegistry>,
) -> (Arc<TokenServer>, ServerHandle) {
    let ts = Arc::new(
        TokenServer::new()
            .clock(clock.clone())
            .flow(FLOW, RATE, BURST),
    );
    let mut server = Server::new();
    TokenServer::register_on(&ts, &mut server);
    let mut handle = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let me = Instance::new(TOKEN_SERVICE, handle.local_addr());
    handle
        .publish(&**registry, &me, Duration::from_secs(60))
        .expect("publish the token server");
    (ts, handle)
}

fn cluster() -> Cluster {
    let clock = ManualClock::new();
    let registry = Arc::new(MemoryRegistry::new());
    let token_server = Some(start_token_server(&clock, &registry));
    let (mut limiters, mut servers, mut clients) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let limiter = Arc::new(
            ClusterLimiter::new(FLOW, registry.clone() as Arc<dyn Registry>, RATE, BURST, 3)
                .timeout(PATIENCE),
        );
        let mut server = Server::builder()
            .rate_limit(Rule::shared("Arith.*", limiter.clone()).clock(clock.clone()))
            .build();
        server.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
        let handle = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
        clients.push(Client::connect(handle.local_addr()).expect("connect"));
        limiters.push(limiter);
        servers.push(handle);
    }
    Cluster {
        clock,
        registry,
        token_server,
        limiters,
        _servers: servers,
        clients,
    }
}

impl Cluster {
    /// Run `steps` steps of demand on all three servers; returns the calls
    /// accepted in all, checking that every refusal is a rate limit's.
    fn run(&self, steps: u32) -> u32 {
        let mut accepted = 0;
        for _ in 0..steps {
            for c in &self.clients {
                for _ in 0..DEMAND {
                    match c.call::<_, i32>("Arith.Multiply", &(6, 7)) {
                        Ok(v) => {
                            assert_eq!(v, 42);
                            accepted += 1;
                        }
                        Err(e) => {
                            assert_eq!(e.status, Status::ResourceExhausted, "{e}");
                            assert!(e.message.starts_with("rate limit "), "{e}");
                        }
                    }
                }
            }
            self.clock.advance(STEP);
        }
        accepted
    }

    fn modes(&self) -> Vec<ClusterMode> {
        self.limiters.iter().map(|l| l.mode()).collect()
    }
}

fn assert_within_10_percent(got: u32, limit: f64, what: &str) {
    let (lo, hi) = (limit * 0.9, limit * 1.1);
    println!("{what}: {got} accepted against a limit of {limit}");
    assert!(
        (lo..=hi).contains(&f64::from(got)),
        "{what}: {got} calls accepted, not within ±10 % of {limit} ({lo}..={hi})"
    );
}

#[test]
fn three_servers_sharing_a_cluster_limit_stay_within_10_percent_of_it() {
    let c = cluster();
    // 10 s of clock, 45 calls a step against 10 tokens a step.
    let accepted = c.run(100);
    assert_within_10_percent(accepted, RATE * 10.0, "three servers over 10 s at 100/s");
    let (ts, _) = c.token_server.as_ref().unwrap();
    let granted = ts.granted(FLOW);
    assert!(
        u64::from(accepted) <= granted,
        "{accepted} accepted but only {granted} tokens granted"
    );
    assert_eq!(c.modes(), vec![ClusterMode::Shared; 3]);
    assert!(c.limiters.iter().all(|l| l.fallbacks() == 0));
}

#[test]
fn servers_fall_back_to_their_local_share_when_the_token_server_dies_and_recover() {
    let mut c = cluster();
    let shared = c.run(30);
    assert_within_10_percent(shared, RATE * 3.0, "shared, 3 s");

    // The token server goes away (and leaves the registry).
    let (_, handle) = c.token_server.take().unwrap();
    handle.shutdown();
    let fallback = c.run(30);
    assert_eq!(c.modes(), vec![ClusterMode::Fallback; 3]);
    // Each server alone passes 100/3 per second: with traffic spread
    // evenly, the cluster still passes about the limit.
    assert_within_10_percent(fallback, RATE * 3.0, "fallback, 3 s");
    for l in &c.limiters {
        assert_eq!(l.fallbacks(), 1, "fell back once, and said so once");
        assert_eq!(l.recoveries(), 0);
    }

    // A token server is back (a new process, at a new address).
    c.token_server = Some(start_token_server(&c.clock, &c.registry));
    let recovered = c.run(30);
    assert_eq!(c.modes(), vec![ClusterMode::Shared; 3]);
    for l in &c.limiters {
        assert_eq!((l.fallbacks(), l.recoveries()), (1, 1));
    }
    assert_within_10_percent(recovered, RATE * 3.0, "recovered, 3 s");
    let (ts, _) = c.token_server.as_ref().unwrap();
    assert!(
        ts.granted(FLOW) > 0,
        "the new token server is the one granting"
    );
}

#[test]
fn a_server_with_no_token_server_registered_starts_in_fallback() {
    let clock = ManualClock::new();
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let limiter = Arc::new(ClusterLimiter::new(FLOW, registry, 30.0, 3, 3));
    let mut server = Server::builder()
        .rate_limit(Rule::shared("Arith.*", limiter.clone()).clock(clock))
        .build();
    server.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = Client::connect(handle.local_addr()).unwrap();
    // Its share is 30/3 = 10/s, burst 1: exactly one call passes now.
    let ok = (0..10)
        .filter(|_| client.call::<_, i32>("Arith.Multiply", &(1, 1)).is_ok())
        .count();
    assert_eq!(ok, 1);
    assert_eq!(limiter.mode(), ClusterMode::Fallback);
    assert_eq!(limiter.fallbacks(), 1);
}

#[test]
fn a_token_server_slower_than_the_timeout_counts_as_down() {
    // A token server that does not answer until the test lets it: the ask
    // must give up after the limiter's timeout, not wait for the answer.
    let gate = Gate::new();
    let g = Arc::clone(&gate);
    let mut slow = Server::new();
    slow.register(TOKEN_CALL_ID, move |(_flow, wanted): (String, u32)| {
        g.wait(PATIENCE);
        Ok((wanted, 0u64))
    });
    let mut slow = slow.serve("127.0.0.1:0").unwrap();
    let registry = Arc::new(MemoryRegistry::new());
    slow.publish(
        &*registry,
        &Instance::new(TOKEN_SERVICE, slow.local_addr()),
        Duration::from_secs(60),
    )
    .unwrap();
    let clock = ManualClock::new();
    let limiter = Arc::new(
        ClusterLimiter::new(FLOW, registry as Arc<dyn Registry>, 30.0, 3, 3)
            .timeout(Duration::from_millis(50)),
    );
    let mut server = Server::builder()
        .rate_limit(Rule::shared("Arith.*", limiter.clone()).clock(clock))
        .build();
    server.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = Client::connect(handle.local_addr()).unwrap();
    // The first call waits for the ask to time out, then passes on the
    // local share (burst 1); the rest are refused locally, without asking.
    assert_eq!(client.call::<_, i32>("Arith.Multiply", &(2, 3)).unwrap(), 6);
    assert_eq!(limiter.mode(), ClusterMode::Fallback);
    let refused = (0..5)
        .filter(|_| client.call::<_, i32>("Arith.Multiply", &(2, 3)).is_err())
        .count();
    assert_eq!(refused, 5);
    assert_eq!(limiter.fallbacks(), 1);
    gate.open();
}
