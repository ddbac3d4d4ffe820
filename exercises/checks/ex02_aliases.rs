//! The check of ex02_aliases: every name is in the call table, answers
//! the same, and reaches the one function.

use crate::exercises::ex02_aliases::register_with_aliases;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::handler_failures;
use minirpc::{RpcError, Server};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const NAME: &str = "ex02_aliases";

/// What the starting point fails with.
pub const UNFINISHED: &str = "only the first name, \"Multiply\", is in the call table; register the same function under every name";

const NAMES: &[&str] = &["Multiply", "Mul", "Arith.multiply"];

/// Run the check.
pub fn check() -> Result<(), String> {
    let mut server = Server::new();
    register_with_aliases(&mut server, NAMES, |(l, r): (i32, i32)| Ok(l * r));
    let ids = server.call_ids();
    if ids == ["Multiply"] {
        return Err(unfinished(NAME, UNFINISHED));
    }
    let mut want: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    want.sort();
    if ids != want {
        return Err(broke(
            NAME,
            format!("call_ids() lists {ids:?}, expected {want:?}"),
        ));
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let inputs = [(10, 20), (-3, 4), (0, 9)];
    for name in NAMES {
        let counted = Arc::clone(&calls);
        let register = move |s: &mut Server| {
            register_with_aliases(s, NAMES, move |(l, r): (i32, i32)| {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok::<i32, RpcError>(l * r)
            })
        };
        let oracle = |&(l, r): &(i32, i32)| Ok(l * r);
        if let Some(f) = handler_failures(register, name, &inputs, oracle).first() {
            return Err(broke(NAME, format!("through {name:?}: {f}")));
        }
    }
    // Each name's run is 3 inputs alone, then 4 callers × 3 inputs.
    let want_calls = NAMES.len() * inputs.len() * (1 + minirpc::testkit::handler::CALLERS);
    let got = calls.load(Ordering::SeqCst);
    if got != want_calls {
        return Err(broke(
            NAME,
            format!("the function was called {got} times for {want_calls} calls: every name must reach it"),
        ));
    }
    Ok(())
}
