//! The check of ex12_key_rotation: real signed calls from two `Client`s,
//! one with the old secret and one with the new, to a small server whose
//! every request goes through the answer's `Rotation::verify`. Before,
//! during and after a rotation; a captured request of each, sent again;
//! and a call outside the key's permissions.
//!
//! ```text
//!   Client(old secret) ─┐                      ┌─ Rotation::verify ─► caller's name, or the refusal
//!   Client(new secret) ─┼─► 127.0.0.1:0 ───────┤
//!   raw replay ─────────┘   (records frames)   └─ ping ─► pong
//! ```

use crate::exercises::ex12_key_rotation::Rotation;
use crate::exercises::{broke, unfinished};
use minirpc::auth::{Authenticator, Key, Signer, UnixClock};
use minirpc::codec::{self, CodecId};
use minirpc::protocol::{self, FrameKind, Header, RequestHead, ResponseHead, HEADER_LEN};
use minirpc::testkit::PATIENCE;
use minirpc::time::ManualClock;
use minirpc::{Client, RpcError, Status};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const NAME: &str = "ex12_key_rotation";

/// What the starting point fails with.
pub const UNFINISHED: &str = "after rotate(), a call signed with the previous secret was refused as a bad signature; keep the Authenticator that rotate() replaces, and ask it when the current one says the signature is bad";

const T0: u64 = 1_700_000_000;
const OLD: &str = "the secret of last year";
const NEW: &str = "the secret of this year";

type Frames = Arc<Mutex<Vec<Vec<u8>>>>;

/// Run the check.
pub fn check() -> Result<(), String> {
    let clock = ManualClock::new();
    let unix = UnixClock::driven_by(clock, Duration::from_secs(T0));
    let auth = |secret: &str| {
        Authenticator::new()
            .key(Key::new("billing", secret, "billing").allow("WhoAmI"))
            .clock(unix.clone())
    };
    let rotation = Arc::new(Mutex::new(Rotation::new(auth(OLD))));
    let frames: Frames = Arc::default();
    let addr = serve(&rotation, &frames, 3)?;
    let old = client(addr, Signer::new("billing", OLD).clock(unix.clone()))?;
    let new = client(addr, Signer::new("billing", NEW).clock(unix.clone()))?;
    let rotation =
        |f: &dyn Fn(&mut Rotation)| f(&mut rotation.lock().unwrap_or_else(PoisonError::into_inner));

    who(&old).map_err(|e| {
        broke(
            NAME,
            format!("before any rotation, a call signed with the only secret was refused: {e}"),
        )
    })?;
    rotation(&|r| r.rotate(auth(NEW)));
    who(&new).map_err(|e| {
        broke(
            NAME,
            format!("after rotate(next), a call signed with next's secret was refused: {e}"),
        )
    })?;
    let new_frame = last(&frames);
    match who(&old) {
        Ok(()) => {}
        Err(e) if e.status == Status::Unauthenticated && e.message.starts_with("bad signature") => {
            return Err(unfinished(NAME, UNFINISHED))
        }
        Err(e) => {
            return Err(broke(
                NAME,
                format!(
                    "during the rotation, a call signed with the previous secret was refused: {e}"
                ),
            ))
        }
    }
    let old_frame = last(&frames);

    // Captured requests sent again: each must be refused as a replay, by
    // the Authenticator whose secret signed it.
    let mut raw = connect(addr)?;
    for (which, frame) in [("previous", &old_frame), ("new", &new_frame)] {
        let (status, message) = exchange(&mut raw, frame)?;
        if status != Status::Unauthenticated || !message.contains("replayed") {
            return Err(broke(NAME, format!(
                "a captured request signed with the {which} secret, sent again during the rotation, got {status:?}: {message}; expected UNAUTHENTICATED for a replay (the answer of the Authenticator whose secret signed it)"
            )));
        }
    }
    // Outside the key's permissions: the current one's answer stands.
    match new.call::<(), String>("Admin.Shutdown", &()) {
        Err(e) if e.status == Status::PermissionDenied => {}
        other => return Err(broke(NAME, format!(
            "a call to \"Admin.Shutdown\", signed with the new secret of a key allowed only \"WhoAmI\", got {other:?}; expected PERMISSION_DENIED (a refusal of the current Authenticator that is not a bad signature is the answer)"
        ))),
    }

    rotation(&|r| r.finish());
    match who(&old) {
        Err(e) if e.status == Status::Unauthenticated => {}
        other => return Err(broke(NAME, format!("after finish(), a call signed with the retired secret got {other:?}; expected UNAUTHENTICATED"))),
    }
    who(&new).map_err(|e| {
        broke(
            NAME,
            format!("after finish(), a call signed with the current secret was refused: {e}"),
        )
    })
}

/// Call `WhoAmI`, which answers the proven caller's name.
fn who(c: &Client) -> Result<(), RpcError> {
    let name: String = c.call("WhoAmI", &())?;
    if name == "billing" {
        Ok(())
    } else {
        Err(RpcError::new(
            Status::Internal,
            format!("the caller's name came back as {name:?}, not \"billing\""),
        ))
    }
}

fn client(addr: SocketAddr, signer: Signer) -> Result<Client, String> {
    Client::builder()
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .signer(signer)
        .connect(addr)
        .map_err(|e| broke(NAME, e))
}

fn last(frames: &Frames) -> Vec<u8> {
    let frames = frames.lock().unwrap_or_else(PoisonError::into_inner);
    frames.last().cloned().unwrap_or_default()
}

/// A server on 127.0.0.1:0 for `connections` connections, each served by
/// its own thread until its peer leaves; every request frame is recorded
/// in `frames`, then answered through `rotation`.
fn serve(
    rotation: &Arc<Mutex<Rotation>>,
    frames: &Frames,
    connections: usize,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| broke(NAME, e))?;
    let addr = listener.local_addr().map_err(|e| broke(NAME, e))?;
    listener.set_nonblocking(true).map_err(|e| broke(NAME, e))?;
    let (rotation, frames) = (Arc::clone(rotation), Arc::clone(frames));
    std::thread::spawn(move || {
        let give_up = Instant::now() + PATIENCE * 4;
        let mut accepted = 0;
        while accepted < connections && Instant::now() < give_up {
            match listener.accept() {
                Ok((s, _)) => {
                    accepted += 1;
                    let (rotation, frames) = (Arc::clone(&rotation), Arc::clone(&frames));
                    std::thread::spawn(move || serve_connection(s, &rotation, &frames));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(_) => return,
            }
        }
    });
    Ok(addr)
}

fn serve_connection(mut s: TcpStream, rotation: &Mutex<Rotation>, frames: &Frames) {
    if s.set_nonblocking(false).is_err() || s.set_read_timeout(Some(PATIENCE * 6)).is_err() {
        return;
    }
    while let Ok((header, body)) = read_frame(&mut s) {
        let mut out = Vec::new();
        match header.kind {
            FrameKind::Request => {
                let mut frame = header.to_bytes().to_vec();
                frame.extend_from_slice(&body);
                frames
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(frame);
                let verdict = RequestHead::parse(&body).and_then(|head| {
                    rotation
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .verify(&head)
                });
                match verdict {
                    Ok(identity) => {
                        let start = protocol::begin_ok_response(
                            &mut out,
                            CodecId::Binary,
                            header.request_id,
                        );
                        out.extend_from_slice(&codec::to_bytes(&identity.name().to_owned()));
                        protocol::finish_frame(&mut out, start);
                    }
                    Err(e) => {
                        protocol::error_response(&mut out, CodecId::Binary, header.request_id, &e)
                    }
                }
            }
            FrameKind::Ping => {
                protocol::control_frame(&mut out, FrameKind::Pong, header.request_id)
            }
            _ => continue,
        }
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

fn read_frame(s: &mut TcpStream) -> Result<(Header, Vec<u8>), String> {
    let mut h = [0u8; HEADER_LEN];
    s.read_exact(&mut h)
        .map_err(|e| broke(NAME, format!("no frame: {e}")))?;
    let header = Header::parse(&h).map_err(|e| broke(NAME, e))?;
    if header.body_len as usize > protocol::DEFAULT_MAX_FRAME_BYTES {
        return Err(broke(NAME, "a frame claims an impossible length"));
    }
    let mut body = vec![0u8; header.body_len as usize];
    s.read_exact(&mut body).map_err(|e| broke(NAME, e))?;
    Ok((header, body))
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).map_err(|e| broke(NAME, e))?;
    s.set_read_timeout(Some(PATIENCE))
        .and_then(|()| s.set_write_timeout(Some(PATIENCE)))
        .map_err(|e| broke(NAME, e))?;
    Ok(s)
}

/// Send a recorded request frame and read its answer's status and message.
fn exchange(s: &mut TcpStream, frame: &[u8]) -> Result<(Status, String), String> {
    s.write_all(frame).map_err(|e| broke(NAME, e))?;
    let (_, body) = read_frame(s)?;
    let head = ResponseHead::parse(&body).map_err(|e| broke(NAME, e))?;
    Ok((head.status, head.message.to_owned()))
}
