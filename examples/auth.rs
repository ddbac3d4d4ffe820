//! Signed requests (原理 › 安全认证): one call that works, and each attack
//! the signature stops, with the server's answer and the reason.
//!
//! ```text
//! cargo run --example auth
//! cargo run --release --example auth     (for the cost figures at the end)
//! ```
//!
//! A server that accepts key `billing-1` (caller "billing", allowed
//! `Arith.*`). A client with that key's secret calls `Arith.Multiply`. Then,
//! with raw frames (what an attacker on the network can send): a captured
//! request with its arguments changed, a request signed with a guessed
//! secret, one signed ten minutes ago, the captured request sent a second
//! time, and a correctly signed call to a method outside the key's
//! permissions. Last, what signing costs: the same calls with and without
//! it, timed.

use minirpc::auth::{Authenticator, Key, SignedMeta, Signer, UnixClock};
use minirpc::codec::{self, CodecId};
use minirpc::protocol::{self, FrameKind, Header, ResponseHead, HEADER_LEN};
use minirpc::{CallContext, Client, RpcError, Server, ServerHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const SECRET: &str = "correct horse battery staple";

fn main() -> Result<(), RpcError> {
    let auth = Authenticator::new().key(Key::new("billing-1", SECRET, "billing").allow("Arith.*"));
    let server = serve(Server::builder().authenticate(auth).build())?;
    let addr = server.local_addr();
    println!(
        "a server at {addr} that accepts key billing-1 (caller \"billing\", may call Arith.*)\n"
    );

    // 1. The honest client: ClientBuilder::credentials signs every call.
    let client = Client::builder()
        .credentials("billing-1", SECRET)
        .connect(addr)?;
    let y: i32 = client.call("Arith.Multiply", &(10i32, 20i32))?;
    let who: (String, bool) = client.call("Arith.WhoAmI", &())?;
    println!("1. signed call      Arith.Multiply(10, 20) = {y}");
    println!(
        "                    the handler sees caller {:?}, verified: {}\n",
        who.0, who.1
    );

    // The attacker has captured one signed request off the network.
    let signer = Signer::new("billing-1", SECRET);
    let args = codec::to_bytes(&(10i32, 20i32));
    let captured_meta = signer.sign("Arith.Multiply", &args);
    let captured = frame(1, "Arith.Multiply", &captured_meta, &args);
    let mut raw = RawConnection::open(addr)?;

    // 2. Tampering: same signature, arguments changed to (10, 99999).
    let forged = frame(
        2,
        "Arith.Multiply",
        &captured_meta,
        &codec::to_bytes(&(10i32, 99999i32)),
    );
    show(
        "2. tampered body",
        "the server hashes the argument bytes it got, and the signature was over others",
        raw.call(&forged)?,
    );

    // 3. A guessed secret, and a key the server does not have.
    let guess = Signer::new("billing-1", "password123").sign("Arith.Multiply", &args);
    show(
        "3. wrong key",
        "without the secret, the HMAC cannot be computed",
        raw.call(&frame(3, "Arith.Multiply", &guess, &args))?,
    );

    let unknown = Signer::new("admin-1", SECRET).sign("Arith.Multiply", &args);
    show(
        "3b. unknown key id",
        "only keys the server was given are accepted",
        raw.call(&frame(5, "Arith.Multiply", &unknown, &args))?,
    );

    // 4. A request signed ten minutes ago (a capture kept for later).
    let ten_minutes_ago = UnixClock::system().now_secs() - 600;
    let old = signer.sign_with(
        "Arith.Multiply",
        &args,
        ten_minutes_ago,
        &signer.fresh_nonce(),
    );
    show(
        "4. expired",
        "the timestamp is signed too, so it cannot be refreshed without the secret",
        raw.call(&frame(6, "Arith.Multiply", &old, &args))?,
    );

    // 5. Replay: the captured request, exactly as it was, twice.
    show(
        "5a. captured, sent",
        "the first copy is a real request, and is served",
        raw.call(&captured)?,
    );
    show(
        "5b. ...sent again",
        "the server remembers the nonces it accepted within the window",
        raw.call(&captured)?,
    );

    // 6. A correctly signed call the key is not allowed.
    let e = client.call::<_, ()>("Admin.Shutdown", &()).unwrap_err();
    println!("6. outside the key's permissions: Admin.Shutdown");
    println!("    answer: {e}");
    println!(
        "    why:    the signature is good, so the caller is known: it just may not do this\n"
    );

    let stats = server.stats();
    println!(
        "server: {} calls served, {} refused by authentication\n",
        stats.calls_ok, stats.rejected_auth
    );
    cost()
}

/// What signing costs: the signing and the checking alone, in this
/// process; then whole calls over loopback, with and without it.
fn cost() -> Result<(), RpcError> {
    const N: usize = 20_000;
    let signer = Signer::new("k", SECRET);
    let auth = Authenticator::new()
        .key(Key::new("k", SECRET, "bench").allow("*"))
        .nonce_capacity(N);
    let args = codec::to_bytes(&(6i32, 7i32));
    let t = Instant::now();
    let frames: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            frame(
                i as u64 + 1,
                "Arith.Multiply",
                &signer.sign("Arith.Multiply", &args),
                &args,
            )
        })
        .collect();
    let sign = t.elapsed() / N as u32;
    let t = Instant::now();
    for f in &frames {
        let head = protocol::RequestHead::parse(&f[HEADER_LEN..])?;
        auth.verify(&head)?;
    }
    let verify = t.elapsed() / N as u32;
    println!("cost of signing, {N} requests (Multiply's 8 argument bytes), in this process:");
    println!(
        "    client, sign (SHA-256 of the arguments, one HMAC, a nonce): {sign:>8.1?} per request"
    );
    println!("    server, verify (the same, plus the replay cache):           {verify:>8.1?} per request");

    // Whole calls, alternating rounds so both see the same machine load;
    // the best round of each is shown.
    let open = serve(Server::new())?;
    let checked = serve(
        Server::builder()
            .authenticate(Authenticator::new().key(Key::new("k", SECRET, "bench").allow("*")))
            .build(),
    )?;
    let plain = Client::connect(open.local_addr())?;
    let signed = Client::builder()
        .credentials("k", SECRET)
        .connect(checked.local_addr())?;
    const ROUND: u32 = 1_000;
    let round = |c: &Client| -> Result<Duration, RpcError> {
        let t = Instant::now();
        for _ in 0..ROUND {
            c.call::<_, i32>("Arith.Multiply", &(6i32, 7i32))?;
        }
        Ok(t.elapsed() / ROUND)
    };
    let (mut best_plain, mut best_signed) = (Duration::MAX, Duration::MAX);
    for _ in 0..7 {
        best_plain = best_plain.min(round(&plain)?);
        best_signed = best_signed.min(round(&signed)?);
    }
    println!("whole sequential calls over loopback (best of 7 rounds of {ROUND}):");
    println!("    unsigned, no authentication: {best_plain:>8.1?} per call");
    println!("    signed and verified:         {best_signed:>8.1?} per call");
    println!("    (build with --release for meaningful figures)");
    Ok(())
}

fn serve(mut server: Server) -> Result<ServerHandle, RpcError> {
    server.register("Arith.Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument(format!("{l} * {r} overflows an i32")))
    });
    server.register_with_context("Arith.WhoAmI", |ctx: &CallContext, (): ()| {
        let id = ctx.identity();
        Ok((
            id.map_or("", |i| i.name()).to_owned(),
            id.is_some_and(|i| i.is_verified()),
        ))
    });
    server.register("Admin.Shutdown", |(): ()| Ok(()));
    server
        .serve("127.0.0.1:0")
        .map_err(|e| RpcError::from_io("serve", &e))
}

/// A request frame with a signature's metadata and these argument bytes,
/// built from the crate's public pieces, as an attacker (or a test) would.
fn frame(id: u64, call_id: &str, meta: &SignedMeta, args: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = protocol::begin_request(
        &mut out,
        FrameKind::Request,
        CodecId::Binary,
        id,
        call_id,
        10_000,
        &meta.pairs(),
    );
    out.extend_from_slice(args);
    protocol::finish_frame(&mut out, start);
    out
}

fn show(what: &str, why: &str, answer: String) {
    println!("{what}");
    println!("    answer: {answer}");
    println!("    why:    {why}\n");
}

/// A bare TCP connection that writes frames and reads one response each.
struct RawConnection(TcpStream);

impl RawConnection {
    fn open(addr: SocketAddr) -> Result<RawConnection, RpcError> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| RpcError::from_io("connect", &e))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| RpcError::from_io("set_read_timeout", &e))?;
        Ok(RawConnection(s))
    }

    /// Send `frame` and describe the response: the status and message, or
    /// the result as an i32.
    fn call(&mut self, frame: &[u8]) -> Result<String, RpcError> {
        let io = |e: std::io::Error| RpcError::from_io("raw connection", &e);
        self.0.write_all(frame).map_err(io)?;
        let mut h = [0u8; HEADER_LEN];
        self.0.read_exact(&mut h).map_err(io)?;
        let header = Header::parse(&h)?;
        let mut body = vec![0u8; header.body_len as usize];
        self.0.read_exact(&mut body).map_err(io)?;
        let response = ResponseHead::parse(&body)?;
        Ok(match response.into_result() {
            Ok(result) => format!(
                "OK, result {}",
                codec::from_bytes::<i32>(result, minirpc::Limits::default())?
            ),
            Err(e) => e.to_string(),
        })
    }
}
