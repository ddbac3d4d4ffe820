//! What `read_spin` buys and what it costs: one caller's latency and the
//! CPU each call burns, with neither end polling its socket before it
//! sleeps (the default), with only the client polling for 50 µs
//! (`ClientBuilder::read_spin`), and with both ends polling
//! (`ServerBuilder::read_spin` too). See docs/04-transport.md, "Spinning
//! before sleeping".
//!
//! ```text
//! cargo run --release --example read_spin
//! cargo run --release --example read_spin -- --spin-us 50
//! ```
//!
//! Two workloads, each with the three settings:
//! - back to back: the next call starts as soon as the last one returns,
//!   so the other end's bytes are always microseconds away;
//! - paced: one call every millisecond, so every spin runs its whole window
//!   for nothing before the reader sleeps (the worst case for its CPU).
//!
//! CPU is the whole process's (client and server threads), read from
//! `/proc/self/task/*/schedstat` (nanoseconds on the CPU), per call.

use minirpc::{Client, Server};
use std::time::{Duration, Instant};

const CALLS: usize = 20_000;
const PACED_CALLS: usize = 2_000;
const PACE: Duration = Duration::from_millis(1);
/// The client's window when it spins alone.
const CLIENT_ALONE: Duration = Duration::from_micros(50);

fn main() {
    let both = spin_window();
    println!("minirpc read_spin: 1 caller, Multiply(10, 20), client and server in one process");
    println!(
        "  client alone: {} µs; both ends: {} µs; CPU = all threads, per call",
        CLIENT_ALONE.as_micros(),
        both.as_micros()
    );
    println!();
    println!("workload        who spins      p50 µs   p99 µs   CPU µs per call");
    let settings = [
        ("neither", Duration::ZERO, Duration::ZERO),
        ("client", CLIENT_ALONE, Duration::ZERO),
        ("both", both, both),
    ];
    for (name, calls, pace) in [
        ("back to back", CALLS, None),
        ("1 per ms", PACED_CALLS, Some(PACE)),
    ] {
        for (who, client, server) in settings {
            let r = run(client, server, calls, pace);
            println!(
                "  {name:<14}{who:<13}{:>8.1}{:>9.1}{:>12.1}",
                r.p50_us, r.p99_us, r.cpu_us_per_call
            );
        }
    }
    println!();
    println!("Back to back, nobody sleeps: the call is several times faster and, on a VM");
    println!("where every wake-up is expensive, can even cost less CPU. Paced, each end");
    println!("that spins polls its whole window after every answer for bytes that come");
    println!("later: about one window of CPU per call and per end, for no gain in latency.");
}

struct Report {
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_call: f64,
}

fn run(client: Duration, server: Duration, calls: usize, pace: Option<Duration>) -> Report {
    let mut server = Server::builder().read_spin(server).build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let handle = server.serve("127.0.0.1:0").expect("serve on loopback");
    let client = Client::builder()
        .read_spin(client)
        .connect(handle.local_addr())
        .expect("connect");
    for _ in 0..2_000 {
        let _: i32 = client.call("Multiply", &(10, 20)).expect("warm-up call");
    }
    let mut took = Vec::with_capacity(calls);
    let cpu_before = process_cpu();
    for _ in 0..calls {
        let t = Instant::now();
        let y: i32 = client.call("Multiply", &(10, 20)).expect("call");
        took.push(t.elapsed());
        assert_eq!(y, 200);
        if let Some(p) = pace {
            std::thread::sleep(p);
        }
    }
    let cpu = process_cpu().saturating_sub(cpu_before);
    drop(client);
    handle.shutdown();
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    Report {
        p50_us: at(0.50).as_secs_f64() * 1e6,
        p99_us: at(0.99).as_secs_f64() * 1e6,
        cpu_us_per_call: cpu.as_secs_f64() * 1e6 / calls as f64,
    }
}

/// CPU time used so far by every live thread of this process (threads
/// that ended are not counted; the calls above end none).
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(ns)
}

/// `--spin-us N` for both ends, else 200 µs (the peer suite's raw-tcp-spin window).
fn spin_window() -> Duration {
    let args: Vec<String> = std::env::args().collect();
    let us = args
        .iter()
        .position(|a| a == "--spin-us")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    Duration::from_micros(us)
}
