//! Request signing over real sockets: what a server with
//! `ServerBuilder::authenticate` accepts, what it refuses and why, and who
//! the handler is told the caller is.
//!
//! Time is a `ManualClock` shared by the server's `Authenticator` and the
//! test's `Signer`s (both through `UnixClock::driven_by`), so the edges of
//! the timestamp window are stepped to exactly, never waited for. Raw
//! frames (built with `minirpc::protocol` and `Signer::sign_with`) stand in
//! for an attacker who changes bytes or sends a captured request again.

mod common;

use common::{multiply_args, raw_connect, read_response, send, RawResponse, PATIENCE};
use minirpc::auth::{Authenticator, Key, SignedMeta, Signer, UnixClock};
use minirpc::codec::CodecId;
use minirpc::protocol::{self, FrameKind};
use minirpc::time::ManualClock;
use minirpc::{CallContext, Client, RpcError, Server, ServerHandle, Status};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// The Unix time the manual clock starts at.
const T0: u64 = 1_700_000_000;
const SECRET: &str = "correct horse battery staple";

fn methods(server: &mut Server) {
    server.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register("Arith.Add", |(l, r): (i32, i32)| Ok(l + r));
    server.register("Admin.Shutdown", |(): ()| Ok(()));
    server.register_with_context("WhoAmI", |ctx: &CallContext, (): ()| {
        let id = ctx.identity().ok_or_else(|| {
            RpcError::invalid_argument("no identity: the request named no caller")
        })?;
        assert_eq!(ctx.caller(), Some(id.name()));
        Ok((
            id.name().to_owned(),
            id.is_verified(),
            id.key_id().unwrap_or("").to_owned(),
        ))
    });
}

/// Keys: `billing-1` (caller "billing", Arith.* and WhoAmI),
/// `ops-1` (caller "ops", exactly Admin.Shutdown), `root-1` (everything).
fn authenticator(clock: &Arc<ManualClock>) -> Authenticator {
    Authenticator::new()
        .key(
            Key::new("billing-1", SECRET, "billing")
                .allow("Arith.*")
                .allow("WhoAmI"),
        )
        .key(Key::new("ops-1", "ops secret", "ops").allow("Admin.Shutdown"))
        .key(Key::new("root-1", "root secret", "root").allow("*"))
        .clock(UnixClock::driven_by(clock.clone(), Duration::from_secs(T0)))
}

fn start_with(auth: Authenticator) -> (Arc<Authenticator>, ServerHandle) {
    let auth = Arc::new(auth);
    let mut server = Server::builder().authenticate(Arc::clone(&auth)).build();
    methods(&mut server);
    (auth, server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0"))
}

fn start() -> (Arc<ManualClock>, Arc<Authenticator>, ServerHandle) {
    let clock = ManualClock::new();
    let (auth, server) = start_with(authenticator(&clock));
    (clock, auth, server)
}

/// A signer for `key_id` whose clock reads T0 when the manual clock is at
/// its start (so it agrees with the server's).
fn signer(clock: &Arc<ManualClock>, key_id: &str, secret: &str) -> Signer {
    // Call it before stepping the clock: it reads T0 when it is made.
    Signer::new(key_id, secret).clock(UnixClock::driven_by(clock.clone(), Duration::from_secs(T0)))
}

fn client(server: &ServerHandle, signer: Option<Signer>) -> Client {
    let mut b = Client::builder()
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .caller_id("mallory");
    if let Some(s) = signer {
        b = b.signer(s);
    }
    b.connect(server.local_addr()).expect("connect")
}

/// A raw request frame carrying `meta` (a signature) and exactly `args`.
fn frame(id: u64, kind: FrameKind, call_id: &str, meta: &SignedMeta, args: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let start = protocol::begin_request(
        &mut out,
        kind,
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

/// Send `bytes` and read the answer to request `id`.
fn exchange(s: &mut TcpStream, bytes: &[u8], id: u64) -> RawResponse {
    send(s, bytes);
    let r = read_response(s);
    assert_eq!(r.header.request_id, id, "the answer's request id");
    r
}

/// The answer is `status`, its message contains `says`, and it gives away
/// neither a secret nor the signature it was sent.
fn assert_refused(r: &RawResponse, status: Status, says: &str, meta: &SignedMeta) {
    assert_eq!(r.status, status, "message: {}", r.message);
    assert!(
        r.message.contains(says),
        "the message should say {says:?}: {}",
        r.message
    );
    for secret in [SECRET, "ops secret", "root secret", meta.signature.as_str()] {
        assert!(
            !r.message.contains(secret),
            "the message gives away a secret or the signature: {}",
            r.message
        );
    }
}

/// The connection is still usable: a good signed call on it is served.
fn assert_still_serves(s: &mut TcpStream, signer: &Signer) {
    let args = multiply_args(6, 7);
    let meta = signer.sign("Arith.Multiply", &args);
    let r = exchange(
        s,
        &frame(99, FrameKind::Request, "Arith.Multiply", &meta, &args),
        99,
    );
    assert_eq!(
        (r.status, r.result_i32()),
        (Status::Ok, 42),
        "{}",
        r.message
    );
}

// ---- what is accepted ----------------------------------------------------------

#[test]
fn a_signed_call_is_served_and_the_handler_sees_the_keys_caller_verified() {
    let (clock, _auth, server) = start();
    let c = client(&server, Some(signer(&clock, "billing-1", SECRET)));
    let y: i32 = c.call("Arith.Multiply", &(10i32, 20i32)).unwrap();
    assert_eq!(y, 200);
    // The client also claimed to be "mallory"; the key says "billing".
    let who: (String, bool, String) = c.call("WhoAmI", &()).unwrap();
    assert_eq!(who, ("billing".to_owned(), true, "billing-1".to_owned()));
    assert_eq!(server.stats().rejected_auth, 0);
}

#[test]
fn without_authentication_the_declared_caller_is_seen_unverified() {
    let mut server = Server::new();
    methods(&mut server);
    let server = server.serve("127.0.0.1:0").unwrap();
    let c = client(&server, None);
    let who: (String, bool, String) = c.call("WhoAmI", &()).unwrap();
    assert_eq!(who, ("mallory".to_owned(), false, String::new()));
}

#[test]
fn many_signed_calls_each_get_a_fresh_nonce() {
    let (clock, auth, server) = start();
    let c = client(&server, Some(signer(&clock, "billing-1", SECRET)));
    for i in 0..50 {
        let y: i32 = c.call("Arith.Add", &(i, 1)).unwrap();
        assert_eq!(y, i + 1);
    }
    assert_eq!(auth.remembered_nonces(), 50);
}

#[test]
fn the_health_probe_needs_no_signature() {
    let (_clock, _auth, server) = start();
    let c = client(&server, None);
    c.ping(PATIENCE).expect("the probe is open to everyone");
    let e = c.call::<_, i32>("Arith.Multiply", &(1, 2)).unwrap_err();
    assert_eq!(e.status, Status::Unauthenticated, "{e}");
}

#[test]
fn a_cluster_client_with_credentials_signs_every_call_on_every_instance() {
    use minirpc::cluster::ClusterClient;
    use minirpc::discovery::{Instance, MemoryRegistry, Registry};
    // The cluster's clients sign on the system clock, so the servers check
    // on it too (the window is five minutes: no timing is asserted).
    let clock = ManualClock::new();
    let registry = Arc::new(MemoryRegistry::new());
    let mut servers = Vec::new();
    for _ in 0..2 {
        let (_auth, mut server) = start_with(authenticator(&clock).clock(UnixClock::system()));
        let instance = Instance::new("arith", server.local_addr());
        server
            .publish(&*registry, &instance, Duration::from_secs(60))
            .unwrap();
        servers.push(server);
    }
    let r: Arc<dyn Registry> = registry.clone();
    let signed = ClusterClient::builder(Arc::clone(&r), "arith", "default", "*")
        .call_timeout(PATIENCE)
        .credentials("billing-1", SECRET)
        .connect()
        .unwrap();
    for _ in 0..10 {
        let who: (String, bool, String) = signed.call("WhoAmI", &()).unwrap();
        assert_eq!(who, ("billing".to_owned(), true, "billing-1".to_owned()));
    }
    let served: u64 = servers.iter().map(|s| s.stats().calls_ok).sum();
    assert_eq!(served, 10);
    let unsigned = ClusterClient::builder(r, "arith", "default", "*")
        .call_timeout(PATIENCE)
        .connect()
        .unwrap();
    let e = unsigned
        .call::<_, i32>("Arith.Multiply", &(1, 2))
        .unwrap_err();
    assert_eq!(e.status, Status::Unauthenticated, "{e}");
}

// ---- what is refused: UNAUTHENTICATED ---------------------------------------

#[test]
fn an_unsigned_request_is_refused_naming_the_missing_field() {
    let (_clock, _auth, server) = start();
    let c = client(&server, None);
    let e = c.call::<_, i32>("Arith.Multiply", &(10, 20)).unwrap_err();
    assert_eq!(e.status, Status::Unauthenticated);
    assert!(e.message.contains("\"auth-key\""), "{e}");
    assert!(e.message.contains("ClientBuilder::credentials"), "{e}");
    assert_eq!(server.stats().rejected_auth, 1);
    assert_eq!(server.stats().calls_ok, 0);
}

#[test]
fn tampered_arguments_are_refused_and_the_connection_stays_usable() {
    let (clock, _auth, server) = start();
    let s = signer(&clock, "billing-1", SECRET);
    let meta = s.sign("Arith.Multiply", &multiply_args(10, 20));
    let mut raw = raw_connect(server.local_addr());
    // The same signature, on arguments changed on the way.
    let tampered = frame(
        1,
        FrameKind::Request,
        "Arith.Multiply",
        &meta,
        &multiply_args(10, 21),
    );
    let r = exchange(&mut raw, &tampered, 1);
    assert_refused(&r, Status::Unauthenticated, "bad signature", &meta);
    assert_still_serves(&mut raw, &s);
    assert_eq!(server.stats().rejected_auth, 1);
}

#[test]
fn a_tampered_call_id_is_refused() {
    let (clock, _auth, server) = start();
    let s = signer(&clock, "billing-1", SECRET);
    let args = multiply_args(10, 20);
    let meta = s.sign("Arith.Add", &args);
    // Signed for Add, sent to Multiply (both exist, both are permitted).
    let r = exchange(
        &mut raw_connect(server.local_addr()),
        &frame(1, FrameKind::Request, "Arith.Multiply", &meta, &args),
        1,
    );
    assert_refused(&r, Status::Unauthenticated, "bad signature", &meta);
}

#[test]
fn a_wrong_secret_and_an_unknown_key_are_refused() {
    let (clock, _auth, server) = start();
    let args = multiply_args(1, 2);
    let mut raw = raw_connect(server.local_addr());
    let wrong = signer(&clock, "billing-1", "not the secret").sign("Arith.Multiply", &args);
    let r = exchange(
        &mut raw,
        &frame(1, FrameKind::Request, "Arith.Multiply", &wrong, &args),
        1,
    );
    assert_refused(
        &r,
        Status::Unauthenticated,
        "bad signature for key id \"billing-1\"",
        &wrong,
    );
    let unknown = signer(&clock, "nobody-1", SECRET).sign("Arith.Multiply", &args);
    let r = exchange(
        &mut raw,
        &frame(2, FrameKind::Request, "Arith.Multiply", &unknown, &args),
        2,
    );
    assert_refused(
        &r,
        Status::Unauthenticated,
        "unknown key id \"nobody-1\"",
        &unknown,
    );
    assert_still_serves(&mut raw, &signer(&clock, "billing-1", SECRET));
}

#[test]
fn the_window_edges_are_exact_on_both_sides() {
    let (clock, _auth, server) = start();
    let s = signer(&clock, "billing-1", SECRET);
    let args = multiply_args(2, 3);
    let mut raw = raw_connect(server.local_addr());
    let at = |id: u64, ts: u64| {
        let meta = s.sign_with("Arith.Multiply", &args, ts, &s.fresh_nonce());
        (
            frame(id, FrameKind::Request, "Arith.Multiply", &meta, &args),
            meta,
        )
    };
    // 300 s either way is inside the default window; 301 is not.
    for (id, ts) in [(1, T0 - 300), (2, T0 + 300)] {
        let (f, _) = at(id, ts);
        let r = exchange(&mut raw, &f, id);
        assert_eq!((r.status, r.result_i32()), (Status::Ok, 6), "{}", r.message);
    }
    let (f, meta) = at(3, T0 - 301);
    let r = exchange(&mut raw, &f, 3);
    assert_refused(&r, Status::Unauthenticated, "signed 301 s ago", &meta);
    assert!(r.message.contains("too old"), "{}", r.message);
    let (f, meta) = at(4, T0 + 301);
    let r = exchange(&mut raw, &f, 4);
    assert_refused(
        &r,
        Status::Unauthenticated,
        "signed 301 s in the future",
        &meta,
    );
}

#[test]
fn a_request_held_back_past_the_window_is_refused_as_expired() {
    let (clock, _auth, server) = start();
    let s = signer(&clock, "billing-1", SECRET);
    let args = multiply_args(2, 3);
    // Captured now, delivered five minutes and one second later.
    let meta = s.sign("Arith.Multiply", &args);
    clock.advance(Duration::from_secs(301));
    let r = exchange(
        &mut raw_connect(server.local_addr()),
        &frame(1, FrameKind::Request, "Arith.Multiply", &meta, &args),
        1,
    );
    assert_refused(&r, Status::Unauthenticated, "too old", &meta);
}

#[test]
fn a_configured_window_is_the_one_enforced() {
    let clock = ManualClock::new();
    let (_auth, server) = start_with(authenticator(&clock).window(Duration::from_secs(10)));
    let s = signer(&clock, "billing-1", SECRET);
    let args = multiply_args(2, 3);
    let mut raw = raw_connect(server.local_addr());
    let ok = s.sign_with("Arith.Multiply", &args, T0 - 10, &s.fresh_nonce());
    let r = exchange(
        &mut raw,
        &frame(1, FrameKind::Request, "Arith.Multiply", &ok, &args),
        1,
    );
    assert_eq!(r.status, Status::Ok, "{}", r.message);
    let old = s.sign_with("Arith.Multiply", &args, T0 - 11, &s.fresh_nonce());
    let r = exchange(
        &mut raw,
        &frame(2, FrameKind::Request, "Arith.Multiply", &old, &args),
        2,
    );
    assert_refused(&r, Status::Unauthenticated, "window of 10 s", &old);
}

#[test]
fn a_replayed_request_is_refused_and_its_handler_runs_once() {
    let (clock, _auth, server) = start();
    let s = signer(&clock, "billing-1", SECRET);
    let args = multiply_args(10, 20);
    let meta = s.sign("Arith.Multiply", &args);
    let captured = frame(1, FrameKind::Request, "Arith.Multiply", &meta, &args);
    let mut raw = raw_connect(server.local_addr());
    let r = exchange(&mut raw, &captured, 1);
    assert_eq!((r.status, r.result_i32()), (Status::Ok, 200));
    // The same bytes again, on the same connection and on another one.
    let r = exchange(&mut raw, &captured, 1);
    assert_refused(&r, Status::Unauthenticated, "replayed request", &meta);
    let r = exchange(&mut raw_connect(server.local_addr()), &captured, 1);
    assert_refused(&r, Status::Unauthenticated, "replayed request", &meta);
    // Still refused at the last second of the window.
    clock.advance(Duration::from_secs(300));
    let r = exchange(&mut raw, &captured, 1);
    assert_refused(&r, Status::Unauthenticated, "replayed request", &meta);
    let stats = server.stats();
    assert_eq!((stats.calls_ok, stats.rejected_auth), (1, 3));
}

/// A change that makes one auth field malformed.
type Spoil = fn(&mut SignedMeta);

#[test]
fn malformed_auth_fields_are_refused_naming_the_field() {
    let (clock, _auth, server) = start();
    let s = signer(&clock, "billing-1", SECRET);
    let args = multiply_args(1, 1);
    let good = s.sign("Arith.Multiply", &args);
    let mut raw = raw_connect(server.local_addr());
    let cases: [(&str, Spoil); 4] = [
        ("auth-key metadata is not a key id", |m| {
            m.key_id = "has space".into()
        }),
        ("auth-ts metadata is not a timestamp", |m| {
            m.timestamp = "-5".into()
        }),
        ("auth-nonce metadata is not a nonce", |m| {
            m.nonce = "short".into()
        }),
        ("auth-sig metadata is not a signature", |m| {
            m.signature = m.signature.to_uppercase()
        }),
    ];
    for (id, (says, spoil)) in cases.iter().enumerate() {
        let mut meta = good.clone();
        spoil(&mut meta);
        let id = id as u64 + 1;
        let r = exchange(
            &mut raw,
            &frame(id, FrameKind::Request, "Arith.Multiply", &meta, &args),
            id,
        );
        assert_refused(&r, Status::Unauthenticated, says, &good);
    }
}

#[test]
fn a_refused_oneway_call_does_not_run() {
    let (clock, _auth, server) = start();
    let s = signer(&clock, "billing-1", SECRET);
    let meta = s.sign("Arith.Multiply", &multiply_args(1, 2));
    let mut raw = raw_connect(server.local_addr());
    send(
        &mut raw,
        &frame(
            5,
            FrameKind::Oneway,
            "Arith.Multiply",
            &meta,
            &multiply_args(9, 9),
        ),
    );
    // The next answer on the socket is the good call's: nothing came back
    // for the oneway, and it was counted as refused, not run.
    assert_still_serves(&mut raw, &s);
    let stats = server.stats();
    assert_eq!(
        (stats.rejected_auth, stats.oneway_failed, stats.calls_ok),
        (1, 1, 1)
    );
}

// ---- what is refused: PERMISSION_DENIED ---------------------------------------

#[test]
fn each_key_may_call_only_the_call_ids_it_is_allowed() {
    let (clock, _auth, server) = start();
    let billing = client(&server, Some(signer(&clock, "billing-1", SECRET)));
    let ops = client(&server, Some(signer(&clock, "ops-1", "ops secret")));
    let root = client(&server, Some(signer(&clock, "root-1", "root secret")));
    // Arith.* lets billing add and multiply, not shut down.
    assert_eq!(billing.call::<_, i32>("Arith.Add", &(1, 2)).unwrap(), 3);
    let e = billing.call::<_, ()>("Admin.Shutdown", &()).unwrap_err();
    assert_eq!(e.status, Status::PermissionDenied, "{e}");
    assert!(
        e.message.contains("key id \"billing-1\" (caller \"billing\") may not call \"Admin.Shutdown\"; it may call: Arith.*, WhoAmI"),
        "{e}"
    );
    // An exact permission is exact.
    ops.call::<_, ()>("Admin.Shutdown", &()).unwrap();
    let e = ops.call::<_, i32>("Arith.Multiply", &(1, 2)).unwrap_err();
    assert_eq!(e.status, Status::PermissionDenied, "{e}");
    // "*" is everything.
    root.call::<_, ()>("Admin.Shutdown", &()).unwrap();
    assert_eq!(root.call::<_, i32>("Arith.Multiply", &(3, 4)).unwrap(), 12);
    assert_eq!(server.stats().rejected_auth, 2);
}

#[test]
fn a_denied_request_does_not_use_up_its_nonce() {
    let (clock, auth, server) = start();
    let ops = client(&server, Some(signer(&clock, "ops-1", "ops secret")));
    for _ in 0..5 {
        let e = ops.call::<_, i32>("Arith.Multiply", &(1, 2)).unwrap_err();
        assert_eq!(e.status, Status::PermissionDenied);
    }
    assert_eq!(auth.remembered_nonces(), 0);
}

// ---- the replay cache is bounded --------------------------------------------

#[test]
fn the_replay_cache_stays_within_its_capacity_and_refuses_what_it_forgot() {
    let clock = ManualClock::new();
    let (auth, server) = start_with(authenticator(&clock).nonce_capacity(4));
    let s = signer(&clock, "billing-1", SECRET);
    let args = multiply_args(1, 1);
    let mut raw = raw_connect(server.local_addr());
    // Six good requests signed one second apart (T0-5 .. T0).
    let mut sent = Vec::new();
    for (i, ts) in (T0 - 5..=T0).enumerate() {
        let id = i as u64 + 1;
        let meta = s.sign_with("Arith.Multiply", &args, ts, &s.fresh_nonce());
        let f = frame(id, FrameKind::Request, "Arith.Multiply", &meta, &args);
        let r = exchange(&mut raw, &f, id);
        assert_eq!(r.status, Status::Ok, "{}", r.message);
        assert!(auth.remembered_nonces() <= 4);
        sent.push((id, f, meta));
    }
    assert_eq!(auth.remembered_nonces(), 4);
    // The two oldest were forgotten: replaying them is refused anyway.
    for (id, f, meta) in &sent[..2] {
        let r = exchange(&mut raw, f, *id);
        assert_refused(
            &r,
            Status::Unauthenticated,
            "the replay cache is full",
            meta,
        );
        assert!(
            r.message.contains("Authenticator::nonce_capacity"),
            "{}",
            r.message
        );
    }
    // The rest are remembered: replays.
    for (id, f, meta) in &sent[2..] {
        let r = exchange(&mut raw, f, *id);
        assert_refused(&r, Status::Unauthenticated, "replayed request", meta);
    }
    // Once every timestamp has left the window, the cache is free again.
    clock.advance(Duration::from_secs(301));
    assert_still_serves(&mut raw, &s);
    assert_eq!(auth.remembered_nonces(), 1);
}

#[test]
fn the_call_table_is_listed_only_to_a_key_allowed_to_describe() {
    use minirpc::server::{MethodDescription, DESCRIBE_CALL_ID};
    let auth = Authenticator::new()
        .key(Key::new("ops", "ops secret", "ops").allow("*"))
        .key(Key::new("app", "app secret", "app").allow("Arith.*"));
    let mut s = Server::builder().authenticate(auth).build();
    s.register("Arith.Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let h = s.serve("127.0.0.1:0").unwrap();
    let list = |signer: Option<Signer>| {
        let mut b = Client::builder();
        if let Some(signer) = signer {
            b = b.signer(signer);
        }
        let c = b.connect(h.local_addr()).unwrap();
        c.call::<_, Vec<MethodDescription>>(DESCRIBE_CALL_ID, &())
    };
    let e = list(None).unwrap_err();
    assert_eq!(e.status, Status::Unauthenticated, "{e}");
    let e = list(Some(Signer::new("app", "app secret"))).unwrap_err();
    assert_eq!(e.status, Status::PermissionDenied, "{e}");
    let table = list(Some(Signer::new("ops", "ops secret"))).unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(table[0].call_id, "Arith.Multiply");
}

/// docs/protocol.md §9 (the rate-limit row): authentication comes first, so
/// requests refused by it take no room in a rate limit, and the limit
/// counts the key's caller, not the one the request claims.
#[test]
fn authentication_is_checked_before_the_rate_limit_and_the_limit_sees_the_keys_caller() {
    let clock = ManualClock::new();
    let mut server = Server::builder()
        .authenticate(authenticator(&clock))
        .rate_limit(
            minirpc::flow::Rule::token_bucket("Arith.*", 1.0, 1)
                .for_caller("billing")
                .clock(clock.clone()),
        )
        .build();
    methods(&mut server);
    let server = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let good = signer(&clock, "billing-1", SECRET);
    let bad = signer(&clock, "billing-1", "a guess");
    let args = multiply_args(2, 3);
    let mut s = raw_connect(server.local_addr());
    // Refused by authentication, twice: one claims caller "billing", one is
    // signed with a wrong secret. Neither may take the bucket's one token.
    let mut unsigned = Vec::new();
    let start = protocol::begin_request(
        &mut unsigned,
        FrameKind::Request,
        CodecId::Binary,
        1,
        "Arith.Multiply",
        0,
        &[(protocol::META_CALLER, "billing")],
    );
    unsigned.extend_from_slice(&args);
    protocol::finish_frame(&mut unsigned, start);
    assert_eq!(
        exchange(&mut s, &unsigned, 1).status,
        Status::Unauthenticated
    );
    let meta = bad.sign("Arith.Multiply", &args);
    let r = exchange(
        &mut s,
        &frame(2, FrameKind::Request, "Arith.Multiply", &meta, &args),
        2,
    );
    assert_eq!(r.status, Status::Unauthenticated, "{}", r.message);
    // So the first good call finds the token; the next one does not, and the
    // limit names the key's caller.
    let meta = good.sign("Arith.Multiply", &args);
    let r = exchange(
        &mut s,
        &frame(3, FrameKind::Request, "Arith.Multiply", &meta, &args),
        3,
    );
    assert_eq!((r.status, r.result_i32()), (Status::Ok, 6), "{}", r.message);
    let meta = good.sign("Arith.Multiply", &args);
    let r = exchange(
        &mut s,
        &frame(4, FrameKind::Request, "Arith.Multiply", &meta, &args),
        4,
    );
    assert_eq!(r.status, Status::ResourceExhausted, "{}", r.message);
    assert!(
        r.message.contains("for caller \"billing\""),
        "{}",
        r.message
    );
    assert_eq!(server.stats().rejected_rate_limited, 1);
}
