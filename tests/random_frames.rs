//! Random and corrupted frames against a server with every front-door check
//! turned on: authentication, a rate limit, the describe call, checksums.
//!
//! A deterministic generator (xorshift, fixed seeds) builds frames that are
//! mostly well-formed on the outside and random inside: valid requests with
//! bits flipped, truncated or extended bodies, random metadata (counts,
//! `auth-*` fields, caller names), random kinds, codecs and flags, lengths
//! that lie, and plain noise. Each connection carries frames until the
//! server answers with a close; then the next one opens.
//!
//! What must hold: every connection ends (the server answers or closes
//! within its bounds, never hangs), nothing panics the server, and at the
//! end a well-behaved signed client is still served and the server's
//! counters are consistent. No timing is asserted.

mod common;

use common::PATIENCE;
use minirpc::auth::{Authenticator, Key, Signer};
use minirpc::codec::CodecId;
use minirpc::flow::Rule;
use minirpc::protocol::{self, FrameKind, HEADER_LEN};
use minirpc::{Client, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// xorshift64*: the same frames on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

/// A request frame for `call_id` with `meta` and `args`, in `codec`.
fn request(
    id: u64,
    kind: FrameKind,
    codec: CodecId,
    call_id: &str,
    meta: &[(&str, &str)],
    args: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let start = protocol::begin_request(&mut out, kind, codec, id, call_id, 1000, meta);
    out.extend_from_slice(args);
    protocol::finish_frame(&mut out, start);
    out
}

/// One random frame (sometimes several bytes of noise instead).
fn frame(g: &mut Gen, signer: &Signer) -> Vec<u8> {
    let call_ids = [
        "Arith.Multiply",
        "Arith.Echo",
        "$minirpc.describe",
        "$minirpc.ping",
        "Nope",
        "",
        "Arith.*",
    ];
    let id = g.below(1 << 20) + 1;
    let codec = if g.below(4) == 0 {
        CodecId::Json
    } else {
        CodecId::Binary
    };
    let call_id = g.pick(&call_ids);
    let args = match g.below(4) {
        0 => minirpc::codec::to_bytes(&(6i32, 7i32)),
        1 => b"[6,7]".to_vec(),
        2 => {
            let n = g.below(64) as usize;
            g.bytes(n)
        }
        _ => Vec::new(),
    };
    let signed = signer.sign(call_id, &args);
    let mut meta: Vec<(String, String)> = Vec::new();
    match g.below(5) {
        0 => {}
        1 => meta.extend(
            signed
                .pairs()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        ),
        2 => {
            // Signed, then one field spoiled.
            for (k, v) in signed.pairs() {
                let v = if g.below(4) == 0 {
                    String::from_utf8_lossy(&g.bytes(8)).into_owned()
                } else {
                    v.to_owned()
                };
                meta.push((k.to_owned(), v));
            }
        }
        3 => meta.push(("caller".into(), "x".repeat(g.below(2000) as usize))),
        _ => {
            for _ in 0..g.below(70) {
                meta.push((
                    String::from_utf8_lossy(&g.bytes(3)).into_owned(),
                    "v".into(),
                ));
            }
        }
    }
    let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let kind = if g.below(8) == 0 {
        FrameKind::Oneway
    } else {
        FrameKind::Request
    };
    let mut f = request(id, kind, codec, call_id, &meta, &args);
    match g.below(8) {
        // Flip a few bits anywhere (the header included).
        0 | 1 => {
            for _ in 0..=g.below(3) {
                let at = g.below(f.len() as u64) as usize;
                f[at] ^= 1 << g.below(8);
            }
        }
        // A random kind, codec or flags byte.
        2 => {
            let at = 3 + g.below(3) as usize;
            f[at] = g.next() as u8;
        }
        // A body length that lies (shorter: the rest is read as a frame).
        3 => {
            let len = g.below(f.len() as u64) as u32;
            f[14..18].copy_from_slice(&len.to_be_bytes());
        }
        // Truncated envelope: the body ends inside a field.
        4 if f.len() > HEADER_LEN + 1 => {
            let cut = HEADER_LEN + g.below((f.len() - HEADER_LEN) as u64) as usize;
            f.truncate(cut);
            let len = (cut - HEADER_LEN) as u32;
            f[14..18].copy_from_slice(&len.to_be_bytes());
        }
        // Noise.
        5 => {
            let n = g.below(40) as usize + 1;
            f = g.bytes(n);
        }
        _ => {}
    }
    f
}

fn server() -> minirpc::ServerHandle {
    let auth = Authenticator::new().key(
        Key::new("fuzz", "fuzz secret", "fuzzer")
            .allow("Arith.*")
            .allow("$minirpc.describe"),
    );
    let mut s = Server::builder()
        .authenticate(auth)
        .rate_limit(Rule::token_bucket("Arith.*", 1000.0, 200).per_caller())
        .frame_timeout(Duration::from_millis(300))
        .idle_timeout(Some(Duration::from_millis(500)))
        .build();
    s.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l.wrapping_mul(r)));
    s.register("Arith.Echo", |b: Vec<u8>| Ok(b));
    s.serve("127.0.0.1:0").unwrap()
}

/// Send frames on one connection until the server closes it or `budget`
/// frames are sent; read whatever comes back. Returns frames sent.
fn one_connection(
    addr: std::net::SocketAddr,
    g: &mut Gen,
    signer: &Signer,
    budget: usize,
) -> usize {
    let mut s = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut sent = 0;
    let mut buf = [0u8; 64 * 1024];
    while sent < budget {
        if s.write_all(&frame(g, signer)).is_err() {
            return sent; // closed by the server: that is allowed
        }
        sent += 1;
        match s.read(&mut buf) {
            Ok(0) => return sent,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return sent,
        }
    }
    // Done sending: the server must close or go quiet within its bounds
    // (the idle timeout ends the connection either way).
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let end = Instant::now() + PATIENCE * 2;
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return sent,
            Ok(_) => {}
        }
    }
    panic!("the server neither closed nor went quiet on a fuzzed connection");
}

/// Panics seen anywhere in this test process (the handlers never panic,
/// so any panic is a server thread failing on the input).
static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn random_and_corrupted_frames_never_stop_the_server() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        default_hook(info);
    }));
    let handle = server();
    let addr = handle.local_addr();
    let signer = Signer::new("fuzz", "fuzz secret");
    let mut total = 0;
    for seed in 1..=4u64 {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15 ^ seed);
        while total < seed as usize * 500 {
            total += one_connection(addr, &mut g, &signer, 60);
        }
    }
    assert!(total >= 2000, "{total} frames sent");
    // A well-behaved, signed client is served afterwards.
    let good = Client::builder()
        .signer(Signer::new("fuzz", "fuzz secret"))
        .call_timeout(PATIENCE)
        .connect(addr)
        .unwrap();
    let y: i32 = good.call("Arith.Multiply", &(6i32, 7i32)).unwrap();
    assert_eq!(y, 42);
    assert_eq!(
        PANICS.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a server thread panicked on fuzzed input (see the output above)"
    );
    let stats = handle.stats();
    eprintln!("fuzzed {total} frames: {stats:?}");
    assert!(
        stats.rejected_auth > 0,
        "the generator reaches the signature check: {stats:?}"
    );
    assert!(
        stats.calls_ok > 0,
        "and some fuzzed calls were good ones: {stats:?}"
    );
    // Every connection the fuzzer opened has ended.
    let end = Instant::now() + PATIENCE * 2;
    while handle.stats().connections > 1 {
        assert!(
            Instant::now() < end,
            "connections left open: {:?}",
            handle.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
