//! Numbers and the other fixed-width values: integers, floats, `bool`,
//! `char`, and `()`.
//!
//! Article: 原理 › 序列化. The one idea to take away: **a fixed width is a
//! size you can point at in a hex dump**: every number is written
//! big-endian at its full width (no varints), and read back by taking
//! exactly that many bytes. Nothing here allocates, so nothing here is
//! charged to the decode budget; these values live inside whatever holds
//! them (a `Vec`'s buffer, a record), which was charged already.
//!
//! In JSON a number is decimal text, and JSON has no NaN or infinities,
//! which are written as strings (below).

use super::{mismatch, Decode, Encode, JsonCx, Reader};
use crate::error::RpcError;
use crate::json::{self, Json};
use std::fmt::Write as _;

// ---- integers ------------------------------------------------------------
//
// Binary: fixed width, big-endian. JSON: a number, written and read as exact
// decimal text (integers never pass through a float, so u64::MAX survives).

// Bytes as bytes: a `[u8]` is its own encoding (a byte is one byte,
// big-endian or not), so `u8` encodes and decodes whole slices with one
// copy. The layout is unchanged; tests/codec_binary.rs pins it to the
// one-by-one bytes. Buys one `memcpy` per `Vec<u8>` instead of a call per
// byte (benches/codec.rs, `bytes_1k`).
macro_rules! integer_slices {
    (u8) => {
        #[inline]
        fn encode_slice(items: &[u8], out: &mut Vec<u8>) {
            out.extend_from_slice(items);
        }
        #[inline]
        fn slice_encoded_len(items: &[u8]) -> usize {
            items.len()
        }
    };
    ($t:ty) => {
        #[inline]
        fn slice_encoded_len(items: &[$t]) -> usize {
            items.len() * std::mem::size_of::<$t>()
        }
    };
}
macro_rules! integer_vec {
    (u8) => {
        #[inline]
        fn decode_vec(r: &mut Reader<'_>, n: usize) -> Result<Vec<u8>, RpcError> {
            Ok(r.take(n, "bytes")?.to_vec())
        }
    };
    ($t:ty) => {};
}

macro_rules! integer {
    ($($t:ident),*) => {$(
        impl Encode for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn encode_json(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                std::mem::size_of::<$t>()
            }
            // Every type but u8 uses the default (one by one); u8 is
            // written out below.
            integer_slices!($t);
        }
        impl Decode for $t {
            const MIN_BYTES: usize = std::mem::size_of::<$t>();
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
                Ok(<$t>::from_be_bytes(r.array(stringify!($t))?))
            }
            integer_vec!($t);
            fn decode_json(v: &Json, _cx: &JsonCx<'_>) -> Result<Self, RpcError> {
                match v {
                    Json::Number(text) => text.parse::<$t>().map_err(|_| {
                        RpcError::invalid_argument(format!(
                            "{text} is not a valid {} (an integer in range, no fraction or exponent)",
                            stringify!($t)
                        ))
                    }),
                    other => Err(mismatch(stringify!($t), other)),
                }
            }
        }
    )*};
}
integer!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

// JSON has no NaN or infinities; minirpc writes them as the strings "NaN",
// "Infinity" and "-Infinity" (as Protocol Buffers' JSON mapping does)
// and reads them back.
macro_rules! float {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn encode_json(&self, out: &mut String) {
                if self.is_nan() {
                    out.push_str("\"NaN\"");
                } else if self.is_infinite() {
                    out.push_str(if *self > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
                } else {
                    // `{:?}` is the shortest text that reads back to the same
                    // bits, and is valid JSON ("1.0", "1e300", "-0.0").
                    let _ = write!(out, "{self:?}");
                }
            }
            #[inline]
            fn encoded_len(&self) -> usize {
                std::mem::size_of::<$t>()
            }
        }
        impl Decode for $t {
            const MIN_BYTES: usize = std::mem::size_of::<$t>();
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
                Ok(<$t>::from_be_bytes(r.array(stringify!($t))?))
            }
            integer_vec!($t);
            fn decode_json(v: &Json, _cx: &JsonCx<'_>) -> Result<Self, RpcError> {
                match v {
                    Json::Number(text) => match text.parse::<$t>() {
                        // A number too big for the type would parse as
                        // infinity; infinity is written "Infinity", so a
                        // number that overflows is an error, not a value.
                        Ok(x) if x.is_finite() => Ok(x),
                        _ => Err(RpcError::invalid_argument(format!(
                            "{text} is not a valid {} (out of range?)",
                            stringify!($t)
                        ))),
                    },
                    Json::String(s) if s == "NaN" => Ok(<$t>::NAN),
                    Json::String(s) if s == "Infinity" => Ok(<$t>::INFINITY),
                    Json::String(s) if s == "-Infinity" => Ok(<$t>::NEG_INFINITY),
                    other => Err(mismatch(stringify!($t), other)),
                }
            }
        }
    )*};
}
float!(f32, f64);

impl Encode for usize {
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        (*self as u64).encode_json(out)
    }
}
impl Decode for usize {
    const MIN_BYTES: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let v = u64::decode(r)?;
        usize::try_from(v)
            .map_err(|_| RpcError::invalid_argument(format!("usize {v} does not fit here")))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        let v = u64::decode_json(v, cx)?;
        usize::try_from(v)
            .map_err(|_| RpcError::invalid_argument(format!("usize {v} does not fit here")))
    }
}
impl Encode for isize {
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as i64).encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        (*self as i64).encode_json(out)
    }
}
impl Decode for isize {
    const MIN_BYTES: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let v = i64::decode(r)?;
        isize::try_from(v)
            .map_err(|_| RpcError::invalid_argument(format!("isize {v} does not fit here")))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        let v = i64::decode_json(v, cx)?;
        isize::try_from(v)
            .map_err(|_| RpcError::invalid_argument(format!("isize {v} does not fit here")))
    }
}

impl Encode for bool {
    fn encoded_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self as u8)
    }
    fn encode_json(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" })
    }
}
impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        match r.take(1, "bool")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(RpcError::invalid_argument(format!(
                "bool must be 0 or 1, got {b}"
            ))),
        }
    }
    fn decode_json(v: &Json, _cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::Bool(b) => Ok(*b),
            other => Err(mismatch("a boolean", other)),
        }
    }
}

impl Encode for char {
    const JSON_STRING: bool = true;
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u32).encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        json::write_string(out, self.encode_utf8(&mut [0; 4]))
    }
}
impl Decode for char {
    const MIN_BYTES: usize = 4;
    const JSON_STRING: bool = true;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let v = u32::decode(r)?;
        char::from_u32(v).ok_or_else(|| {
            RpcError::invalid_argument(format!("{v:#x} is not a Unicode scalar value"))
        })
    }
    fn decode_json(v: &Json, _cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::String(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Ok(c),
                    _ => Err(RpcError::invalid_argument(format!(
                        "expected a string of exactly one character, found \"{s}\""
                    ))),
                }
            }
            other => Err(mismatch("a one-character string", other)),
        }
    }
}

impl Encode for () {
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn encode_json(&self, out: &mut String) {
        out.push_str("null")
    }
}
impl Decode for () {
    const MIN_BYTES: usize = 0;
    fn decode(_r: &mut Reader<'_>) -> Result<Self, RpcError> {
        Ok(())
    }
    fn decode_json(v: &Json, _cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::Null => Ok(()),
            other => Err(mismatch("null (for ())", other)),
        }
    }
}
