//! Measure minirpc against the floor, and print the numbers.
//!
//! Article: 对比 › RPC与Socket. RPC is built on sockets, and the article
//! notes that it costs more than a bare socket carrying the same payload;
//! this example measures how much, on your machine. (The article's RPC与HTTP
//! comparison is a different one, against HTTP; it has its own planned
//! chapter.) Run it with
//!
//! ```text
//! cargo run --release --example bench_report
//! ```
//!
//! (in release mode: a debug build measures the compiler, not the design).
//! It takes well under a minute and needs no criterion: a reader can check
//! every claim of the docs about speed on their own machine.
//!
//! The floor is a hand-written blocking ping-pong over raw `std::net` TCP
//! that sends frames of exactly the sizes minirpc's Multiply(10, 20) request
//! and response have. No framework built on blocking sockets and threads can
//! beat it, so "minirpc / raw" is the price of everything minirpc adds:
//! request ids, the call table, the worker pool, encoding and decoding.
//!
//! Two more rows price an option rather than the design: the same calls
//! with `ClientBuilder::checksums(true)`, which seals every frame with a
//! CRC-32C both ways (docs/04-transport.md, "End to end: checksums"), for
//! Multiply and for an echo of 64 KiB, where the CRC has bytes to chew on.
//!
//! The criterion versions of these measurements are `benches/rpc.rs` and
//! `benches/codec.rs` (which also times `checksum::crc32c` alone).

#[path = "../benches/support/mod.rs"]
mod support;

use minirpc::codec::{self, Encode};
use minirpc::{Client, Limits, Server, ServerHandle};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{
    message, multiply, multiply_frame_sizes, run_parallel, sample_order, Order, RawConn, RawServer,
};

/// Round trips timed one by one for the latency percentiles, per side.
const LATENCY_SAMPLES: usize = 20_000;
/// The latency samples are taken in this many rounds, alternating minirpc
/// and raw TCP with fresh servers, so a change in the machine's load (or
/// where the scheduler puts the threads) falls on both sides alike.
const LATENCY_ROUNDS: usize = 4;
/// Round trips run (and thrown away) at the start of each round, so the
/// connection, caches and the CPU's frequency have settled.
const WARMUP: usize = 500;
/// Calls each thread makes in one throughput run.
const CALLS_PER_THREAD: u64 = 2_000;
/// Throughput runs per configuration; the median is printed.
const THROUGHPUT_RUNS: usize = 3;
/// Encodes and decodes timed for the codec numbers.
const CODEC_ROUNDS: u32 = 200_000;
/// The payload of the echo rows (with and without checksums).
const ECHO_BYTES: usize = 64 * 1024;
/// Echo round trips timed per side (in the same rounds as the latency).
const ECHO_SAMPLES: usize = 4_000;

fn main() {
    let (req_len, resp_len) = multiply_frame_sizes();
    println!("minirpc bench_report: minirpc vs a raw TCP ping-pong (the floor)");
    println!("  (the article's 对比 › RPC与Socket: what RPC costs over a bare socket)");
    println!(
        "  (server workers spin {:?} before sleeping; change with --spin-us N)",
        spin()
    );
    println!();
    println!("  latency     one caller, one connection, one call at a time. p50 is the");
    println!("              median round trip, p99 the time 99% of calls beat.");
    println!(
        "              {LATENCY_SAMPLES} timed round trips each, in {LATENCY_ROUNDS} rounds alternating"
    );
    println!("              minirpc and raw (fresh servers, {WARMUP} untimed calls first).");
    println!("  throughput  N threads calling as fast as they can, {CALLS_PER_THREAD} calls each;");
    println!("              minirpc: N threads share ONE Client (one TCP connection);");
    println!("              raw: N threads, each with its OWN connection and server thread.");
    println!("              Median of {THROUGHPUT_RUNS} runs, in calls per second.");
    println!("  ratio       minirpc / raw. For latency, lower is better (1.00 = as fast as");
    println!("              raw TCP); for throughput, higher is better (1.00 = as fast).");
    println!("  checksums   the same calls with ClientBuilder::checksums(true): every frame");
    println!(
        "              sealed with a CRC-32C, both ways. Echo sends {} KiB and gets",
        ECHO_BYTES / 1024
    );
    println!("              them back; its ratio is checksums / without.");
    println!("  codec       an Order (id, user, 5 items, a note) in the binary codec:");
    println!("              nanoseconds per encode (into a reused Vec) and per decode.");
    println!("  caveat      on a virtual machine, waking a thread on an idle vCPU can cost");
    println!("              more than the round trip itself, so latency can swing several-fold");
    println!("              between runs; run it twice and compare.");
    println!();
    println!(
        "  frames: Multiply request {req_len} bytes, response {resp_len} bytes \
         (the raw ping-pong sends a 4-byte length + the same number of bytes)"
    );
    println!(
        "  machine: {} hardware threads",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();

    // ---- latency ----
    let per_round = LATENCY_SAMPLES / LATENCY_ROUNDS;
    let mut rpc_samples = Vec::with_capacity(LATENCY_SAMPLES);
    let mut sealed_samples = Vec::with_capacity(LATENCY_SAMPLES);
    let mut raw_samples = Vec::with_capacity(LATENCY_SAMPLES);
    let mut echo_samples = Vec::with_capacity(ECHO_SAMPLES);
    let mut echo_sealed_samples = Vec::with_capacity(ECHO_SAMPLES);
    let echo_per_round = ECHO_SAMPLES / LATENCY_ROUNDS;
    let payload: Vec<u8> = (0..ECHO_BYTES).map(|i| (i * 31 + 7) as u8).collect();
    for _ in 0..LATENCY_ROUNDS {
        for (checksums, samples) in [(false, &mut rpc_samples), (true, &mut sealed_samples)] {
            let server = support::multiply_server(spin());
            let client = connect(&server, checksums);
            time_each(per_round, samples, || multiply(&client));
            drop(client);
            server.shutdown();
        }
        for (checksums, samples) in [(false, &mut echo_samples), (true, &mut echo_sealed_samples)] {
            let server = echo_server(spin());
            let client = connect(&server, checksums);
            time_each(echo_per_round, samples, || echo(&client, &payload));
            drop(client);
            server.shutdown();
        }
        {
            let server = RawServer::start(1, resp_len);
            let mut conn = server.connect();
            let request = message(req_len);
            time_each(per_round, &mut raw_samples, || conn.round_trip(&request));
            drop(conn);
            server.join();
        }
    }
    let (rpc_p50, rpc_p99) = p50_p99(&mut rpc_samples);
    let (sealed_p50, sealed_p99) = p50_p99(&mut sealed_samples);
    let (raw_p50, raw_p99) = p50_p99(&mut raw_samples);
    let (echo_p50, echo_p99) = p50_p99(&mut echo_samples);
    let (echo_sealed_p50, echo_sealed_p99) = p50_p99(&mut echo_sealed_samples);
    println!("latency (request-response, 1 caller)        p50          p99");
    println!(
        "  minirpc Multiply                     {:>9.1} µs  {:>9.1} µs",
        micros(rpc_p50),
        micros(rpc_p99)
    );
    println!(
        "  raw TCP ping-pong                    {:>9.1} µs  {:>9.1} µs",
        micros(raw_p50),
        micros(raw_p99)
    );
    println!(
        "  ratio minirpc / raw                  {:>9.2}     {:>9.2}",
        ratio(rpc_p50, raw_p50),
        ratio(rpc_p99, raw_p99)
    );
    println!(
        "  minirpc Multiply, checksums          {:>9.1} µs  {:>9.1} µs",
        micros(sealed_p50),
        micros(sealed_p99)
    );
    println!(
        "  ratio checksums / raw                {:>9.2}     {:>9.2}",
        ratio(sealed_p50, raw_p50),
        ratio(sealed_p99, raw_p99)
    );
    println!();
    let title = format!("latency, Echo of {} KiB, 1 caller", ECHO_BYTES / 1024);
    println!("{title:<44}p50          p99");
    println!(
        "  minirpc Echo                         {:>9.1} µs  {:>9.1} µs",
        micros(echo_p50),
        micros(echo_p99)
    );
    println!(
        "  minirpc Echo, checksums              {:>9.1} µs  {:>9.1} µs",
        micros(echo_sealed_p50),
        micros(echo_sealed_p99)
    );
    println!(
        "  ratio checksums / without            {:>9.2}     {:>9.2}",
        ratio(echo_sealed_p50, echo_p50),
        ratio(echo_sealed_p99, echo_p99)
    );
    println!();

    // ---- throughput ----
    println!("throughput                                  minirpc        raw TCP    minirpc / raw");
    for &n in &[8usize, 64] {
        let rpc = shared_client_rate(n, false);
        let sealed = shared_client_rate(n, true);
        let raw = {
            let server = RawServer::start(n, resp_len);
            let mut conns: Vec<RawConn> = (0..n).map(|_| server.connect()).collect();
            let request = message(req_len);
            run_parallel(&mut conns, 50, |c| c.round_trip(&request));
            let rate = median_rate(n, || {
                run_parallel(&mut conns, CALLS_PER_THREAD, |c| c.round_trip(&request))
            });
            drop(conns);
            server.join();
            rate
        };
        println!(
            "  {n:>2} callers (one Client) vs {n:>2} conns  {:>9.0}/s   {:>9.0}/s   {:>9.2}",
            rpc,
            raw,
            rpc / raw
        );
        println!(
            "  {n:>2} callers, checksums                {:>9.0}/s                  {:>9.2}",
            sealed,
            sealed / raw
        );
    }
    println!();

    // ---- codec ----
    let order = sample_order();
    let bytes = codec::to_bytes(&order);
    let back: Order = codec::from_bytes(&bytes, Limits::default()).expect("round trip");
    assert_eq!(back, order);
    let mut out = Vec::with_capacity(bytes.len());
    let encode_ns = time_per_op(CODEC_ROUNDS, || {
        out.clear();
        black_box(&order).encode(&mut out);
        black_box(&out);
    });
    let decode_ns = time_per_op(CODEC_ROUNDS, || {
        let o: Order = codec::from_bytes(black_box(&bytes), Limits::default()).unwrap();
        black_box(o);
    });
    println!("codec (Order, binary)");
    println!(
        "  encoded size                         {:>9} bytes",
        bytes.len()
    );
    println!("  encode                               {encode_ns:>9.1} ns");
    println!("  decode                               {decode_ns:>9.1} ns");
    println!(
        "  encode + decode                      {:>9.1} ns",
        encode_ns + decode_ns
    );
}

// ---- measuring ------------------------------------------------------------------

/// Run `op` `WARMUP` times untimed, then `n` times, timing each call into
/// `samples`.
fn time_each(n: usize, samples: &mut Vec<Duration>, mut op: impl FnMut()) {
    for _ in 0..WARMUP {
        op();
    }
    for _ in 0..n {
        let start = Instant::now();
        op();
        samples.push(start.elapsed());
    }
}

/// The median and the 99th percentile of `samples`.
fn p50_p99(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    (percentile(samples, 50.0), percentile(samples, 99.0))
}

/// The `p`th percentile of sorted `samples` (nearest rank).
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Run `run` (which makes `threads × CALLS_PER_THREAD` calls) several times
/// and return the median rate in calls per second.
fn median_rate(threads: usize, mut run: impl FnMut() -> Duration) -> f64 {
    let calls = (threads as u64 * CALLS_PER_THREAD) as f64;
    let mut rates: Vec<f64> = (0..THROUGHPUT_RUNS)
        .map(|_| calls / run().as_secs_f64())
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Average nanoseconds per call of `op` over `rounds` calls (after a tenth
/// as many untimed ones).
fn time_per_op(rounds: u32, mut op: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        op();
    }
    let start = Instant::now();
    for _ in 0..rounds {
        op();
    }
    start.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

// ---- minirpc ----------------------------------------------------------------------

/// A client of `server`, sealing every frame if `checksums` (the server
/// follows the client: it answers sealed frames sealed).
fn connect(server: &ServerHandle, checksums: bool) -> Client {
    Client::builder()
        .checksums(checksums)
        .connect(server.local_addr())
        .expect("connect")
}

/// A server whose `Echo` returns its bytes.
fn echo_server(spin: Duration) -> ServerHandle {
    let mut server = Server::builder().spin(spin).build();
    server.register("Echo", |bytes: Vec<u8>| Ok(bytes));
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn echo(client: &Client, payload: &[u8]) {
    let back: Vec<u8> = client.call("Echo", payload).expect("Echo call");
    assert_eq!(back.len(), payload.len());
}

/// Calls per second of `n` threads sharing one `Client` (median of the
/// runs), with or without checksums.
fn shared_client_rate(n: usize, checksums: bool) -> f64 {
    let server = support::multiply_server(spin());
    let client = Arc::new(connect(&server, checksums));
    let mut callers: Vec<Arc<Client>> = (0..n).map(|_| Arc::clone(&client)).collect();
    // Warm up: every thread makes a few calls first.
    run_parallel(&mut callers, 50, |c| multiply(c));
    let rate = median_rate(n, || {
        run_parallel(&mut callers, CALLS_PER_THREAD, |c| multiply(c))
    });
    drop(callers);
    drop(client);
    server.shutdown();
    rate
}

/// The server workers' spin time: `--spin-us N` on the command line, else
/// minirpc's default (see `ServerBuilder::spin` and docs/04-transport.md).
fn spin() -> Duration {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--spin-us")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .map_or(minirpc::pool::DEFAULT_SPIN, Duration::from_micros)
}
