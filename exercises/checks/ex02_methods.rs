//! The check of ex02_methods: `"$methods"` lists every call id, itself
//! included, sorted.

use crate::exercises::ex02_methods::add_listing;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::handler_failures;
use minirpc::Server;

const NAME: &str = "ex02_methods";

/// What the starting point fails with.
pub const UNFINISHED: &str = "\"$methods\" still answers an empty list; answer the server's call ids, sorted, \"$methods\" included";

/// Run the check.
pub fn check() -> Result<(), String> {
    let register = |s: &mut Server| {
        s.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
        s.register("Arith.add", |(l, r): (i32, i32)| Ok(l + r));
        add_listing(s);
    };
    let want: Vec<String> = ["$methods", "Arith.add", "Multiply"]
        .map(String::from)
        .to_vec();
    let failures = handler_failures(register, "$methods", &[()], |_| Ok(want.clone()));
    match failures.first() {
        None => Ok(()),
        Some(f) if f.message.contains("returned [],") => Err(unfinished(NAME, UNFINISHED)),
        Some(f) => Err(broke(NAME, f)),
    }
}
