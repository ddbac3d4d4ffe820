//! Adaptive balancing (自适应负载): the power of two choices over a load
//! score learned from the calls themselves.
//!
//! Article: 原理 › 负载均衡 (3、自适应负载: weights computed from TPS and
//! utilisation). The one idea to take away: **comparing two random
//! instances is almost as good as comparing all of them, and far
//! cheaper**. Always sending to the least loaded of all n instances needs
//! a view of all n, and every caller that shares that view stampedes to
//! the same "best" instance at once. Picking two at random and sending to
//! the less loaded of the two is O(1), herds much less, and already gets
//! most of the benefit: when n calls go to n instances, the busiest gets
//! about log n / log log n of them with one random choice, and only about
//! log log n with the better of two (Mitzenmacher, "The Power of Two
//! Choices in Randomized Load Balancing").
//!
//! The load score is what this consumer has seen of each instance:
//!
//! ```text
//!  score = latency × (calls in flight + 1) / weight
//!
//!  latency     a moving average of its answers: each answer moves it a
//!              quarter of the way (25 ms, 25 ms, then 125 ms → 50 ms);
//!              a failure counts as at least `failure_penalty`
//!  in flight   calls sent and not yet answered: the instant signal,
//!              it rises the moment an instance slows down
//!
//!  pick: a = random, b = random ≠ a  →  the lower score wins
//!        a: 40 ms, none in flight → 40 × 1 = 40
//!        b: 10 ms, 2 in flight    → 10 × 3 = 30   →  b
//! ```
//!
//! One trap, and its way out: an instance that loses every comparison is
//! never called again, so its score never improves, even after it has
//! recovered. So an instance that has not been picked for `stale_after`
//! (2 s by default) wins the next comparison it is drawn in, once: a
//! probe. The answer to a probe replaces the old average instead of being
//! blended with it, so one good answer brings a recovered instance back,
//! and one slow answer keeps a still-slow one out for another
//! `stale_after`.

use super::{Balancer, Candidates, Outcome, Rng};
use crate::discovery::Instance;
use crate::sync::lock;
use crate::time::{Clock, SystemClock};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Power of two choices over latency and calls in flight.
///
/// **Property:** of two candidates drawn at random, the call goes to the
/// one with the lower score, latency × (calls in flight + 1) / weight, so
/// an instance that answers slowly, or has calls piling up, gets fewer
/// calls within a few answers. An instance not picked for
/// [`stale_after`](Adaptive::stale_after) is tried again the next time it
/// is drawn, once, so a recovered instance is not starved; the answer to
/// that call replaces its old average.
///
/// **Cost per pick:** O(1): two random draws and two map lookups under one
/// lock (a walk over the list only when it holds a zero weight).
///
/// **Time** comes from a [`Clock`], so a test steps a `ManualClock`
/// instead of sleeping (see `tests/balance.rs`).
///
/// **Elsewhere:** Dubbo's `adaptive` (`AdaptiveLoadBalance`, Dubbo 3) is
/// the power of two choices too, over a load computed from the provider's
/// CPU load, a latency EWMA, calls in flight and the success rate; it
/// forces a pick of an instance not picked for twice the call's timeout.
/// Dubbo's `shortestresponse` compares *all* providers by average latency
/// × (calls in flight + 1) over a 30 s window, and `leastactive` by calls
/// in flight alone. Finagle's `p2cPeakEwma` is the power of two choices
/// over a peak-sensitive latency EWMA × (pending + 1), the same shape as
/// here. gRPC's `least_request` (gRFC A48) draws two by default
/// (`choice_count`) and compares calls in flight only. rpcx has no such
/// mode (its `WeightedICMP` weights by ping time).
pub struct Adaptive {
    clock: Arc<dyn Clock>,
    rng: Rng,
    stale_after: Duration,
    failure_penalty: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stats: HashMap<SocketAddr, Stats>,
    picks: u64,
}

/// What this consumer has seen of one instance.
#[derive(Clone, Copy, Debug)]
struct Stats {
    /// Moving average of latency, in nanoseconds; `None` before the first
    /// answer.
    latency: Option<f64>,
    /// When it last answered.
    observed_at: Instant,
    /// When it was last picked.
    picked_at: Instant,
    in_flight: u32,
    /// It was last picked as a probe (after `stale_after` without a
    /// pick): its next answer replaces the average.
    probed: bool,
}

/// How far each answer moves the average: a quarter of the way. Higher
/// reacts faster and forgets faster; a quarter lets one slow answer show
/// (it raises the average by a quarter of the difference) without letting
/// one outlier decide alone.
const SMOOTHING: f64 = 0.25;

/// The score of an instance that has calls in flight and has never
/// answered: worse than any measured one, so a new instance gets one call
/// and is not flooded before anyone knows how fast it is (Finagle does the
/// same).
const UNKNOWN_BUSY: f64 = 1e18;

/// Sweep forgotten instances every this many picks.
const SWEEP_EVERY: u64 = 1024;

impl Adaptive {
    /// A balancer reading time from `clock`, with `stale_after` 2 s and
    /// `failure_penalty` 1 s, seeded from the operating system.
    pub fn new(clock: Arc<dyn Clock>) -> Adaptive {
        Adaptive {
            clock,
            rng: Rng::from_entropy(),
            stale_after: Duration::from_secs(2),
            failure_penalty: Duration::from_secs(1),
            state: Mutex::new(State::default()),
        }
    }

    /// The same random draws every run, for tests.
    pub fn seed(mut self, seed: u64) -> Adaptive {
        self.rng = Rng::new(seed);
        self
    }

    /// An instance not picked for this long wins the next comparison it
    /// is drawn in (a probe), and the answer to that call replaces its
    /// average rather than being blended with it. Default 2 s (Dubbo's
    /// adaptive uses twice the call's timeout, 2 s at its default of 1 s).
    pub fn stale_after(mut self, d: Duration) -> Adaptive {
        self.stale_after = d;
        self
    }

    /// A failed call counts as an answer at least this slow. Default 1 s.
    /// Without it, an instance that fails fast (connection refused in
    /// microseconds) would look like the fastest of all and draw every
    /// call towards it.
    pub fn failure_penalty(mut self, d: Duration) -> Adaptive {
        self.failure_penalty = d;
        self
    }

    /// The moving average of `addr`'s latency, if it has answered.
    pub fn latency(&self, addr: SocketAddr) -> Option<Duration> {
        let st = lock(&self.state);
        let nanos = st.stats.get(&addr)?.latency?;
        Some(Duration::from_nanos(nanos as u64))
    }

    /// Calls to `addr` started and not yet finished.
    pub fn in_flight(&self, addr: SocketAddr) -> u32 {
        lock(&self.state)
            .stats
            .get(&addr)
            .map_or(0, |s| s.in_flight)
    }

    /// Two different candidates, uniformly among all pairs; or one when
    /// there is only one.
    fn draw(&self, instances: &[Instance]) -> Option<(usize, Option<usize>)> {
        let n = instances.len() as u64;
        if n >= 2 {
            // The common case: no zero weights, so draw straight from the
            // list. (On a zero weight, redraw among the candidates below;
            // every pair of candidates stays equally likely.)
            let (a, b) = self.two_below(n);
            if instances[a].weight > 0 && instances[b].weight > 0 {
                return Some((a, Some(b)));
            }
        }
        let c = Candidates::of(instances);
        match c.len() {
            0 => None,
            1 => Some((c.index(0), None)),
            m => {
                let (a, b) = self.two_below(m as u64);
                Some((c.index(a), Some(c.index(b))))
            }
        }
    }

    /// Two different numbers below `n` (`n >= 2`).
    fn two_below(&self, n: u64) -> (usize, usize) {
        let a = self.rng.below(n);
        let mut b = self.rng.below(n - 1);
        if b >= a {
            b += 1;
        }
        (a as usize, b as usize)
    }

    fn score(s: &Stats, weight: u64) -> f64 {
        let busy = f64::from(s.in_flight) + 1.0;
        match s.latency {
            None if s.in_flight == 0 => 0.0,
            None => UNKNOWN_BUSY * busy,
            Some(latency) => latency * busy / weight.max(1) as f64,
        }
    }

    fn idle(&self, s: &Stats, now: Instant) -> bool {
        now.saturating_duration_since(s.picked_at) >= self.stale_after
    }

    /// Forget instances nobody has picked or heard from for a long time
    /// (they left the list; if one comes back, it starts afresh).
    fn sweep(&self, st: &mut State, now: Instant) {
        let forget = self
            .stale_after
            .saturating_mul(10)
            .max(Duration::from_secs(60));
        st.stats.retain(|_, s| {
            let last = s.picked_at.max(s.observed_at);
            s.in_flight > 0 || now.saturating_duration_since(last) < forget
        });
    }
}

impl Default for Adaptive {
    /// On the system clock.
    fn default() -> Adaptive {
        Adaptive::new(Arc::new(SystemClock))
    }
}

impl State {
    fn stats(&mut self, addr: SocketAddr, now: Instant) -> &mut Stats {
        self.stats.entry(addr).or_insert(Stats {
            latency: None,
            observed_at: now,
            picked_at: now,
            in_flight: 0,
            probed: false,
        })
    }
}

impl Balancer for Adaptive {
    fn pick(&self, instances: &[Instance], _key: Option<&[u8]>) -> Option<usize> {
        let (a, b) = self.draw(instances)?;
        let now = self.clock.now();
        let mut st = lock(&self.state);
        st.picks += 1;
        if st.picks.is_multiple_of(SWEEP_EVERY) {
            self.sweep(&mut st, now);
        }
        let (chosen, probe) = match b {
            None => (a, false),
            Some(b) => {
                let weight = |i: usize| u64::from(instances[i].weight);
                let sa = *st.stats(instances[a].addr, now);
                let sb = *st.stats(instances[b].addr, now);
                match (self.idle(&sa, now), self.idle(&sb, now)) {
                    // Not picked for a while: probe it (the one left alone
                    // longer, if both were).
                    (true, true) if sb.picked_at < sa.picked_at => (b, true),
                    (true, _) => (a, true),
                    (false, true) => (b, true),
                    (false, false) => {
                        let (la, lb) = (Self::score(&sa, weight(a)), Self::score(&sb, weight(b)));
                        let a_wins = la < lb || (la == lb && self.rng.below(2) == 0);
                        (if a_wins { a } else { b }, false)
                    }
                }
            }
        };
        let s = st.stats(instances[chosen].addr, now);
        s.picked_at = now;
        s.probed |= probe;
        Some(chosen)
    }

    fn started(&self, addr: SocketAddr) {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        let s = st.stats(addr, now);
        s.in_flight = s.in_flight.saturating_add(1);
    }

    fn finished(&self, addr: SocketAddr, outcome: Outcome) {
        let now = self.clock.now();
        let sample = if outcome.ok {
            outcome.latency
        } else {
            outcome.latency.max(self.failure_penalty)
        };
        let sample = sample.as_nanos() as f64;
        let mut st = lock(&self.state);
        let s = st.stats(addr, now);
        s.in_flight = s.in_flight.saturating_sub(1);
        s.latency = Some(match s.latency {
            Some(average) if !s.probed => average + SMOOTHING * (sample - average),
            // The first answer, or the answer to a probe: an old average
            // says nothing about the instance now.
            _ => sample,
        });
        s.probed = false;
        s.observed_at = now;
    }

    fn name(&self) -> &'static str {
        "adaptive"
    }
}

impl fmt::Debug for Adaptive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Adaptive")
            .field("stale_after", &self.stale_after)
            .field("failure_penalty", &self.failure_penalty)
            .field("instances", &lock(&self.state).stats.len())
            .finish()
    }
}
