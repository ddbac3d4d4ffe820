//! The hash function of the consistent-hash ring: FNV-1a (64 bits) with a
//! finalizer.
//!
//! Article: 原理 › 负载均衡 (一致性hash负载). The one idea to take away: **a
//! ring needs a hash that is stable and spreads its points**. Stable: the
//! same bytes give the same number in every process, on every machine and
//! in every version of Rust, or two consumers would disagree about who owns
//! a key (the standard library's `DefaultHasher` promises none of that).
//! Spread: the 160 points of one instance, named `addr#0` … `addr#159`,
//! differ only in their last bytes, and must still land all over the ring.
//!
//! FNV-1a is stable and tiny (an xor and a multiply per byte), but a change
//! in the last byte only reaches the high bits through one multiplication,
//! so neighbouring names give related hashes. A finalizer (the last step of
//! MurmurHash3, [`mix64`]) mixes every input bit into every output bit.
//! Dubbo uses MD5 for its ring; gRPC's `ring_hash` uses xxHash64. Any
//! stable, well-mixed hash works; this one fits in a screen.

/// FNV-1a, 64 bits: for each byte, xor it in, then multiply by the FNV
/// prime.
///
/// ```
/// use minirpc::balance::hash::fnv1a64;
///
/// // The published test vectors.
/// assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
/// assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
/// ```
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// MurmurHash3's 64-bit finalizer: every input bit affects every output
/// bit with probability about one half.
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    x
}

/// Where `bytes` sit on the ring: `mix64(fnv1a64(bytes))`.
pub fn ring_hash(bytes: &[u8]) -> u64 {
    mix64(fnv1a64(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_names_land_far_apart() {
        // The top byte says which 256th of the ring a point is in. 160
        // names that differ only at the end must use many of them (a
        // uniform hash uses about 119 on average).
        let mut tops = std::collections::BTreeSet::new();
        for i in 0..160 {
            tops.insert(ring_hash(format!("127.0.0.1:7001#{i}").as_bytes()) >> 56);
        }
        assert!(
            tops.len() > 100,
            "only {} of 256 top bytes used",
            tops.len()
        );
    }
}
