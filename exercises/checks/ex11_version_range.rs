//! The check of ex11_version_range: a table of cases, then the rule used
//! to filter what a registry lists.

use crate::exercises::ex11_version_range::accepts;
use crate::exercises::{broke, unfinished};
use minirpc::discovery::{Instance, MemoryRegistry, Registry};
use std::net::SocketAddr;
use std::time::Duration;

const NAME: &str = "ex11_version_range";

/// What the starting point fails with.
pub const UNFINISHED: &str = "\"1.*\" does not accept \"1.4.2\" yet; a wanted version ending in \".*\" accepts every version with that prefix";

const CASES: &[(&str, &str, bool)] = &[
    ("*", "3.1.4", true),
    ("1.0.0", "1.0.0", true),
    ("1.0.0", "1.0.1", false),
    ("1.*", "1.0.0", true),
    ("1.*", "1.4.2", true),
    ("1.*", "10.0.0", false),
    ("1.*", "2.0.0", false),
    ("1.*", "1", false),
    ("1.2.*", "1.2.9", true),
    ("1.2.*", "1.20.0", false),
    ("1.2.*", "1.3.0", false),
    ("2.0.*", "2.0.0-rc1", true),
];

/// Run the check.
pub fn check() -> Result<(), String> {
    if !accepts("1.*", "1.4.2") && accepts("1.0.0", "1.0.0") {
        return Err(unfinished(NAME, UNFINISHED));
    }
    for &(wanted, have, want) in CASES {
        if accepts(wanted, have) != want {
            return Err(broke(
                NAME,
                format!("accepts({wanted:?}, {have:?}) = {}, expected {want}", !want),
            ));
        }
    }
    // The rule on top of a registry: list "*", keep what "1.*" accepts.
    let reg = MemoryRegistry::new();
    let versions = ["1.0.0", "1.9.3", "2.0.0", "10.1.0"];
    let held: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let addr = SocketAddr::from(([127, 0, 0, 1], 7001 + i as u16));
            reg.register(
                &Instance::new("Versions", addr).version(v),
                Duration::from_secs(30),
            )
        })
        .collect::<Result<_, _>>()
        .map_err(|e| broke(NAME, e))?;
    let kept: Vec<String> = reg
        .lookup("Versions", "default", "*")
        .map_err(|e| broke(NAME, e))?
        .into_iter()
        .filter(|i| accepts("1.*", &i.version))
        .map(|i| i.version)
        .collect();
    drop(held);
    if kept != ["1.0.0", "1.9.3"] {
        return Err(broke(NAME, format!("of the versions {versions:?}, \"1.*\" kept {kept:?}, expected [\"1.0.0\", \"1.9.3\"]")));
    }
    Ok(())
}
