//! Lowercase hexadecimal, the text form of digests and signatures on the
//! wire.
//!
//! Article: 原理 › 安全认证. The one idea to take away: **one spelling per
//! value**. Metadata values are UTF-8 text, so a 32-byte signature travels
//! as 64 hex digits, and only lowercase is accepted, so there is never a
//! question of which form was signed or compared.

/// `bytes` as lowercase hex digits, two per byte.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The 32 bytes that 64 lowercase hex digits stand for, or `None` if
/// `text` is anything else (uppercase too: one spelling per value, so
/// there is nothing to normalise).
pub fn decode_32(text: &str) -> Option<[u8; 32]> {
    let t = text.as_bytes();
    if t.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in t.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_other_spellings() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(decode_32(&encode(&bytes)), Some(bytes));
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode_32(&encode(&bytes).to_uppercase()), None);
        assert_eq!(decode_32("00"), None);
        assert_eq!(decode_32(&"g".repeat(64)), None);
    }
}
