//! `minirpc::testkit::check_handler`: a right method passes, and a method
//! that is wrong (always, or only under concurrent calls) fails the
//! property it breaks, naming the call.

use minirpc::testkit::{check_handler, handler_failures, PATIENCE};
use minirpc::{RpcError, Server, Status};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

fn multiply(s: &mut Server) {
    s.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument("the product does not fit an i32"))
    });
}

const INPUTS: &[(i32, i32)] = &[(10, 20), (-3, 7), (65536, 65536), (0, 9), (i32::MAX, -1)];

fn oracle(&(l, r): &(i32, i32)) -> Result<i32, Status> {
    l.checked_mul(r).ok_or(Status::InvalidArgument)
}

#[test]
fn a_right_method_passes_check_handler() {
    check_handler(multiply, "Multiply", INPUTS, oracle);
}

#[test]
fn a_method_that_is_always_wrong_fails_both_properties_naming_the_call() {
    let wrapping = |s: &mut Server| {
        s.register("Multiply", |(l, r): (i32, i32)| Ok(l.wrapping_mul(r)));
    };
    let f = handler_failures(wrapping, "Multiply", INPUTS, oracle);
    let properties: Vec<&str> = f.iter().map(|f| f.property).collect();
    assert_eq!(
        properties,
        [
            "every answer matches the oracle",
            "every answer matches the oracle under concurrent calls"
        ],
        "{f:?}"
    );
    assert!(
        f[0].message
            .contains("Multiply((65536, 65536)) returned 0, expected an error INVALID_ARGUMENT"),
        "{f:?}"
    );
}

/// An echo that keeps its argument in one slot shared by every call, and
/// reads it back once another call has had the chance to overwrite it: right
/// for one caller at a time, wrong as soon as two overlap.
struct SharedSlot {
    slot: Mutex<(u32, u64)>,
    changed: Condvar,
}

#[test]
fn a_method_that_shares_state_between_calls_fails_only_under_concurrency() {
    let register = |s: &mut Server| {
        let shared = std::sync::Arc::new(SharedSlot {
            slot: Mutex::new((0, 0)),
            changed: Condvar::new(),
        });
        s.register("Echo", move |x: u32| {
            let mut g = shared.slot.lock().unwrap();
            g.0 = x;
            g.1 += 1;
            let mine = g.1;
            shared.changed.notify_all();
            // Wait (bounded) for another call to write the slot.
            let end = Instant::now() + PATIENCE / 10;
            while g.1 == mine {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                g = shared.changed.wait_timeout(g, left).unwrap().0;
            }
            Ok(g.0)
        });
    };
    let inputs: Vec<u32> = (1..=6).collect();
    let f = handler_failures(register, "Echo", &inputs, |&x| Ok(x));
    let properties: Vec<&str> = f.iter().map(|f| f.property).collect();
    assert_eq!(
        properties,
        ["every answer matches the oracle under concurrent calls"],
        "{f:?}"
    );
    assert!(f[0].message.contains("Echo("), "{f:?}");
}

#[test]
fn a_registration_that_panics_is_reported_not_propagated() {
    let twice = |s: &mut Server| {
        multiply(s);
        multiply(s);
    };
    let f = handler_failures(twice, "Multiply", INPUTS, oracle);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].property, "the server starts");
    assert!(f[0].message.contains("registered twice"), "{f:?}");
}

#[test]
#[should_panic(expected = "under concurrent calls")]
fn check_handler_panics_naming_the_broken_property() {
    // Right for the first call of each caller, wrong for the rest.
    let register = |s: &mut Server| {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        s.register("Multiply", move |(l, r): (i32, i32)| {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(if n < 5 { l.wrapping_mul(r) } else { 0 })
        });
    };
    let ok = [(2, 3), (4, 5), (6, 7), (8, 9), (1, 1)];
    check_handler(register, "Multiply", &ok, |&(l, r)| {
        Ok::<i32, Status>(l * r)
    });
}
