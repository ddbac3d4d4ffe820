//! `docs/protocol.md` §9 is a table: for each kind of bad input (and each
//! limit a peer can hit), the status and message the server answers with,
//! the request id of the answer, and whether the connection stays open. A
//! client written from the page relies on every cell, so this test reads the
//! table out of the page and checks each row against a real server over a
//! raw socket.
//!
//! Each row is matched to one case below by the start of its first cell
//! ("what arrives"). A row without a case, or a case without a row, fails the
//! test: a new row needs a case, and a case whose row was reworded needs its
//! key updated. For each row the test
//!
//! 1. sends the row's input to a fresh server on `127.0.0.1:0`;
//! 2. checks the answer's status code and name, and its message against the
//!    page's pattern (in a pattern, `N` is a number, `X` is any text the
//!    server fills in, and `…` is any rest of the sentence; a pattern that
//!    does not end with `…` must match the whole message);
//! 3. checks the answer's request id (`0` or "the request's");
//! 4. checks the connection: "closed" means the next read sees the end of
//!    the stream; "stays open" means a `Multiply` on the same socket is
//!    still answered.
//!
//! A row whose answer cell starts with "no answer" (and whose request id
//! cell is "—") says the server answers nothing at all: the case reads no
//! answer, and the row must say "stays open", so the `Multiply` of step 4
//! proves it: its answer must be the first frame that comes back.
//!
//! Every read has a timeout (`common::PATIENCE`), and events are ordered by
//! answers on the socket (a pong proves the frames before it were read), by
//! channels and by gates, never by sleeps.

mod common;

use common::{
    assert_closed, header_bytes, multiply_args, raw_connect, read_frame, read_response,
    request_frame, request_frame_with_timeout, send, Gate, RawResponse, PATIENCE,
};
use minirpc::auth::{Authenticator, Key, SignedMeta, Signer, UnixClock};
use minirpc::codec::CodecId;
use minirpc::protocol::{self, FrameKind, HEADER_LEN};
use minirpc::{RpcError, Server, ServerBuilder, ServerHandle, Status};
use std::cell::RefCell;
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROTOCOL_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md");

// ---- the page ------------------------------------------------------------------

/// What the page says about one kind of bad input.
#[derive(Debug)]
struct Row {
    /// The first cell, "what arrives".
    what: String,
    /// The answer cell says "no answer": the server sends nothing back.
    /// (Then the status fields below are unused.)
    no_answer: bool,
    code: u8,
    name: String,
    /// The message pattern, without its quotes.
    pattern: String,
    /// The status cell says the answer is "in codec 0".
    in_codec_0: bool,
    /// The answer carries request id 0 (else the request's id).
    id_zero: bool,
    /// The connection stays open afterwards (else it is closed).
    stays_open: bool,
}

/// The rows of the table in §9 of the page.
fn rows_of_section_9(doc: &str) -> Vec<Row> {
    let start = doc
        .find("\n## 9. ")
        .expect("docs/protocol.md has no section \"## 9. \"");
    let section = &doc[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with("| what arrives"));
    let header = lines
        .next()
        .expect("section 9 has no table starting \"| what arrives\"");
    assert_eq!(
        cells(header).len(),
        4,
        "the table has four columns: {header}"
    );
    lines
        .skip(1) // |---|---|
        .take_while(|l| l.starts_with('|'))
        .map(parse_row)
        .collect()
}

fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim).collect()
}

fn parse_row(line: &str) -> Row {
    let c = cells(line);
    assert_eq!(c.len(), 4, "a row of the table has four cells: {line}");
    let stays_open = match c[3].trim_matches('*') {
        "closed" => false,
        "stays open" => true,
        other => panic!("unknown connection cell {other:?} (expected closed or stays open)"),
    };
    if c[1].starts_with("no answer") {
        assert_eq!(
            c[2], "—",
            "a row with no answer has no request id (\"—\"): {line}"
        );
        assert!(
            stays_open,
            "a row with no answer must say the connection stays open (that is how it is checked): {line}"
        );
        return Row {
            what: c[0].to_owned(),
            no_answer: true,
            code: 0,
            name: String::new(),
            pattern: String::new(),
            in_codec_0: false,
            id_zero: false,
            stays_open,
        };
    }
    let (code, name, after) = status_in(c[1]).unwrap_or_else(|| {
        panic!(
            "no status (a number, then a `NAME` in backticks) in the cell: {}",
            c[1]
        )
    });
    let open_q = after
        .find('"')
        .unwrap_or_else(|| panic!("no quoted message after the status in: {}", c[1]));
    let close_q = after.rfind('"').unwrap();
    assert!(close_q > open_q, "an unterminated message in: {}", c[1]);
    let id_zero = match c[2] {
        "0" => true,
        "the request's" => false,
        other => panic!("unknown request id cell {other:?} (expected 0 or \"the request's\")"),
    };
    Row {
        what: c[0].to_owned(),
        no_answer: false,
        code,
        name: name.to_owned(),
        pattern: after[open_q + 1..close_q].to_owned(),
        in_codec_0: c[1].contains("in codec 0"),
        id_zero,
        stays_open,
    }
}

/// The first "<number> `NAME`" in a cell, and the text after it.
fn status_in(cell: &str) -> Option<(u8, &str, &str)> {
    let mut from = 0;
    while let Some(tick) = cell[from..].find(" `").map(|i| from + i) {
        let digits_start = cell[..tick]
            .rfind(|ch: char| !ch.is_ascii_digit())
            .map_or(0, |i| i + 1);
        let rest = &cell[tick + 2..];
        if let (Ok(code), Some(end)) = (cell[digits_start..tick].parse::<u8>(), rest.find('`')) {
            let name = &rest[..end];
            if !name.is_empty() && name.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_') {
                return Some((code, name, &rest[end + 1..]));
            }
        }
        from = tick + 2;
    }
    None
}

// ---- matching a message against the page's pattern --------------------------------

#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    /// `N`: one or more digits.
    Number,
    /// `X`: one or more characters.
    Name,
    /// `…`: any characters, maybe none.
    Rest,
}

fn pieces(pattern: &str) -> Vec<Piece> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut text = String::new();
    let word = |i: usize| {
        chars
            .get(i)
            .is_some_and(|ch| ch.is_alphanumeric() || *ch == '_')
    };
    for (i, &ch) in chars.iter().enumerate() {
        let standalone = !word(i.wrapping_sub(1)) && !word(i + 1);
        let piece = match ch {
            '…' => Some(Piece::Rest),
            'N' if standalone => Some(Piece::Number),
            'X' if standalone => Some(Piece::Name),
            _ => None,
        };
        match piece {
            Some(p) => {
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(p);
            }
            None => text.push(ch),
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Whether `message` is what `pattern` describes (all of it).
fn matches(pattern: &str, message: &str) -> bool {
    fn go(p: &[Piece], m: &str) -> bool {
        let Some((first, rest)) = p.split_first() else {
            return m.is_empty();
        };
        match first {
            Piece::Text(t) => m.strip_prefix(t.as_str()).is_some_and(|m| go(rest, m)),
            Piece::Number => {
                let digits = m.len() - m.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                (1..=digits).any(|k| go(rest, &m[k..]))
            }
            Piece::Name | Piece::Rest => {
                let min = usize::from(matches!(first, Piece::Name));
                m.char_indices()
                    .map(|(i, _)| i)
                    .chain([m.len()])
                    .filter(|&i| i >= min)
                    .any(|i| go(rest, &m[i..]))
            }
        }
    }
    go(&pieces(pattern), message)
}

#[test]
fn the_pattern_matcher_reads_n_x_and_the_ellipsis() {
    assert!(matches("protocol version N is", "protocol version 2 is"));
    assert!(!matches("protocol version N is", "protocol version two is"));
    assert!(matches("no method \"X\" here", "no method \"Mul\" here"));
    assert!(!matches("no method \"X\" here", "no method \"\" here"));
    assert!(matches("busy: …", "busy: 3 calls waiting"));
    assert!(!matches("busy …", "busy: 3 calls waiting"));
    assert!(matches("a … z", "a  z"));
    assert!(!matches("exact", "exact and more"));
    // N and X only as whole words: not the N of "UNIMPLEMENTED".
    assert_eq!(
        pieces("UNIMPLEMENTED"),
        [Piece::Text("UNIMPLEMENTED".into())]
    );
}

// ---- the server every case talks to -------------------------------------------------

/// A running server, and what a case must keep alive until it is checked.
struct Case {
    /// The connection the answer came on, checked for "closed" / "open".
    stream: TcpStream,
    /// The request id the input carried (the answer's, unless the row says 0).
    request_id: u64,
    /// The server's answer, or `None` for an input that gets none.
    answer: Option<RawResponse>,
    _server: ServerHandle,
    _others: Vec<TcpStream>,
}

/// A server with the methods the cases call:
/// - `Multiply(i32, i32) -> i32`;
/// - `Fail`: returns `NOT_FOUND`, "no user 42";
/// - `Panic`: panics;
/// - `Block`: reports on `started`, then waits for `gate` (bounded);
/// - `Big(n: u32) -> Vec<u8>`: `n` bytes.
fn serve(builder: ServerBuilder, gate: &Arc<Gate>, started: mpsc::Sender<()>) -> ServerHandle {
    let mut server: Server = builder.build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register("Big", |n: u32| Ok(vec![7u8; n as usize]));
    server.register("Fail", |(): ()| -> Result<(), RpcError> {
        Err(RpcError::new(Status::NotFound, "no user 42"))
    });
    server.register("Panic", |(): ()| -> Result<(), RpcError> {
        panic!("on purpose, for the table in docs/protocol.md")
    });
    let gate = Arc::clone(gate);
    // The Sender is moved into a handler that many workers may share.
    let started = Mutex::new(started);
    server.register("Block", move |(): ()| {
        let _ = started.lock().unwrap().send(());
        gate.wait(PATIENCE);
        Ok(())
    });
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A server with default settings, a raw connection to it, and the answer
/// to `bytes` sent on that connection.
fn answer_to(bytes: &[u8], request_id: u64) -> Case {
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let server = serve(Server::builder(), &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    send(&mut stream, bytes);
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

/// A request frame (kind 1, binary) with request id 7 and exactly `body`.
fn request_with_body(body: &[u8]) -> Vec<u8> {
    let mut out = header_bytes(FrameKind::Request, 7, body.len() as u32).to_vec();
    out.extend_from_slice(body);
    out
}

/// A request envelope: the call id as raw bytes, no deadline, `meta_count`
/// metadata pairs claimed (none written), and no arguments.
fn envelope(call_id: &[u8], meta_count: u32) -> Vec<u8> {
    let mut body = (call_id.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(call_id);
    body.extend_from_slice(&0u32.to_be_bytes());
    body.extend_from_slice(&meta_count.to_be_bytes());
    body
}

/// A ping header (no body) whose byte `at` is replaced by `byte`.
fn header_with(at: usize, byte: u8) -> Vec<u8> {
    let mut h = header_bytes(FrameKind::Ping, 5, 0);
    h[at] = byte;
    h.to_vec()
}

// ---- the cases, one per row ---------------------------------------------------------

fn bad_magic() -> Case {
    // Exactly one header's worth (18 bytes) of an HTTP request.
    let http = b"GET / HTTP/1.1\r\n\r\n";
    assert_eq!(http.len(), HEADER_LEN);
    answer_to(http, 0)
}

fn unknown_version() -> Case {
    answer_to(&header_with(2, 2), 5)
}

fn unknown_flags() -> Case {
    // Bit 1 of the flags byte: only bit 0 (the checksum) is defined.
    answer_to(&header_with(5, 0x02), 5)
}

fn a_sealed_frame_whose_crc_does_not_match() -> Case {
    // A sealed Multiply(10, 20) with one bit of its arguments flipped on the
    // way: believed, 20 would have become 21 and the answer 210.
    let mut frame = request_frame(7, "Multiply", &multiply_args(10, 20));
    protocol::seal(&mut frame, 0);
    let last_arg = frame.len() - 5; // the last byte before the 4-byte CRC
    frame[last_arg] ^= 0x01;
    answer_to(&frame, 0)
}

fn unknown_kind() -> Case {
    // Kind 9, with a body that must be skipped along with its header.
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let server = serve(Server::builder(), &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    let mut frame = header_bytes(FrameKind::Ping, 5, 6).to_vec();
    frame[3] = 9;
    frame.extend_from_slice(b"future");
    send(&mut stream, &frame);
    Case {
        stream,
        request_id: 5,
        answer: None,
        _server: server,
        _others: Vec::new(),
    }
}

fn body_over_the_limit() -> Case {
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let server = serve(Server::builder(), &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    // Only the header: the server must answer before any of the body...
    let limit = protocol::DEFAULT_MAX_FRAME_BYTES;
    send(
        &mut stream,
        &header_bytes(FrameKind::Request, 5, limit as u32 + 1),
    );
    let answer = Some(read_response(&mut stream));
    // ...and then skip the body as it arrives, so the next frame is read.
    send(&mut stream, &vec![0u8; limit + 1]);
    Case {
        stream,
        request_id: 5,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn request_id_zero() -> Case {
    answer_to(&request_frame(0, "Multiply", &multiply_args(1, 2)), 0)
}

fn a_response_from_the_client() -> Case {
    answer_to(&header_bytes(FrameKind::Response, 5, 0), 5)
}

fn one_connection_too_many() -> Case {
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let server = serve(Server::builder().max_connections(1), &gate, tx);
    // The first connection is served, which proves it has been counted.
    let mut first = raw_connect(server.local_addr());
    send(
        &mut first,
        &request_frame(1, "Multiply", &multiply_args(2, 3)),
    );
    assert_eq!(read_response(&mut first).result_i32(), 6);
    let mut stream = raw_connect(server.local_addr());
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id: 0,
        answer,
        _server: server,
        _others: vec![first],
    }
}

fn unknown_codec() -> Case {
    let mut frame = request_frame(7, "Multiply", &multiply_args(1, 2));
    frame[4] = 7;
    answer_to(&frame, 7)
}

fn envelope_too_short() -> Case {
    // The call id claims 9 bytes; only 1 follows.
    answer_to(&request_with_body(&[0, 0, 0, 9, b'M']), 7)
}

fn envelope_not_utf8() -> Case {
    answer_to(&request_with_body(&envelope(&[0xff, 0xfe], 0)), 7)
}

fn too_much_metadata() -> Case {
    let over = protocol::MAX_METADATA as u32 + 1;
    answer_to(&request_with_body(&envelope(b"Multiply", over)), 7)
}

fn unknown_call_id() -> Case {
    answer_to(&request_frame(7, "Multipy", &multiply_args(1, 2)), 7)
}

fn arguments_that_do_not_decode() -> Case {
    // Multiply wants 8 bytes, (i32, i32); send 4.
    answer_to(&request_frame(7, "Multiply", &[0, 0, 0, 1]), 7)
}

/// One worker, held by `Block` until the gate opens.
fn a_busy_server(queue_capacity: usize) -> (ServerHandle, Arc<Gate>, TcpStream) {
    a_busy_server_with(Server::builder().queue_capacity(queue_capacity))
}

/// Like [`a_busy_server`], with other settings too: one worker, held by a
/// `Block` sent on the returned connection until the gate opens.
fn a_busy_server_with(builder: ServerBuilder) -> (ServerHandle, Arc<Gate>, TcpStream) {
    let gate = Gate::new();
    let (tx, started) = mpsc::channel();
    let server = serve(builder.workers(1), &gate, tx);
    let mut blocker = raw_connect(server.local_addr());
    send(&mut blocker, &request_frame(1, "Block", &[]));
    started
        .recv_timeout(PATIENCE)
        .expect("Block did not start on the one worker");
    (server, gate, blocker)
}

/// Send `ping` with `id` after whatever was sent before on `s`, and wait for
/// its pong: the server reads a connection's frames in order, so the pong
/// proves that everything sent before it has been read and dispatched.
fn ping_and_wait_for_pong(s: &mut TcpStream, id: u64) {
    let mut ping = Vec::new();
    protocol::control_frame(&mut ping, FrameKind::Ping, id);
    send(s, &ping);
    let (pong, _) = read_frame(s);
    assert_eq!((pong.kind, pong.request_id), (FrameKind::Pong, id));
}

fn deadline_passed_in_the_queue() -> Case {
    let (server, gate, blocker) = a_busy_server(16);
    let mut stream = raw_connect(server.local_addr());
    // Multiply with a 1 ms deadline waits in the queue behind Block.
    send(
        &mut stream,
        &request_frame_with_timeout(7, "Multiply", 1, &multiply_args(1, 2)),
    );
    ping_and_wait_for_pong(&mut stream, 8);
    // The server read Multiply before it sent the pong, so its deadline is
    // at most 1 ms after now. Let that time pass (a wait for the clock
    // itself, not for another thread), then free the worker.
    let past = Instant::now() + Duration::from_millis(5);
    while Instant::now() < past {
        std::thread::sleep(past - Instant::now());
    }
    gate.open();
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: vec![blocker],
    }
}

/// Read the next response on `s` and check it is request `id`, answered OK
/// (a call the case queued to fill something up).
fn expect_ok(s: &mut TcpStream, id: u64) {
    let r = read_response(s);
    assert_eq!(
        (r.header.request_id, r.status),
        (id, Status::Ok),
        "{}",
        r.message
    );
}

fn the_queue_is_full() -> Case {
    let (server, gate, blocker) = a_busy_server(1);
    // Another connection's Block fills the one place in the queue...
    let mut filler = raw_connect(server.local_addr());
    send(&mut filler, &request_frame(2, "Block", &[]));
    ping_and_wait_for_pong(&mut filler, 3);
    // ...so this call, from a connection with nothing in flight (so within
    // any fair share), finds it full.
    let mut stream = raw_connect(server.local_addr());
    send(
        &mut stream,
        &request_frame(7, "Multiply", &multiply_args(1, 2)),
    );
    let answer = Some(read_response(&mut stream));
    // Empty the queue again, so the connection can be checked with a call.
    gate.open();
    expect_ok(&mut filler, 2);
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: vec![blocker, filler],
    }
}

fn over_max_in_flight_per_connection() -> Case {
    let gate = Gate::new();
    let (tx, started) = mpsc::channel();
    let builder = Server::builder().workers(1).max_in_flight_per_connection(1);
    let server = serve(builder, &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    // One call in flight on this connection, its whole allowance...
    send(&mut stream, &request_frame(1, "Block", &[]));
    started.recv_timeout(PATIENCE).expect("Block did not start");
    // (and another connection's Block queued behind it on the one worker:
    // when that one starts, the first has finished and given its place back)
    let mut filler = raw_connect(server.local_addr());
    send(&mut filler, &request_frame(2, "Block", &[]));
    ping_and_wait_for_pong(&mut filler, 3);
    // ...so a second call is refused, whatever the pool could take.
    send(
        &mut stream,
        &request_frame(7, "Multiply", &multiply_args(1, 2)),
    );
    let answer = Some(read_response(&mut stream));
    gate.open();
    expect_ok(&mut stream, 1);
    started
        .recv_timeout(PATIENCE)
        .expect("the queued Block did not start");
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: vec![filler],
    }
}

fn over_the_fair_share_of_a_filling_queue() -> Case {
    // One worker, held by another connection; room for 2 in the queue.
    let (server, gate, blocker) = a_busy_server(2);
    let mut stream = raw_connect(server.local_addr());
    // This connection queues two calls: the queue is full past half...
    send(&mut stream, &request_frame(2, "Block", &[]));
    send(&mut stream, &request_frame(3, "Block", &[]));
    // ...and with 2 connections its share is (2 + 1) / 2 = 1 call, which it
    // has passed, so its next call is refused before the queue is asked.
    send(
        &mut stream,
        &request_frame(7, "Multiply", &multiply_args(1, 2)),
    );
    let answer = Some(read_response(&mut stream));
    gate.open();
    expect_ok(&mut stream, 2);
    expect_ok(&mut stream, 3);
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: vec![blocker],
    }
}

/// A request for `Multiply` with `extra` bytes after its arguments: refused
/// by a byte budget before anything decodes it.
fn a_large_multiply(id: u64, extra: usize) -> Vec<u8> {
    let mut args = multiply_args(1, 2);
    args.resize(args.len() + extra, 0);
    request_frame(id, "Multiply", &args)
}

fn over_the_bytes_of_one_connection() -> Case {
    // A budget of 64 bytes: the Block this connection has running holds 17
    // of them (its body), so a 100-byte request does not fit. (A plain
    // Multiply, 28 bytes, still fits beside the Block, even while the Block's
    // bytes are being given back.)
    let builder = Server::builder().max_queued_bytes_per_connection(64);
    let (server, gate, mut stream) = a_busy_server_with(builder);
    send(&mut stream, &a_large_multiply(7, 72));
    let answer = Some(read_response(&mut stream));
    gate.open();
    expect_ok(&mut stream, 1);
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn over_the_bytes_of_the_whole_server() -> Case {
    // The same budget for the whole server: another connection's Block holds
    // 17 of the 64 bytes, this connection queues a small Multiply behind it
    // (a connection with nothing queued may always queue one request), and
    // then its 100-byte request does not fit.
    let builder = Server::builder().max_queued_bytes(64);
    let (server, gate, blocker) = a_busy_server_with(builder);
    let mut stream = raw_connect(server.local_addr());
    send(
        &mut stream,
        &request_frame(6, "Multiply", &multiply_args(2, 3)),
    );
    ping_and_wait_for_pong(&mut stream, 8);
    send(&mut stream, &a_large_multiply(7, 72));
    let answer = Some(read_response(&mut stream));
    gate.open();
    let queued = read_response(&mut stream);
    assert_eq!((queued.header.request_id, queued.result_i32()), (6, 6));
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: vec![blocker],
    }
}

fn a_result_over_max_frame_bytes() -> Case {
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let server = serve(Server::builder().max_frame_bytes(64), &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    // 100 bytes of result do not fit in a 64-byte frame body.
    send(&mut stream, &request_frame(7, "Big", &100u32.to_be_bytes()));
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn a_frame_that_does_not_arrive_whole_in_time() -> Case {
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let builder = Server::builder().frame_timeout(Duration::from_millis(200));
    let server = serve(builder, &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    // The first 10 bytes of a request, then nothing: the answer comes when
    // the frame's deadline passes (the read waits for it, up to PATIENCE).
    let frame = request_frame(7, "Multiply", &multiply_args(1, 2));
    send(&mut stream, &frame[..10]);
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn a_connection_left_idle() -> Case {
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let builder = Server::builder().idle_timeout(Some(Duration::from_millis(200)));
    let server = serve(builder, &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    // One call, then silence: the notice comes when the idle time is up
    // (the read waits for it, up to PATIENCE).
    send(
        &mut stream,
        &request_frame(7, "Multiply", &multiply_args(1, 2)),
    );
    assert_eq!(read_response(&mut stream).result_i32(), 2);
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn a_call_over_a_rate_limit() -> Case {
    // `Big` for the caller "noisy": one call, then none (the clock stands
    // still). The second call is the one the row is about.
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let rule = minirpc::flow::Rule::token_bucket("Big", 100.0, 1)
        .per_caller()
        .clock(minirpc::time::ManualClock::new());
    let server = serve(Server::builder().rate_limit(rule), &gate, tx);
    let mut stream = raw_connect(server.local_addr());
    let call = |id: u64| {
        let mut out = Vec::new();
        let start = protocol::begin_request(
            &mut out,
            FrameKind::Request,
            minirpc::CodecId::Binary,
            id,
            "Big",
            0,
            &[(protocol::META_CALLER, "noisy")],
        );
        out.extend_from_slice(&3u32.to_be_bytes());
        protocol::finish_frame(&mut out, start);
        out
    };
    send(&mut stream, &call(6));
    assert_eq!(read_response(&mut stream).status, Status::Ok);
    send(&mut stream, &call(7));
    let (header, body) = read_frame(&mut stream);
    let head = protocol::ResponseHead::parse(&body).expect("a well-formed error response");
    // The row's last sentence: the error metadata carries retry-after-ms,
    // and its number is the one in the message.
    let ms = head
        .meta(protocol::META_RETRY_AFTER_MS)
        .expect("a rate limit's refusal carries retry-after-ms");
    assert!(
        head.message.contains(&format!("retry after {ms} ms")),
        "{:?} does not say retry-after-ms {ms}",
        head.message
    );
    let answer = Some(RawResponse {
        header,
        status: head.status,
        message: head.message.to_owned(),
        result: head.result.to_vec(),
    });
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn the_handler_returned_an_error() -> Case {
    answer_to(&request_frame(7, "Fail", &[]), 7)
}

fn the_handler_panicked() -> Case {
    answer_to(&request_frame(7, "Panic", &[]), 7)
}

// ---- the rows about signed requests (§15) ------------------------------------------

const KEY_ID: &str = "billing-1";
const SECRET: &str = "correct horse battery staple";

thread_local! {
    /// The request `check` sends to prove a connection "stays open", when a
    /// case needs another than the plain `Multiply` (a server that
    /// authenticates answers only a signed one).
    static NEXT_CALL: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// A request frame (kind 1, binary, no deadline) carrying `meta`.
fn signed_frame(id: u64, call_id: &str, meta: &SignedMeta, args: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = protocol::begin_request(
        &mut out,
        FrameKind::Request,
        CodecId::Binary,
        id,
        call_id,
        0,
        &meta.pairs(),
    );
    out.extend_from_slice(args);
    protocol::finish_frame(&mut out, start);
    out
}

/// A server whose key `billing-1` may call only `Multiply`, on the system
/// clock (window ±300 s), and a raw connection to it. The next call that
/// `check` sends on it is signed.
fn a_server_that_authenticates(nonce_capacity: usize) -> (ServerHandle, TcpStream, Signer) {
    let auth = Authenticator::new()
        .key(Key::new(KEY_ID, SECRET, "billing").allow("Multiply"))
        .nonce_capacity(nonce_capacity);
    let gate = Gate::new();
    let (tx, _rx) = mpsc::channel();
    let server = serve(Server::builder().authenticate(auth), &gate, tx);
    let stream = raw_connect(server.local_addr());
    let signer = Signer::new(KEY_ID, SECRET);
    let args = multiply_args(6, 7);
    let next = signed_frame(99, "Multiply", &signer.sign("Multiply", &args), &args);
    NEXT_CALL.with(|n| *n.borrow_mut() = Some(next));
    (server, stream, signer)
}

/// The answer of a server that authenticates to the frame `make` builds
/// (request id 7) with its signer.
fn authenticated_answer_to(make: impl FnOnce(&Signer) -> Vec<u8>) -> Case {
    let (server, mut stream, signer) = a_server_that_authenticates(1024);
    send(&mut stream, &make(&signer));
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn now() -> u64 {
    UnixClock::system().now_secs()
}

fn unsigned_to_an_authenticating_server() -> Case {
    authenticated_answer_to(|_| request_frame(7, "Multiply", &multiply_args(1, 2)))
}

fn a_malformed_timestamp() -> Case {
    authenticated_answer_to(|s| {
        let args = multiply_args(1, 2);
        let mut meta = s.sign("Multiply", &args);
        meta.timestamp = "12:00".into();
        signed_frame(7, "Multiply", &meta, &args)
    })
}

/// A request signed properly, then with one `auth-*` value replaced by
/// `set` (so only that field's form is wrong).
fn signed_then_spoiled(set: fn(&mut SignedMeta)) -> Case {
    authenticated_answer_to(|s| {
        let args = multiply_args(1, 2);
        let mut meta = s.sign("Multiply", &args);
        set(&mut meta);
        signed_frame(7, "Multiply", &meta, &args)
    })
}

fn a_malformed_key_id() -> Case {
    signed_then_spoiled(|m| m.key_id = "billing 1".into())
}

fn a_malformed_nonce() -> Case {
    signed_then_spoiled(|m| m.nonce = "0123456789abcde".into())
}

fn a_malformed_signature() -> Case {
    signed_then_spoiled(|m| m.signature = "F".repeat(64))
}

fn an_unknown_key() -> Case {
    authenticated_answer_to(|_| {
        let args = multiply_args(1, 2);
        let meta = Signer::new("nobody-1", SECRET).sign("Multiply", &args);
        signed_frame(7, "Multiply", &meta, &args)
    })
}

fn signed_too_long_ago() -> Case {
    authenticated_answer_to(|s| {
        let args = multiply_args(1, 2);
        let meta = s.sign_with("Multiply", &args, now() - 3600, &s.fresh_nonce());
        signed_frame(7, "Multiply", &meta, &args)
    })
}

fn signed_in_the_future() -> Case {
    authenticated_answer_to(|s| {
        let args = multiply_args(1, 2);
        let meta = s.sign_with("Multiply", &args, now() + 3600, &s.fresh_nonce());
        signed_frame(7, "Multiply", &meta, &args)
    })
}

fn a_signature_that_does_not_match() -> Case {
    authenticated_answer_to(|s| {
        let meta = s.sign("Multiply", &multiply_args(1, 2));
        signed_frame(7, "Multiply", &meta, &multiply_args(1, 3))
    })
}

fn a_call_id_the_key_may_not_call() -> Case {
    authenticated_answer_to(|s| signed_frame(7, "Fail", &s.sign("Fail", &[]), &[]))
}

/// Send `first` (which must succeed), then the requests `then` returns
/// (all but the last must succeed too); the case is the answer to the last.
fn after_good_calls(nonce_capacity: usize, calls: impl FnOnce(&Signer) -> Vec<Vec<u8>>) -> Case {
    let (server, mut stream, signer) = a_server_that_authenticates(nonce_capacity);
    let mut frames = calls(&signer);
    let last = frames.pop().expect("at least one frame");
    for f in &frames {
        send(&mut stream, f);
        let ok = read_response(&mut stream);
        assert_eq!(ok.status, Status::Ok, "a good signed call: {}", ok.message);
    }
    send(&mut stream, &last);
    let answer = Some(read_response(&mut stream));
    Case {
        stream,
        request_id: 7,
        answer,
        _server: server,
        _others: Vec::new(),
    }
}

fn a_replayed_nonce() -> Case {
    after_good_calls(1024, |s| {
        let args = multiply_args(1, 2);
        let f = signed_frame(7, "Multiply", &s.sign("Multiply", &args), &args);
        vec![f.clone(), f]
    })
}

fn below_the_floor_of_a_full_replay_cache() -> Case {
    // A cache of one nonce: the second request pushes the first out, and
    // the first, sent again, can no longer be told from a fresh one.
    after_good_calls(1, |s| {
        let args = multiply_args(1, 2);
        let first = s.sign_with("Multiply", &args, now() - 2, &s.fresh_nonce());
        let second = s.sign_with("Multiply", &args, now() - 1, &s.fresh_nonce());
        let first = signed_frame(7, "Multiply", &first, &args);
        vec![
            first.clone(),
            signed_frame(7, "Multiply", &second, &args),
            first,
        ]
    })
}

/// Sends one row's input and returns the answer.
type RunCase = fn() -> Case;

/// Each case, by the start of the first cell of its row.
const CASES: &[(&str, RunCase)] = &[
    ("Bad magic", bad_magic),
    ("Unknown version", unknown_version),
    ("Unknown flags", unknown_flags),
    (
        "A sealed frame (flag bit 0) whose CRC-32C does not match",
        a_sealed_frame_whose_crc_does_not_match,
    ),
    ("A frame of an unknown kind", unknown_kind),
    ("Body length over the limit", body_over_the_limit),
    (
        "A frame that does not arrive whole",
        a_frame_that_does_not_arrive_whole_in_time,
    ),
    (
        "A connection with no call in flight",
        a_connection_left_idle,
    ),
    ("A request (kind 1) with request id 0", request_id_zero),
    ("A response frame (kind 2)", a_response_from_the_client),
    ("A new connection when", one_connection_too_many),
    ("Unknown codec", unknown_codec),
    ("A request envelope that ends too soon", envelope_too_short),
    (
        "A call id, metadata key or metadata value that is not valid UTF-8",
        envelope_not_utf8,
    ),
    ("More than 64 metadata pairs", too_much_metadata),
    ("Unknown call id", unknown_call_id),
    (
        "A request without all four `auth-*`",
        unsigned_to_an_authenticating_server,
    ),
    (
        "A signed request whose `auth-ts` is not",
        a_malformed_timestamp,
    ),
    (
        "A signed request whose `auth-key` is not",
        a_malformed_key_id,
    ),
    (
        "A signed request whose `auth-nonce` is not",
        a_malformed_nonce,
    ),
    (
        "A signed request whose `auth-sig` is not",
        a_malformed_signature,
    ),
    ("A signed request whose `auth-key` names", an_unknown_key),
    (
        "A signed request whose `auth-ts` is older",
        signed_too_long_ago,
    ),
    (
        "A signed request whose `auth-ts` is further",
        signed_in_the_future,
    ),
    (
        "A signed request whose signature",
        a_signature_that_does_not_match,
    ),
    ("A correctly signed request", a_call_id_the_key_may_not_call),
    ("A signed request whose nonce", a_replayed_nonce),
    (
        "A signed request signed at or before",
        below_the_floor_of_a_full_replay_cache,
    ),
    ("Arguments that do not decode", arguments_that_do_not_decode),
    ("The call's deadline passed", deadline_passed_in_the_queue),
    ("A call over a rate limit", a_call_over_a_rate_limit),
    ("The worker queue is full", the_queue_is_full),
    (
        "A request from a connection that already has",
        over_max_in_flight_per_connection,
    ),
    (
        "A request from a connection over its fair share",
        over_the_fair_share_of_a_filling_queue,
    ),
    (
        "A request that would take its connection's queued bytes",
        over_the_bytes_of_one_connection,
    ),
    (
        "A request that would take the server's queued bytes",
        over_the_bytes_of_the_whole_server,
    ),
    ("A result over", a_result_over_max_frame_bytes),
    (
        "The handler returned an error",
        the_handler_returned_an_error,
    ),
    ("The handler panicked", the_handler_panicked),
];

/// Run `row`'s case and compare what the server did with the page.
fn check(row: &Row, case: RunCase) {
    NEXT_CALL.with(|n| n.borrow_mut().take());
    let mut c = case();
    if row.no_answer {
        assert!(
            c.answer.is_none(),
            "the page says no answer, but the case read one: {:?}",
            c.answer
        );
    } else {
        let a = c
            .answer
            .as_ref()
            .expect("the page gives an answer, but the case read none");
        check_answer(row, a, c.request_id);
    }
    if row.stays_open {
        // For a row with no answer, this is also the proof that nothing
        // came back: the first frame after the input must be this answer.
        let next = NEXT_CALL
            .with(|n| n.borrow_mut().take())
            .unwrap_or_else(|| request_frame(99, "Multiply", &multiply_args(6, 7)));
        send(&mut c.stream, &next);
        let after = read_response(&mut c.stream);
        assert_eq!(
            (after.header.request_id, after.status, after.result_i32()),
            (99, Status::Ok, 42),
            "the page says the connection stays open, so a good call on it must work"
        );
    } else {
        assert_closed(&mut c.stream);
    }
}

/// Compare one answer with its row: status, message, request id, codec.
fn check_answer(row: &Row, a: &RawResponse, request_id: u64) {
    assert_eq!(
        (a.status.code(), a.status.name()),
        (row.code, row.name.as_str()),
        "the status (message: {:?})",
        a.message
    );
    assert!(
        matches(&row.pattern, &a.message),
        "the message\n    {:?}\nis not what the page shows:\n    {:?}",
        a.message,
        row.pattern
    );
    let want_id = if row.id_zero { 0 } else { request_id };
    assert_eq!(a.header.request_id, want_id, "the answer's request id");
    if row.in_codec_0 {
        assert_eq!(a.header.codec, 0, "the answer's codec byte");
    }
}

#[test]
fn every_row_of_the_bad_input_table_is_what_the_server_does() {
    let doc = std::fs::read_to_string(PROTOCOL_MD)
        .unwrap_or_else(|e| panic!("cannot read {PROTOCOL_MD}: {e}"))
        .replace("\r\n", "\n");
    let rows = rows_of_section_9(&doc);
    assert!(
        rows.len() >= CASES.len(),
        "only {} rows in the table",
        rows.len()
    );
    let mut problems = Vec::new();
    for (key, _) in CASES {
        let n = rows.iter().filter(|r| r.what.starts_with(key)).count();
        if n != 1 {
            problems.push(format!(
                "case {key:?} matches {n} rows of the table (it must match exactly one)"
            ));
        }
    }
    for row in &rows {
        let Some((_, case)) = CASES.iter().find(|(key, _)| row.what.starts_with(key)) else {
            problems.push(format!("no case for the row {:?}: add one", row.what));
            continue;
        };
        let ran = std::panic::catch_unwind(|| check(row, *case));
        if let Err(panic) = ran {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            problems.push(format!("row {:?}:\n  {why}", row.what));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/protocol.md §9 does not match the server:\n{}",
        problems.join("\n")
    );
}
