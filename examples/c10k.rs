//! Ten thousand idle connections against one server of blocking threads,
//! measured (docs/04-transport.md, "Threads or an event loop").
//!
//! ```text
//! cargo run --release --example c10k -- [--connections N] [--rate R] [--stack-kib K]
//! ```
//!
//! - `--connections N` idle connections to hold (default 10,000);
//! - `--rate R` connects per second (default 2,000; `0` opens them back to
//!   back, which overflows the listen backlog and costs SYN retries);
//! - `--stack-kib K` the server's connection thread stack
//!   (`ServerBuilder::connection_stack_size`; default the server's own).
//!
//! The crowd runs in a child process (this program again, started with
//! `--crowd`), so everything `/proc/self` reports here is the server's,
//! plus the good client's one socket and thread. The kernel's socket
//! buffers are in neither process's resident figure.
//!
//! Each process needs a descriptor per connection. If its soft
//! `RLIMIT_NOFILE` is too low it raises it with `prlimit` (util-linux) up
//! to the hard limit; if that is not enough it says what to run and scales
//! `N` down to fit.

use minirpc::{Client, Server, ServerHandle};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Descriptors a process needs besides one per connection: the good
/// client, the listener, stdio, and slack.
const SPARE_FDS: u64 = 128;
/// Calls the good client makes for each latency figure.
const CALLS: usize = 2000;

struct Args {
    /// Run as the crowd, connecting to this address.
    crowd: Option<SocketAddr>,
    connections: u64,
    rate: u64,
    stack_kib: Option<usize>,
}

fn parse_args() -> Args {
    let mut args = Args {
        crowd: None,
        connections: 10_000,
        rate: 2_000,
        stack_kib: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--crowd" {
            args.crowd = it.next().and_then(|a| a.parse().ok());
            continue;
        }
        let value = it.next().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--connections", Some(n)) => args.connections = n.max(1),
            ("--rate", Some(r)) => args.rate = r,
            ("--stack-kib", Some(k)) => args.stack_kib = Some(k as usize),
            _ => {
                eprintln!("usage: c10k [--connections N] [--rate R] [--stack-kib K]");
                std::process::exit(2);
            }
        }
    }
    args
}

/// The soft and hard "Max open files" of this process.
fn nofile() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut nums = line.split_whitespace().skip(3);
    let soft = nums.next()?.parse().ok()?;
    let hard = nums.next()?.parse().ok()?;
    Some((soft, hard))
}

/// Make room for `n` connections, raising the soft limit with `prlimit` if
/// need be; returns how many connections fit.
fn make_room(n: u64) -> u64 {
    let need = n + SPARE_FDS;
    let Some((soft, hard)) = nofile() else {
        println!("cannot read /proc/self/limits; trying {n} connections as asked");
        return n;
    };
    if soft >= need {
        return n;
    }
    let want = need.min(hard);
    let raised = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={want}:{hard}"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let soft = match (raised, nofile()) {
        (true, Some((now, _))) if now > soft => {
            println!("raised the soft descriptor limit from {soft} to {now} with prlimit");
            now
        }
        _ => {
            println!(
                "could not raise the descriptor limit past {soft} (the hard limit is {hard}; is prlimit from util-linux installed?)"
            );
            soft
        }
    };
    if soft >= need {
        return n;
    }
    let fit = soft.saturating_sub(SPARE_FDS);
    println!(
        "the descriptor limit ({soft}) holds only {fit} connections: run `ulimit -n {need}` first (as root, or raise the hard limit) for {n}"
    );
    fit.max(1)
}

/// `(resident bytes, threads, virtual bytes)` of this process, from
/// /proc/self/status.
fn status() -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        field("VmRSS:") * 1024,
        field("Threads:"),
        field("VmSize:") * 1024,
    )
}

fn descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// p50 and p99 of `CALLS` calls, in microseconds.
fn latencies(client: &Client) -> (f64, f64) {
    let mut us: Vec<f64> = (0..CALLS)
        .map(|i| {
            let t = Instant::now();
            let y: i32 = client
                .call("Multiply", &(i as i32, 3))
                .expect("the good client's call");
            assert_eq!(y, 3 * i as i32);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    (us[CALLS / 2], us[CALLS * 99 / 100])
}

/// The crowd (the child process): open `n` idle connections at `rate` per
/// second (0: no pacing), report `opened <count> <seconds>` on stdout, and
/// hold them until stdin closes.
fn crowd(addr: SocketAddr, n: u64, rate: u64) {
    let n = make_room(n);
    let start = Instant::now();
    let mut crowd = Vec::with_capacity(n as usize);
    for i in 0..n {
        if rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        match TcpStream::connect_timeout(&addr, Duration::from_secs(60)) {
            Ok(s) => crowd.push(s),
            Err(e) => {
                eprintln!("crowd: connection {i} failed: {e}; stopping there");
                break;
            }
        }
    }
    println!("opened {} {}", crowd.len(), start.elapsed().as_secs_f64());
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn wait_for_server(server: &ServerHandle, n: usize) {
    let until = Instant::now() + Duration::from_secs(120);
    while server.stats().connections < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn main() {
    let args = parse_args();
    if let Some(addr) = args.crowd {
        return crowd(addr, args.connections, args.rate);
    }
    let n = make_room(args.connections);
    let mut builder = Server::builder()
        .max_connections(n as usize + 64)
        .idle_timeout(None);
    if let Some(k) = args.stack_kib {
        builder = builder.connection_stack_size(k * 1024);
    }
    let mut server = builder.build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").expect("bind the server");
    let addr = server.local_addr();
    let client = Client::connect(addr).expect("the good client connects");

    let (p50_alone, p99_alone) = latencies(&client);
    let (rss0, threads0, virt0) = status();
    let fds0 = descriptors();

    let t = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("this program's path"))
        .args(["--crowd", &addr.to_string()])
        .args([
            "--connections",
            &n.to_string(),
            "--rate",
            &args.rate.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the crowd process");
    let mut report = String::new();
    let stdout = child.stdout.take().expect("the crowd's stdout");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.starts_with("opened ") {
            report = line;
            break;
        }
        println!("{line}");
    }
    let mut words = report.split_whitespace().skip(1);
    let opened: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let secs: f64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0.0);
    wait_for_server(&server, opened as usize + 1);
    let all_taken = t.elapsed();
    let held = server.stats().connections.saturating_sub(1) as u64;

    let (rss1, threads1, virt1) = status();
    let fds1 = descriptors();
    let (p50_crowd, p99_crowd) = latencies(&client);

    let k = opened.max(1) as f64;
    println!("idle connections: {opened} opened, {held} held by the server");
    println!(
        "pacing: {}",
        if args.rate == 0 {
            "none (back to back)".to_string()
        } else {
            format!("{} connects/s", args.rate)
        }
    );
    println!(
        "time to open them: {secs:.2} s (all accepted by the server after {:.2} s)",
        all_taken.as_secs_f64()
    );
    println!(
        "server resident memory: {:.1} MiB before the crowd, {:.1} MiB with it: {:.1} KiB per connection",
        rss0 as f64 / 1048576.0,
        rss1 as f64 / 1048576.0,
        rss1.saturating_sub(rss0) as f64 / 1024.0 / k
    );
    println!(
        "server virtual memory (address space reserved, mostly stacks): {:.0} MiB before, {:.0} MiB with the crowd: {:.0} KiB per connection",
        virt0 as f64 / 1048576.0,
        virt1 as f64 / 1048576.0,
        virt1.saturating_sub(virt0) as f64 / 1024.0 / k
    );
    println!(
        "server threads: {threads0} before, {threads1} with the crowd: {:.2} per connection",
        threads1.saturating_sub(threads0) as f64 / k
    );
    println!(
        "server descriptors: {fds0} before, {fds1} with the crowd: {:.2} per connection",
        fds1.saturating_sub(fds0) as f64 / k
    );
    println!(
        "good client, {CALLS} calls: p50 {p50_alone:.0} µs, p99 {p99_alone:.0} µs alone; p50 {p50_crowd:.0} µs, p99 {p99_crowd:.0} µs with the crowd"
    );
    drop(child.stdin.take()); // the crowd lets go and exits
    let _ = child.wait();
    drop(client);
    server.shutdown();
}
