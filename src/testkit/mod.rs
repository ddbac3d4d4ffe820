//! Conformance checks for minirpc's extension traits.
//!
//! Article: none directly; this is the coursework side of the project.
//! Each chapter ends with exercises that ask you to implement one of
//! minirpc's traits yourself (a [`Registry`](crate::discovery::Registry)
//! first). The one idea to take away: **a trait is a promise, and a
//! promise can be tested**. The functions here state what every
//! implementation must do, as code, and minirpc's own implementations pass
//! the very same checks: if yours passes too, it can stand in for ours.
//!
//! ```text
//!  your test ── check_registry(|| Box::new(YourRegistry::new()), time) ──►
//!     for each property: a fresh registry, the property run against it
//!     ◄── a panic naming every property that broke, and on what input
//! ```
//!
//! | check | trait | chapter |
//! |---|---|---|
//! | [`check_registry`] | [`Registry`](crate::discovery::Registry) | `docs/07-discovery.md` |
//! | [`check_balancer`] | [`Balancer`](crate::balance::Balancer) | `docs/08-load-balancing.md` |
//! | [`check_rate_limiter`] | [`RateLimiter`](crate::flow::RateLimiter) | `docs/10-flow-control.md` |
//! | [`check_codec`] | [`Encode`](crate::Encode) and [`Decode`](crate::Decode) | `docs/03-serialization.md` |
//! | [`check_handler`] | a method registered on a [`Server`](crate::Server) | `docs/01-multiply.md` |
//!
//! [`fault::FaultProxy`] is the network side of the kit: a proxy on
//! loopback that delays, cuts, blackholes, trickles or corrupts the bytes
//! of a connection, for exercises (and tests) that must meet a bad network.
//! The exercises that use all of these are listed in `docs/exercises.md`.

pub mod balancer;
pub mod codec;
pub mod fault;
pub mod handler;
pub mod limiter;
pub mod registry;

pub use balancer::{balancer_failures, check_balancer, BalancerKind};
pub use codec::{check_codec, codec_failures};
pub use handler::{check_handler, handler_failures};
pub use limiter::{check_rate_limiter, rate_limiter_failures, MakeRateLimiter};
pub use registry::{check_registry, registry_failures, Failure, Time};

/// The longest a check waits for any one thing (an answer, a thread)
/// before it calls it a hang. Generous on purpose: it proves "did not
/// hang", not "was fast", on a loaded machine running a debug build.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Panic with the list of `failures`, if there are any, under `title`.
pub(crate) fn panic_on(title: String, failures: &[Failure]) {
    if !failures.is_empty() {
        let list: Vec<String> = failures.iter().map(|f| format!("- {f}")).collect();
        panic!(
            "{title} breaks {} properties:\n{}",
            failures.len(),
            list.join("\n")
        );
    }
}

/// Run one property's check, turning an `Err` or a panic inside it into a
/// [`Failure`] that names the property (a learner's implementation may well
/// panic; the other properties are still checked).
pub(crate) fn run_property(
    property: &'static str,
    check: impl FnOnce() -> Result<(), String>,
) -> Option<Failure> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    let message = match outcome {
        Ok(Ok(())) => return None,
        Ok(Err(message)) => message,
        Err(panic) => format!("panicked: {}", panic_text(&*panic)),
    };
    Some(Failure { property, message })
}

/// The message of a caught panic, if it had one.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
