//! The check of ex01_arith: `Add` and `Divide` answer what checked `i32`
//! arithmetic says, for many callers at once.

use crate::exercises::ex01_arith::register;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::handler_failures;
use minirpc::{Client, RpcError, Server, Status};

const NAME: &str = "ex01_arith";

/// What the starting point fails with.
pub const UNFINISHED: &str = "the server has no method \"Add\" yet; register \"Add\" and \"Divide\" in exercises/ex01_arith.rs";

const INPUTS: &[(i32, i32)] = &[
    (1, 2),
    (-7, 3),
    (10, 0),
    (0, 0),
    (i32::MAX, 1),
    (i32::MIN, -1),
    (i32::MIN, 1),
    (100, -7),
];

/// Run the check.
pub fn check() -> Result<(), String> {
    if !has_add()? {
        return Err(unfinished(NAME, UNFINISHED));
    }
    let add = |&(a, b): &(i32, i32)| a.checked_add(b).ok_or(Status::InvalidArgument);
    let divide = |&(a, b): &(i32, i32)| a.checked_div(b).ok_or(Status::InvalidArgument);
    let mut failures = handler_failures(register, "Add", INPUTS, add);
    failures.extend(handler_failures(register, "Divide", INPUTS, divide));
    match failures.first() {
        None => Ok(()),
        Some(f) => Err(broke(NAME, f)),
    }
}

fn has_add() -> Result<bool, String> {
    let mut server = Server::new();
    register(&mut server);
    let handle = server
        .serve("127.0.0.1:0")
        .map_err(|e| broke(NAME, format!("the server did not start: {e}")))?;
    let client = Client::connect(handle.local_addr()).map_err(|e| broke(NAME, e))?;
    let r: Result<i32, RpcError> = client.call("Add", &(1, 2));
    drop(client);
    handle.shutdown();
    Ok(!matches!(r, Err(e) if e.status == Status::Unimplemented))
}
