//! The conformance check of a server method: right answers, for many
//! callers at once, over a real connection.
//!
//! Article: 本地调用VS远程调用 (server steps 1–6) and 组件 › RPC Processor.
//! The one idea to take away: **a handler is called by many threads at
//! once**, so a method that is right for one caller can still be wrong:
//! state shared between calls, a lock held too long, an answer that
//! belongs to someone else's call. The check compares every answer to an
//! oracle, a plain local function that says what the answer must be.
//!
//! ```text
//!  check_handler(register, "Divide", &inputs, oracle)
//!     Server::new() ── register(&mut server) ── serve("127.0.0.1:0")
//!     CALLERS threads ── every input, in an order of their own ──► server
//!     each answer  ==  oracle(input) ?   (errors: the same status)
//!     ◄── a panic naming every wrong answer, its caller and its input
//! ```
//!
//! Half the callers share one [`Client`] (clones of it: one connection,
//! calls multiplexed on it) and the others have one each. Every call is bounded
//! by twice [`PATIENCE`](super::PATIENCE), so a handler that blocks is
//! reported as a timeout rather than hanging the test.

use super::{Failure, PATIENCE};
use crate::{Client, Decode, Encode, RpcError, Server, Status};
use std::fmt::Debug;

/// How many threads call the method at once.
pub const CALLERS: usize = 4;

/// Start a server with the methods `register` adds, call `call_id` with
/// every input from [`CALLERS`] threads at once, and panic unless every
/// answer is what `oracle` says: the same value, or an error with the same
/// status (the message is the handler's own to choose).
///
/// ```
/// use minirpc::testkit::check_handler;
/// use minirpc::{RpcError, Status};
///
/// check_handler(
///     |s| {
///         s.register("Divide", |(a, b): (i32, i32)| {
///             a.checked_div(b).ok_or_else(|| RpcError::invalid_argument("divide by zero"))
///         });
///     },
///     "Divide",
///     &[(7, 2), (1, 0), (-9, 3)],
///     |&(a, b): &(i32, i32)| a.checked_div(b).ok_or(Status::InvalidArgument),
/// );
/// ```
pub fn check_handler<A, R>(
    register: impl FnOnce(&mut Server),
    call_id: &str,
    inputs: &[A],
    oracle: impl Fn(&A) -> Result<R, Status> + Sync,
) where
    A: Encode + Debug + Sync,
    R: Decode + PartialEq + Debug,
{
    let title = format!("the method {call_id:?}");
    super::panic_on(title, &handler_failures(register, call_id, inputs, oracle));
}

/// The same check, returning what broke instead of panicking: at most one
/// failure per property ("the server starts", "every answer matches the
/// oracle", "every answer matches the oracle under concurrent calls"),
/// each naming the first wrong answer and how many there were.
pub fn handler_failures<A, R>(
    register: impl FnOnce(&mut Server),
    call_id: &str,
    inputs: &[A],
    oracle: impl Fn(&A) -> Result<R, Status> + Sync,
) -> Vec<Failure>
where
    A: Encode + Debug + Sync,
    R: Decode + PartialEq + Debug,
{
    let mut server = Server::new();
    let registered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        register(&mut server);
    }));
    if let Err(p) = registered {
        return vec![failure(
            "the server starts",
            format!("registering panicked: {}", super::panic_text(&*p)),
        )];
    }
    let handle = match server.serve("127.0.0.1:0") {
        Ok(h) => h,
        Err(e) => return vec![failure("the server starts", format!("serve failed: {e}"))],
    };
    let connect = || {
        Client::builder()
            .connect_timeout(PATIENCE)
            .call_timeout(PATIENCE * 2)
            .connect(handle.local_addr())
    };
    // First alone, so that a wrong answer to one caller is told apart from
    // a wrong answer under concurrency.
    let alone = match connect() {
        Ok(c) => calls(&c, 0, call_id, inputs, &oracle),
        Err(e) => vec![format!("a client could not connect: {e}")],
    };
    let mut failures = Vec::new();
    if let Some(f) = summarise("every answer matches the oracle", &alone, inputs.len()) {
        failures.push(f);
    }
    // A clone shares its original's connection; the others connect anew.
    let shared = connect();
    let clients: Vec<Result<Client, RpcError>> = (0..CALLERS)
        .map(|n| match (n % 2, &shared) {
            (0, Ok(c)) => Ok(c.clone()),
            _ => connect(),
        })
        .collect();
    let together: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(n, client)| {
                let oracle = &oracle;
                scope.spawn(move || match client {
                    Ok(c) => calls(&c, n, call_id, inputs, oracle),
                    Err(e) => vec![format!("caller {n} could not connect: {e}")],
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| {
                t.join().unwrap_or_else(|p| {
                    vec![format!("a caller panicked: {}", super::panic_text(&*p))]
                })
            })
            .collect()
    });
    let property = "every answer matches the oracle under concurrent calls";
    if let Some(f) = summarise(property, &together, inputs.len() * CALLERS) {
        failures.push(f);
    }
    drop(shared);
    handle.shutdown();
    failures
}

/// Caller `n` calls with every input, starting at a different one than
/// the other callers, and returns a line per wrong answer.
fn calls<A, R>(
    client: &Client,
    n: usize,
    call_id: &str,
    inputs: &[A],
    oracle: &(impl Fn(&A) -> Result<R, Status> + Sync),
) -> Vec<String>
where
    A: Encode + Debug,
    R: Decode + PartialEq + Debug,
{
    let mut wrong = Vec::new();
    for k in 0..inputs.len() {
        let input = &inputs[(k + n * inputs.len() / CALLERS) % inputs.len()];
        let got: Result<R, RpcError> = client.call(call_id, input);
        let want = oracle(input);
        let right = match (&got, &want) {
            (Ok(g), Ok(w)) => g == w,
            (Err(g), Err(w)) => g.status == *w,
            _ => false,
        };
        if !right {
            let want = match &want {
                Ok(w) => format!("{w:?}"),
                Err(s) => format!("an error {s}"),
            };
            let got = match &got {
                Ok(g) => format!("{g:?}"),
                Err(e) => format!("the error {e}"),
            };
            wrong.push(format!(
                "caller {n}: {call_id}({input:?}) returned {got}, expected {want}"
            ));
        }
    }
    wrong
}

fn summarise(property: &'static str, wrong: &[String], total: usize) -> Option<Failure> {
    let first = wrong.first()?;
    Some(failure(
        property,
        format!(
            "{} of {total} calls were wrong; the first: {first}",
            wrong.len()
        ),
    ))
}

fn failure(property: &'static str, message: String) -> Failure {
    Failure { property, message }
}
