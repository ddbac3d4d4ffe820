//! End-to-end integrity: frames sealed with a CRC-32C (header flag bit 0).
//! A sealed request gets a sealed response; a damaged sealed frame closes
//! the connection with DATA_LOSS instead of being believed.

mod common;

use common::{assert_closed, multiply_args, raw_connect, read_frame, request_frame, send};
use minirpc::checksum::crc32c;
use minirpc::protocol::{self, Header, ResponseHead, FLAG_CHECKSUM};
use minirpc::{Server, ServerHandle, Status};

fn serve() -> ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").unwrap()
}

fn sealed_request(id: u64, l: i32, r: i32) -> Vec<u8> {
    let mut frame = request_frame(id, "Multiply", &multiply_args(l, r));
    protocol::seal(&mut frame, 0);
    frame
}

/// Check that a frame from the server is sealed and its CRC right, and
/// return its body without the CRC.
fn checked_payload(h: &Header, body: &[u8], what: &str) -> Vec<u8> {
    assert_eq!(
        h.flags & FLAG_CHECKSUM,
        FLAG_CHECKSUM,
        "{what} is not sealed"
    );
    let (payload, crc) = body.split_at(body.len() - 4);
    let mut whole = h.to_bytes().to_vec();
    whole.extend_from_slice(payload);
    assert_eq!(crc32c(&whole).to_be_bytes(), crc, "{what}: bad CRC");
    payload.to_vec()
}

#[test]
fn a_sealed_request_gets_a_sealed_response_whose_crc_checks() {
    let server = serve();
    let mut s = raw_connect(server.local_addr());
    send(&mut s, &sealed_request(1, 10, 20));
    let (h, body) = read_frame(&mut s);
    let payload = checked_payload(&h, &body, "the response");
    let r = ResponseHead::parse(&payload).unwrap();
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.result, 200i32.to_be_bytes());
}

#[test]
fn a_damaged_sealed_request_closes_the_connection_with_data_loss() {
    let server = serve();
    let mut s = raw_connect(server.local_addr());
    let mut frame = sealed_request(1, 10, 20);
    let last_arg = frame.len() - 5; // a byte of the arguments, not the CRC
    frame[last_arg] ^= 0x01; // 20 becomes 21: believed, the answer would be 210
    send(&mut s, &frame);
    let (h, body) = read_frame(&mut s);
    assert_eq!(h.request_id, 0, "a connection-level error");
    let r = ResponseHead::parse(&body).unwrap();
    assert_eq!(r.status, Status::DataLoss, "{}", r.message);
    assert!(r.message.contains("checksum"), "{}", r.message);
    assert_closed(&mut s);
}

#[test]
fn a_sealed_request_too_large_to_read_gets_a_sealed_refusal() {
    // Its body is never read, so its CRC cannot be checked; but the header
    // asked for sealed answers, and a client that seals refuses plain ones.
    let mut server = Server::builder().max_frame_bytes(64).build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").unwrap();
    let mut s = raw_connect(server.local_addr());
    let mut big = request_frame(7, "Multiply", &[0u8; 100]);
    protocol::seal(&mut big, 0);
    send(&mut s, &big);
    let (h, body) = read_frame(&mut s);
    assert_eq!(h.request_id, 7);
    assert_eq!(h.flags & FLAG_CHECKSUM, FLAG_CHECKSUM, "refusal not sealed");
    let (payload, _crc) = body.split_at(body.len() - 4);
    let r = ResponseHead::parse(payload).unwrap();
    assert_eq!(r.status, Status::ResourceExhausted, "{}", r.message);
    // And the connection's later answers are sealed, as after any sealed frame.
    send(
        &mut s,
        &request_frame(8, "Multiply", &multiply_args(10, 20)),
    );
    let (h, _) = read_frame(&mut s);
    assert_eq!(h.request_id, 8);
    assert_eq!(
        h.flags & FLAG_CHECKSUM,
        FLAG_CHECKSUM,
        "later answer not sealed"
    );
}

#[test]
fn a_sealed_frame_cut_off_at_frame_timeout_gets_a_sealed_error() {
    // A client that seals refuses a plain answer: given up on, its frame's
    // error must be sealed too, or the client reports DATA_LOSS instead of
    // the reason.
    let mut server = Server::builder()
        .frame_timeout(std::time::Duration::from_millis(300))
        .build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").unwrap();
    let mut s = raw_connect(server.local_addr());
    let frame = sealed_request(1, 10, 20);
    send(&mut s, &frame[..frame.len() - 3]);
    let (h, body) = read_frame(&mut s);
    assert_eq!(h.request_id, 0);
    let payload = checked_payload(&h, &body, "the error");
    let r = ResponseHead::parse(&payload).unwrap();
    assert_eq!(r.status, Status::DeadlineExceeded, "{}", r.message);
    assert!(r.message.contains("frame_timeout"), "{}", r.message);
}
