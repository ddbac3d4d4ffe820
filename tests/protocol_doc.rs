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
//! The `sealed-request` and `sealed-response` blocks (§14) are the same
//! call with checksums: the two frames above sealed with
//! `minirpc::protocol::seal`. The test checks that a real `Client` built
//! with `ClientBuilder::checksums(true)` sends exactly that request and the
//! server answers exactly that response, that each CRC is the CRC-32C of
//! the bytes before it, and that the page shows them. A sealed block is
//! `annotate_frame` of the frame without its last four bytes, then a line
//! for the CRC.
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
    multiply_10_20_sealed(false)
}

/// [`multiply_10_20`], with `ClientBuilder::checksums(checksums)`.
fn multiply_10_20_sealed(checksums: bool) -> Exchange {
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
        .checksums(checksums)
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
    let mut request = request.unwrap();
    as_if_sent_at_once(&mut request, 10_000);
    Exchange {
        request,
        response: response.unwrap(),
    }
}

/// The request's timeout field is the time the caller still waits when the
/// frame is encoded, rounded up to whole milliseconds (§4). A busy machine
/// can take over a millisecond between the call's start and its encoding,
/// and then the field says 9999, not 10000. The page shows the call as if
/// no time had passed, so this checks that the field is within a second of
/// `ms`, writes `ms` into it, and seals the frame again if it was sealed.
fn as_if_sent_at_once(frame: &mut [u8], ms: u32) {
    use minirpc::checksum::crc32c;
    use minirpc::protocol::{FLAG_CHECKSUM, HEADER_LEN};
    let call_id_len = u32::from_be_bytes(frame[HEADER_LEN..HEADER_LEN + 4].try_into().unwrap());
    let at = HEADER_LEN + 4 + call_id_len as usize;
    let sent = u32::from_be_bytes(frame[at..at + 4].try_into().unwrap());
    assert!(
        sent <= ms && sent > ms - 1000,
        "the request's timeout field says {sent} ms; the call's timeout is {ms} ms"
    );
    frame[at..at + 4].copy_from_slice(&ms.to_be_bytes());
    if frame[5] & FLAG_CHECKSUM != 0 {
        let (data, crc) = frame.split_at_mut(frame.len() - 4);
        crc.copy_from_slice(&crc32c(data).to_be_bytes());
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

/// The block for a sealed frame: the annotated frame without its CRC, then
/// the CRC's own line (in `annotate_frame`'s layout).
fn sealed_block(frame: &[u8]) -> String {
    let (data, crc) = frame.split_at(frame.len() - 4);
    let hex: Vec<String> = crc.iter().map(|b| format!("{b:02x}")).collect();
    let what = format!("CRC-32C of the {} bytes above", data.len());
    format!(
        "```text\n{}{:<36} {what}\n```\n",
        annotate_frame(data),
        hex.join(" ")
    )
}

/// Check one block of the page against the bytes really sent; on a mismatch
/// fail with the block to paste.
fn assert_page_shows(name: &str, frame: &[u8]) {
    assert_page_has(name, expected_block(frame));
}

/// Check that the page's block `name` is exactly `want`.
fn assert_page_has(name: &str, want: String) {
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

/// `frame` sealed by the library: flag bit 0, 4 more body bytes, the CRC.
fn sealed(frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    minirpc::protocol::seal(&mut out, 0);
    out
}

/// What §14 says of every sealed frame, checked byte by byte.
fn assert_sealed_as_the_page_says(plain: &[u8], sealed: &[u8]) {
    use minirpc::checksum::crc32c;
    use minirpc::protocol::{FLAG_CHECKSUM, HEADER_LEN};
    assert_eq!(sealed.len(), plain.len() + 4, "4 bytes longer");
    assert_eq!(sealed[5], FLAG_CHECKSUM, "flags byte 01");
    let body_len = u32::from_be_bytes(sealed[14..18].try_into().unwrap()) as usize;
    assert_eq!(
        body_len,
        plain.len() - HEADER_LEN + 4,
        "the length counts the CRC"
    );
    // Everything else is the plain frame's bytes, unchanged.
    assert_eq!(sealed[..5], plain[..5]);
    assert_eq!(sealed[6..14], plain[6..14]);
    assert_eq!(sealed[HEADER_LEN..plain.len()], plain[HEADER_LEN..]);
    // The CRC-32C of the 18 header bytes as sent and the body, big-endian.
    let (data, crc) = sealed.split_at(sealed.len() - 4);
    assert_eq!(crc, crc32c(data).to_be_bytes());
}

#[test]
fn protocol_md_shows_the_sealed_multiply_frames() {
    let plain = multiply_10_20();
    let (request, response) = (sealed(&plain.request), sealed(&plain.response));
    assert_sealed_as_the_page_says(&plain.request, &request);
    assert_sealed_as_the_page_says(&plain.response, &response);
    // A real client with checksums sends exactly this request, and the
    // server answers a sealed request with exactly this sealed response.
    let real = multiply_10_20_sealed(true);
    assert_eq!(
        real.request, request,
        "what ClientBuilder::checksums(true) sends"
    );
    assert_eq!(real.response, response, "what the server answers");
    assert_page_has("sealed-request", sealed_block(&request));
    assert_page_has("sealed-response", sealed_block(&response));
}

/// The request `Client::ping(2 s)` sends as a fresh client's first call,
/// captured as the client writes it, and the answer a server gives to
/// exactly those bytes on a raw socket.
fn ping_exchange() -> Exchange {
    use std::io::{Read, Write};
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let tx = Mutex::new(tx);
    let tracer: Tracer = Arc::new(move |e: &TraceEvent<'_>| {
        if let (Side::Client, 3, Some(b)) = (e.side, e.step, e.bytes) {
            let _ = tx
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send(b.to_vec());
        }
    });
    // No method is registered: the probe needs none.
    let handle = Server::new()
        .serve("127.0.0.1:0")
        .expect("bind 127.0.0.1:0");
    let client = Client::builder()
        .trace(tracer)
        .connect(handle.local_addr())
        .expect("connect to the test server");
    client.ping(Duration::from_secs(2)).expect("Client::ping");
    let mut request = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the ping's request frame was not traced");
    as_if_sent_at_once(&mut request, 2_000);
    drop(client);

    let mut raw = std::net::TcpStream::connect(handle.local_addr()).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set_read_timeout");
    raw.write_all(&request).expect("send the request");
    let mut response = vec![0u8; minirpc::protocol::HEADER_LEN];
    raw.read_exact(&mut response).expect("read the header");
    let body_len = u32::from_be_bytes(response[14..18].try_into().unwrap()) as usize;
    response.resize(response.len() + body_len, 0);
    raw.read_exact(&mut response[minirpc::protocol::HEADER_LEN..])
        .expect("read the body");
    drop(raw);
    handle.shutdown();
    Exchange { request, response }
}

#[test]
fn protocol_md_shows_the_health_probe_and_its_answer() {
    let ex = ping_exchange();
    // A request (kind 1) for the call id "$minirpc.ping", answered (kind 2,
    // status 0) under the same request id.
    assert_eq!(&ex.request[..4], b"MR\x01\x01");
    let call_id = minirpc::protocol::PING_CALL_ID.as_bytes();
    assert_eq!(&ex.request[22..22 + call_id.len()], call_id);
    assert_eq!(&ex.response[..4], b"MR\x01\x02");
    assert_eq!(ex.response[6..14], ex.request[6..14]);
    assert_eq!(ex.response[18], 0, "status OK");
    assert_page_shows("ping-request", &ex.request);
    assert_page_shows("ping-response", &ex.response);
}

/// The hex of the fenced block that follows `intro` in the page: each
/// line's leading two-digit hex words, up to the first word that is not one.
fn page_hex_after(intro: &str) -> Vec<u8> {
    let page = std::fs::read_to_string(PROTOCOL_MD).expect("read docs/protocol.md");
    let at = page
        .find(intro)
        .unwrap_or_else(|| panic!("docs/protocol.md has no {intro:?}"));
    let block = page[at..]
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap_or_else(|| panic!("no ```text block after {intro:?}"));
    let mut bytes = Vec::new();
    for line in block.lines() {
        for word in line.split_whitespace() {
            match u8::from_str_radix(word, 16) {
                Ok(b) if word.len() == 2 => bytes.push(b),
                _ => break,
            }
        }
    }
    bytes
}

#[test]
fn protocol_md_shows_the_error_metadata_of_a_rate_limit_refusal() {
    // §5: a refusal of 12 ms; the page shows the bytes after the message.
    let e = minirpc::RpcError::resource_exhausted("over the limit")
        .with_retry_after(Duration::from_millis(12));
    let mut out = Vec::new();
    minirpc::protocol::error_response(&mut out, minirpc::CodecId::Binary, 3, &e);
    let body = &out[minirpc::protocol::HEADER_LEN..];
    let after_message = &body[1 + 4 + e.message.len()..];
    assert_eq!(
        page_hex_after("A rate limit's refusal of 12 ms"),
        after_message,
        "docs/protocol.md §5 should show the bytes error_response writes after the message"
    );
}
