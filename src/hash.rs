//! A cheap hash for maps whose keys nobody chooses against us.
//!
//! Article: 本地调用VS远程调用 › Call ID映射 (every call looks its id up).
//! The one idea to take away: **a hash table's hash is a choice, made per
//! map, from who picks the keys**. Rust's standard `HashMap` hashes with
//! SipHash under a random key, so that a peer who picks many keys cannot
//! make them collide and turn every lookup into a scan (HashDoS). That
//! costs about 140 instructions per lookup of a short key, and a call
//! looked up one map or another about nine times. Where the *keys in the
//! map* are not a peer's, a plain hash is safe:
//!
//! | map | keys | who puts them in | hash |
//! |---|---|---|---|
//! | client's pending calls | request ids | the client, counting up | FNV |
//! | client's metrics | call ids | the program's own calls | FNV |
//! | server's call table | call ids | `register`, before `serve` | FNV |
//! | server's cancel flags | request ids | the peer | SipHash (standard) |
//!
//! A peer can still *look up* any key it likes in the call table, but a
//! lookup visits only the slots the table's own keys fill, so a chosen key
//! costs no more than any other. Inserting is what a chosen key attacks,
//! and the peer inserts nothing there. Measured by callgrind on one
//! Multiply call, client and server together: chapter 04, "Performance".

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed with [`Fnv`]: for keys the program chose itself.
pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// FNV-1a over the key's bytes, with a final mix. Not keyed, so not for
/// maps a peer fills (see the module docs).
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    #[inline]
    fn write_u64(&mut self, x: u64) {
        // A request id in one step instead of eight byte steps.
        self.0 = (self.0 ^ x).wrapping_mul(0x0000_0100_0000_01b3);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The table picks buckets by the low bits and tags by the high
        // ones: a last multiply-and-shift spreads the bytes into both.
        let x = self.0 ^ (self.0 >> 32);
        x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (x >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn counting_ids_spread_over_buckets_and_tags() {
        // hashbrown picks a bucket from the low bits and a 7-bit tag from
        // the top ones: sequential ids must vary in both.
        let hashes: Vec<u64> = (1..=4096u64)
            .map(|id| {
                let mut h = Fnv::default();
                h.write_u64(id);
                h.finish()
            })
            .collect();
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 4095).collect();
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(buckets.len() > 2500, "{} of 4096 buckets", buckets.len());
        assert_eq!(tags.len(), 128);
    }

    #[test]
    fn a_map_works_as_a_map() {
        let mut m: FnvMap<String, u32> = FnvMap::default();
        m.insert("Multiply".into(), 1);
        m.insert("Echo".into(), 2);
        assert_eq!(m.get("Multiply"), Some(&1));
        assert_eq!(m.get("Missing"), None);
    }
}
