//! The check of ex06_stub_by_hand: the hand-written stub talks to a server
//! that the macro registered.

use crate::exercises::ex06_stub_by_hand::HandArith;
use crate::exercises::{broke, unfinished};
use minirpc::{service, Client, Server, Status};

const NAME: &str = "ex06_stub_by_hand";

/// What the starting point fails with.
pub const UNFINISHED: &str = "HandArith calls a method the server does not have (UNIMPLEMENTED); service! names each method \"Trait.method\"";

service! {
    /// The service of the exercise.
    pub trait Arith, client ArithClient {
        /// l × r.
        fn multiply(l: i32, r: i32) -> i32, async multiply_async;
        /// -x.
        fn negate(x: i32) -> i32, async negate_async;
    }
}

struct Calculator;

impl Arith for Calculator {
    fn multiply(&self, l: i32, r: i32) -> i32 {
        l.wrapping_mul(r)
    }
    fn negate(&self, x: i32) -> i32 {
        x.wrapping_neg()
    }
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let mut server = Server::new();
    Calculator.register_service(&mut server);
    let handle = server.serve("127.0.0.1:0").map_err(|e| broke(NAME, e))?;
    let client = Client::connect(handle.local_addr()).map_err(|e| broke(NAME, e))?;
    let stub = HandArith { client: &client };
    let outcome = (|| {
        for (l, r) in [(10, 20), (-3, 7), (0, 5)] {
            match stub.multiply(l, r) {
                Ok(v) if v == l * r => {}
                Err(e) if e.status == Status::Unimplemented => {
                    return Err(unfinished(NAME, UNFINISHED))
                }
                other => {
                    return Err(broke(
                        NAME,
                        format!("multiply({l}, {r}) gave {other:?}, expected Ok({})", l * r),
                    ))
                }
            }
        }
        for x in [5, -9, 0] {
            match stub.negate(x) {
                Ok(v) if v == -x => {}
                Err(e) if e.status == Status::Unimplemented => {
                    return Err(unfinished(NAME, UNFINISHED))
                }
                other => {
                    return Err(broke(
                        NAME,
                        format!("negate({x}) gave {other:?}, expected Ok({})", -x),
                    ))
                }
            }
        }
        Ok(())
    })();
    drop(client);
    handle.shutdown();
    outcome
}
