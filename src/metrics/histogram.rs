//! A latency histogram with log-linear buckets: fixed memory, one atomic
//! add per value, mergeable by adding buckets.
//!
//! Article: 框架 › 对比 (管理中心), 特点 › 优点 ("rich monitoring and
//! management"). The one idea to take away: **a percentile needs no list
//! of samples**, only counts in buckets whose width grows with the value,
//! so the *relative* error is the same for a 2 µs call and a 2 s one. This
//! is the idea of HdrHistogram (Gil Tene) and of Prometheus' native
//! histograms, cut down to what one page can hold.
//!
//! ```text
//!  value (ns)  0 1 .. 15 | 16 18 20 .. 30 | 32 36 40 .. 60 | 64 72 .. 120 | 128 ...
//!  bucket      0 1 .. 15 | 16 17 18 .. 23 | 24 25 26 .. 31 | 32 33 .. 39  | 40  ...
//!              exact     | width 2        | width 4        | width 8      |
//!                          └─ each power of two [2^e, 2^(e+1)): 8 buckets ─┘
//! ```
//!
//! With `SUB_BITS = 4`, the values from `2^e` to `2^(e+1)` share eight
//! buckets of width `2^(e-3)`, an eighth of the power of two; the buckets
//! below `16` hold one value each. Recording a value is one
//! `leading_zeros`, a shift and one atomic add: no lock, no allocation.
//! [`BUCKETS`] counters cover 0 to `2^42` ns, about 2.5 KiB per histogram
//! whatever the traffic.
//!
//! # The error bound
//!
//! [`HistogramSnapshot::quantile`] reports the middle of the bucket that
//! holds the quantile's sample. That sample is at least the bucket's lower
//! edge `2^e`, and the bucket is `2^(e-3)` wide, so the reported value is
//! within half a width, `2^(e-4)`: **at most 1/16 (6.25 %) of the true
//! value** ([`RELATIVE_ERROR`]), and exact below 16 ns. Values from
//! `2^42` ns (about 73 minutes) up are counted in the last bucket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bits of the value kept below its leading one: the values from `2^e` to
/// `2^(e+1)` get `2^(SUB_BITS - 1)` buckets.
const SUB_BITS: u32 = 4;
/// Values below this are exact, one bucket each.
const LINEAR: u64 = 1 << SUB_BITS;
/// Buckets per power of two above the linear range.
const PER_POWER: u64 = LINEAR / 2;
/// The highest power of two with buckets of its own (2^41 ns, about 37 minutes).
const MAX_EXP: u32 = 41;
/// How many buckets a histogram has.
pub const BUCKETS: usize = (LINEAR + (MAX_EXP - SUB_BITS + 1) as u64 * PER_POWER) as usize;
/// The largest error of a reported quantile, as a fraction of the true
/// value (see the module docs for why).
pub const RELATIVE_ERROR: f64 = 0.0625;

/// The bucket that counts `v`.
fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = (63 - v.leading_zeros()).min(MAX_EXP);
    if e == MAX_EXP && v >= 1 << (MAX_EXP + 1) {
        return BUCKETS - 1;
    }
    // The SUB_BITS - 1 bits after the leading one pick the sub-bucket.
    let sub = (v >> (e - (SUB_BITS - 1))) & (PER_POWER - 1);
    (LINEAR + (e - SUB_BITS) as u64 * PER_POWER + sub) as usize
}

/// The smallest value bucket `i` counts, and its width.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < LINEAR {
        return (i, 1);
    }
    let e = (i - LINEAR) / PER_POWER + SUB_BITS as u64;
    let sub = (i - LINEAR) % PER_POWER;
    let width = 1u64 << (e - (SUB_BITS as u64 - 1));
    ((1u64 << e) + sub * width, width)
}

/// The live histogram, shared by the threads that record into it.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    /// Sum of all values, for the mean (wraps after 584 years of latency).
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram ([`BUCKETS`] counters).
    pub fn new() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Count one value, in nanoseconds.
    pub fn record(&self, nanos: u64) {
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Count one duration.
    pub fn record_duration(&self, d: Duration) {
        self.record(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The counts as they are now. Values recorded while the copy is being
    /// made may or may not be in it (each bucket is read once).
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a histogram's counts: plain numbers to compute percentiles
/// from, merge with others, or render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: Vec<u64>,
    sum: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: vec![0; BUCKETS],
            sum: 0,
        }
    }
}

impl HistogramSnapshot {
    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The mean value in nanoseconds (exact: the sum is kept), or `None`
    /// if empty.
    pub fn mean_nanos(&self) -> Option<u64> {
        let n = self.count();
        (n > 0).then(|| self.sum / n)
    }

    /// The `q`-quantile (`0.5` for the median, `0.99` for p99) in
    /// nanoseconds, within [`RELATIVE_ERROR`] of the true one; `None` if
    /// empty. `q` is clamped to `0.0..=1.0`.
    pub fn quantile_nanos(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // The rank of the sample wanted, 1-based: the smallest sample with
        // at least q·n samples at or below it.
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bucket_range(i);
                return Some(low + width / 2);
            }
        }
        None
    }

    /// [`quantile_nanos`](Self::quantile_nanos) as a `Duration`.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.quantile_nanos(q).map(Duration::from_nanos)
    }

    /// Add `other`'s counts to these: the histogram of both sets of values,
    /// exactly as if they had been recorded into one (the buckets are the
    /// same everywhere, so a sum of buckets loses nothing).
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// The non-empty buckets, as (lowest value, width, count), for drawing.
    pub fn nonempty_buckets(&self) -> Vec<(u64, u64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| {
                let (low, width) = bucket_range(i);
                (low, width, c)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_values_without_gaps_or_overlaps() {
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (low, width) = bucket_range(i);
            assert_eq!(low, next, "bucket {i} starts where {} ended", i.max(1) - 1);
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(low + width - 1), i);
            next = low + width;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn every_bucket_is_narrow_enough_for_the_stated_error() {
        for i in LINEAR as usize..BUCKETS {
            let (low, width) = bucket_range(i);
            // Reported: low + width/2; worst true value: low (or low+width-1).
            let half = (width / 2) as f64;
            assert!(half / low as f64 <= RELATIVE_ERROR, "bucket {i}");
        }
    }

    #[test]
    fn small_values_are_exact() {
        let h = Histogram::new();
        for v in [0, 3, 15] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.quantile_nanos(0.0), Some(0));
        assert_eq!(s.quantile_nanos(0.5), Some(3));
        assert_eq!(s.quantile_nanos(1.0), Some(15));
        assert_eq!(s.mean_nanos(), Some(6));
    }

    #[test]
    fn an_empty_histogram_has_no_quantiles() {
        let s = Histogram::new().snapshot();
        assert_eq!(
            (s.count(), s.quantile_nanos(0.5), s.mean_nanos()),
            (0, None, None)
        );
    }
}
