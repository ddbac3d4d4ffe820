//! What counting costs: Multiply(10, 20) over one connection, N times,
//! with the server and the client in one process. It uses nothing but
//! `Server` and `Client`, so the same file runs on a tree without metrics,
//! and the two runs can be compared (docs/13-management.md shows how).
//!
//! ```text
//! cargo run --release --example metrics_cost -- 20000
//! valgrind --tool=callgrind target/release/examples/metrics_cost 2000
//! valgrind --tool=callgrind target/release/examples/metrics_cost 12000
//! ```
//!
//! Under callgrind, the difference in instructions between two runs, over
//! the difference in calls, is the instructions per call with the start-up
//! taken out.

use minirpc::{Client, Server};
use std::time::Instant;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l.wrapping_mul(r)));
    let handle = server.serve("127.0.0.1:0").expect("bind a free port");
    let client = Client::connect(handle.local_addr()).expect("connect");
    let started = Instant::now();
    for _ in 0..n {
        let y: i32 = client.call("Multiply", &(10, 20)).expect("call");
        assert_eq!(y, 200);
    }
    let took = started.elapsed();
    println!(
        "{n} calls in {took:?}: {:.0} calls/s, {:.2} µs per call",
        f64::from(n) / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / f64::from(n)
    );
}
