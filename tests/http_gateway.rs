//! HTTP and RPC run the same handlers: the same answers, the same
//! statuses (as gRPC-JSON transcoding maps them), the same limits.
//!
//! Each case makes one call over minirpc (JSON codec) and the same call
//! over `POST /call/<id>` with the very same JSON argument bytes, and
//! compares result, status and message.

mod common;

use common::{Gate, PATIENCE};
use minirpc::codec::{self, CodecId};
use minirpc::gateway::{http_status, Gateway};
use minirpc::http::{HttpConnection, HttpLimits, HttpServer, HttpServerHandle, Response};
use minirpc::json::{self, Json};
use minirpc::time::Deadline;
use minirpc::{Client, RpcError, Server, ServerHandle, Status};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn server(builder: minirpc::ServerBuilder, gate: Arc<Gate>) -> ServerHandle {
    let mut s = builder.build();
    s.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    s.register("Echo", |s: String| Ok(s));
    s.register("Divide", |(l, r): (i32, i32)| {
        if r == 0 {
            Err(RpcError::invalid_argument(
                "division by zero (send a non-zero divisor)",
            ))
        } else {
            Ok(l / r)
        }
    });
    s.register("Secret", |(): ()| -> Result<(), RpcError> {
        Err(RpcError::new(
            Status::PermissionDenied,
            "you may not see the secret",
        ))
    });
    s.register("Panics", |(): ()| -> Result<(), RpcError> {
        panic!("a handler bug")
    });
    s.register("Block", move |(): ()| {
        gate.wait(PATIENCE);
        Ok(())
    });
    s.serve(local()).unwrap()
}

struct Pair {
    rpc: ServerHandle,
    http: HttpServerHandle,
    client: Client,
}

fn pair(builder: minirpc::ServerBuilder) -> (Pair, Arc<Gate>) {
    let gate = Gate::new();
    let rpc = server(builder, Arc::clone(&gate));
    let http = Gateway::new(&rpc).serve(local()).unwrap();
    let client = Client::builder()
        .codec(CodecId::Json)
        .call_timeout(PATIENCE)
        .connect(rpc.local_addr())
        .unwrap();
    (Pair { rpc, http, client }, gate)
}

fn post(http: &HttpServerHandle, call_id: &str, body: &[u8], headers: &[(&str, &str)]) -> Response {
    let mut c = HttpConnection::connect(http.local_addr(), PATIENCE).unwrap();
    c.request(
        "POST",
        &format!("/call/{call_id}"),
        headers,
        body,
        Deadline::after(PATIENCE),
    )
    .unwrap()
}

/// The status and message of an HTTP error body.
fn error_of(r: &Response) -> (String, String) {
    let body = json::parse(&r.body, 8).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    let text = |k: &str| match body.get(k) {
        Some(Json::String(s)) => s.clone(),
        other => panic!("{k} is {other:?} in {}", r.text()),
    };
    (text("status"), text("message"))
}

/// Call `call_id` with `args` both ways; they must fail alike.
fn both_fail<A: minirpc::Encode>(p: &Pair, call_id: &str, args: &A, status: Status) -> String {
    let rpc = p
        .client
        .call::<A, ()>(call_id, args)
        .expect_err("the RPC call should fail");
    let http = post(&p.http, call_id, codec::to_json(args).as_bytes(), &[]);
    assert_eq!(rpc.status, status, "{rpc}");
    assert_eq!(http.status, http_status(status), "{}", http.text());
    assert_eq!(
        error_of(&http),
        (status.name().to_owned(), rpc.message.clone())
    );
    rpc.message
}

#[test]
fn the_same_call_gives_the_same_answer_over_rpc_and_http() {
    let (p, _) = pair(Server::builder());
    let rpc: i32 = p.client.call("Multiply", &(10, 20)).unwrap();
    let http = post(&p.http, "Multiply", b"[10,20]", &[]);
    assert_eq!(
        (rpc, http.status, http.text()),
        (200, 200, "200".to_owned())
    );
    let kib = "x".repeat(1024);
    let rpc: String = p.client.call("Echo", &kib).unwrap();
    let http = post(&p.http, "Echo", codec::to_json(&kib).as_bytes(), &[]);
    assert_eq!(http.body, codec::to_json(&rpc).into_bytes());
    // Both went through the one call table, and its counters.
    assert_eq!(p.rpc.stats().calls_ok, 4);
}

#[test]
fn an_unknown_call_id_is_unimplemented_on_both() {
    let (p, _) = pair(Server::builder());
    let m = both_fail(&p, "Multiplyy", &(10, 20), Status::Unimplemented);
    assert!(m.contains("no method \"Multiplyy\""), "{m}");
}

#[test]
fn bad_arguments_are_invalid_argument_on_both() {
    let (p, _) = pair(Server::builder());
    both_fail(
        &p,
        "Multiply",
        &("ten".to_owned(), 20),
        Status::InvalidArgument,
    );
    let http = post(&p.http, "Multiply", b"[10,", &[]);
    assert_eq!(
        (http.status, error_of(&http).0.as_str()),
        (400, "INVALID_ARGUMENT")
    );
}

#[test]
fn a_handler_error_keeps_its_status_and_message_on_both() {
    let (p, _) = pair(Server::builder());
    let m = both_fail(&p, "Divide", &(1, 0), Status::InvalidArgument);
    assert_eq!(m, "division by zero (send a non-zero divisor)");
    both_fail(&p, "Secret", &(), Status::PermissionDenied);
    let m = both_fail(&p, "Panics", &(), Status::Internal);
    assert!(m.contains("panicked: a handler bug"), "{m}");
}

#[test]
fn an_oversized_body_is_refused_as_resource_exhausted_on_both() {
    let (p, _) = pair(Server::builder().max_frame_bytes(1024));
    let big = "x".repeat(2000);
    let rpc = p.client.call::<String, String>("Echo", &big).unwrap_err();
    assert_eq!(rpc.status, Status::ResourceExhausted, "{rpc}");
    // The HTTP layer refuses it before reading it: 413, the HTTP word for it.
    let http = post(&p.http, "Echo", codec::to_json(&big).as_bytes(), &[]);
    assert_eq!(http.status, 413, "{}", http.text());
    // Behind an HTTP server with a larger body limit, the call table itself
    // refuses it, with the RPC status.
    let lax = HttpServer {
        limits: HttpLimits {
            max_body_bytes: 1 << 20,
            ..HttpLimits::default()
        },
        ..HttpServer::default()
    }
    .serve(local(), Gateway::new(&p.rpc))
    .unwrap();
    let http = post(&lax, "Echo", codec::to_json(&big).as_bytes(), &[]);
    assert_eq!(http.status, 429, "{}", http.text());
    let (status, message) = error_of(&http);
    assert_eq!(status, "RESOURCE_EXHAUSTED");
    assert!(message.contains("max_frame_bytes 1024"), "{message}");
}

#[test]
fn keep_alive_carries_several_calls_on_one_connection() {
    let (p, _) = pair(Server::builder());
    let mut c = HttpConnection::connect(p.http.local_addr(), PATIENCE).unwrap();
    for i in 1..=5 {
        let body = format!("[{i},7]");
        let r = c
            .request(
                "POST",
                "/call/Multiply",
                &[],
                body.as_bytes(),
                Deadline::after(PATIENCE),
            )
            .unwrap();
        assert_eq!((r.status, r.text()), (200, (i * 7).to_string()));
        assert!(!c.is_closed());
    }
    let stats = p.http.stats();
    assert_eq!((stats.requests, stats.connections), (5, 1));
}

#[test]
fn a_call_past_its_timeout_header_is_deadline_exceeded() {
    let (p, gate) = pair(Server::builder());
    let http = post(&p.http, "Block", b"null", &[("X-Timeout-Ms", "50")]);
    gate.open();
    assert_eq!(http.status, 504, "{}", http.text());
    assert_eq!(error_of(&http).0, "DEADLINE_EXCEEDED");
    let http = post(&p.http, "Multiply", b"[1,2]", &[("X-Timeout-Ms", "soon")]);
    assert_eq!(http.status, 400, "{}", http.text());
    assert!(error_of(&http).1.contains("X-Timeout-Ms"));
}

#[test]
fn a_full_queue_refuses_http_calls_as_it_refuses_rpc_calls() {
    let (p, gate) = pair(
        Server::builder()
            .workers(1)
            .queue_capacity(0)
            .inline_max(Duration::ZERO),
    );
    // The one worker is held by a blocked call (wait until it runs: an
    // HTTP call sent before it could take the worker and get it refused)...
    let blocked = p.client.call_async::<(), ()>("Block", &());
    let give_up = std::time::Instant::now() + PATIENCE;
    while p.rpc.metrics().method("Block").map_or(0, |m| m.in_flight) == 0 {
        assert!(std::time::Instant::now() < give_up, "Block never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    // ...so a call over HTTP finds no worker and no room to wait.
    let http = post(&p.http, "Multiply", b"[1,2]", &[]);
    assert_eq!(http.status, 429, "{}", http.text());
    assert!(
        error_of(&http).1.contains("queue_capacity 0"),
        "{}",
        http.text()
    );
    let rpc = p
        .client
        .call::<(i32, i32), i32>("Multiply", &(1, 2))
        .unwrap_err();
    assert_eq!(rpc.status, Status::ResourceExhausted);
    gate.open();
    blocked.wait().unwrap();
    assert_eq!(post(&p.http, "Multiply", b"[1,2]", &[]).text(), "2");
}

#[test]
fn the_built_in_ping_and_wrong_methods_and_paths() {
    let (p, _) = pair(Server::builder());
    assert_eq!(post(&p.http, "$minirpc.ping", b"", &[]).text(), "null");
    let mut c = HttpConnection::connect(p.http.local_addr(), PATIENCE).unwrap();
    let r = c
        .request("GET", "/call/Multiply", &[], b"", Deadline::after(PATIENCE))
        .unwrap();
    assert_eq!(r.status, 405);
    let r = c
        .request(
            "POST",
            "/elsewhere",
            &[],
            b"[1,2]",
            Deadline::after(PATIENCE),
        )
        .unwrap();
    assert_eq!((r.status, error_of(&r).0.as_str()), (404, "NOT_FOUND"));
}

#[test]
fn a_rate_limit_refuses_http_calls_as_it_refuses_rpc_calls() {
    // One call per caller, and (practically) never another.
    let rule = minirpc::flow::Rule::token_bucket("Multiply", 0.001, 1).per_caller();
    let (p, _) = pair(Server::builder().rate_limit(rule));
    let http = post(&p.http, "Multiply", b"[2,3]", &[("X-Caller", "web")]);
    assert_eq!((http.status, http.text()), (200, "6".to_owned()));
    let http = post(&p.http, "Multiply", b"[2,3]", &[("X-Caller", "web")]);
    assert_eq!(http.status, 429, "{}", http.text());
    let (status, message) = error_of(&http);
    assert_eq!(status, "RESOURCE_EXHAUSTED");
    assert!(message.contains("rate limit \"Multiply"), "{message}");
    assert!(message.contains("caller \"web\""), "{message}");
    let retry: u64 = (http.headers.iter())
        .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
        .unwrap_or_else(|| panic!("no Retry-After header: {:?}", http.headers))
        .1
        .parse()
        .unwrap();
    assert!(retry >= 1, "Retry-After is in whole seconds, rounded up");
    // The limit is per caller: another caller over HTTP is untouched.
    let http = post(&p.http, "Multiply", b"[2,3]", &[("X-Caller", "other")]);
    assert_eq!(http.status, 200, "{}", http.text());
    assert_eq!(p.rpc.stats().rejected_rate_limited, 1);
}

#[test]
fn a_server_that_authenticates_asks_the_same_signature_over_http() {
    use minirpc::auth::{Authenticator, Key, Signer};
    let auth = Authenticator::new().key(Key::new("web-1", "web secret", "web").allow("Who"));
    let mut s = Server::builder().authenticate(auth).build();
    s.register_with_context("Who", |ctx: &minirpc::CallContext, (): ()| {
        let who = ctx.identity().expect("a signed call has an identity");
        Ok(format!("{} verified={}", who.name(), who.is_verified()))
    });
    let rpc = s.serve(local()).unwrap();
    let http = Gateway::new(&rpc).serve(local()).unwrap();

    // Unsigned: refused as the RPC reader refuses it, even with a claimed name.
    let r = post(&http, "Who", b"null", &[("X-Caller", "admin")]);
    assert_eq!(r.status, 401, "{}", r.text());
    let (status, message) = error_of(&r);
    assert_eq!(status, "UNAUTHENTICATED");
    assert!(
        message.contains("accepts only signed requests"),
        "{message}"
    );

    // Signed over the call id and the JSON body, as for minirpc's JSON codec.
    let signed = Signer::new("web-1", "web secret").sign("Who", b"null");
    let headers = signed.pairs();
    let r = post(&http, "Who", b"null", &headers);
    assert_eq!(
        (r.status, r.text()),
        (200, "\"web verified=true\"".to_owned())
    );

    // The same headers again are a replay; a different body breaks the signature.
    let r = post(&http, "Who", b"null", &headers);
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(error_of(&r).1.contains("replay"), "{}", r.text());
    let signed = Signer::new("web-1", "web secret").sign("Who", b"null");
    let r = post(&http, "Who", b"null ", &signed.pairs());
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(rpc.stats().rejected_auth, 3);
}
