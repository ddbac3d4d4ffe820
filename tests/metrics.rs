//! Metrics: exact counts after known calls, on both sides; the histogram's
//! quantiles against known data, and merging; unknown call ids bounded.

mod common;

use common::{Gate, PATIENCE};
use minirpc::metrics::{Histogram, HistogramSnapshot, MetricsSnapshot, RELATIVE_ERROR};
use minirpc::protocol::HEADER_LEN;
use minirpc::{Client, RpcError, Server, ServerHandle, Status};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `Multiply` (overflow is INVALID_ARGUMENT), `Fail` (always NOT_FOUND),
/// `Wait` (blocks until the gate opens).
fn serve(gate: Arc<Gate>) -> ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument("overflow"))
    });
    server.register("Fail", |(): ()| -> Result<(), RpcError> {
        Err(RpcError::new(Status::NotFound, "nothing here"))
    });
    server.register("Wait", move |(): ()| {
        gate.wait(PATIENCE);
        Ok(())
    });
    server.serve("127.0.0.1:0").unwrap()
}

/// Poll `f` until it holds, within PATIENCE.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// Multiply(10, 20) in the binary codec, no metadata: header, call id
// (4 + 8), timeout (4), metadata count (4), arguments (8).
const MULTIPLY_REQUEST: u64 = (HEADER_LEN + 4 + 8 + 4 + 4 + 8) as u64;
// Its answer: header, status (1), empty message (4), the i32 result (4).
const MULTIPLY_RESPONSE: u64 = (HEADER_LEN + 1 + 4 + 4) as u64;

#[test]
fn metrics_are_exact_after_known_calls_on_server_and_client() {
    let handle = serve(Gate::new());
    let client = Client::connect(handle.local_addr()).unwrap();
    for _ in 0..5 {
        let y: i32 = client.call("Multiply", &(10, 20)).unwrap();
        assert_eq!(y, 200);
    }
    for _ in 0..2 {
        let e = client
            .call::<_, i32>("Multiply", &(i32::MAX, 2))
            .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
    for _ in 0..3 {
        let e = client.call::<_, ()>("Fail", &()).unwrap_err();
        assert_eq!(e.status, Status::NotFound);
    }
    // Arguments that do not decode as (i32, i32): refused by the method.
    let e = client.call::<_, i32>("Multiply", &"ten").unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);

    let server = handle.metrics();
    let ids: Vec<&str> = server.methods.iter().map(|m| m.call_id.as_str()).collect();
    assert_eq!(ids, ["Fail", "Multiply", "Wait"], "every method, sorted");
    let m = server.method("Multiply").unwrap();
    assert_eq!((m.calls, m.ok(), m.errors()), (8, 5, 3));
    assert_eq!(m.by_status, [(Status::Ok, 5), (Status::InvalidArgument, 3)]);
    assert_eq!(m.in_flight, 0);
    assert_eq!(m.latency.count(), 8, "every call that ran is timed");
    let f = server.method("Fail").unwrap();
    assert_eq!((f.calls, f.status(Status::NotFound)), (3, 3));
    let w = server.method("Wait").unwrap();
    assert_eq!((w.calls, w.bytes_in, w.latency.count()), (0, 0, 0));

    // The client saw the same calls; its bytes out are the server's bytes in.
    let mine = client.metrics();
    let cm = mine.method("Multiply").unwrap();
    assert_eq!(cm.by_status, m.by_status);
    assert_eq!((cm.bytes_out, cm.bytes_in), (m.bytes_in, m.bytes_out));
    assert_eq!(mine.method("Fail").unwrap().bytes_in, f.bytes_out);
    assert_eq!(cm.in_flight, 0);
    assert!(mine.method("Wait").is_none(), "never called from here");
}

#[test]
fn bytes_in_and_out_are_whole_frames_of_the_known_size() {
    let handle = serve(Gate::new());
    let client = Client::connect(handle.local_addr()).unwrap();
    for _ in 0..7 {
        let _: i32 = client.call("Multiply", &(10, 20)).unwrap();
    }
    let m = handle.metrics();
    let m = m.method("Multiply").unwrap();
    assert_eq!(m.bytes_in, 7 * MULTIPLY_REQUEST);
    assert_eq!(m.bytes_out, 7 * MULTIPLY_RESPONSE);
    let c = client.metrics();
    let c = c.method("Multiply").unwrap();
    assert_eq!(
        (c.bytes_out, c.bytes_in),
        (7 * MULTIPLY_REQUEST, 7 * MULTIPLY_RESPONSE)
    );
}

#[test]
fn a_call_is_in_flight_on_both_sides_until_it_is_answered() {
    let gate = Gate::new();
    let handle = serve(Arc::clone(&gate));
    let client = Client::connect(handle.local_addr()).unwrap();
    let pending = client.call_async::<_, ()>("Wait", &());
    eventually("the server runs Wait", || {
        handle.metrics().method("Wait").unwrap().in_flight == 1
    });
    assert_eq!(client.metrics().method("Wait").unwrap().in_flight, 1);
    gate.open();
    pending.wait().unwrap();
    let s = handle.metrics();
    let w = s.method("Wait").unwrap();
    assert_eq!((w.in_flight, w.calls, w.ok()), (0, 1, 1));
    let c = client.metrics();
    let c = c.method("Wait").unwrap();
    assert_eq!((c.in_flight, c.ok()), (0, 1));
}

#[test]
fn callbacks_oneways_and_dropped_futures_are_counted_once() {
    let gate = Gate::new();
    let handle = serve(Arc::clone(&gate));
    let client = Client::connect(handle.local_addr()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    client.call_with_callback("Multiply", &(3, 4), move |r: Result<i32, RpcError>| {
        let _ = tx.send(r);
    });
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(12));
    client.call_oneway("Fail", &()).unwrap();
    drop(client.call_async::<_, ()>("Wait", &()));
    gate.open();
    let c = client.metrics();
    // The callback's probe finishes before the callback runs.
    assert_eq!(c.method("Multiply").unwrap().ok(), 1);
    assert_eq!(
        c.method("Fail").unwrap().ok(),
        1,
        "a oneway is OK once sent"
    );
    let w = c.method("Wait").unwrap();
    assert_eq!((w.status(Status::Cancelled), w.in_flight), (1, 0));
    // The server ran the oneway and counted its error.
    eventually("the oneway ran", || {
        handle
            .metrics()
            .method("Fail")
            .unwrap()
            .status(Status::NotFound)
            == 1
    });
}

#[test]
fn unknown_call_ids_share_one_bucket_however_many_there_are() {
    let handle = serve(Gate::new());
    let client = Client::connect(handle.local_addr()).unwrap();
    for i in 0..300 {
        let e = client
            .call::<_, ()>(&format!("Invented{i}"), &())
            .unwrap_err();
        assert_eq!(e.status, Status::Unimplemented);
    }
    let s = handle.metrics();
    assert_eq!(s.methods.len(), 3, "no entry was made for an invented name");
    assert_eq!(s.unknown.calls, 300);
    assert_eq!(s.unknown.status(Status::Unimplemented), 300);
    assert!(s.unknown.bytes_in >= 300 * HEADER_LEN as u64);
    // The client bounds its names too (256 apart, the rest together).
    let c = client.metrics();
    assert_eq!(
        c.methods.len(),
        minirpc::metrics::ClientMetrics::MAX_CALL_IDS
    );
    assert_eq!(c.unknown.calls, 300 - 256);
    assert_eq!(c.total().calls, 300);
}

#[test]
fn the_snapshot_renders_as_json_the_crate_can_parse() {
    let handle = serve(Gate::new());
    let client = Client::connect(handle.local_addr()).unwrap();
    let _: i32 = client.call("Multiply", &(10, 20)).unwrap();
    let text = handle.metrics().to_json();
    let tree = minirpc::json::parse(text.as_bytes(), 16).unwrap();
    let minirpc::json::Json::Array(methods) = tree.get("methods").unwrap() else {
        panic!("methods is not an array: {text}")
    };
    let m = methods
        .iter()
        .find(|m| m.get("call_id") == Some(&minirpc::json::Json::String("Multiply".into())))
        .unwrap();
    let num = |v: Option<&minirpc::json::Json>| match v {
        Some(minirpc::json::Json::Number(n)) => n.parse::<u64>().unwrap(),
        other => panic!("not a number: {other:?} in {text}"),
    };
    assert_eq!(num(m.get("calls")), 1);
    assert_eq!(num(m.get("bytes_in")), MULTIPLY_REQUEST);
    assert_eq!(num(m.get("by_status").and_then(|s| s.get("OK"))), 1);
    assert!(num(m.get("latency_ns").and_then(|l| l.get("p99"))) > 0);
}

// ---- the histogram ---------------------------------------------------------

/// The exact q-quantile of sorted values (the same rank rule).
fn exact(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn within_bound(got: u64, want: u64) -> bool {
    (got as f64 - want as f64).abs() <= want as f64 * RELATIVE_ERROR
}

#[test]
fn quantiles_of_known_data_are_within_the_stated_error() {
    // 1 µs to 10 ms in steps of 1 µs, then a spread of random values.
    let mut values: Vec<u64> = (1..=10_000).map(|i| i * 1_000).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        values.push(x % 5_000_000_000);
    }
    let h = Histogram::new();
    for &v in &values {
        h.record(v);
    }
    values.sort_unstable();
    let s = h.snapshot();
    assert_eq!(s.count(), values.len() as u64);
    for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
        let (got, want) = (s.quantile_nanos(q).unwrap(), exact(&values, q));
        assert!(within_bound(got, want), "q={q}: got {got}, exact {want}");
    }
    let mean = values.iter().sum::<u64>() / values.len() as u64;
    assert_eq!(s.mean_nanos(), Some(mean), "the mean is exact");
}

#[test]
fn merged_histograms_equal_one_that_saw_every_value() {
    let (a, b, both) = (Histogram::new(), Histogram::new(), Histogram::new());
    for v in 0..5_000u64 {
        let value = v * v * 37 + 11;
        if v % 3 == 0 { &a } else { &b }.record(value);
        both.record(value);
    }
    let mut merged = a.snapshot();
    merged.merge(&b.snapshot());
    assert_eq!(merged, both.snapshot());
    assert_eq!(
        merged.quantile_nanos(0.99),
        both.snapshot().quantile_nanos(0.99)
    );
    // Merging whole snapshots adds up every method.
    let mut s1 = MetricsSnapshot {
        methods: vec![],
        unknown: minirpc::metrics::MethodSnapshot {
            call_id: "(unknown)".into(),
            calls: 1,
            by_status: vec![(Status::Unimplemented, 1)],
            in_flight: 0,
            bytes_in: 30,
            bytes_out: 20,
            latency: HistogramSnapshot::default(),
        },
    };
    let s2 = s1.clone();
    s1.merge(&s2);
    assert_eq!((s1.unknown.calls, s1.unknown.bytes_in), (2, 60));
    assert_eq!(s1.unknown.by_status, [(Status::Unimplemented, 2)]);
}
