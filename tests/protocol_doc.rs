//! `docs/protocol.md` shows the bytes of a real `Multiply(10, 20)` call. This
//! test makes that call, between a real `Client` and a real `Server`,
//! captures the two frames as they are sent (through the tracers of
//! `minirpc::trace`), and checks that the page still shows exactly those
//! bytes. If the wire format changes, this test fails and prints the block
//! to paste into the page, so the page can never drift from the code.
//!
//! Each block in the page sits between HTML comment markers,
//! `<!-- dump:request -->` and `<!-- /dump:request -->` (and the same for
//! `response`), and is a fenced `text` block holding the output of
//! `minirpc::trace::annotate_frame` for that frame. The page's `cancel`
//! block (a cancel frame for request id 7, §7) is checked the same way,
//! against the frame `minirpc::protocol::control_frame` builds.
//!
//! To see the blocks without a failure, run
//! `cargo test --test protocol_doc -- --nocapture`.

use minirpc::trace::{annotate_frame, Side, TraceEvent, Tracer};
use minirpc::{Client, Server};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The page the dumps live in.
const PROTOCOL_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md");

/// The two frames of one real call, as the sending side wrote them.
struct Exchange {
    request: Vec<u8>,
    response: Vec<u8>,
}

/// A captured trace event we care about: which frame, and its bytes.
enum Captured {
    Request(Vec<u8>),
    Response(Vec<u8>),
}

/// Run `Multiply(10, 20)` with default client settings (so: request id 1,
/// timeout 10000 ms, no metadata) and capture both frames.
fn multiply_10_20() -> Exchange {
    let (tx, rx) = mpsc::channel::<Captured>();
    // The tracer runs on the server's worker threads and on the caller's
    // thread; a Mutex makes the Sender shareable without relying on it being
    // Sync.
    let tx = Mutex::new(tx);
    let tracer: Tracer = Arc::new(move |e: &TraceEvent<'_>| {
        let captured = match (e.side, e.step, e.bytes) {
            // Client step 3: "sent the request frame", with the whole frame.
            (Side::Client, 3, Some(b)) => Captured::Request(b.to_vec()),
            // Server step 6 is traced twice: once with the encoded result,
            // once as "sending the N-byte response frame" with the whole frame.
            (Side::Server, 6, Some(b)) if e.message.starts_with("sending the") => {
                Captured::Response(b.to_vec())
            }
            _ => return,
        };
        let _ = tx.lock().unwrap_or_else(|p| p.into_inner()).send(captured);
    });

    let mut server = Server::builder().trace(Arc::clone(&tracer)).build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let handle = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let client = Client::builder()
        .trace(tracer)
        .connect(handle.local_addr())
        .expect("connect to the test server");
    let product: i32 = client
        .call("Multiply", &(10i32, 20i32))
        .expect("Multiply(10, 20)");
    assert_eq!(product, 200);

    // The server traces its response before it writes it, so both events
    // are already in the channel; the deadline only guards against a bug.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut request, mut response) = (None, None);
    while request.is_none() || response.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Captured::Request(b)) => request = Some(b),
            Ok(Captured::Response(b)) => response = Some(b),
            Err(e) => panic!(
                "did not capture both frames within 10 s ({e}); got request: {}, response: {}",
                request.is_some(),
                response.is_some()
            ),
        }
    }
    drop(client);
    handle.shutdown();
    Exchange {
        request: request.unwrap(),
        response: response.unwrap(),
    }
}

/// What the page must hold between `<!-- dump:NAME -->` and
/// `<!-- /dump:NAME -->`: a fenced block of the annotated frame.
fn expected_block(frame: &[u8]) -> String {
    format!("```text\n{}```\n", annotate_frame(frame))
}

/// The text between the page's markers for `name`, if both are there.
fn block_in<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<!-- dump:{name} -->\n");
    let close = format!("<!-- /dump:{name} -->");
    let start = doc.find(&open)? + open.len();
    let len = doc[start..].find(&close)?;
    Some(&doc[start..start + len])
}

/// Check one block of the page against the bytes really sent; on a mismatch
/// fail with the block to paste.
fn assert_page_shows(name: &str, frame: &[u8]) {
    let want = expected_block(frame);
    let paste = format!("<!-- dump:{name} -->\n{want}<!-- /dump:{name} -->");
    println!("{paste}");
    let doc = std::fs::read_to_string(PROTOCOL_MD)
        .unwrap_or_else(|e| panic!("cannot read {PROTOCOL_MD}: {e}; it should hold:\n{paste}\n"));
    // A checkout with Windows line endings still holds the same page.
    let doc = doc.replace("\r\n", "\n");
    match block_in(&doc, name) {
        Some(got) if got == want => {}
        Some(got) => panic!(
            "the {name} dump in docs/protocol.md is not what minirpc sends.\n\
             --- docs/protocol.md has:\n{got}\n\
             --- replace the block (markers included) with:\n{paste}\n"
        ),
        None => panic!(
            "docs/protocol.md has no `<!-- dump:{name} -->` ... `<!-- /dump:{name} -->` block; add:\n{paste}\n"
        ),
    }
}

#[test]
fn protocol_md_shows_the_real_multiply_request_frame() {
    let ex = multiply_10_20();
    // A sanity check that we captured the right frame: a request (kind 1)
    // with request id 1, as a fresh default client sends it.
    assert_eq!(&ex.request[..4], b"MR\x01\x01");
    assert_eq!(ex.request[6..14], 1u64.to_be_bytes());
    assert_page_shows("request", &ex.request);
}

#[test]
fn protocol_md_shows_the_real_multiply_response_frame() {
    let ex = multiply_10_20();
    // A response (kind 2) to request id 1.
    assert_eq!(&ex.response[..4], b"MR\x01\x02");
    assert_eq!(ex.response[6..14], 1u64.to_be_bytes());
    assert_page_shows("response", &ex.response);
}

#[test]
fn protocol_md_shows_a_real_cancel_frame() {
    use minirpc::protocol::{control_frame, FrameKind};
    let mut cancel = Vec::new();
    control_frame(&mut cancel, FrameKind::Cancel, 7);
    // A cancel (kind 6) for request id 7, with no body.
    assert_eq!(&cancel[..4], b"MR\x01\x06");
    assert_eq!(cancel.len(), minirpc::protocol::HEADER_LEN);
    assert_page_shows("cancel", &cancel);
}
