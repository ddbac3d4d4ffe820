//! Load balancing and cluster strategies, measured on three real providers.
//!
//! Article: 原理 › 负载均衡 (random, weighted, round robin, consistent hash,
//! adaptive) and 原理 › 集群策略 (失败重试, Failover), with the 负载均衡 row of
//! 对比 › RPC与HTTP ("RPC balances by itself"). Chapters: `docs/08-load-balancing.md`
//! and `docs/09-cluster.md`.
//!
//! ```text
//! cargo run --release --example cluster                                  # MemoryRegistry, in this process
//! cargo run --release --example cluster -- --etcd http://127.0.0.1:2379  # the same against etcd
//! ```
//!
//! What it does, in a few seconds:
//!
//! ```text
//!  providers A (weight 5), B (weight 3), C (weight 2, its handler sleeps 2 ms) on 127.0.0.1:0
//!  1. a ClusterClient per balancer, 1,000 calls each: who served them (a histogram),
//!     and the p50/p99 latency seen per instance
//!  2. ConsistentHash's ring: keys 0..10,000 mapped, C removed, keys mapped again
//!  3. Failover { retries: 2 }: 4 threads of idempotent calls; B crashes mid-run
//!     (its server stops, its registration is left behind, as after a real crash);
//!     every call still succeeds, the tries beyond one per call are the retries,
//!     and the client's health view shows when B went Suspect, then Dead
//! ```
//!
//! A and C are published with `ServerHandle::publish` (their shutdown
//! deregisters them); B registers through the registry and keeps its
//! `Registration`, so that it can vanish without saying goodbye.

use minirpc::balance::{
    Adaptive, Balancer, ConsistentHash, Outcome, Random, RoundRobin, WeightedRandom,
};
use minirpc::cluster::{ClusterClient, Strategy};
use minirpc::discovery::{
    EtcdRegistry, Health, HealthConfig, Instance, MemoryRegistry, Registration, Registry,
};
use minirpc::{RpcError, Server, ServerHandle};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const SERVICE: &str = "ClusterDemo";
const GROUP: &str = "demo";
const TTL: Duration = Duration::from_secs(5);
const NAMES: [&str; 3] = ["A", "B", "C"];
const WEIGHTS: [u32; 3] = [5, 3, 2];

/// One provider: its server, its server-side call count, and (for B) the
/// registration it holds itself.
struct Provider {
    instance: Instance,
    server: ServerHandle,
    calls: Arc<AtomicU64>,
    held: Option<Registration>,
}

/// Start provider `i` on 127.0.0.1:0 and register it.
fn provider(registry: &dyn Registry, i: usize) -> Result<Provider, RpcError> {
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    let mut server = Server::new();
    server.register("Who", move |_n: u32| {
        counter.fetch_add(1, Ordering::Relaxed);
        if i == 2 {
            thread::sleep(Duration::from_millis(2)); // C is the slow one
        }
        Ok(i as u32)
    });
    let mut server = server
        .serve("127.0.0.1:0")
        .map_err(|e| RpcError::from_io("cannot start a provider on 127.0.0.1:0", &e))?;
    let instance = Instance::new(SERVICE, server.local_addr())
        .group(GROUP)
        .weight(WEIGHTS[i])
        .meta("name", NAMES[i]);
    let held = if i == 1 {
        Some(registry.register(&instance, TTL)?)
    } else {
        server.publish(registry, &instance, TTL)?;
        None
    };
    Ok(Provider {
        instance,
        server,
        calls,
        held,
    })
}

/// A balancer that counts every try it is told of, then passes it on: the
/// tries beyond one per call are the retries.
struct Counting {
    inner: Box<dyn Balancer>,
    tries: Arc<AtomicU64>,
}

impl Balancer for Counting {
    fn pick(&self, instances: &[Instance], key: Option<&[u8]>) -> Option<usize> {
        self.inner.pick(instances, key)
    }
    fn started(&self, addr: SocketAddr) {
        self.tries.fetch_add(1, Ordering::Relaxed);
        self.inner.started(addr);
    }
    fn finished(&self, addr: SocketAddr, outcome: Outcome) {
        self.inner.finished(addr, outcome);
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Step 1: 1,000 calls through one balancer, then who served them.
fn balance(registry: &Arc<dyn Registry>, b: Box<dyn Balancer>) -> Result<(), RpcError> {
    let name = b.name();
    let keyed = name.contains("hash");
    let cluster = ClusterClient::builder(Arc::clone(registry), SERVICE, GROUP, "*")
        .balancer(b)
        .connect()?;
    let mut lat: [Vec<Duration>; 3] = Default::default();
    for n in 0..1000u32 {
        let t = Instant::now();
        let who: u32 = if keyed {
            // 100 distinct keys, each called 10 times: the same key always
            // lands on the same instance.
            cluster.call_keyed(&(n % 100).to_le_bytes(), "Who", &n)?
        } else {
            cluster.call("Who", &n)?
        };
        lat[who as usize].push(t.elapsed());
    }
    println!("\n{name}{}", if keyed { " (100 keys)" } else { "" });
    for (i, l) in lat.iter_mut().enumerate() {
        l.sort();
        let bar = "#".repeat(l.len().div_ceil(20));
        println!(
            "  {} w{} {:<50} {:>4}  p50 {}  p99 {}",
            NAMES[i],
            WEIGHTS[i],
            bar,
            l.len(),
            ms(percentile(l, 0.50)),
            ms(percentile(l, 0.99))
        );
    }
    Ok(())
}

/// Step 2: the ring, before and after one instance leaves.
fn ring(instances: &[Instance]) {
    let ch = ConsistentHash::new();
    let owners = |list: &[Instance]| -> Vec<SocketAddr> {
        (0..10_000u32)
            .map(|k| list[ch.pick(list, Some(&k.to_le_bytes())).unwrap_or(0)].addr)
            .collect()
    };
    let before = owners(instances);
    let removed = instances[2].addr;
    let rest: Vec<Instance> = instances
        .iter()
        .filter(|i| i.addr != removed)
        .cloned()
        .collect();
    let after = owners(&rest);
    let moved: Vec<usize> = (0..before.len())
        .filter(|&k| before[k] != after[k])
        .collect();
    let owned = before.iter().filter(|&&a| a == removed).count();
    let all_from_removed = moved.iter().all(|&k| before[k] == removed);
    println!("\nconsistent hash ring (160 virtual nodes each): keys 0..10000, then C removed");
    println!("  C owned {owned} keys before it left");
    println!(
        "  keys moved: {} of 10000 ({:.1} %), all from the removed instance: {}",
        moved.len(),
        moved.len() as f64 / 100.0,
        if all_from_removed { "yes" } else { "no" }
    );
}

/// Step 3: Failover under load while B crashes. `Ok(true)`: no call lost.
fn failover(
    registry: &Arc<dyn Registry>,
    providers: &mut [Option<Provider>],
) -> Result<bool, RpcError> {
    let victim = providers[1].as_ref().map(|p| p.instance.addr);
    let counters: Vec<Arc<AtomicU64>> = providers
        .iter()
        .flatten()
        .map(|p| Arc::clone(&p.calls))
        .collect();
    let runs = || -> u64 { counters.iter().map(|c| c.load(Ordering::Relaxed)).sum() };
    let server_before = runs();
    let tries = Arc::new(AtomicU64::new(0));
    let health = HealthConfig {
        failures_to_suspect: 1,
        probe_backoff: Duration::from_millis(50),
        probe_timeout: Duration::from_millis(200),
        ..HealthConfig::default()
    };
    let cluster = ClusterClient::builder(Arc::clone(registry), SERVICE, GROUP, "*")
        .balancer(Box::new(Counting {
            inner: Box::new(RoundRobin::new()),
            tries: Arc::clone(&tries),
        }))
        .strategy(Strategy::Failover { retries: 2 })
        .idempotent(&["Who"])
        .health(health)
        .call_timeout(Duration::from_secs(1))
        .connect()?;
    let (ok, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let seen: Mutex<Vec<(Duration, Health)>> = Mutex::new(Vec::new());
    let start = Instant::now();
    let mut crashed_at = Duration::ZERO;
    println!("\nFailover {{ retries: 2 }}, round robin, 4 threads of idempotent calls for 1.5 s");
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) && n < 100_000 {
                    n += 1;
                    match cluster.call_idempotent::<_, u32>("Who", &n) {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
        s.spawn(|| {
            let mut last = Health::Healthy;
            while !stop.load(Ordering::Relaxed) {
                let now = cluster
                    .health()
                    .into_iter()
                    .find(|(a, _)| Some(*a) == victim);
                if let Some((_, h)) = now {
                    if h != last {
                        seen.lock().unwrap().push((start.elapsed(), h));
                        last = h;
                    }
                }
                thread::sleep(Duration::from_millis(1));
            }
        });
        thread::sleep(Duration::from_millis(400));
        if let Some(b) = providers[1].take() {
            crashed_at = start.elapsed();
            println!(
                "  {:>7}  B crashes: its server stops, its registration stays",
                ms(crashed_at)
            );
            b.server.shutdown();
            if let Some(r) = b.held {
                r.abandon();
            }
        }
        thread::sleep(Duration::from_millis(1100));
        stop.store(true, Ordering::Relaxed);
    });
    for (at, h) in seen.lock().unwrap().iter() {
        let after = at.saturating_sub(crashed_at);
        println!(
            "  {:>7}  the client sees B {h} ({} after the crash)",
            ms(*at),
            ms(after)
        );
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let tries = tries.load(Ordering::Relaxed);
    println!("  calls: {} succeeded, {failed} failed", ok);
    println!(
        "  tries: {tries} for {} calls: {} retried; the servers ran {} calls",
        ok + failed,
        tries.saturating_sub(ok + failed),
        runs() - server_before
    );
    println!("  retry tokens left: {:.1}", cluster.retry_tokens());
    println!(
        "  every idempotent call succeeded: {}",
        if failed == 0 { "yes" } else { "no" }
    );
    Ok(failed == 0)
}

fn run(registry: Arc<dyn Registry>) -> Result<bool, RpcError> {
    let mut providers: Vec<Option<Provider>> = Vec::new();
    for i in 0..3 {
        let p = provider(registry.as_ref(), i)?;
        println!(
            "provider {} at {} (weight {}{})",
            NAMES[i],
            p.instance.addr,
            WEIGHTS[i],
            if i == 2 { ", handler sleeps 2 ms" } else { "" }
        );
        providers.push(Some(p));
    }
    let balancers: Vec<Box<dyn Balancer>> = vec![
        Box::new(Random::with_seed(1)),
        Box::new(WeightedRandom::with_seed(1)),
        Box::new(RoundRobin::new()),
        Box::new(ConsistentHash::new()),
        Box::new(Adaptive::default()),
    ];
    for b in balancers {
        balance(&registry, b)?;
    }
    let instances: Vec<Instance> = providers
        .iter()
        .flatten()
        .map(|p| p.instance.clone())
        .collect();
    ring(&instances);
    let ok = failover(&registry, &mut providers)?;
    for p in providers.into_iter().flatten() {
        p.server.shutdown();
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let registry: Arc<dyn Registry> = match (args.next().as_deref(), args.next()) {
        (None, _) => {
            println!("registry: MemoryRegistry, in this process");
            Arc::new(MemoryRegistry::new())
        }
        (Some("--etcd"), Some(url)) => match EtcdRegistry::connect(&url) {
            Ok(etcd) => {
                println!("registry: etcd {} at {url}", etcd.server_version());
                Arc::new(etcd)
            }
            Err(e) => {
                eprintln!("cannot reach etcd at {url}: {e}\nstart one with: etcd --data-dir /tmp/etcd-demo");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("usage: cluster [--etcd URL]");
            return ExitCode::from(2);
        }
    };
    match run(registry) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cluster example failed: {e}");
            ExitCode::FAILURE
        }
    }
}
