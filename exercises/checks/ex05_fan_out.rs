//! The check of ex05_fan_out: the server holds each call until all of them
//! are in, and answers in the reverse order they came.

use crate::exercises::ex05_fan_out::multiply_all;
use crate::exercises::{broke, unfinished};
use minirpc::testkit::PATIENCE;
use minirpc::{Client, Server};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const NAME: &str = "ex05_fan_out";

/// What the starting point fails with.
pub const UNFINISHED: &str = "multiply_all() made its calls one at a time (the server never saw two at once); send them all with call_async, then wait for each";

/// Calls arrived, the most in the handler at once, and whether a wait
/// has already given up.
#[derive(Default)]
struct Seen {
    arrived: usize,
    inside: usize,
    most: usize,
    gave_up: bool,
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let pairs: Vec<(i32, i32)> = (1..=8).map(|i| (i, 10 * i)).collect();
    let n = pairs.len();
    let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
    let mut server = Server::builder().inline_max(Duration::ZERO).build();
    let s = Arc::clone(&seen);
    server.register("Multiply", move |(l, r): (i32, i32)| {
        let (lock, cv) = &*s;
        let mut g = lock.lock().unwrap_or_else(|p| p.into_inner());
        g.arrived += 1;
        g.inside += 1;
        g.most = g.most.max(g.inside);
        let me = g.arrived;
        cv.notify_all();
        // Wait for every call (one wait at most gives up), then leave
        // last-come first.
        let end = Instant::now() + PATIENCE * 2;
        while !g.gave_up && (g.arrived < n || g.inside > me) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                g.gave_up = true;
                break;
            }
            g = cv
                .wait_timeout(g, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        g.inside -= 1;
        cv.notify_all();
        Ok(l * r)
    });
    let handle = server.serve("127.0.0.1:0").map_err(|e| broke(NAME, e))?;
    let client = Client::builder()
        .call_timeout(PATIENCE * 4)
        .connect(handle.local_addr())
        .map_err(|e| broke(NAME, e))?;
    let got = multiply_all(&client, &pairs);
    handle.shutdown();
    let most = seen.0.lock().unwrap_or_else(|p| p.into_inner()).most;
    for (p, r) in pairs.iter().zip(&got) {
        if r.as_ref().ok() != Some(&(p.0 * p.1)) {
            return Err(broke(NAME, format!("Multiply({p:?}) gave {r:?}")));
        }
    }
    if got.len() != n {
        return Err(broke(NAME, format!("{} results for {n} pairs", got.len())));
    }
    match most {
        1 => Err(unfinished(NAME, UNFINISHED)),
        m if m == n => Ok(()),
        m => Err(broke(NAME, format!("the server saw at most {m} of the {n} calls at once; send every call before waiting for any"))),
    }
}
