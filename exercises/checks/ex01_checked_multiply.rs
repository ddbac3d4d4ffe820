//! The check of ex01_checked_multiply: `Multiply` refuses a product that
//! does not fit, for many callers at once.

use crate::exercises::ex01_checked_multiply::register;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::handler_failures;
use minirpc::Status;

const NAME: &str = "ex01_checked_multiply";

/// What the starting point fails with.
pub const UNFINISHED: &str = "Multiply((65536, 65536)) still answers 0 (the product wrapped around); answer INVALID_ARGUMENT when the product does not fit an i32";

const INPUTS: &[(i32, i32)] = &[
    (65536, 65536),
    (10, 20),
    (-3, 7),
    (i32::MAX, 1),
    (i32::MAX, 2),
    (i32::MIN, -1),
    (46341, 46341),
    (46340, 46340),
];

/// Run the check.
pub fn check() -> Result<(), String> {
    let oracle = |&(l, r): &(i32, i32)| l.checked_mul(r).ok_or(Status::InvalidArgument);
    let failures = handler_failures(register, "Multiply", INPUTS, oracle);
    match failures.first() {
        None => Ok(()),
        Some(f) if f.message.contains("Multiply((65536, 65536)) returned 0,") => {
            Err(unfinished(NAME, UNFINISHED))
        }
        Some(f) => Err(broke(NAME, f)),
    }
}
