//! Flow control, watched second by second on real servers.
//!
//! Article: 原理 › 流量控制 (识别调用来源, 单节点限流, 集群限流). Chapter:
//! `docs/10-flow-control.md`.
//!
//! ```text
//! cargo run --example rate_limit
//! ```
//!
//! What it does, in about 12 seconds:
//!
//! ```text
//!  1. one server, rule "Arith.* per caller: 20/s burst 5"; the caller "noisy"
//!     sends 200 calls a second, "quiet" sends 5: noisy is held to 20, quiet
//!     is untouched (each caller has its own bucket)
//!  2. three servers share one cluster limit of 60/s through a token server
//!     found in a MemoryRegistry; traffic is uneven (150, 60 and 10 calls a
//!     second): together they pass about 60
//!  3. the token server is stopped: each server falls back to its share,
//!     60 / 3 = 20/s (and says so, once); the quiet third leaves its share
//!     unused, so the cluster passes less than 60
//!  4. a token server is started again: within the retry interval (1 s)
//!     the servers return to the shared quota
//! ```
//!
//! The counts are printed as they happen; the limiters run on the real
//! clock, so the figures wobble by a call or two from run to run.

use minirpc::discovery::{Instance, MemoryRegistry, Registry};
use minirpc::flow::{ClusterLimiter, ClusterMode, Rule, TokenServer, TOKEN_SERVICE};
use minirpc::{Client, Server, ServerHandle, Status};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// One paced caller and what happened to its calls this second.
struct Caller {
    label: String,
    ok: AtomicU64,
    limited: AtomicU64,
}

/// Callers calling `Arith.Multiply` at their rate until `stop`.
struct Load {
    callers: Vec<Arc<Caller>>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(plan: Vec<(String, Client, u32)>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (mut callers, mut threads) = (Vec::new(), Vec::new());
        for (label, client, per_sec) in plan {
            let caller = Arc::new(Caller {
                label,
                ok: AtomicU64::new(0),
                limited: AtomicU64::new(0),
            });
            let (c, stop) = (Arc::clone(&caller), Arc::clone(&stop));
            threads.push(thread::spawn(move || {
                let gap = Duration::from_secs(1) / per_sec;
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    match client.call::<_, i32>("Arith.Multiply", &(6, 7)) {
                        Ok(_) => c.ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) if e.status == Status::ResourceExhausted => {
                            c.limited.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(e) => {
                            eprintln!("{}: {e}", c.label);
                            0
                        }
                    };
                    // Paced, not flat out: the machine is shared.
                    next += gap;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        thread::sleep(wait);
                    }
                }
            }));
            callers.push(caller);
        }
        Load {
            callers,
            stop,
            threads,
        }
    }

    /// Print each caller's counts once a second for `seconds` seconds,
    /// with the total accepted against `limit` if there is one.
    fn watch(&self, seconds: u32, limit: Option<u64>, mut note: impl FnMut() -> String) {
        for s in 1..=seconds {
            thread::sleep(Duration::from_secs(1));
            let mut line = format!("  second {s}:");
            let mut total = 0;
            for c in &self.callers {
                let ok = c.ok.swap(0, Ordering::Relaxed);
                let limited = c.limited.swap(0, Ordering::Relaxed);
                total += ok;
                line += &format!("  {} {ok:>3} ok {limited:>3} refused |", c.label);
            }
            if let Some(limit) = limit {
                line += &format!("  together {total:>3}/s (limit {limit}/s)");
            }
            println!("{line} {}", note());
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn arith_server(builder: minirpc::ServerBuilder) -> ServerHandle {
    let mut server = builder.build();
    server.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn connect(server: &ServerHandle, caller: &str) -> Client {
    Client::builder()
        .caller_id(caller)
        .connect(server.local_addr())
        .expect("connect to a server of this process")
}

fn start_token_server(registry: &MemoryRegistry, rate: f64) -> ServerHandle {
    let ts = Arc::new(TokenServer::new().flow("Arith", rate, 10));
    let mut server = Server::new();
    TokenServer::register_on(&ts, &mut server);
    let mut handle = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let me = Instance::new(TOKEN_SERVICE, handle.local_addr());
    handle
        .publish(registry, &me, Duration::from_secs(30))
        .expect("publish the token server");
    handle
}

fn main() {
    println!("1. one server, rule \"Arith.* per caller: 20/s burst 5\"");
    let server = arith_server(
        Server::builder().rate_limit(Rule::token_bucket("Arith.*", 20.0, 5).per_caller()),
    );
    let load = Load::start(vec![
        ("noisy".into(), connect(&server, "noisy"), 200),
        ("quiet".into(), connect(&server, "quiet"), 5),
    ]);
    load.watch(3, None, String::new);
    load.stop();
    let st = server.stats();
    println!(
        "  server: {} calls ok, {} refused by the rate limit (ServerStats::rejected_rate_limited), {} refused as busy",
        st.calls_ok, st.rejected_rate_limited, st.rejected_busy
    );
    server.shutdown();

    const RATE: f64 = 60.0;
    println!("\n2. three servers share one cluster limit of {RATE}/s (a token server, found in a registry)");
    let registry = Arc::new(MemoryRegistry::new());
    let mut token_server = Some(start_token_server(&registry, RATE));
    let (mut limiters, mut servers) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let limiter = Arc::new(ClusterLimiter::new(
            "Arith",
            registry.clone() as Arc<dyn Registry>,
            RATE,
            10,
            3,
        ));
        servers.push(arith_server(
            Server::builder().rate_limit(Rule::shared("Arith.*", limiter.clone())),
        ));
        limiters.push(limiter);
    }
    let plan = |servers: &[ServerHandle]| {
        vec![
            ("A".to_owned(), connect(&servers[0], "a"), 150),
            ("B".to_owned(), connect(&servers[1], "b"), 60),
            ("C".to_owned(), connect(&servers[2], "c"), 10),
        ]
    };
    let load = Load::start(plan(&servers));
    let modes = || {
        let m: Vec<&str> = limiters
            .iter()
            .map(|l| match l.mode() {
                ClusterMode::Shared => "shared",
                ClusterMode::Fallback => "fallback",
            })
            .collect();
        format!("[{}]", m.join(" "))
    };
    load.watch(3, Some(RATE as u64), modes);

    println!("\n3. the token server stops: each server falls back to {RATE}/3 = 20/s");
    if let Some(ts) = token_server.take() {
        ts.shutdown();
    }
    load.watch(3, Some(RATE as u64), modes);

    println!("\n4. a token server is back: the servers return to the shared quota");
    token_server = Some(start_token_server(&registry, RATE));
    load.watch(3, Some(RATE as u64), modes);
    load.stop();
    drop(token_server);
    for s in servers {
        s.shutdown();
    }
}
