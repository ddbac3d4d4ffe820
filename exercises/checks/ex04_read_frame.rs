//! The check of ex04_read_frame: frames arrive through a `FaultProxy` one
//! byte at a time, cut in the middle, or with a length over the limit.

use crate::exercises::ex04_read_frame::read_frame;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::fault::{Direction, Fault, FaultProxy};
use minirpc::testkit::PATIENCE;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

const NAME: &str = "ex04_read_frame";

/// What the starting point fails with.
pub const UNFINISHED: &str = "read_frame() returned after one read with part of a trickled frame; read until the whole frame is in (see Read::read_exact)";

const MAX: usize = 1024;

/// Run the check.
pub fn check() -> Result<(), String> {
    let body: Vec<u8> = (0..40).collect();
    // Two frames, one byte at a time.
    let got = through_proxy(
        &[frame(&body), frame(b"second")].concat(),
        Fault::Trickle(Duration::from_millis(1)),
        2,
    );
    match got.first() {
        Some(Ok(b)) if b == &body => {}
        Some(Ok(b)) if b.len() < body.len() => return Err(unfinished(NAME, UNFINISHED)),
        other => {
            return Err(broke(
                NAME,
                format!("a 40-byte frame sent one byte at a time read as {other:?}"),
            ))
        }
    }
    match got.get(1) {
        Some(Ok(b)) if b == b"second" => {}
        other => {
            return Err(broke(
                NAME,
                format!("the frame after it read as {other:?}, expected b\"second\""),
            ))
        }
    }
    // Cut after the header and 6 bytes of the body.
    let got = through_proxy(&frame(&body), Fault::CutAfter(10), 1);
    match got.first() {
        Some(Err(k)) if *k == ErrorKind::UnexpectedEof => {}
        other => {
            return Err(broke(NAME, format!("a connection cut 6 bytes into a 40-byte body gave {other:?}, expected UnexpectedEof")))
        }
    }
    // A length over the limit, with no body behind it.
    let got = through_proxy(&(MAX as u32 + 1).to_be_bytes(), Fault::Pass, 1);
    match got.first() {
        Some(Err(k)) if *k == ErrorKind::InvalidData => Ok(()),
        other => Err(broke(
            NAME,
            format!(
                "a length of {} with max {MAX} gave {other:?}, expected InvalidData at once",
                MAX + 1
            ),
        )),
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A peer that writes `bytes` and then stays open, reached through a
/// proxy doing `fault` to what it sends; `read_frame` called `frames`
/// times, stopping at the first error.
fn through_proxy(bytes: &[u8], fault: Fault, frames: usize) -> Vec<Result<Vec<u8>, ErrorKind>> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind a peer");
    let proxy = FaultProxy::start(listener.local_addr().expect("its address"));
    proxy.set(Direction::ServerToClient, fault);
    let mut reader =
        TcpStream::connect_timeout(&proxy.addr(), PATIENCE).expect("connect to the proxy");
    reader
        .set_read_timeout(Some(PATIENCE))
        .expect("set a read timeout");
    let (mut peer, _) = listener.accept().expect("the proxy connects");
    peer.write_all(bytes).expect("write the frames");
    let mut out = Vec::new();
    for _ in 0..frames {
        let r = read_frame(&mut reader, MAX).map_err(|e| e.kind());
        let stop = r.is_err();
        out.push(r);
        if stop {
            break;
        }
    }
    out
}
