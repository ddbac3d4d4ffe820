//! CRC-32C (Castagnoli), the checksum of frames that ask for one.
//!
//! Article: 网络传输 (what the network guarantees, and what it does not).
//! The one idea to take away: **TCP's checksum protects each hop, not the
//! whole path**. It is 16 bits, it is recomputed by every box that rewrites
//! packets (proxies, NATs, load balancers), and it says nothing about a
//! byte flipped in memory before the kernel saw it. An end-to-end check
//! (Saltzer, Reed and Clark's "end-to-end argument") must be done by the two
//! programs themselves. CRC-32C is the one iSCSI, ext4, SCTP and gRPC's
//! transports use: it catches every burst error up to 32 bits and all but
//! one in four billion random corruptions.
//!
//! The computation is "slicing by 8": eight tables of 256 entries (built at
//! compile time) let the loop consume eight bytes per step instead of one,
//! several times faster than the byte-at-a-time textbook loop, which is the
//! first table alone. CPUs with SSE 4.2 have an instruction for it; std-only
//! code without `unsafe` cannot use it.
//!
//! ```
//! // The standard check value: CRC-32C of the ASCII digits 1 to 9.
//! assert_eq!(minirpc::checksum::crc32c(b"123456789"), 0xE306_9283);
//! ```

/// The polynomial 0x1EDC6F41, bit-reversed (CRC-32C processes the least
/// significant bit first).
const POLY: u32 = 0x82F6_3B78;

/// `TABLES[0]` is the classic table: the CRC of each single byte.
/// `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes, which
/// is what lets eight bytes be folded in at once.
static TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u32;
        let mut i = 0;
        while i < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            i += 1;
        }
        t[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    update(0, bytes)
}

/// Continue a CRC-32C over more bytes: `update(crc32c(a), b) == crc32c(a ++ b)`.
pub fn update(crc: u32, bytes: &[u8]) -> u32 {
    let mut crc = !crc;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][c[4] as usize]
            ^ TABLES[2][c[5] as usize]
            ^ TABLES[1][c[6] as usize]
            ^ TABLES[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ b as u32) & 0xff) as usize];
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition, to check the fast loop against.
    fn slow(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn published_check_values() {
        // RFC 3720 (iSCSI) appendix B.4 test patterns.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        let descending: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc32c(&descending), 0x113F_DB5C);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn the_fast_loop_agrees_with_the_definition_at_every_length_and_split() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(crc32c(&data[..n]), slow(&data[..n]), "length {n}");
        }
        for cut in 0..data.len() {
            assert_eq!(update(crc32c(&data[..cut]), &data[cut..]), slow(&data));
        }
    }
}
