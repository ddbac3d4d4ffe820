//! The article's four call modes (模式), side by side, measured.
//!
//! ```text
//! cargo run --example call_modes
//! ```
//!
//! A server whose `Slow.square` handler takes 50 ms. Ten calls made as
//! request-response take ten times 50 ms, because each waits before the next
//! starts. The same ten as futures or callbacks are all in flight at once on
//! the same connection, so they take about 50 ms in all. Oneway calls return
//! as soon as they are written; the server counts them.

use minirpc::{Client, Pending, RpcError, Server};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const CALLS: i64 = 10;
const WORK: Duration = Duration::from_millis(50);

fn main() -> Result<(), RpcError> {
    let logged = Arc::new(AtomicUsize::new(0));
    let mut server = Server::builder().workers(16).build();
    server.register("Slow.square", |x: i64| {
        std::thread::sleep(WORK);
        Ok(x * x)
    });
    let counter = Arc::clone(&logged);
    server.register("Log.append", move |_line: String| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let handle = server
        .serve("127.0.0.1:0")
        .map_err(|e| RpcError::from_io("serve", &e))?;
    let client = Client::connect(handle.local_addr())?;
    println!("{CALLS} calls to a handler that takes {WORK:?}, over one connection:\n");

    // 1. Request-response: each call waits for its answer.
    let t = Instant::now();
    let mut sum = 0;
    for x in 0..CALLS {
        sum += client.call::<_, i64>("Slow.square", &x)?;
    }
    report("request-response (RR)", t, sum);

    // 2. Future: send all ten, then collect.
    let t = Instant::now();
    let pending: Vec<Pending<i64>> = (0..CALLS)
        .map(|x| client.call_async("Slow.square", &x))
        .collect();
    let mut sum = 0;
    for p in pending {
        sum += p.wait()?;
    }
    report("future", t, sum);

    // 3. Callback: send all ten; each callback runs when its answer arrives.
    let t = Instant::now();
    let (tx, rx) = mpsc::channel();
    for x in 0..CALLS {
        let tx = tx.clone();
        client.call_with_callback("Slow.square", &x, move |r: Result<i64, RpcError>| {
            let _ = tx.send(r);
        });
    }
    let mut sum = 0;
    for _ in 0..CALLS {
        let r = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| RpcError::deadline_exceeded("a callback never ran"))?;
        sum += r?;
    }
    report("callback", t, sum);

    // 4. Oneway: no answer, no waiting.
    let burst = 1000;
    let t = Instant::now();
    for i in 0..burst {
        client.call_oneway("Log.append", &format!("line {i}"))?;
    }
    let sent = t.elapsed();
    // Nothing comes back, so we can only watch the server's counter.
    let deadline = Instant::now() + Duration::from_secs(10);
    while logged.load(Ordering::SeqCst) < burst && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "{:<24} {burst} calls written in {:>8.2?}; the server had run {} of them {:.2?} later",
        "oneway",
        sent,
        logged.load(Ordering::SeqCst),
        t.elapsed() - sent
    );
    println!("\nThe same mechanism under all four: a request id and the pending table (docs/05-call-modes.md).");
    handle.shutdown();
    Ok(())
}

fn report(mode: &str, start: Instant, sum: i64) {
    println!(
        "{mode:<24} {:>8.2?}   (sum of squares = {sum})",
        start.elapsed()
    );
}
