//! The check of ex12_sign_by_hand: the canonical bytes against
//! `Signed::canonical_bytes` (the worked example of `docs/protocol.md` §15
//! and other fields), the metadata against `Signer::sign_with`, then a raw
//! frame with that metadata to a real server that authenticates: accepted
//! as it is, refused with its arguments changed.

use crate::exercises::ex12_sign_by_hand::{canonical_bytes, signed_metadata};
use crate::exercises::{broke, unfinished};
use minirpc::auth::{Authenticator, Key, Signed, Signer, UnixClock};
use minirpc::codec::{self, CodecId};
use minirpc::protocol::{self, FrameKind, Header, ResponseHead, HEADER_LEN};
use minirpc::testkit::PATIENCE;
use minirpc::time::ManualClock;
use minirpc::{Server, Status};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const NAME: &str = "ex12_sign_by_hand";

/// What the starting point fails with.
pub const UNFINISHED: &str = "canonical_bytes() still returns no bytes for the worked example of docs/protocol.md §15; write the five length-prefixed strings, then the SHA-256 of the arguments";

const T0: u64 = 1_700_000_000;
const SECRET: &[u8] = b"correct horse battery staple";

/// Fields to sign: the worked example first, then others that a
/// hard-coded or wrongly measured answer would get wrong.
const CASES: &[(&str, &str, &str, &str, &[u8])] = &[
    (
        "billing-1",
        "1700000000",
        "00112233445566778899aabbccddeeff",
        "Multiply",
        &[0, 0, 0, 10, 0, 0, 0, 20],
    ),
    ("k", "0", "0123456789abcdef", "", b""),
    (
        "a-key.with_every-allowed.char",
        "18446744073709551615",
        "nonce_with-dashes_and_underscores_0123456789",
        "Arith.Multiply",
        b"\xff\x00 a longer argument body than the others, with a zero byte",
    ),
];

/// Run the check.
pub fn check() -> Result<(), String> {
    for (i, &(key_id, ts, nonce, call_id, args)) in CASES.iter().enumerate() {
        let want = Signed {
            key_id,
            timestamp: ts,
            nonce,
            call_id,
            args,
        }
        .canonical_bytes();
        let got = canonical_bytes(key_id, ts, nonce, call_id, args);
        if got.is_empty() && i == 0 {
            return Err(unfinished(NAME, UNFINISHED));
        }
        if got != want {
            let at = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
            return Err(broke(NAME, format!(
                "canonical_bytes({key_id:?}, {ts:?}, {nonce:?}, {call_id:?}, {} argument bytes) gave {} bytes, expected {}; they first differ at offset {at} (got {:02x?}, expected {:02x?})",
                args.len(), got.len(), want.len(), got.get(at), want.get(at)
            )));
        }
    }
    for &(key_id, ts, nonce, call_id, args) in CASES {
        let Ok(t) = ts.parse::<u64>() else { continue };
        let want = Signer::new(key_id, SECRET).sign_with(call_id, args, t, nonce);
        let want: Vec<(String, String)> = want
            .pairs()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let got = signed_metadata(key_id, SECRET, t, nonce, call_id, args);
        if sorted(&got) != sorted(&want) {
            return Err(broke(NAME, format!(
                "signed_metadata for key {key_id:?}, call {call_id:?} at {t} gave {got:?}, expected the pairs {want:?} (in any order)"
            )));
        }
    }
    over_the_wire()
}

fn sorted(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut p = pairs.to_vec();
    p.sort();
    p
}

/// A server that knows the key, on a clock that reads `T0`; one raw frame
/// signed by the answer, and the same signature over other arguments.
fn over_the_wire() -> Result<(), String> {
    let clock = ManualClock::new();
    let auth = Authenticator::new()
        .key(Key::new("billing-1", SECRET, "billing").allow("Multiply"))
        .clock(UnixClock::driven_by(clock, Duration::from_secs(T0)));
    let mut server = Server::builder().authenticate(auth).build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l.wrapping_mul(r)));
    let server = server.serve("127.0.0.1:0").map_err(|e| broke(NAME, e))?;
    let mut s = connect(server.local_addr())?;
    let args = codec::to_bytes(&(6i32, 7i32));
    let nonce = "5eed5eed5eed5eed5eed5eed5eed5eed";
    let meta = signed_metadata("billing-1", SECRET, T0, nonce, "Multiply", &args);
    let (status, message, result) = exchange(&mut s, 1, &meta, &args)?;
    if status != Status::Ok {
        return Err(broke(NAME, format!("the server refused Multiply(6, 7) signed by signed_metadata: {status:?}: {message}")));
    }
    if codec::from_bytes::<i32>(&result, Default::default()).ok() != Some(42) {
        return Err(broke(
            NAME,
            "the server accepted the signed Multiply(6, 7) but its answer was not 42",
        ));
    }
    // The same signature (a fresh nonce, so this is no replay) over other
    // arguments: what an attacker who rewrites the body sends.
    let nonce = "7a3f7a3f7a3f7a3f7a3f7a3f7a3f7a3f";
    let meta = signed_metadata("billing-1", SECRET, T0, nonce, "Multiply", &args);
    let changed = codec::to_bytes(&(6i32, 7000i32));
    let (status, message, _) = exchange(&mut s, 2, &meta, &changed)?;
    if status != Status::Unauthenticated || !message.contains("bad signature") {
        return Err(broke(NAME, format!("a signature for Multiply(6, 7) sent with the arguments (6, 7000) got {status:?}: {message}, expected UNAUTHENTICATED for a bad signature")));
    }
    Ok(())
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).map_err(|e| broke(NAME, e))?;
    s.set_read_timeout(Some(PATIENCE))
        .and_then(|()| s.set_write_timeout(Some(PATIENCE)))
        .map_err(|e| broke(NAME, e))?;
    Ok(s)
}

/// Send one request frame for `Multiply` with `meta` and exactly `args`,
/// and read its answer: status, message, result bytes.
fn exchange(
    s: &mut TcpStream,
    id: u64,
    meta: &[(String, String)],
    args: &[u8],
) -> Result<(Status, String, Vec<u8>), String> {
    let pairs: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut out = Vec::new();
    let start = protocol::begin_request(
        &mut out,
        FrameKind::Request,
        CodecId::Binary,
        id,
        "Multiply",
        0,
        &pairs,
    );
    out.extend_from_slice(args);
    protocol::finish_frame(&mut out, start);
    s.write_all(&out).map_err(|e| broke(NAME, e))?;
    let mut h = [0u8; HEADER_LEN];
    s.read_exact(&mut h)
        .map_err(|e| broke(NAME, format!("no answer from the server: {e}")))?;
    let header = Header::parse(&h).map_err(|e| broke(NAME, e))?;
    if header.body_len as usize > protocol::DEFAULT_MAX_FRAME_BYTES {
        return Err(broke(
            NAME,
            "the server's answer claims an impossible length",
        ));
    }
    let mut body = vec![0u8; header.body_len as usize];
    s.read_exact(&mut body).map_err(|e| broke(NAME, e))?;
    let head = ResponseHead::parse(&body).map_err(|e| broke(NAME, e))?;
    Ok((head.status, head.message.to_owned(), head.result.to_vec()))
}
