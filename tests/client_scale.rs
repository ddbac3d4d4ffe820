//! The cost of a call does not grow with the number of calls in flight.
//!
//! Whoever reads a response must find its caller, decide who reads next
//! and know the next deadline. Done by walking the pending table, each of
//! those costs as much as there are outstanding calls, and a burst of `n`
//! futures costs `n²`. The table keeps indexes instead (`table.rs`), so
//! `n` futures cost about `n` times one.
//!
//! The bound below is many times what the work takes (a couple of seconds
//! unoptimised on a small machine): it fails only if the cost is
//! quadratic, which takes minutes at this size.

mod client_fakes;

use client_fakes::{echo, Peer};
use minirpc::{Client, Pending};
use std::time::{Duration, Instant};

const FUTURES: u64 = 200_000;
const BOUND: Duration = Duration::from_secs(30);

#[test]
fn two_hundred_thousand_outstanding_futures_are_sent_and_collected_in_linear_time() {
    let peer = Peer::start(echo);
    let client = Client::builder()
        .heartbeat(None)
        .call_timeout(BOUND * 2)
        .connect(peer.addr())
        .unwrap();
    let t0 = Instant::now();
    // All in flight (or answered and not yet collected) at once...
    let pending: Vec<Pending<u64>> = (0..FUTURES)
        .map(|i| client.call_async("Echo", &i))
        .collect();
    assert!(client.in_flight() > 0);
    // ...then collected one by one, each wait passing the reading on.
    for (i, p) in (0..FUTURES).zip(pending) {
        assert_eq!(p.wait(), Ok(i));
        assert!(
            t0.elapsed() < BOUND,
            "only {i} of {FUTURES} collected within {BOUND:?}"
        );
    }
    assert_eq!(client.in_flight(), 0);
}
