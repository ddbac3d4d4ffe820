//! How fast is a minirpc call, and how far is it from the floor?
//!
//! Article: RPC与HTTP › 性能 (and 本地调用VS远程调用: what a remote call
//! costs). Every number here comes in a pair: minirpc, and a hand-written
//! blocking ping-pong over raw `std::net` TCP that moves frames of the same
//! sizes. Nothing built on blocking sockets and threads can beat the raw
//! ping-pong, so the ratio between the two is the price of the framework
//! (request ids, the call table, the worker pool, encoding).
//!
//! ```text
//!   rr_latency/minirpc_multiply        one Client, one call at a time
//!   rr_latency/raw_tcp_pingpong        one TcpStream, one round trip at a time
//!   throughput/minirpc_N_callers_one_client   N threads share ONE Client
//!   throughput/raw_tcp_N_connections          N threads, N TcpStreams
//! ```
//!
//! Run with `cargo bench --bench rpc`. On a 2-core machine it takes a few
//! minutes; `examples/bench_report.rs` prints the same comparison (with
//! p50/p99) without criterion.

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use minirpc::Client;
use std::sync::Arc;
use std::time::Duration;
use support::{message, multiply, multiply_frame_sizes, run_parallel, RawConn, RawServer};

/// Calls (or round trips) each thread makes per criterion iteration in the
/// throughput benchmarks; one iteration is `threads × CALLS_PER_THREAD`.
const CALLS_PER_THREAD: u64 = 64;

// ---- the benchmarks ------------------------------------------------------------

fn rr_latency(c: &mut Criterion) {
    let (req_len, resp_len) = multiply_frame_sizes();
    let mut group = c.benchmark_group("rr_latency");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    {
        let server = support::multiply_server(minirpc::pool::DEFAULT_SPIN);
        let client = Client::connect(server.local_addr()).expect("connect");
        group.bench_function("minirpc_multiply", |b| b.iter(|| multiply(&client)));
        drop(client);
        server.shutdown();
    }
    {
        let server = RawServer::start(1, resp_len);
        let mut conn = server.connect();
        let request = message(req_len);
        group.bench_function("raw_tcp_pingpong", |b| b.iter(|| conn.round_trip(&request)));
        drop(conn);
        server.join();
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let (req_len, resp_len) = multiply_frame_sizes();
    let mut group = c.benchmark_group("throughput");
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        // 64 callers × 64 calls is ~4096 calls, a quarter of a second per
        // iteration when the machine is busy: leave room for 20 of them.
        .measurement_time(Duration::from_secs(8));

    for &n in &[8usize, 64] {
        group.throughput(Throughput::Elements(n as u64 * CALLS_PER_THREAD));

        let server = support::multiply_server(minirpc::pool::DEFAULT_SPIN);
        let client = Arc::new(Client::connect(server.local_addr()).expect("connect"));
        let mut callers: Vec<Arc<Client>> = (0..n).map(|_| Arc::clone(&client)).collect();
        group.bench_function(format!("minirpc_{n}_callers_one_client"), |b| {
            b.iter_custom(|iters| {
                run_parallel(&mut callers, iters * CALLS_PER_THREAD, |c| multiply(c))
            })
        });
        drop(callers);
        drop(client);
        server.shutdown();

        let server = RawServer::start(n, resp_len);
        let mut conns: Vec<RawConn> = (0..n).map(|_| server.connect()).collect();
        let request = message(req_len);
        group.bench_function(format!("raw_tcp_{n}_connections"), |b| {
            b.iter_custom(|iters| {
                run_parallel(&mut conns, iters * CALLS_PER_THREAD, |c| {
                    c.round_trip(&request)
                })
            })
        });
        drop(conns);
        server.join();
    }
    group.finish();
}

criterion_group!(benches, rr_latency, throughput);
criterion_main!(benches);
