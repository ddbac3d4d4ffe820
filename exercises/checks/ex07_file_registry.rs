//! The check of ex07_file_registry: `check_registry`, then a restart on
//! the same file.

use crate::exercises::ex07_file_registry::FileRegistry;
use crate::exercises::{broke, unfinished};
use minirpc::discovery::{Instance, Registry};
use minirpc::testkit::{registry_failures, Time};
use minirpc::time::ManualClock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const NAME: &str = "ex07_file_registry";

/// What a restart must keep of an instance: address, weight, metadata.
type Kept = (SocketAddr, u32, Vec<(String, String)>);

/// What the starting point fails with.
pub const UNFINISHED: &str = "a FileRegistry opened on the same file does not list what the first one registered; write each registration to the file and read them back in open()";

/// Run the check.
pub fn check() -> Result<(), String> {
    let files = Mutex::new(Vec::new());
    let outcome = run(&files);
    for f in files.into_inner().unwrap_or_else(|p| p.into_inner()) {
        let _ = std::fs::remove_file(f);
    }
    outcome
}

fn run(files: &Mutex<Vec<PathBuf>>) -> Result<(), String> {
    let fresh = || {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("minirpc-{NAME}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(p.clone());
        p
    };
    let clock = ManualClock::new();
    let c = clock.clone();
    let make = || -> Box<dyn Registry> {
        match FileRegistry::open(&fresh(), c.clone()) {
            Ok(r) => Box::new(r),
            Err(e) => panic!("FileRegistry::open on a new file failed: {e}"),
        }
    };
    if let Some(f) = registry_failures(make, &Time::Manual(clock.clone())).first() {
        return Err(broke(NAME, f));
    }
    let path = fresh();
    let open = || {
        FileRegistry::open(&path, clock.clone())
            .map_err(|e| broke(NAME, format!("open failed: {e}")))
    };
    let addr = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let a = Instance::new("Files", addr(7001))
        .group("g")
        .weight(7)
        .meta("zone", "z1");
    let b = Instance::new("Files", addr(7002)).group("g");
    let ttl = Duration::from_secs(10);
    let first = open()?;
    first
        .register(&a, ttl)
        .map_err(|e| broke(NAME, e))?
        .abandon();
    let held = first.register(&b, ttl).map_err(|e| broke(NAME, e))?;
    drop(first);
    let listed = |r: &FileRegistry| -> Result<Vec<Kept>, String> {
        let list = r.lookup("Files", "g", "*").map_err(|e| broke(NAME, e))?;
        Ok(list
            .iter()
            .map(|i| (i.addr, i.weight, i.metadata.clone().into_iter().collect()))
            .collect())
    };
    let both = vec![
        (a.addr, 7, vec![("zone".to_string(), "z1".to_string())]),
        (b.addr, 100, vec![]),
    ];
    let second = open()?;
    let got = listed(&second)?;
    if got.is_empty() {
        return Err(unfinished(NAME, UNFINISHED));
    }
    if got != both {
        return Err(broke(NAME, format!("after a restart, lookup lists {got:?}, expected {both:?} (address, weight, metadata)")));
    }
    held.deregister().map_err(|e| broke(NAME, e))?;
    drop(second);
    let third = open()?;
    let got = listed(&third)?;
    if got != both[..1] {
        return Err(broke(
            NAME,
            format!(
                "b was deregistered, but after a restart lookup lists {got:?}, expected only a"
            ),
        ));
    }
    Ok(())
}
