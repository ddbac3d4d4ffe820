//! A hostile peer against the HTTP server and gateway, the admin's token,
//! flow control, the token server and the cluster limiter, error metadata
//! and the metrics: each case is an input a careless or malicious peer can
//! send, over real sockets on loopback where a socket is the subject.
//!
//! No timing is asserted: a case that waits for a timeout only checks that
//! its outcome comes at all, within a generous bound.

mod common;

use common::{assert_serves, read_response, request_frame, PATIENCE};
use minirpc::admin::{AdminBuilder, AdminHandle};
use minirpc::codec::CodecId;
use minirpc::discovery::{Instance, MemoryRegistry, Registry};
use minirpc::flow::{
    ClusterLimiter, ClusterMode, Decision, FixedWindow, RateLimiter, Rule, SlidingWindow,
    TokenBucket, TokenServer, TOKEN_CALL_ID, TOKEN_SERVICE,
};
use minirpc::gateway::Gateway;
use minirpc::http::{HttpRequest, HttpResponse, HttpServer, HttpServerHandle};
use minirpc::metrics::{Histogram, HistogramSnapshot, MethodMetrics, MetricsSnapshot};
use minirpc::protocol::{self, FrameKind, ResponseHead, HEADER_LEN};
use minirpc::server::{MethodDescription, DESCRIBE_CALL_ID};
use minirpc::{Client, Server, ServerHandle, Status};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn multiply_server(builder: minirpc::ServerBuilder) -> ServerHandle {
    let mut server = builder.build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve(local()).unwrap()
}

fn gateway(rpc: &ServerHandle) -> HttpServerHandle {
    Gateway::new(rpc).serve(local()).unwrap()
}

/// A Multiply server published as "Arith" in a fresh memory registry, and
/// an admin that watches it and manages it with `token`.
fn managed_by_admin(token: &str) -> (MemoryRegistry, ServerHandle, AdminHandle) {
    let registry = MemoryRegistry::new();
    let mut rpc = multiply_server(Server::builder());
    let inst = Instance::new("Arith", rpc.local_addr());
    rpc.publish(&registry, &inst, Duration::from_secs(30))
        .unwrap();
    let admin = AdminBuilder::new()
        .watch("Arith", "default", "*")
        .manage(rpc.control())
        .token(token)
        .serve(&registry, local())
        .unwrap();
    (registry, rpc, admin)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Send `bytes` on a fresh connection and read until the server closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = connect(addr);
    s.write_all(bytes).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let give_up = Instant::now() + PATIENCE * 2;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no close ({e}); got {:?}", String::from_utf8_lossy(&all)),
        }
        assert!(Instant::now() < give_up, "the server kept sending");
    }
    String::from_utf8_lossy(&all).into_owned()
}

/// How many responses (status lines) are in `text`.
fn answers(text: &str) -> usize {
    text.matches("HTTP/1.1 ").count()
}

// ---- HTTP: smuggling and framing ---------------------------------------

#[test]
fn a_bare_cr_in_a_header_cannot_hide_a_content_length() {
    // A front proxy that ends lines at a bare CR sees "Content-Length: 5"
    // and forwards "hello" as this request's body; a server that reads
    // past the CR sees no length and would take "hello" as the next
    // request. The two disagree on where requests start: smuggling. The
    // server must refuse the request instead (RFC 9112 §2.2, RFC 9110 §5.5).
    let rpc = multiply_server(Server::builder());
    let http = gateway(&rpc);
    let answer = exchange(
        http.local_addr(),
        b"POST /call/Multiply HTTP/1.1\r\nX-Note: a\rContent-Length: 5\r\n\r\nhello",
    );
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer:?}");
    assert_eq!(answers(&answer), 1, "{answer:?}");
    // A NUL in a value is refused the same way.
    let answer = exchange(
        http.local_addr(),
        b"POST /call/Multiply HTTP/1.1\r\nX-Caller: a\0b\r\nContent-Length: 7\r\n\r\n[10,20]",
    );
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer:?}");
    // A tab inside a value is ordinary whitespace and stays allowed.
    let answer = exchange(
        http.local_addr(),
        b"POST /call/Multiply HTTP/1.1\r\nX-Note: a\tb\r\nConnection: close\r\nContent-Length: 7\r\n\r\n[10,20]",
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    assert_serves(rpc.local_addr());
}

#[test]
fn every_classic_smuggling_shape_is_refused_with_one_answer() {
    let rpc = multiply_server(Server::builder());
    let http = gateway(&rpc);
    let cases: &[&[u8]] = &[
        // Content-Length and Transfer-Encoding together.
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n[10,20]",
        // Transfer-Encoding first, in odd case.
        b"POST /call/Multiply HTTP/1.1\r\ntransfer-encoding: Chunked\r\nContent-Length: 7\r\n\r\n[10,20]",
        // Two different lengths.
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n[10,20]x",
        // A list of lengths in one header.
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 7, 7\r\n\r\n[10,20]",
        // obs-fold: a continuation line.
        b"POST /call/Multiply HTTP/1.1\r\nX-A: 1\r\n Content-Length: 7\r\n\r\n[10,20]",
        // Whitespace between a name and its colon.
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length : 7\r\n\r\n[10,20]",
        // A signed length.
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length: +7\r\n\r\n[10,20]",
    ];
    for bytes in cases {
        let answer = exchange(http.local_addr(), bytes);
        let what = String::from_utf8_lossy(bytes);
        assert!(
            answer.starts_with("HTTP/1.1 400 ") || answer.starts_with("HTTP/1.1 411 "),
            "{what:?} got {answer:?}"
        );
        assert_eq!(answers(&answer), 1, "{what:?} got {answer:?}");
    }
    // Two equal lengths are one length (RFC 9112 §6.3 allows it).
    let answer = exchange(
        http.local_addr(),
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 7\r\nContent-Length: 7\r\nConnection: close\r\n\r\n[10,20]",
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    assert!(answer.ends_with("200"), "{answer:?}");
    assert_serves(rpc.local_addr());
}

#[test]
fn non_utf8_and_huge_paths_headers_and_bodies_are_refused_cleanly() {
    let rpc = multiply_server(Server::builder());
    let http = gateway(&rpc);
    let addr = http.local_addr();
    let path = exchange(
        addr,
        b"POST /call/Mul\xfftiply HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(path.starts_with("HTTP/1.1 400 "), "{path:?}");
    let header = exchange(
        addr,
        b"POST /call/Multiply HTTP/1.1\r\nX-Caller: \xff\xfe\r\nContent-Length: 7\r\n\r\n[10,20]",
    );
    assert!(header.starts_with("HTTP/1.1 400 "), "{header:?}");
    // A body that is not UTF-8 is not JSON: InvalidArgument, as JSON.
    let body = exchange(
        addr,
        b"POST /call/Multiply HTTP/1.1\r\nConnection: close\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00\x01",
    );
    assert!(body.starts_with("HTTP/1.1 400 "), "{body:?}");
    assert!(body.contains("\"status\":\"INVALID_ARGUMENT\""), "{body:?}");
    // A path of a megabyte is refused long before it ends.
    let mut huge = b"POST /call/".to_vec();
    huge.resize(1 << 20, b'a');
    let mut s = connect(addr);
    // The server may close while we still write: that is the point.
    let _ = s.write_all(&huge);
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 414");
    assert_serves(rpc.local_addr());
}

#[test]
fn percent_encoded_and_odd_call_ids_are_taken_verbatim_and_not_found() {
    let rpc = multiply_server(Server::builder());
    let http = gateway(&rpc);
    let addr = http.local_addr();
    for path in [
        "/call/Mul%74iply",
        "/call/",
        "/call/Multiply/",
        "/call/../call/Multiply",
        "/call/Multiply#frag",
    ] {
        let req = format!(
            "POST {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: 7\r\n\r\n[10,20]"
        );
        let answer = exchange(addr, req.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 501 "), "{path}: {answer:?}");
        assert!(answer.contains("UNIMPLEMENTED"), "{path}: {answer:?}");
    }
    // The query string is not part of the call id.
    let answer = exchange(
        addr,
        b"POST /call/Multiply?x=%00 HTTP/1.1\r\nConnection: close\r\nContent-Length: 7\r\n\r\n[10,20]",
    );
    assert!(answer.ends_with("200"), "{answer:?}");
}

#[test]
fn a_client_that_never_reads_a_large_response_frees_its_thread() {
    let big = Arc::new(vec![b'x'; 32 << 20]);
    let handler = move |_: &HttpRequest| HttpResponse::new(200, "text/plain", big.to_vec());
    let settings = HttpServer {
        write_timeout: Duration::from_millis(200),
        ..HttpServer::default()
    };
    let http = settings.serve(local(), handler).unwrap();
    let mut s = connect(http.local_addr());
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    // Wait (bounded) until the handler has run, then never read.
    let give_up = Instant::now() + PATIENCE;
    while http.stats().requests == 0 {
        assert!(
            Instant::now() < give_up,
            "the request never reached the handler"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let give_up = Instant::now() + PATIENCE * 2;
    while http.stats().connections > 0 {
        assert!(
            Instant::now() < give_up,
            "the connection thread is still stuck writing to a peer that never reads"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(s);
    // And the server still answers.
    let answer = exchange(http.local_addr(), b"HEAD / HTTP/1.0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
}

// ---- admin: the token -------------------------------------------------

fn admin_post(addr: SocketAddr, path: &str, headers: &str, body: &str) -> (u16, String) {
    let req = format!(
        "POST {path} HTTP/1.1\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let text = exchange(addr, req.as_bytes());
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[test]
fn an_empty_admin_token_never_authorises_a_change() {
    let (registry, rpc, admin) = managed_by_admin("");
    let form = format!("addr={}&weight=0&token=", rpc.local_addr());
    let (status, text) = admin_post(admin.local_addr(), "/api/weight", "", &form);
    assert!(
        status == 401 || status == 403,
        "an empty token matched an empty token: {text:?}"
    );
    let (status, _) = admin_post(
        admin.local_addr(),
        "/api/weight",
        "Authorization: Bearer \r\n",
        &format!("addr={}&weight=0", rpc.local_addr()),
    );
    assert!(status == 401 || status == 403, "{status}");
    let weights: Vec<u32> = (registry.lookup("Arith", "default", "*").unwrap())
        .iter()
        .map(|i| i.weight)
        .collect();
    assert!(!weights.contains(&0), "the weight changed: {weights:?}");
}

#[test]
fn the_admin_token_in_a_query_string_is_not_accepted() {
    let (_registry, rpc, admin) = managed_by_admin("s3cret");
    let form = format!("addr={}&weight=0", rpc.local_addr());
    let (status, text) = admin_post(admin.local_addr(), "/api/weight?token=s3cret", "", &form);
    assert_eq!(status, 401, "{text:?}");
    // An address it does not manage: 404, whatever the token.
    let (status, text) = admin_post(
        admin.local_addr(),
        "/api/weight",
        "Authorization: Bearer s3cret\r\n",
        "addr=127.0.0.1:9&weight=0",
    );
    assert_eq!(status, 404, "{text:?}");
    // set_weight after the server has shut down: a clean refusal.
    let control = rpc.control();
    rpc.shutdown();
    let e = control.set_weight(0).unwrap_err();
    assert_eq!(e.status, Status::NotFound, "{e}");
}

// ---- flow control ------------------------------------------------------

#[test]
fn a_huge_caller_name_is_not_echoed_whole_in_a_refusal() {
    let rpc = multiply_server(
        Server::builder().rate_limit(Rule::token_bucket("Multiply", 0.0, 1).per_caller()),
    );
    let name = "n".repeat(1 << 20);
    let client = Client::builder()
        .caller_id(name.clone())
        .connect(rpc.local_addr())
        .unwrap();
    let first: Result<i32, _> = client.call("Multiply", &(2, 3));
    assert_eq!(first.unwrap(), 6);
    let e = client.call::<_, i32>("Multiply", &(2, 3)).unwrap_err();
    assert_eq!(e.status, Status::ResourceExhausted, "{e}");
    assert!(
        e.message.len() < 1024,
        "the refusal carried {} bytes, echoing the caller's name",
        e.message.len()
    );
    assert!(e.message.contains("caller \"nnnn"), "{}", e.message);
}

#[test]
fn health_probes_and_describe_are_never_rate_limited() {
    // A rule on every call with a rate of 0: one call, then nothing.
    let rpc = multiply_server(Server::builder().rate_limit(Rule::token_bucket("*", 0.0, 1)));
    let client = Client::connect(rpc.local_addr()).unwrap();
    assert_eq!(client.call::<_, i32>("Multiply", &(2, 3)).unwrap(), 6);
    let e = client.call::<_, i32>("Multiply", &(2, 3)).unwrap_err();
    assert_eq!(e.status, Status::ResourceExhausted);
    for _ in 0..20 {
        client.call::<_, ()>(protocol::PING_CALL_ID, &()).unwrap();
        let table: Vec<MethodDescription> = client.call(DESCRIBE_CALL_ID, &()).unwrap();
        assert!(table.iter().any(|m| m.call_id == "Multiply"));
    }
    let http = gateway(&rpc);
    for _ in 0..5 {
        let req = format!(
            "POST /call/{} HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            protocol::PING_CALL_ID
        );
        let answer = exchange(http.local_addr(), req.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    }
}

#[test]
fn a_token_server_fed_garbage_or_absurd_asks_answers_each_cleanly() {
    let ts = Arc::new(TokenServer::new().flow("Arith", 10.0, 5));
    let mut server = Server::new();
    TokenServer::register_on(&ts, &mut server);
    let handle = server.serve(local()).unwrap();
    let client = Client::connect(handle.local_addr()).unwrap();
    // u32::MAX tokens: it grants what it has, no more.
    let (granted, _): (u32, u64) = client.call(TOKEN_CALL_ID, &("Arith", u32::MAX)).unwrap();
    assert_eq!(granted, 5, "a full bucket of 5 grants its 5, no more");
    // The wrong argument types.
    let e = client
        .call::<_, (u32, u64)>(TOKEN_CALL_ID, &(7u8,))
        .unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    // Raw garbage as arguments.
    let mut s = common::raw_connect(handle.local_addr());
    s.write_all(&request_frame(1, TOKEN_CALL_ID, &[0xff; 64]))
        .unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, Status::InvalidArgument, "{}", r.message);
    // An unknown flow.
    let e = client
        .call::<_, (u32, u64)>(TOKEN_CALL_ID, &("Nope", 1u32))
        .unwrap_err();
    assert_eq!(e.status, Status::NotFound, "{e}");
    // And it goes on granting.
    let _: (u32, u64) = client.call(TOKEN_CALL_ID, &("Arith", 1u32)).unwrap();
    let total = ts.granted("Arith");
    assert!((5..=6).contains(&total), "granted {total} in all");
}

fn token_server_on(registry: &MemoryRegistry, ts: TokenServer) -> ServerHandle {
    let ts = Arc::new(ts);
    let mut server = Server::new();
    TokenServer::register_on(&ts, &mut server);
    let mut handle = server.serve(local()).unwrap();
    let me = Instance::new(TOKEN_SERVICE, handle.local_addr());
    handle
        .publish(registry, &me, Duration::from_secs(60))
        .unwrap();
    handle
}

#[test]
fn a_token_server_that_says_never_does_not_crash_the_cluster_limiter() {
    // A flow with a rate of 0 has one token, then "retry after" forever
    // (u64::MAX ms). Adding that to an Instant overflows.
    let registry = Arc::new(MemoryRegistry::new());
    let _ts = token_server_on(&registry, TokenServer::new().flow("Frozen", 0.0, 1));
    let limiter = ClusterLimiter::new("Frozen", registry.clone(), 0.0, 1, 1)
        .timeout(PATIENCE)
        .batch(1);
    let now = Instant::now();
    assert_eq!(limiter.try_acquire(now), Decision::Allow);
    for step in 0..3u64 {
        let d = limiter.try_acquire(now + Duration::from_millis(step));
        assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    }
    assert_eq!(limiter.mode(), ClusterMode::Shared);
}

#[test]
fn huge_retry_and_batch_lifetimes_do_not_overflow_the_clock() {
    // A registry that lists a token server that is dead: its port refuses.
    let registry = Arc::new(MemoryRegistry::new());
    let dead = {
        let l = TcpListener::bind(local()).unwrap();
        l.local_addr().unwrap()
    };
    let _reg = registry
        .register(&Instance::new(TOKEN_SERVICE, dead), Duration::from_secs(60))
        .unwrap();
    let limiter = ClusterLimiter::new("Arith", registry.clone(), 100.0, 10, 2)
        .timeout(PATIENCE)
        .retry_every(Duration::MAX)
        .batch_ttl(Duration::MAX);
    let now = Instant::now();
    // Falls back to the local share (5 of the burst), without a panic.
    let passed = (0..20)
        .filter(|_| limiter.try_acquire(now).is_allow())
        .count();
    assert_eq!(passed, 5);
    assert_eq!(limiter.mode(), ClusterMode::Fallback);
    assert_eq!(limiter.fallbacks(), 1);
    // A live token server and a batch kept "forever".
    let registry = Arc::new(MemoryRegistry::new());
    let _ts = token_server_on(&registry, TokenServer::new().flow("Arith", 100.0, 10));
    let limiter = ClusterLimiter::new("Arith", registry.clone(), 100.0, 10, 1)
        .timeout(PATIENCE)
        .batch(4)
        .batch_ttl(Duration::MAX);
    assert!(limiter.try_acquire(now).is_allow());
    assert_eq!(limiter.mode(), ClusterMode::Shared);
}

#[test]
fn a_clock_that_goes_backwards_never_grants_extra_calls() {
    let t1 = Instant::now() + Duration::from_secs(10);
    let earlier = t1 - Duration::from_secs(5);
    let limiters: Vec<(&str, Box<dyn RateLimiter>)> = vec![
        ("bucket", Box::new(TokenBucket::new(1.0, 2))),
        (
            "sliding",
            Box::new(SlidingWindow::new(2, Duration::from_secs(1))),
        ),
        (
            "fixed",
            Box::new(FixedWindow::new(2, Duration::from_secs(1))),
        ),
    ];
    for (name, l) in limiters {
        assert!(l.try_acquire(t1).is_allow(), "{name}");
        assert!(l.try_acquire(t1).is_allow(), "{name}");
        assert!(!l.try_acquire(t1).is_allow(), "{name}");
        // Time steps back: still nothing (and no panic).
        assert!(
            !l.try_acquire(earlier).is_allow(),
            "{name} after going back"
        );
        // And forward to t1 again: nothing has refilled.
        assert!(!l.try_acquire(t1).is_allow(), "{name} back at t1");
        if let Decision::Deny { retry_after } = l.try_acquire(t1) {
            assert!(
                retry_after <= Duration::from_secs(2),
                "{name}: {retry_after:?}"
            );
        }
    }
}

// ---- error metadata, as a client reads it --------------------------------

/// A fake server that answers the first request with an error frame whose
/// body after the status and message is `tail`.
fn fake_server(tail: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind(local()).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.set_read_timeout(Some(PATIENCE * 2)).unwrap();
        let mut head = [0u8; HEADER_LEN];
        if s.read_exact(&mut head).is_err() {
            return;
        }
        let header = protocol::Header::parse(&head).unwrap();
        let mut body = vec![0u8; header.body_len as usize];
        if s.read_exact(&mut body).is_err() {
            return;
        }
        let mut out = Vec::new();
        let start = protocol::begin_frame(
            &mut out,
            FrameKind::Response,
            CodecId::Binary,
            header.request_id,
        );
        out.push(Status::ResourceExhausted.code());
        out.extend_from_slice(&1u32.to_be_bytes());
        out.push(b'm');
        out.extend_from_slice(&tail);
        protocol::finish_frame(&mut out, start);
        let _ = s.write_all(&out);
        // Hold the connection until the client is done with it.
        let mut sink = [0u8; 64];
        let _ = s.read(&mut sink);
    });
    addr
}

#[test]
fn hostile_error_metadata_is_refused_cleanly_by_the_client() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a count of 2^32-1", u32::MAX.to_be_bytes().to_vec()),
        ("a count with nothing after", 3u32.to_be_bytes().to_vec()),
        ("a truncated count", vec![0, 0]),
        (
            "a key of 4 GiB",
            [1u32.to_be_bytes(), u32::MAX.to_be_bytes()].concat(),
        ),
        (
            "a non-UTF-8 key",
            [
                &1u32.to_be_bytes()[..],
                &2u32.to_be_bytes(),
                b"\xff\xfe",
                &0u32.to_be_bytes(),
            ]
            .concat(),
        ),
    ];
    for (what, tail) in cases {
        // The parser alone: an error, never a panic or a huge allocation.
        let mut body = vec![Status::ResourceExhausted.code(), 0, 0, 0, 1, b'm'];
        body.extend_from_slice(&tail);
        assert!(ResponseHead::parse(&body).is_err(), "{what}");
        // A real client reading it from a socket: the call fails, at once.
        let addr = fake_server(tail);
        let client = Client::builder()
            .call_timeout(PATIENCE * 2)
            .heartbeat(None)
            .connect(addr)
            .unwrap();
        let e = client.call::<_, i32>("Multiply", &(1, 2)).unwrap_err();
        assert_ne!(e.status, Status::Ok, "{what}");
        assert_ne!(
            e.status,
            Status::DeadlineExceeded,
            "{what}: the client hung: {e}"
        );
    }
    // A non-UTF-8 value of retry-after-ms is not a retry-after.
    let mut body = vec![Status::ResourceExhausted.code(), 0, 0, 0, 1, b'm'];
    body.extend_from_slice(&1u32.to_be_bytes());
    for s in [protocol::META_RETRY_AFTER_MS.as_bytes(), b"\xff9"] {
        body.extend_from_slice(&(s.len() as u32).to_be_bytes());
        body.extend_from_slice(s);
    }
    assert!(ResponseHead::parse(&body).is_err());
}

// ---- metrics -------------------------------------------------------------

#[test]
fn histograms_take_zero_and_u64_max_and_empty_snapshots_merge() {
    let h = Histogram::new();
    h.record(0);
    h.record(u64::MAX);
    h.record_duration(Duration::MAX);
    let s = h.snapshot();
    assert_eq!(s.count(), 3);
    assert_eq!(s.quantile_nanos(0.0), Some(0));
    assert!(s.quantile_nanos(1.0).unwrap() > 1 << 40);
    assert!(s.mean_nanos().is_some());
    let mut empty = HistogramSnapshot::default();
    empty.merge(&HistogramSnapshot::default());
    assert_eq!(empty.count(), 0);
    assert_eq!(empty.quantile_nanos(0.5), None);
    assert_eq!(empty.mean_nanos(), None);
    empty.merge(&s);
    assert_eq!(empty.count(), 3);
    let blank = || MetricsSnapshot {
        methods: Vec::new(),
        unknown: MethodMetrics::new().snapshot("(unknown)"),
    };
    let mut all = blank();
    all.merge(&blank());
    assert!(all.method("Multiply").is_none());
    assert_eq!(all.total().calls, 0);
    assert!(minirpc::json::parse(all.to_json().as_bytes(), 16).is_ok());
}

#[test]
fn many_distinct_unknown_call_ids_do_not_grow_the_servers_metrics() {
    let rpc = multiply_server(Server::builder());
    let mut s = common::raw_connect(rpc.local_addr());
    for i in 0..500u64 {
        s.write_all(&request_frame(i + 1, &format!("Nope{i}"), &[]))
            .unwrap();
        let r = read_response(&mut s);
        assert_eq!(r.status, Status::Unimplemented);
    }
    let m = rpc.metrics();
    assert!(m.method("Nope1").is_none());
    assert_eq!(
        m.methods.len(),
        1,
        "{:?}",
        m.methods.iter().map(|x| &x.call_id).collect::<Vec<_>>()
    );
}

/// A registry whose lookups hang until the test opens its gate: an etcd
/// that stopped answering.
struct HangingRegistry {
    gate: Arc<common::Gate>,
    lookups: std::sync::atomic::AtomicUsize,
}

impl Registry for HangingRegistry {
    fn register(
        &self,
        _: &Instance,
        _: Duration,
    ) -> Result<minirpc::discovery::Registration, minirpc::RpcError> {
        Err(minirpc::RpcError::unavailable("hanging registry"))
    }
    fn lookup(&self, _: &str, _: &str, _: &str) -> Result<Vec<Instance>, minirpc::RpcError> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.gate.wait(PATIENCE * 4);
        Err(minirpc::RpcError::unavailable("hanging registry"))
    }
    fn subscribe(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<minirpc::discovery::Subscription, minirpc::RpcError> {
        Err(minirpc::RpcError::unavailable("hanging registry"))
    }
}

#[test]
fn a_registry_that_hangs_does_not_hold_the_limiter_past_its_timeout() {
    // The limiter's ask runs on a connection reader, under its lock: a
    // lookup that waits on a dead registry would stall every reader that
    // checks this limit. It must fall back once its own timeout passes.
    let gate = common::Gate::new();
    let registry = Arc::new(HangingRegistry {
        gate: gate.clone(),
        lookups: Default::default(),
    });
    let limiter = Arc::new(
        ClusterLimiter::new("Arith", registry.clone(), 100.0, 10, 1)
            .timeout(Duration::from_millis(50)),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let l = limiter.clone();
    std::thread::spawn(move || {
        let _ = tx.send(l.try_acquire(Instant::now()));
    });
    let decided = rx.recv_timeout(PATIENCE);
    gate.open();
    let decided = decided.expect("the limiter waited on the registry past its timeout");
    assert!(decided.is_allow(), "{decided:?}");
    assert_eq!(limiter.mode(), ClusterMode::Fallback);
    // One lookup was started (its thread may start late on a busy machine).
    let give_up = Instant::now() + PATIENCE;
    while registry.lookups.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < give_up, "the registry was never asked");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        registry.lookups.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[test]
fn the_bearer_scheme_is_case_insensitive_and_a_wrong_scheme_is_no_token() {
    // RFC 9110 §11.1: an authentication scheme is case-insensitive.
    let (_registry, rpc, admin) = managed_by_admin("s3cret");
    let form = format!("addr={}&weight=7", rpc.local_addr());
    let (status, text) = admin_post(
        admin.local_addr(),
        "/api/weight",
        "Authorization: bearer s3cret\r\n",
        &form,
    );
    assert_eq!(status, 200, "{text:?}");
    let (status, text) = admin_post(
        admin.local_addr(),
        "/api/weight",
        "Authorization: Basic s3cret\r\n",
        &form,
    );
    assert_eq!(status, 401, "{text:?}");
}

#[test]
fn set_weight_racing_shutdown_never_republishes_a_server_that_left() {
    let registry = MemoryRegistry::new();
    let mut rpc = multiply_server(Server::builder());
    let inst = Instance::new("Arith", rpc.local_addr());
    rpc.publish(&registry, &inst, Duration::from_secs(30))
        .unwrap();
    let control = rpc.control();
    let started = Arc::new(std::sync::Barrier::new(5));
    let racers: Vec<_> = (0..4u32)
        .map(|t| {
            let control = control.clone();
            let started = started.clone();
            std::thread::spawn(move || {
                started.wait();
                let give_up = Instant::now() + PATIENCE * 4;
                let mut i = 0u32;
                while Instant::now() < give_up {
                    if let Err(e) = control.set_weight((t + i) % 3) {
                        return Some(e.status);
                    }
                    i = i.wrapping_add(1);
                }
                None
            })
        })
        .collect();
    started.wait();
    rpc.shutdown();
    for r in racers {
        assert_eq!(r.join().unwrap(), Some(Status::NotFound));
    }
    assert!(registry.lookup("Arith", "default", "*").unwrap().is_empty());
    assert!(control.published().is_empty());
}

#[test]
fn describe_over_http_answers_as_it_does_over_rpc() {
    // The gateway promises the same call table as a frame: the built-in
    // describe included, and switched off the same way.
    for on in [true, false] {
        let rpc = multiply_server(Server::builder().describe(on));
        let http = gateway(&rpc);
        let req = format!(
            "POST /call/{DESCRIBE_CALL_ID} HTTP/1.1\r\nConnection: close\r\nContent-Length: 4\r\n\r\nnull"
        );
        let answer = exchange(http.local_addr(), req.as_bytes());
        let over_rpc = Client::connect(rpc.local_addr())
            .unwrap()
            .call::<_, Vec<MethodDescription>>(DESCRIBE_CALL_ID, &());
        if on {
            assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
            assert!(answer.contains("\"call_id\":\"Multiply\""), "{answer:?}");
            assert_eq!(over_rpc.unwrap().len(), 1);
        } else {
            assert!(answer.starts_with("HTTP/1.1 501 "), "{answer:?}");
            assert_eq!(over_rpc.unwrap_err().status, Status::Unimplemented);
        }
    }
}

#[test]
fn a_server_published_under_another_address_than_it_binds_can_be_managed() {
    // A provider binds one address (0.0.0.0 in production, here 127.0.0.1)
    // and publishes the one consumers should dial. The page's form names
    // the published address, so that is the one the weight action must
    // find.
    let registry = MemoryRegistry::new();
    let mut rpc = multiply_server(Server::builder());
    let published = SocketAddr::from(([127, 0, 0, 2], rpc.local_addr().port()));
    rpc.publish(
        &registry,
        &Instance::new("Arith", published),
        Duration::from_secs(30),
    )
    .unwrap();
    let admin = AdminBuilder::new()
        .watch("Arith", "default", "*")
        .interval(Duration::from_millis(20))
        .manage(rpc.control())
        .token("s3cret")
        .serve(&registry, local())
        .unwrap();
    let (status, text) = admin_post(
        admin.local_addr(),
        "/api/weight",
        "Authorization: Bearer s3cret\r\n",
        &format!("addr={published}&weight=0"),
    );
    assert_eq!(status, 200, "{text:?}");
    let listed = registry.lookup("Arith", "default", "*").unwrap();
    assert_eq!(listed[0].weight, 0, "{listed:?}");
    // And the page offers the action for it.
    let give_up = Instant::now() + PATIENCE * 2;
    loop {
        let o = admin.overview();
        let managed = o.as_ref().is_some_and(|o| {
            o.services
                .iter()
                .flat_map(|s| &s.instances)
                .any(|i| i.addr == published && i.managed)
        });
        if managed {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the page never showed {published} as managed: {o:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn rate_limited_calls_show_in_the_servers_metrics_from_both_doors() {
    // A client counts every refusal it gets; the server's metrics for the
    // method must count the same calls, or the management center shows a
    // method without errors while its callers are being refused.
    let rpc = multiply_server(Server::builder().rate_limit(Rule::token_bucket("Multiply", 0.0, 1)));
    let client = Client::connect(rpc.local_addr()).unwrap();
    assert_eq!(client.call::<_, i32>("Multiply", &(2, 3)).unwrap(), 6);
    for _ in 0..3 {
        let e = client.call::<_, i32>("Multiply", &(2, 3)).unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
    }
    let seen = |rpc: &ServerHandle| {
        rpc.metrics()
            .method("Multiply")
            .map_or(0, |m| m.status(Status::ResourceExhausted))
    };
    let on_client = client
        .metrics()
        .method("Multiply")
        .map_or(0, |m| m.status(Status::ResourceExhausted));
    assert_eq!(on_client, 3);
    assert_eq!(
        seen(&rpc),
        3,
        "the server's metrics miss its rate-limit refusals"
    );
    let http = gateway(&rpc);
    for _ in 0..2 {
        let answer = exchange(
            http.local_addr(),
            b"POST /call/Multiply HTTP/1.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\n[2,3]",
        );
        assert!(answer.starts_with("HTTP/1.1 429 "), "{answer:?}");
    }
    assert_eq!(seen(&rpc), 5, "refusals over HTTP are not counted");
}

#[test]
fn markup_in_registry_data_reaches_the_page_and_the_api_only_as_text() {
    // Whoever can register may choose a version string; the page must show
    // it, never run it, and the JSON API must stay JSON.
    let registry = MemoryRegistry::new();
    let evil = "<script>alert(1)</script>\"'&";
    let _r = registry
        .register(
            &Instance::new("Arith", SocketAddr::from(([127, 0, 0, 1], 9)))
                .version(evil)
                .meta("note", "<img src=x onerror=alert(2)>"),
            Duration::from_secs(30),
        )
        .unwrap();
    let admin = AdminBuilder::new()
        .watch("Arith", "default", "*")
        .interval(Duration::from_millis(20))
        .serve(&registry, local())
        .unwrap();
    let give_up = Instant::now() + PATIENCE * 2;
    while !admin
        .overview()
        .is_some_and(|o| o.services.iter().any(|s| !s.instances.is_empty()))
    {
        assert!(
            Instant::now() < give_up,
            "the admin never listed the instance"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let page = exchange(admin.local_addr(), b"GET / HTTP/1.0\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 "), "{page:?}");
    assert!(!page.contains("<script>alert"), "markup reached the page");
    assert!(!page.contains("<img"), "markup reached the page");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"),
        "{page}"
    );
    let api = exchange(admin.local_addr(), b"GET /api/services HTTP/1.0\r\n\r\n");
    let body = api.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json = minirpc::json::parse(body.as_bytes(), 32).expect("the API is not JSON");
    assert!(format!("{json:?}").contains("alert(1)"), "{body}");
}

#[test]
fn describe_over_http_is_listed_only_as_a_signed_frame_would_be() {
    // On a server that authenticates, the table is shown only to a key
    // allowed `$minirpc.describe`; the HTTP door must not be a way round.
    let auth = minirpc::auth::Authenticator::new()
        .key(minirpc::auth::Key::new("ops", "ops secret", "ops").allow("*"));
    let rpc = multiply_server(Server::builder().authenticate(auth));
    let http = gateway(&rpc);
    let req = format!(
        "POST /call/{DESCRIBE_CALL_ID} HTTP/1.1\r\nConnection: close\r\nX-Caller: ops\r\nContent-Length: 4\r\n\r\nnull"
    );
    let answer = exchange(http.local_addr(), req.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer:?}");
    assert!(!answer.contains("\"call_id\":\"Multiply\""), "{answer:?}");
}
