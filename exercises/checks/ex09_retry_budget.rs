//! The check of ex09_retry_budget: the exact counts on one thread, then no
//! token lost or made between threads.

use crate::exercises::ex09_retry_budget::RetryBudget;
use crate::exercises::{broke, unfinished};

const NAME: &str = "ex09_retry_budget";

/// What the starting point fails with.
pub const UNFINISHED: &str =
    "try_retry() still always says yes (100 retries in a row on a budget of 3 tokens)";

fn granted(b: &RetryBudget, tries: usize) -> usize {
    (0..tries).filter(|_| b.try_retry()).count()
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let b = RetryBudget::new(10, 3);
    match granted(&b, 100) {
        3 => {}
        100 => return Err(unfinished(NAME, UNFINISHED)),
        n => {
            return Err(broke(
                NAME,
                format!("a new RetryBudget::new(10, 3) allowed {n} retries, expected 3"),
            ))
        }
    }
    for _ in 0..25 {
        b.on_request();
    }
    let n = granted(&b, 10);
    if n != 2 {
        return Err(broke(
            NAME,
            format!("after 25 calls at 10% (2.5 tokens), {n} retries were allowed, expected 2"),
        ));
    }
    for _ in 0..5 {
        b.on_request();
    }
    let n = granted(&b, 10);
    if n != 1 {
        return Err(broke(
            NAME,
            format!("5 more calls made the half token whole; {n} retries were allowed, expected 1"),
        ));
    }
    for _ in 0..10_000 {
        b.on_request();
    }
    let n = granted(&b, 100);
    if n != 3 {
        return Err(broke(NAME, format!("after 10,000 calls, {n} retries were allowed; the balance never grows past max_tokens (3)")));
    }
    // Four threads earn 4 × 1000 × 10 hundredths = 400 tokens on an empty
    // budget, and spend as they go; what they and a final drain get must
    // add up to exactly 400.
    let b = RetryBudget::new(10, 1000);
    let start = granted(&b, 1000);
    if start != 1000 {
        return Err(broke(
            NAME,
            format!("a budget of 1000 tokens allowed {start} retries, expected 1000"),
        ));
    }
    let during: usize = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..1000)
                        .filter(|_| {
                            b.on_request();
                            b.try_retry()
                        })
                        .count()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or(0)).sum()
    });
    let after = granted(&b, 1000);
    if during + after != 400 {
        return Err(broke(NAME, format!("4 threads earned 400 tokens but {during} retries went during and {after} after: the budget lost or made tokens between threads")));
    }
    Ok(())
}
