//! Base64 (RFC 4648 §4): the standard alphabet, with `=` padding.
//!
//! etcd's JSON gateway carries every key and value as base64, because its
//! API (protobuf) types them as bytes, and protobuf's JSON mapping writes
//! bytes that way. The one idea to take away: **base64 is three bytes in,
//! four characters out** — each group of 24 bits is cut into four 6-bit
//! numbers, and each number picks one of 64 safe characters:
//!
//! ```text
//!  bytes   M        a        n
//!          01001101 01100001 01101110
//!  6 bits  010011 010110 000101 101110
//!  index   19     22     5      46
//!  chars   T      W      F      u
//! ```
//!
//! A last group of one or two bytes is padded with zero bits and written
//! with `==` or `=`, so the text is always a multiple of four characters.
//!
//! ```
//! use minirpc::http::base64;
//! assert_eq!(base64::encode(b"Man"), "TWFu");
//! assert_eq!(base64::decode("TWE=").unwrap(), b"Ma");
//! ```

use crate::error::RpcError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` as base64 text, padded.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        // Up to 24 bits, left-aligned: missing bytes are zero bits.
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // One character per 6 bits present; `=` for each missing byte.
        let chars = group.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of padded base64 `text`. Refuses (`InvalidArgument`, naming
/// the position) anything [`encode`] would not have written: a length that
/// is not a multiple of four, a character outside the alphabet, padding
/// anywhere but the end, or non-zero bits hidden under the padding.
pub fn decode(text: &str) -> Result<Vec<u8>, RpcError> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return Err(RpcError::invalid_argument(format!(
            "base64 text of {} characters is not a multiple of 4 (is it padded with '='?)",
            text.len()
        )));
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let groups = text.len() / 4;
    for (g, quad) in text.chunks(4).enumerate() {
        let last = g + 1 == groups;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(bad_char(g * 4 + 4 - pad, b'='));
        }
        let mut n = 0u32;
        for (i, &c) in quad[..4 - pad].iter().enumerate() {
            n = (n << 6) | u32::from(value(c).ok_or_else(|| bad_char(g * 4 + i, c))?);
        }
        n <<= 6 * pad;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = 3 - pad;
        if bytes[keep..].iter().any(|&b| b != 0) {
            return Err(RpcError::invalid_argument(format!(
                "base64 group at character {} has non-zero bits under its padding",
                g * 4
            )));
        }
        out.extend_from_slice(&bytes[..keep]);
    }
    Ok(out)
}

/// The 6-bit value of one base64 character.
fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn bad_char(at: usize, c: u8) -> RpcError {
    RpcError::invalid_argument(format!(
        "base64 text has {:?} at character {at}, which is not in the standard alphabet \
         (A-Z a-z 0-9 + /, '=' only as final padding)",
        c as char
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10, every vector.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn the_rfc_4648_test_vectors_encode_and_decode() {
        for (plain, coded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), coded, "encode {plain:?}");
            assert_eq!(decode(coded).unwrap(), plain.as_bytes(), "decode {coded:?}");
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            assert_eq!(decode(&encode(&all[..len])).unwrap(), &all[..len]);
        }
        // What etcd sends for the key "/minirpc/x".
        assert_eq!(encode(b"/minirpc/x"), "L21pbmlycGMveA==");
    }

    #[test]
    fn text_encode_would_not_write_is_refused() {
        for bad in ["Zg=", "Zg", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm=v", "Zh=="] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.status, crate::Status::InvalidArgument, "{bad}: {e}");
        }
        let e = decode("Zm9v!A==").unwrap_err();
        assert!(e.message.contains("'!' at character 4"), "{e}");
    }
}
