//! The check of ex09_failover: a server behind a cut connection is skipped;
//! a server that refuses the call is not.

use crate::exercises::ex09_failover::multiply_failover;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::fault::{Direction, Fault, FaultProxy};
use minirpc::testkit::PATIENCE;
use minirpc::{Client, RpcError, Server, ServerHandle, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const NAME: &str = "ex09_failover";

/// What the starting point fails with.
pub const UNFINISHED: &str = "multiply_failover() only ever asks the first server; on UNAVAILABLE or RESOURCE_EXHAUSTED ask the next";

/// A server whose `Multiply` counts its calls and refuses a zero.
fn server(calls: &Arc<AtomicUsize>) -> Result<ServerHandle, String> {
    let mut s = Server::new();
    let c = Arc::clone(calls);
    s.register("Multiply", move |(l, r): (i32, i32)| {
        c.fetch_add(1, Ordering::SeqCst);
        if l == 0 || r == 0 {
            return Err(RpcError::invalid_argument("this server refuses zeros"));
        }
        Ok(l * r)
    });
    s.serve("127.0.0.1:0").map_err(|e| broke(NAME, e))
}

fn client(addr: SocketAddr) -> Result<Client, String> {
    Client::builder()
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .connect(addr)
        .map_err(|e| broke(NAME, e))
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let (first_calls, second_calls) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (first, second) = (server(&first_calls)?, server(&second_calls)?);
    let proxy = FaultProxy::start(first.local_addr());
    let clients = [client(proxy.addr())?, client(second.local_addr())?];
    // The first server's connection is cut before a request gets through.
    proxy.set(Direction::ClientToServer, Fault::CutAfter(0));
    let got = multiply_failover(&clients, 6, 7);
    match &got {
        Ok(42) => {}
        Err(e) if e.status == Status::Unavailable && second_calls.load(Ordering::SeqCst) == 0 => {
            return Err(unfinished(NAME, UNFINISHED))
        }
        other => return Err(broke(NAME, format!("with the first server cut off, Multiply(6, 7) gave {other:?}, expected Ok(42) from the second"))),
    }
    // A refusal is the answer: the second server must not be asked.
    proxy.set(Direction::ClientToServer, Fault::Pass);
    let direct = [client(first.local_addr())?, client(second.local_addr())?];
    let before = second_calls.load(Ordering::SeqCst);
    let got = multiply_failover(&direct, 0, 7);
    let asked = second_calls.load(Ordering::SeqCst) - before;
    if !matches!(&got, Err(e) if e.status == Status::InvalidArgument) || asked != 0 {
        return Err(broke(NAME, format!("the first server refused Multiply(0, 7) with INVALID_ARGUMENT; multiply_failover gave {got:?} and asked the second server {asked} times (expected the refusal, and 0)")));
    }
    // No server at all.
    match multiply_failover(&[], 1, 2) {
        Err(e) if e.status == Status::Unavailable => Ok(()),
        other => Err(broke(
            NAME,
            format!("with no servers, multiply_failover gave {other:?}, expected UNAVAILABLE"),
        )),
    }
}
