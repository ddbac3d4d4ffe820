//! The check of ex12_replay_cache: fabricated times, never a clock. A
//! replay within the window, both edges of the window, a full cache that
//! refuses and then makes room as time passes, and 5,000 random requests
//! compared one by one with a plain model of the rules.

use crate::exercises::ex12_replay_cache::ReplayCache;
use crate::exercises::{broke, unfinished};
use minirpc::balance::Rng;

const NAME: &str = "ex12_replay_cache";

/// What the starting point fails with.
pub const UNFINISHED: &str = "admit() still says yes to every nonce (the same nonce twice in one second was admitted both times); remember each admitted nonce until its timestamp leaves the window";

const T: u64 = 1_700_000_000;

/// The rules of the exercise, written as plainly as possible: a list of
/// (nonce, timestamp), scanned in full on every call.
struct Model {
    capacity: usize,
    window: u64,
    kept: Vec<(String, u64)>,
}

impl Model {
    fn admit(&mut self, nonce: &str, ts: u64, now: u64) -> bool {
        let w = self.window;
        self.kept.retain(|&(_, t)| t + w >= now);
        let ok = ts + w >= now
            && ts <= now + w
            && !self.kept.iter().any(|(n, _)| n == nonce)
            && self.kept.len() < self.capacity;
        if ok {
            self.kept.push((nonce.to_owned(), ts));
        }
        ok
    }
}

/// `admit` must give `want`; say what the request was if it does not.
fn expect(
    c: &mut ReplayCache,
    nonce: &str,
    ts: u64,
    now: u64,
    want: bool,
    why: &str,
) -> Result<(), String> {
    let got = c.admit(nonce, ts, now);
    if got == want {
        return Ok(());
    }
    Err(broke(
        NAME,
        format!(
        "admit({nonce:?}, ts = T{:+}, now = T{:+}) gave {got}, expected {want}: {why} (T = {T})",
        ts as i64 - T as i64,
        now as i64 - T as i64
    ),
    ))
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let mut c = ReplayCache::new(4, 300);
    if !c.admit("n1", T, T) {
        return Err(broke(NAME, "admit(\"n1\", T, T) on an empty cache gave false; a fresh nonce signed now is admitted"));
    }
    if c.admit("n1", T, T) {
        return Err(unfinished(NAME, UNFINISHED));
    }
    expect(
        &mut c,
        "n1",
        T,
        T + 300,
        false,
        "the same nonce, while its timestamp is still in the window, is a replay",
    )?;
    expect(
        &mut c,
        "n1",
        T + 5,
        T + 6,
        false,
        "a nonce already remembered is a replay whatever timestamp it now comes with",
    )?;
    expect(
        &mut c,
        "n2",
        T - 301,
        T,
        false,
        "a timestamp 301 s old is outside a window of 300 s",
    )?;
    expect(
        &mut c,
        "n3",
        T + 301,
        T,
        false,
        "a timestamp 301 s ahead is outside a window of 300 s",
    )?;
    expect(
        &mut c,
        "n4",
        T - 300,
        T,
        true,
        "the window includes its edges: 300 s old is still in",
    )?;
    expect(
        &mut c,
        "n5",
        T + 300,
        T,
        true,
        "the window includes its edges: 300 s ahead is still in",
    )?;

    // Full: refuse, never forget a nonce still in the window.
    let mut c = ReplayCache::new(2, 300);
    expect(&mut c, "a", T, T, true, "a fresh nonce")?;
    expect(
        &mut c,
        "b",
        T,
        T,
        true,
        "a fresh nonce, and there is room for two",
    )?;
    expect(
        &mut c,
        "c",
        T,
        T,
        false,
        "the cache is full of nonces still in the window: refuse rather than forget one",
    )?;
    for n in ["a", "b"] {
        expect(
            &mut c,
            n,
            T,
            T + 300,
            false,
            "a full cache refused a new nonce; the ones it holds must still be refused as replays",
        )?;
    }
    if c.len() > 2 {
        return Err(broke(
            NAME,
            format!("a cache of capacity 2 holds {} nonces", c.len()),
        ));
    }
    // One second later both have left the window: room again.
    expect(&mut c, "c", T + 301, T + 301, true, "the nonces signed at T left the window at T+301; the cache must have forgotten them and have room")?;
    if c.len() != 1 {
        return Err(broke(NAME, format!("after the nonces signed at T left the window and one new one came, len() is {}, expected 1 (forget what left the window)", c.len())));
    }

    random_against_the_model()
}

/// 5,000 requests with random nonces from a small pool (so replays are
/// common), timestamps around the clock (some outside the window), and a
/// clock that moves forward in small steps.
fn random_against_the_model() -> Result<(), String> {
    let (capacity, window) = (8, 10);
    let mut c = ReplayCache::new(capacity, window);
    let mut m = Model {
        capacity,
        window,
        kept: Vec::new(),
    };
    let rng = Rng::new(12);
    let mut now = T;
    for i in 0..5_000 {
        now += rng.next_u64() % 3;
        let ts = now + rng.next_u64() % 25 - 12;
        let nonce = format!("nonce-{}", rng.next_u64() % 24);
        let before = m.kept.clone();
        let want = m.admit(&nonce, ts, now);
        if c.admit(&nonce, ts, now) != want {
            return Err(broke(NAME, format!(
                "in a random sequence (capacity {capacity}, window {window} s), request {i}: admit({nonce:?}, ts = T{:+}, now = T{:+}) gave {}, expected {want}; the model remembered (nonce, ts - T) {:?} before it (T = {T})",
                ts as i64 - T as i64,
                now as i64 - T as i64,
                !want,
                before.iter().map(|(n, t)| (n.as_str(), *t as i64 - T as i64)).collect::<Vec<_>>()
            )));
        }
        if c.len() > capacity {
            return Err(broke(
                NAME,
                format!(
                    "after request {i} the cache holds {} nonces, over its capacity of {capacity}",
                    c.len()
                ),
            ));
        }
    }
    Ok(())
}
