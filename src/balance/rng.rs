//! A small seeded random number generator (xorshift64*), shared by the
//! balancers.
//!
//! Article: 原理 › 负载均衡 (随机负载 needs random numbers). The one idea to
//! take away: **randomness you can replay is a testing tool**. Seeded
//! with the same number, [`Rng`] gives the same sequence every run, so a
//! test of "random picks are spread evenly" checks one fixed sequence and
//! can never flake. Seeded from the operating system ([`Rng::from_entropy`]),
//! two processes make different choices, which is what production wants
//! (a thousand clients that all pick the same "random" provider first
//! would be a stampede).
//!
//! xorshift64* (Marsaglia's xorshift with Vigna's multiplication on the
//! output) is three shifts, three xors and a multiply: fast, good enough
//! for spreading calls, and **not** for anything secret.
//!
//! ```
//! use minirpc::balance::Rng;
//!
//! let (a, b) = (Rng::new(7), Rng::new(7));
//! let first: Vec<u64> = (0..3).map(|_| a.below(100)).collect();
//! let again: Vec<u64> = (0..3).map(|_| b.below(100)).collect();
//! assert_eq!(first, again, "same seed, same sequence");
//! assert!(first.iter().all(|&x| x < 100));
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A thread-safe xorshift64* generator.
///
/// The state is one `AtomicU64`, advanced with a compare-and-swap, so many
/// threads can draw from one generator without a lock and no two draws
/// ever see the same state. From one thread the sequence depends only on
/// the seed.
pub struct Rng {
    state: AtomicU64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed` (any value, 0 too).
    pub fn new(seed: u64) -> Rng {
        // splitmix64 spreads a small or patterned seed (0, 1, 2 …) over
        // all 64 bits; xorshift's only forbidden state is 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng {
            state: AtomicU64::new(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z }),
        }
    }

    /// A generator seeded differently in every process and every call.
    pub fn from_entropy() -> Rng {
        // `RandomState` is the standard library's source of per-process
        // random keys (for `HashMap`); hashing a counter with it gives a
        // fresh seed each time without any unsafe code or dependency.
        static CALLS: AtomicU64 = AtomicU64::new(0);
        let mut h = RandomState::new().build_hasher();
        h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
        Rng::new(h.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let previous = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        step(previous).wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    ///
    /// Multiply-and-keep-the-high-half instead of `% n`: the same cost,
    /// and it uses the high bits, which are the good ones. The bias is at
    /// most `n / 2^64`, far below anything a test could see.
    pub fn below(&self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

impl fmt::Debug for Rng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rng(xorshift64*)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let rng = Rng::new(1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[rng.below(10) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn seeds_give_different_sequences_and_entropy_differs_per_call() {
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
        assert_ne!(Rng::new(0).next_u64(), 0);
        assert_ne!(
            Rng::from_entropy().next_u64(),
            Rng::from_entropy().next_u64()
        );
    }
}
