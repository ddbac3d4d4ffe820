//! The management center (管理中心) on a small live cluster.
//!
//! ```text
//! cargo run --example admin                 # 120 s, then it stops by itself
//! cargo run --example admin -- --seconds 600 --port 8080
//! ```
//!
//! Three providers of `Arith` register in a `MemoryRegistry`; a
//! `ClusterClient` calls them at a steady pace (weighted random, so weight
//! matters), with a few bad calls so the error columns move. The admin page
//! watches the service, pings every provider and shows their metrics. Open
//! the URL it prints in a browser (it reloads itself), type the token it
//! prints, and press "take out" on one provider: its weight goes to 0 in
//! the registry and the lines this example prints show its share of calls
//! fall to zero, while it keeps answering anyone who calls it directly.
//!
//! The page is served on 127.0.0.1 only; see docs/13-management.md.

use minirpc::admin::AdminBuilder;
use minirpc::balance::WeightedRandom;
use minirpc::cluster::ClusterClient;
use minirpc::discovery::{Instance, MemoryRegistry, Registry};
use minirpc::{RpcError, Server, ServerHandle, Status};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: admin [--seconds N] [--port PORT]
  --seconds N   how long to run (default 120)
  --port PORT   the admin page's port on 127.0.0.1 (default: any free port)";

fn main() -> ExitCode {
    let (seconds, port) = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(seconds, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("admin example failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<(u64, u16), String> {
    let (mut seconds, mut port) = (120, 0);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--seconds" => seconds = value("--seconds")?,
            "--port" => port = value("--port")? as u16,
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((seconds, port))
}

fn provider(registry: &dyn Registry, calls: Arc<AtomicU64>) -> Result<ServerHandle, RpcError> {
    let mut server = Server::new();
    server.register("Multiply", move |(l, r): (i32, i32)| {
        calls.fetch_add(1, Ordering::Relaxed);
        l.checked_mul(r).ok_or_else(|| {
            RpcError::new(
                Status::InvalidArgument,
                format!("{l} × {r} overflows an i32"),
            )
        })
    });
    let mut handle = server
        .serve("127.0.0.1:0")
        .map_err(|e| RpcError::from_io("cannot start a provider on 127.0.0.1:0", &e))?;
    let instance = Instance::new("Arith", handle.local_addr());
    handle.publish(registry, &instance, Duration::from_secs(10))?;
    Ok(handle)
}

fn run(seconds: u64, port: u16) -> Result<(), RpcError> {
    let registry = Arc::new(MemoryRegistry::new());
    let counts: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut providers = Vec::new();
    for c in &counts {
        providers.push(provider(registry.as_ref(), Arc::clone(c))?);
    }
    // A token for this run only; anyone who can read this terminal is the operator.
    let token = format!(
        "{:016x}",
        minirpc::balance::rng::Rng::from_entropy().next_u64()
    );
    let mut admin = AdminBuilder::new()
        .watch("Arith", "default", "*")
        .token(&token);
    for p in &providers {
        admin = admin.manage(p.control());
    }
    let admin = admin.serve(registry.as_ref(), ("127.0.0.1", port))?;
    println!("admin page: {}", admin.url());
    println!("token:      {token}");
    println!(
        "(JSON: {}api/overview; running for {seconds} s)\n",
        admin.url()
    );

    let client = ClusterClient::builder(registry.clone(), "Arith", "default", "*")
        .balancer(Box::new(WeightedRandom::new()))
        .connect()?;
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut i: i32 = 0;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_add(1);
                // One call in fifty overflows, so the error columns move.
                let r = if i % 50 == 0 { i32::MAX } else { 2 };
                let _ = client.call::<_, i32>("Multiply", &(i, r));
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let end = Instant::now() + Duration::from_secs(seconds);
    let mut last: Vec<u64> = vec![0; 3];
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(2));
        let now: Vec<u64> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let weights: Vec<String> = providers
            .iter()
            .map(|p| {
                p.control()
                    .published()
                    .first()
                    .map_or("-".into(), |i| i.weight.to_string())
            })
            .collect();
        let line: Vec<String> = (0..3)
            .map(|i| {
                format!(
                    "{} weight {:>3}: {:>4} calls/2s",
                    providers[i].local_addr(),
                    weights[i],
                    now[i] - last[i]
                )
            })
            .collect();
        println!("{}", line.join(" | "));
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = traffic.join();
    admin.shutdown();
    Ok(())
}
