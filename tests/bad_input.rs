//! A live server fed bad bytes over raw TCP.
//!
//! Each test speaks the wire protocol by hand (see `docs/protocol.md`) and
//! breaks one rule, then checks two things: the server answered the way the
//! design says (the right status for the right request id, or an error frame
//! with request id 0 and a closed connection), and the server still serves a
//! fresh, well-behaved client afterwards (`Multiply(10, 20) == 200`).

mod common;

use common::{
    assert_closed, assert_serves, header_bytes, multiply_args, raw_connect, read_response,
    request_frame, send,
};
use minirpc::protocol::{FrameKind, HEADER_LEN};
use minirpc::{Client, RpcError, Server, ServerBuilder, ServerHandle, Status};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The server every test attacks: `Multiply`, a handler that panics, and a
/// handler that counts how often it runs (`Count`, which returns the count).
struct Target {
    handle: ServerHandle,
    count_runs: Arc<AtomicUsize>,
}

fn target() -> Target {
    target_with(Server::builder().workers(2))
}

fn target_with(builder: ServerBuilder) -> Target {
    let count_runs = Arc::new(AtomicUsize::new(0));
    let mut server = builder.build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register("Panic", |(): ()| -> Result<i32, RpcError> {
        panic!("this handler always panics")
    });
    {
        let count_runs = Arc::clone(&count_runs);
        server.register("Count", move |(_l, _r): (i32, i32)| {
            Ok(count_runs.fetch_add(1, Ordering::SeqCst) as i32 + 1)
        });
    }
    server.register("Greet", |name: String| Ok(format!("hello {name}")));
    let handle = server.serve("127.0.0.1:0").expect("start the test server");
    Target { handle, count_runs }
}

impl Target {
    fn addr(&self) -> std::net::SocketAddr {
        self.handle.local_addr()
    }
}

// ---- broken headers: error frame with request id 0, then the connection closes

#[test]
fn bad_magic_gets_invalid_argument_frame_then_close() {
    let t = target();
    let mut s = raw_connect(t.addr());
    // An HTTP request sent to the RPC port: its first 18 bytes are exactly
    // one header's worth, and "GE" is not "MR".
    let http = b"GET / HTTP/1.1\r\n\r\n";
    assert_eq!(http.len(), HEADER_LEN);
    send(&mut s, http);

    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 0, "a connection-level error uses id 0");
    assert_eq!(r.status, Status::InvalidArgument);
    assert_eq!(r.status.code(), 3);
    assert!(r.message.contains("magic"), "{}", r.message);
    assert_closed(&mut s);
    assert_serves(t.addr());
}

#[test]
fn unknown_protocol_version_gets_unimplemented_frame_then_close() {
    let t = target();
    let mut s = raw_connect(t.addr());
    let mut h = header_bytes(FrameKind::Request, 1, 0);
    h[2] = 2; // a version from the future
    send(&mut s, &h);

    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 0);
    assert_eq!(r.status, Status::Unimplemented);
    assert_eq!(r.status.code(), 12);
    assert!(r.message.contains("version 2"), "{}", r.message);
    assert_closed(&mut s);
    assert_serves(t.addr());
}

#[test]
fn a_frame_of_an_unknown_kind_is_skipped_and_the_connection_stays_usable() {
    // Kinds a later protocol version may add (a newer client's) must not
    // kill the connection: the frame, body and all, is skipped.
    let t = target();
    let mut s = raw_connect(t.addr());
    let mut h = header_bytes(FrameKind::Request, 1, 3);
    h[3] = 9; // no such kind (yet)
    send(&mut s, &h);
    send(&mut s, b"abc");
    send(
        &mut s,
        &request_frame(2, "Multiply", &multiply_args(10, 20)),
    );
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 2);
    assert_eq!(r.status, Status::Ok, "{}", r.message);
    assert_serves(t.addr());
}

#[test]
fn a_client_sending_a_response_frame_gets_invalid_argument_then_close() {
    let t = target();
    let mut s = raw_connect(t.addr());
    send(&mut s, &header_bytes(FrameKind::Response, 5, 0));

    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 0);
    assert_eq!(r.status, Status::InvalidArgument);
    assert_closed(&mut s);
    assert_serves(t.addr());
}

#[test]
fn header_claiming_4_gib_body_is_refused_before_allocation_and_only_that_call_fails() {
    let t = target();
    let mut s = raw_connect(t.addr());
    // Only the header is sent: the server must decide from the header alone.
    // Had it tried to allocate or read 4 GiB before answering, it would not
    // answer at all (read_response gives up after a few seconds).
    send(&mut s, &header_bytes(FrameKind::Request, 1, u32::MAX));

    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 1, "the refusal answers that call");
    assert_eq!(r.status, Status::ResourceExhausted);
    assert_eq!(r.status.code(), 8);
    assert!(r.message.contains("max_frame_bytes"), "{}", r.message);
    assert!(r.message.contains("4294967295"), "{}", r.message);
    assert_serves(t.addr());
}

#[test]
fn frame_just_over_a_configured_max_frame_bytes_is_skipped_and_the_connection_goes_on() {
    let t = target_with(Server::builder().workers(2).max_frame_bytes(1024));
    let mut s = raw_connect(t.addr());
    send(&mut s, &header_bytes(FrameKind::Request, 1, 1025));
    send(&mut s, &[7u8; 1025]);
    send(
        &mut s,
        &request_frame(2, "Multiply", &multiply_args(10, 20)),
    );

    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 1);
    assert_eq!(r.status, Status::ResourceExhausted);
    assert!(r.message.contains("1025"), "{}", r.message);
    assert!(r.message.contains("max_frame_bytes 1024"), "{}", r.message);
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 2);
    assert_eq!(r.status, Status::Ok, "{}", r.message);
    assert_serves(t.addr());
}

// ---- peers that vanish mid-frame ---------------------------------------------

#[test]
fn peer_disconnecting_mid_body_is_dropped_and_server_keeps_serving() {
    let t = target();
    let mut s = raw_connect(t.addr());
    let frame = request_frame(1, "Multiply", &multiply_args(10, 20));
    // The header and part of the body, then end-of-stream.
    send(&mut s, &frame[..HEADER_LEN + 5]);
    s.shutdown(Shutdown::Write).unwrap();
    // No answer is owed for a frame that never finished: the server just
    // closes its side instead of waiting for the rest.
    assert_closed(&mut s);
    drop(s);
    assert_serves(t.addr());
}

#[test]
fn peer_sending_half_a_header_then_disconnecting_is_dropped() {
    let t = target();
    let mut s = raw_connect(t.addr());
    send(
        &mut s,
        &header_bytes(FrameKind::Request, 1, 8)[..HEADER_LEN / 2],
    );
    s.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut s);
    drop(s);
    assert_serves(t.addr());
}

#[test]
fn peer_vanishing_abruptly_mid_frame_does_not_hurt_the_server() {
    let t = target();
    {
        let mut s = raw_connect(t.addr());
        let frame = request_frame(1, "Multiply", &multiply_args(10, 20));
        send(&mut s, &frame[..frame.len() - 1]);
    } // dropped: closed with one byte of the frame missing
    assert_serves(t.addr());
}

// ---- bad requests on a good connection: per-call error, connection stays ----

#[test]
fn too_few_argument_bytes_get_invalid_argument_and_connection_keeps_working() {
    let t = target();
    let mut s = raw_connect(t.addr());
    // (i32, i32) needs 8 bytes; give it 3.
    send(&mut s, &request_frame(7, "Multiply", &[0, 0, 1]));
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 7);
    assert_eq!(r.status, Status::InvalidArgument);
    assert!(r.message.contains("Multiply"), "{}", r.message);

    send(
        &mut s,
        &request_frame(8, "Multiply", &multiply_args(10, 20)),
    );
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 8);
    assert_eq!(r.status, Status::Ok, "{}", r.message);
    assert_eq!(r.result_i32(), 200);
    assert_serves(t.addr());
}

#[test]
fn trailing_argument_bytes_get_invalid_argument_and_connection_keeps_working() {
    let t = target();
    let mut s = raw_connect(t.addr());
    let mut args = multiply_args(10, 20);
    args.push(0xff); // one byte more than (i32, i32)
    send(&mut s, &request_frame(3, "Multiply", &args));
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 3);
    assert_eq!(r.status, Status::InvalidArgument);
    assert!(r.message.contains("unexpected bytes"), "{}", r.message);

    send(&mut s, &request_frame(4, "Multiply", &multiply_args(6, 7)));
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 4);
    assert_eq!(r.result_i32(), 42);
    assert_serves(t.addr());
}

#[test]
fn argument_length_prefix_claiming_4_gib_gets_invalid_argument() {
    let t = target();
    let mut s = raw_connect(t.addr());
    // A String argument whose length prefix claims 4 GiB, followed by 2 bytes.
    send(
        &mut s,
        &request_frame(9, "Greet", &[0xff, 0xff, 0xff, 0xff, b'h', b'i']),
    );
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 9);
    assert_eq!(r.status, Status::InvalidArgument);

    send(
        &mut s,
        &request_frame(10, "Multiply", &multiply_args(10, 20)),
    );
    let r = read_response(&mut s);
    assert_eq!((r.header.request_id, r.result_i32()), (10, 200));
    assert_serves(t.addr());
}

#[test]
fn malformed_envelope_gets_invalid_argument_for_that_request_and_connection_keeps_working() {
    let t = target();
    let mut s = raw_connect(t.addr());
    // A complete frame whose body says the call id is 200 bytes long but
    // holds only 3: the frame boundary is known, so only this call fails.
    let body = [0, 0, 0, 200, b'M', b'u', b'l'];
    let mut frame = header_bytes(FrameKind::Request, 11, body.len() as u32).to_vec();
    frame.extend_from_slice(&body);
    send(&mut s, &frame);
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 11);
    assert_eq!(r.status, Status::InvalidArgument);
    assert!(r.message.contains("call id"), "{}", r.message);

    send(
        &mut s,
        &request_frame(12, "Multiply", &multiply_args(10, 20)),
    );
    let r = read_response(&mut s);
    assert_eq!((r.header.request_id, r.result_i32()), (12, 200));
    assert_serves(t.addr());
}

#[test]
fn unknown_call_id_gets_unimplemented_naming_it_and_connection_keeps_working() {
    let t = target();
    let mut s = raw_connect(t.addr());
    send(&mut s, &request_frame(21, "Divide", &multiply_args(10, 20)));
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 21);
    assert_eq!(r.status, Status::Unimplemented);
    assert_eq!(r.status.code(), 12);
    assert!(r.message.contains("\"Divide\""), "{}", r.message);

    send(
        &mut s,
        &request_frame(22, "Multiply", &multiply_args(10, 20)),
    );
    let r = read_response(&mut s);
    assert_eq!((r.header.request_id, r.result_i32()), (22, 200));
    assert_serves(t.addr());
}

#[test]
fn arguments_of_an_unknown_call_id_are_never_decoded() {
    let t = target();
    let mut s = raw_connect(t.addr());
    // Near misses of the registered "Count", each carrying arguments that
    // would fail to decode as anything (3 bytes, a 4 GiB length prefix): if
    // the server decoded before resolving the call id, the status would be
    // InvalidArgument; if it matched loosely, Count would run.
    let near_misses = ["count", "COUNT", "Count ", "Coun", "Count\0", ""];
    let garbage: [&[u8]; 2] = [&[1, 2, 3], &[0xff, 0xff, 0xff, 0xff]];
    let mut id = 100;
    for call_id in near_misses {
        for args in garbage {
            id += 1;
            send(&mut s, &request_frame(id, call_id, args));
            let r = read_response(&mut s);
            assert_eq!(r.header.request_id, id);
            assert_eq!(
                r.status,
                Status::Unimplemented,
                "call id {call_id:?} with args {args:?}: {}",
                r.message
            );
            assert!(
                r.message.contains(&format!("\"{call_id}\"")),
                "message should name {call_id:?}: {}",
                r.message
            );
        }
    }
    assert_eq!(t.count_runs.load(Ordering::SeqCst), 0, "Count must not run");

    // The counter does count, and the connection still works: the first
    // real call to Count is its first run.
    send(&mut s, &request_frame(1, "Count", &multiply_args(0, 0)));
    let r = read_response(&mut s);
    assert_eq!((r.header.request_id, r.status), (1, Status::Ok));
    assert_eq!(r.result_i32(), 1);
    assert_eq!(t.count_runs.load(Ordering::SeqCst), 1);
    assert_serves(t.addr());
}

#[test]
fn unknown_codec_gets_unimplemented_for_that_request_and_connection_keeps_working() {
    let t = target();
    let mut s = raw_connect(t.addr());
    let mut frame = request_frame(31, "Count", &multiply_args(10, 20));
    frame[4] = 7; // codec 7 does not exist
    send(&mut s, &frame);
    let r = read_response(&mut s);
    assert_eq!(r.header.request_id, 31);
    assert_eq!(r.status, Status::Unimplemented);
    assert!(r.message.contains("codec 7"), "{}", r.message);
    assert_eq!(t.count_runs.load(Ordering::SeqCst), 0, "Count must not run");

    send(
        &mut s,
        &request_frame(32, "Multiply", &multiply_args(10, 20)),
    );
    let r = read_response(&mut s);
    assert_eq!((r.header.request_id, r.result_i32()), (32, 200));
    assert_serves(t.addr());
}

// ---- a handler that panics ---------------------------------------------------

#[test]
fn panicking_handler_becomes_internal_for_that_call_only() {
    // One worker: if a panic killed it, the next call would never be served.
    let t = target_with(Server::builder().workers(1));
    let client = Client::builder()
        .call_timeout(common::PATIENCE)
        .connect(t.addr())
        .unwrap();
    for _ in 0..3 {
        let e = client.call::<_, i32>("Panic", &()).unwrap_err();
        assert_eq!(e.status, Status::Internal);
        assert!(e.message.contains("panicked"), "{e}");
        assert!(e.message.contains("this handler always panics"), "{e}");
        // The same client, on the same connection, carries on.
        let y: i32 = client.call("Multiply", &(10, 20)).unwrap();
        assert_eq!(y, 200);
    }
    assert_serves(t.addr());
}

// ---- too many connections ----------------------------------------------------

#[test]
fn connection_over_max_connections_gets_resource_exhausted_frame_then_close() {
    let t = target_with(Server::builder().workers(2).max_connections(1));

    // The first connection takes the only slot (proved by being served).
    let mut first = raw_connect(t.addr());
    send(
        &mut first,
        &request_frame(1, "Multiply", &multiply_args(10, 20)),
    );
    assert_eq!(read_response(&mut first).result_i32(), 200);

    let mut second = raw_connect(t.addr());
    let r = read_response(&mut second);
    assert_eq!(r.header.request_id, 0);
    assert_eq!(r.status, Status::ResourceExhausted);
    assert_eq!(r.status.code(), 8);
    assert!(r.message.contains("max_connections"), "{}", r.message);
    assert_closed(&mut second);

    // The first connection is unaffected.
    send(
        &mut first,
        &request_frame(2, "Multiply", &multiply_args(3, 4)),
    );
    assert_eq!(read_response(&mut first).result_i32(), 12);

    // Give the slot back: once we see the server close its side, it has
    // already forgotten the connection, so a fresh client fits.
    first.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut first);
    assert_serves(t.addr());
}
