//! Rate limits on a real server, over real sockets: a noisy caller is
//! limited while a quiet one is not, a refusal says when to retry (in its
//! message and as metadata the client reads), and a limited call is
//! refused before it takes a worker or a queue slot.
//!
//! The limiters run on a `ManualClock` that the tests never advance unless
//! they mean to, so "how many pass" is a count, never a race with time.

mod common;

use common::{raw_connect, read_frame, send, Gate, PATIENCE};
use minirpc::codec::CodecId;
use minirpc::flow::Rule;
use minirpc::protocol::{self, FrameKind, ResponseHead};
use minirpc::time::ManualClock;
use minirpc::{Client, RpcError, Server, ServerBuilder, ServerHandle, Status};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

fn serve(builder: ServerBuilder) -> ServerHandle {
    let mut server = builder.build();
    server.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register("Echo", |s: String| Ok(s));
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn client(server: &ServerHandle, caller: &str) -> Client {
    Client::builder()
        .caller_id(caller)
        .connect(server.local_addr())
        .expect("connect")
}

/// (accepted, refused by a rate limit) out of `n` calls.
fn multiply_n(c: &Client, n: u32) -> (u32, u32) {
    let (mut ok, mut limited) = (0, 0);
    for i in 0..n {
        match c.call::<_, i32>("Arith.Multiply", &(i as i32, 2)) {
            Ok(v) => {
                assert_eq!(v, i as i32 * 2);
                ok += 1;
            }
            Err(e) => {
                assert_eq!(e.status, Status::ResourceExhausted, "{e}");
                assert!(e.message.starts_with("rate limit "), "{e}");
                limited += 1;
            }
        }
    }
    (ok, limited)
}

#[test]
fn a_noisy_caller_is_limited_while_a_quiet_one_is_unaffected() {
    let clock = ManualClock::new();
    let server = serve(
        Server::builder().rate_limit(
            Rule::token_bucket("Arith.*", 10.0, 5)
                .per_caller()
                .clock(clock.clone()),
        ),
    );
    let noisy = client(&server, "noisy");
    let quiet = client(&server, "quiet");
    // The clock stands still: each caller has exactly its burst of 5.
    assert_eq!(multiply_n(&noisy, 50), (5, 45));
    assert_eq!(
        multiply_n(&quiet, 5),
        (5, 0),
        "the quiet caller has its own bucket"
    );
    // Half a second later, 5 tokens have dripped back into each bucket.
    clock.advance(Duration::from_millis(500));
    assert_eq!(multiply_n(&noisy, 20), (5, 15));
    assert_eq!(multiply_n(&quiet, 3), (3, 0));
    // Methods outside the rule's pattern are not limited at all.
    for _ in 0..20 {
        let s: String = noisy.call("Echo", &"hi").unwrap();
        assert_eq!(s, "hi");
    }
    let st = server.stats();
    assert_eq!(st.rejected_rate_limited, 60);
    assert_eq!(st.rejected_busy, 0);
    assert_eq!(st.calls_ok, 5 + 5 + 5 + 3 + 20);
}

#[test]
fn a_refusal_carries_retry_after_as_metadata_and_the_client_reads_it() {
    let clock = ManualClock::new();
    let server = serve(
        Server::builder().rate_limit(Rule::token_bucket("Arith.*", 100.0, 1).clock(clock.clone())),
    );
    // On the wire: a raw request, and the raw error response after it.
    let mut s = raw_connect(server.local_addr());
    let frame = |id: u64| {
        let mut out = Vec::new();
        let start = protocol::begin_request(
            &mut out,
            FrameKind::Request,
            CodecId::Binary,
            id,
            "Arith.Multiply",
            0,
            &[(protocol::META_CALLER, "raw")],
        );
        out.extend_from_slice(&common::multiply_args(3, 4));
        protocol::finish_frame(&mut out, start);
        out
    };
    send(&mut s, &frame(1));
    send(&mut s, &frame(2));
    // The refusal is written by the reader and the answer by a worker, so
    // they may come back in either order: sort them by request id.
    let mut answers = [read_frame(&mut s), read_frame(&mut s)];
    answers.sort_by_key(|(h, _)| h.request_id);
    let [(h1, ok), (h, body)] = answers;
    assert_eq!(h1.request_id, 1);
    assert_eq!(ResponseHead::parse(&ok).unwrap().status, Status::Ok);
    assert_eq!(h.request_id, 2);
    let head = ResponseHead::parse(&body).unwrap();
    assert_eq!(head.status, Status::ResourceExhausted);
    assert_eq!(
        head.message,
        "rate limit \"Arith.*: 100/s burst 1\" exceeded for caller \"raw\"; retry after 10 ms (see ServerBuilder::rate_limit)"
    );
    assert_eq!(head.metadata, vec![(protocol::META_RETRY_AFTER_MS, "10")]);
    assert!(head.result.is_empty());
    // The bytes after the message, exactly: count 1, "retry-after-ms", "10".
    let after = 1 + 4 + head.message.len();
    let mut want = vec![0, 0, 0, 1, 0, 0, 0, 14];
    want.extend_from_slice(b"retry-after-ms");
    want.extend_from_slice(&[0, 0, 0, 2]);
    want.extend_from_slice(b"10");
    assert_eq!(&body[after..], &want[..]);

    // Through the Rust client: RpcError::retry_after.
    clock.advance(Duration::from_millis(4));
    let c = client(&server, "raw");
    let e = c
        .call::<_, i32>("Arith.Multiply", &(3, 4))
        .expect_err("the bucket is still empty");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(6)), "{e}");
    clock.advance(Duration::from_millis(6));
    assert_eq!(c.call::<_, i32>("Arith.Multiply", &(3, 4)).unwrap(), 12);
}

#[test]
fn other_errors_carry_no_metadata_and_no_retry_after() {
    let server = serve(Server::builder());
    let c = client(&server, "someone");
    let e: RpcError = c.call::<_, i32>("Nope", &()).unwrap_err();
    assert_eq!(e.status, Status::Unimplemented);
    assert_eq!(e.retry_after(), None);
}

#[test]
fn a_limited_call_is_refused_before_it_takes_a_worker_or_a_queue_slot() {
    // One worker, no queue: while `Block` holds the worker, any call that
    // reached the queue would be refused as busy. A call over its rate
    // limit is refused by the limit instead: it never got that far.
    let clock = ManualClock::new();
    let gate = Gate::new();
    let (started_tx, started) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let mut server = Server::builder()
        .workers(1)
        .queue_capacity(0)
        .inline_max(Duration::ZERO)
        .rate_limit(Rule::token_bucket("Arith.*", 1.0, 1).clock(clock))
        .build();
    let g = Arc::clone(&gate);
    server.register("Block", move |(): ()| {
        let _ = started_tx.lock().unwrap().send(());
        g.wait(PATIENCE);
        Ok(())
    });
    server.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").unwrap();
    let c = client(&server, "anyone");
    let blocked = c.call_async::<_, ()>("Block", &());
    started.recv_timeout(PATIENCE).expect("Block did not start");
    // The one token: past the limit, so on to the queue, which is full.
    let e = c.call::<_, i32>("Arith.Multiply", &(1, 2)).unwrap_err();
    assert!(e.message.starts_with("server is busy"), "{e}");
    // No token left: the limit refuses it first.
    let e = c.call::<_, i32>("Arith.Multiply", &(1, 2)).unwrap_err();
    assert!(e.message.starts_with("rate limit "), "{e}");
    gate.open();
    blocked.wait().unwrap();
    let st = server.stats();
    assert_eq!((st.rejected_busy, st.rejected_rate_limited), (1, 1));
}

// ---- the error metadata, byte by byte (docs/protocol.md §5) ----------------------

#[test]
fn an_errors_retry_after_travels_as_metadata_rounded_up_to_whole_ms() {
    let mut out = Vec::new();
    let e = RpcError::resource_exhausted("slow down")
        .with_retry_after(std::time::Duration::from_micros(2_001));
    protocol::error_response(&mut out, CodecId::Binary, 3, &e);
    let r = ResponseHead::parse(&out[protocol::HEADER_LEN..]).unwrap();
    assert_eq!(r.metadata, vec![(protocol::META_RETRY_AFTER_MS, "3")]);
    assert!(r.result.is_empty());
    let back = r.into_result().unwrap_err();
    assert_eq!(
        back.retry_after(),
        Some(std::time::Duration::from_millis(3))
    );
    assert_eq!(back.message, "slow down");
    // Never: u64::MAX on the wire, Duration::MAX back.
    let mut out = Vec::new();
    let never = RpcError::resource_exhausted("no").with_retry_after(std::time::Duration::MAX);
    protocol::error_response(&mut out, CodecId::Binary, 3, &never);
    let r = ResponseHead::parse(&out[protocol::HEADER_LEN..]).unwrap();
    assert_eq!(
        r.meta(protocol::META_RETRY_AFTER_MS),
        Some("18446744073709551615")
    );
    assert_eq!(
        r.into_result().unwrap_err().retry_after(),
        Some(std::time::Duration::MAX)
    );
}

#[test]
fn an_error_without_metadata_is_the_old_layout_and_ok_never_reads_one() {
    let mut out = Vec::new();
    protocol::error_response(&mut out, CodecId::Binary, 3, &RpcError::internal("x"));
    // status, message "x", and nothing after.
    assert_eq!(&out[protocol::HEADER_LEN..], &[13, 0, 0, 0, 1, b'x']);
    // An OK response's result may look like anything: it is never
    // read as metadata.
    let ok = [0u8, 0, 0, 0, 0, 0, 0, 0, 9];
    let r = ResponseHead::parse(&ok).unwrap();
    assert!(r.metadata.is_empty());
    assert_eq!(r.result, &[0, 0, 0, 9]);
}

#[test]
fn a_truncated_error_metadata_list_is_refused_naming_the_field() {
    // Status 8, message "m", a count of 1, then a key length that runs
    // past the end.
    let body = [8u8, 0, 0, 0, 1, b'm', 0, 0, 0, 1, 0, 0, 0, 9, b'k'];
    let e = ResponseHead::parse(&body).unwrap_err();
    assert!(e.message.contains("error metadata key"), "{e}");
}
