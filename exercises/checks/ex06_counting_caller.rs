//! The check of ex06_counting_caller: a macro stub over `Counting<Client>`
//! still answers, and every call is counted.

use crate::exercises::ex06_counting_caller::Counting;
use crate::exercises::{broke, unfinished};
use minirpc::{service, Client, Server};

const NAME: &str = "ex06_counting_caller";

/// What the starting point fails with.
pub const UNFINISHED: &str =
    "calls() is still 0 after 6 calls through the stub; count each call as it passes";

service! {
    /// The service of the exercise.
    pub trait Echo, client EchoClient {
        /// x, back.
        fn echo(x: u32) -> u32, async echo_async;
        /// x + 1, safe to run twice.
        fn next(x: u32) -> u32, async next_async, idempotent;
    }
}

struct Echoer;

impl Echo for Echoer {
    fn echo(&self, x: u32) -> u32 {
        x
    }
    fn next(&self, x: u32) -> u32 {
        x.wrapping_add(1)
    }
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let mut server = Server::new();
    Echoer.register_service(&mut server);
    let handle = server.serve("127.0.0.1:0").map_err(|e| broke(NAME, e))?;
    let client = Client::connect(handle.local_addr()).map_err(|e| broke(NAME, e))?;
    let stub = EchoClient::new(Counting::new(client));
    let mut wrong = Vec::new();
    for x in [1, 2] {
        let got = stub.echo(x);
        if got.as_ref().ok() != Some(&x) {
            wrong.push(format!("echo({x}) gave {got:?}"));
        }
        let got = stub.next(x);
        if got.as_ref().ok() != Some(&(x + 1)) {
            wrong.push(format!("next({x}) gave {got:?}"));
        }
        let got = stub.echo_async(x).wait();
        if got.as_ref().ok() != Some(&x) {
            wrong.push(format!("echo_async({x}) gave {got:?}"));
        }
    }
    let calls = stub.client().calls();
    drop(stub);
    handle.shutdown();
    if let Some(w) = wrong.first() {
        return Err(broke(NAME, format!("through Counting, {w}")));
    }
    match calls {
        6 => Ok(()),
        0 => Err(unfinished(NAME, UNFINISHED)),
        n => Err(broke(
            NAME,
            format!("calls() says {n} after 6 calls (2 call, 2 call_idempotent, 2 call_async)"),
        )),
    }
}
