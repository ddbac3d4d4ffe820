//! The codec: how values become bytes and bytes become values.
//!
//! Article: 本地调用VS远程调用 › 序列化和反序列化, and 原理 › 序列化. A local
//! call passes `10` and `20` on the stack; a remote call cannot share memory,
//! so both sides must agree on a byte layout. The one idea to take away:
//! **the bytes carry no type information; the types live in the code on both
//! sides**, so the encoding is small and fast, and decoding can only ever
//! build the type the receiver asked for (which is also what makes it safe,
//! see the whitelist part of chapter 03 of the docs).
//!
//! # The layout
//!
//! Every multi-byte number is big-endian ("network byte order", the same rule
//! as the frame header in [`crate::protocol`]), so one rule covers the whole
//! wire and `struct.pack(">i", 10)` in Python writes the same bytes.
//!
//! ```text
//!  bool            1 byte, 0 or 1 (anything else is refused)
//!  u8 i8 .. u128   1, 2, 4, 8, 16 bytes, big-endian, two's complement
//!  usize isize     8 bytes, as u64 / i64
//!  f32 f64         IEEE-754 bits, 4 / 8 bytes, big-endian
//!  char            4 bytes, the Unicode scalar value
//!  String, &str    u32 length in bytes, then UTF-8
//!  Vec<T>, [T]     u32 element count, then each element
//!  HashMap/BTreeMap u32 entry count, then key, value, key, value ...
//!  Option<T>       1 byte tag: 0 = None, 1 = Some, then T
//!  Result<T, E>    1 byte tag: 0 = Ok, 1 = Err, then T or E
//!  (A, B, ..)      the fields one after another, nothing between
//!  ()              nothing at all
//!  record! struct  the fields in declaration order, nothing between
//!  record! enum    u32 variant index (declaration order), then its fields
//! ```
//!
//! So `Multiply(10, 20)`'s arguments, the tuple `(i32, i32)`, are the eight
//! bytes `00 00 00 0a 00 00 00 14`.
//!
//! # Never trust a length prefix
//!
//! A peer can send `ff ff ff ff` as a string length. A careless decoder calls
//! `Vec::with_capacity(4294967295)` and the process dies before a single byte
//! of that string exists. [`Reader::len`] and [`Reader::seq_len`] check every
//! length against the bytes actually left (a `Vec<u64>` claiming `n`
//! elements needs `8n` bytes: see [`Decode::MIN_BYTES`]) and against
//! [`Limits::max_len`], *before* anything is allocated. Recursive types (a
//! `Box` inside a record inside a `Vec` ...) are cut off at
//! [`Limits::max_depth`] so a hostile message cannot overflow the stack.
//!
//! A length that fits the bytes can still build far more than it sent: a
//! `None` is one byte on the wire and `size_of::<Option<T>>()` in memory.
//! So decoding also charges what it builds against a [`Budget`]
//! proportional to the input ([`Limits::max_decoded_factor`]); see
//! [`budget`] for what is charged and why.
//!
//! # A second format
//!
//! The codec in use travels in every frame header as one byte ([`CodecId`]),
//! so a server can answer each caller in the format it spoke. Binary is
//! format 0; JSON text ([`crate::json`]) is format 1, from the same impls.
//!
//! # Files
//!
//! | file | what is in it |
//! |---|---|
//! | `mod.rs` | the traits, [`CodecId`], [`Limits`], and the entry points ([`from_bytes`], [`from_json`], [`decode_as`] ...) |
//! | `reader.rs` | [`Reader`], the bounded cursor binary decoding reads from |
//! | `budget.rs` | [`Budget`], the decode memory budget, and what each thing costs |
//! | `numbers.rs` | integers, floats, `bool`, `char`, `()` |
//! | `builtin.rs` | strings, references and boxes, `Option`, `Result`, tuples, `Duration` |
//! | `collections.rs` | `Vec`, slices and maps: where length checks and charges meet |
//! | `json_glue.rs` | [`JsonCx`] and the helpers `record!` writes its JSON with |
//! | `record.rs` | the [`record!`](crate::record) macro for your own types |

pub mod budget;
mod builtin;
mod collections;
mod json_glue;
mod numbers;
mod reader;
mod record;

pub use crate::whitelist::DeclaredTypes;
pub use budget::Budget;
pub use json_glue::{json_field, json_field_name, json_record_start, mismatch, JsonCx};
pub use reader::Reader;

use crate::error::RpcError;
use crate::json::{self, Json};

/// Which wire format a frame's arguments and result are in. Sent as one byte
/// in the frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CodecId {
    /// The compact binary layout of this module.
    #[default]
    Binary = 0,
    /// JSON text (RFC 8259), see [`crate::json`].
    Json = 1,
}

impl CodecId {
    /// The codec for a header byte, or `None` if this build does not know it.
    pub fn from_byte(b: u8) -> Option<CodecId> {
        match b {
            0 => Some(CodecId::Binary),
            1 => Some(CodecId::Json),
            _ => None,
        }
    }
}

/// Bounds a decoder enforces, so a small hostile message cannot make the
/// receiver allocate or recurse without limit.
///
/// Build one from the default and change what you need:
/// `Limits { max_decoded_factor: 64, ..Limits::default() }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most elements (or bytes, for strings) one length prefix may claim.
    /// Default: 4 MiB, the default frame limit, since no longer sequence could
    /// fit in a frame anyway.
    pub max_len: usize,
    /// How deeply sequences, options, maps, boxes and records may nest.
    /// Default: 64.
    pub max_depth: u32,
    /// The decode budget, in bytes of memory per byte of input: decoding a
    /// message of `n` bytes may build at most `n × max_decoded_factor`
    /// bytes (its `Vec`s, `String`s, maps, boxes, and in JSON the parsed
    /// tree), and is refused with `ResourceExhausted` past that.
    /// Default: 32, above what ordinary messages need (a `Vec<u64>` needs
    /// 1, a `Vec<Option<String>>` of `None`s 24, JSON about 3 to 27; see
    /// docs/03-serialization.md) and far below what a hostile one asks.
    pub max_decoded_factor: usize,
    /// The smallest decode budget, whatever the input's size, so that a
    /// small message whose values are mostly empty (a few `None`s of a wide
    /// type) is never refused. Default: 64 KiB.
    pub min_decode_budget: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_len: 4 * 1024 * 1024,
            max_depth: 64,
            max_decoded_factor: 32,
            min_decode_budget: 64 * 1024,
        }
    }
}

/// Something that can be written in both wire formats.
///
/// One impl describes the type once, with a method per format: that is how
/// "one description, two formats" is kept honest. The
/// [`record!`](crate::record) macro writes both methods for your structs
/// and enums.
pub trait Encode {
    /// Whether [`encode_json`](Encode::encode_json) writes a JSON string, so
    /// the value can be a JSON object key (maps keyed by it become objects).
    const JSON_STRING: bool = false;

    /// Append this value's bytes to `out` (binary codec).
    fn encode(&self, out: &mut Vec<u8>);

    /// Append this value as JSON text to `out` (JSON codec).
    fn encode_json(&self, out: &mut String);

    /// How many bytes [`encode`](Encode::encode) will append: exact for
    /// the built-in types and `record!` types, and only ever used to
    /// reserve room, never trusted for correctness. The default, 0, means
    /// "not known" (the buffer then grows as it is written).
    ///
    /// Buys: [`to_bytes`] and a `record!` written into a `Vec` with no
    /// room allocate once instead of growing step by step (measured by
    /// `benches/codec.rs`, `order/encode_fresh`).
    #[inline]
    fn encoded_len(&self) -> usize {
        0
    }

    /// Append a whole slice of values, as `[T]` and `Vec<T>` do after
    /// their count. The default encodes them one by one; `u8` overrides it
    /// with one copy, so bytes travel as bytes (the layout is the same:
    /// one byte per element).
    ///
    /// Buys: a `Vec<u8>` is one `memcpy`, not a call per byte
    /// (measured by `benches/codec.rs`, `bytes_1k`).
    #[inline]
    fn encode_slice(items: &[Self], out: &mut Vec<u8>)
    where
        Self: Sized,
    {
        for x in items {
            x.encode(out);
        }
    }

    /// [`encoded_len`](Encode::encoded_len) of a whole slice, without its
    /// count (the sum of its elements').
    #[inline]
    fn slice_encoded_len(items: &[Self]) -> usize
    where
        Self: Sized,
    {
        items.iter().map(Encode::encoded_len).sum()
    }
}

/// Something that can be read back from both wire formats.
///
/// A hand-written impl whose value owns heap memory (it builds a `Vec` or
/// a `String` itself rather than through the impls here) should charge it
/// first, with [`Reader::charge`] or [`JsonCx::charge`]; the built-in
/// impls and `record!` already do.
pub trait Decode: Sized {
    /// The fewest bytes one value of this type can take on the wire (`u64`:
    /// 8, `String`: 4 for its length, `()`: 0). A sequence that claims `n`
    /// elements needs at least `n * MIN_BYTES` bytes, so the claim is
    /// checked against what actually arrived before anything is reserved.
    const MIN_BYTES: usize = 1;

    /// Whether the JSON form is a string (see [`Encode::JSON_STRING`]).
    const JSON_STRING: bool = false;

    /// Read one value from `r`, or explain (as `InvalidArgument`) why the
    /// bytes are not one (binary codec).
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError>;

    /// Read `n` values into a `Vec`, as `Vec<T>` does after its count.
    /// When this is called `n` has been checked against the bytes left and
    /// [`Limits::max_len`], and its memory charged to the decode budget, so
    /// reserving `n` at once is safe. The default decodes them one by one;
    /// `u8` overrides it with one copy (the bytes on the wire are already
    /// the elements).
    ///
    /// Buys: a `Vec<u8>` is one `memcpy` (see [`Encode::encode_slice`]).
    #[inline]
    fn decode_vec(r: &mut Reader<'_>, n: usize) -> Result<Vec<Self>, RpcError> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Self::decode(r)?);
        }
        Ok(v)
    }

    /// Read one value from a parsed JSON tree (JSON codec). Records check
    /// their `"@type"` against `cx`'s whitelist.
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError>;

    /// Add the names of the record types this type contains (itself
    /// included, if it is one) to `out`: layer 1 of the deserialization
    /// whitelist. Built-in types contain none.
    fn declared_types(_out: &mut DeclaredTypes) {}
}

/// Encode `value` into a new byte vector.
pub fn to_bytes<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    // One allocation of the right size (see `Encode::encoded_len`).
    let mut out = Vec::with_capacity(value.encoded_len());
    value.encode(&mut out);
    out
}

/// Decode exactly one `T` from `bytes` (no bytes may be left over), within
/// the decode budget of [`Limits::max_decoded_factor`].
pub fn from_bytes<T: Decode>(bytes: &[u8], limits: Limits) -> Result<T, RpcError> {
    let mut r = Reader::new(bytes, limits);
    let v = T::decode(&mut r)?;
    r.finish(std::any::type_name::<T>())?;
    Ok(v)
}

/// Encode `value` as JSON text.
pub fn to_json<T: Encode + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    value.encode_json(&mut out);
    out
}

/// Decode one `T` from JSON text (RFC 8259; nothing may follow the value).
/// The parsed tree and the value built from it share one decode budget.
pub fn from_json<T: Decode>(bytes: &[u8], limits: Limits, cx: &JsonCx<'_>) -> Result<T, RpcError> {
    if bytes.len() > limits.max_len {
        return Err(RpcError::invalid_argument(format!(
            "JSON text of {} bytes is over the limit of {} (see Limits::max_len)",
            bytes.len(),
            limits.max_len
        )));
    }
    let budget = Budget::for_input(bytes.len(), &limits);
    let tree = json::parse_within(bytes, limits.max_depth, &budget)?;
    T::decode_json(&tree, &cx.with_budget(&budget))
}

/// Encode `value` in the given codec, appending to `out`.
pub fn encode_as<T: Encode + ?Sized>(codec: CodecId, value: &T, out: &mut Vec<u8>) {
    match codec {
        CodecId::Binary => value.encode(out),
        CodecId::Json => {
            let mut s = String::new();
            value.encode_json(&mut s);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// Decode exactly one `T` from `bytes` in the given codec (either way
/// within the decode budget).
pub fn decode_as<T: Decode>(
    codec: CodecId,
    bytes: &[u8],
    limits: Limits,
    cx: &JsonCx<'_>,
) -> Result<T, RpcError> {
    match codec {
        CodecId::Binary => from_bytes(bytes, limits),
        CodecId::Json => from_json(bytes, limits, cx),
    }
}

/// Write a u32 length prefix. Lengths over `u32::MAX` cannot be sent; they
/// are also far past any frame limit, so this is a bug in the caller.
#[inline]
fn encode_len(n: usize, out: &mut Vec<u8>) {
    let n = u32::try_from(n).expect("minirpc cannot encode a sequence of more than 2^32-1 items");
    out.extend_from_slice(&n.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: T) {
        let bytes = to_bytes(&v);
        let back: T = from_bytes(&bytes, Limits::default()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn multiply_args_are_eight_big_endian_bytes() {
        assert_eq!(to_bytes(&(10i32, 20i32)), [0, 0, 0, 10, 0, 0, 0, 20]);
    }

    #[test]
    fn integers_round_trip_at_their_edges() {
        round_trip(0u8);
        round_trip(u8::MAX);
        round_trip(i8::MIN);
        round_trip(u16::MAX);
        round_trip(i16::MIN);
        round_trip(u32::MAX);
        round_trip(i32::MIN);
        round_trip(u64::MAX);
        round_trip(i64::MIN);
        round_trip(u128::MAX);
        round_trip(i128::MIN);
        round_trip(usize::MAX);
        round_trip(isize::MIN);
        assert_eq!(to_bytes(&-1i16), [0xff, 0xff]);
    }

    #[test]
    fn a_string_length_larger_than_the_input_is_refused_before_allocating() {
        let e =
            from_bytes::<String>(&[0xff, 0xff, 0xff, 0xff, b'a'], Limits::default()).unwrap_err();
        assert_eq!(e.status, crate::Status::InvalidArgument);
        assert!(e.message.contains("claims 4294967295"), "{e}");
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let e = from_bytes::<u8>(&[1, 2], Limits::default()).unwrap_err();
        assert!(e.message.contains("1 unexpected bytes"), "{e}");
    }

    #[test]
    fn a_vec_of_wide_nones_is_charged_its_size_in_memory() {
        // 1,000 Nones: 1,004 bytes on the wire, 16,000 in memory. Within
        // the default budget (the 64 KiB floor); over a budget of 8 bytes
        // per input byte with no floor.
        let small = to_bytes(&vec![None::<u64>; 1000]);
        assert_eq!(
            from_bytes::<Vec<Option<u64>>>(&small, Limits::default())
                .unwrap()
                .len(),
            1000
        );
        let tight = Limits {
            max_decoded_factor: 8,
            min_decode_budget: 0,
            ..Limits::default()
        };
        let e = from_bytes::<Vec<Option<u64>>>(&small, tight).unwrap_err();
        assert_eq!(e.status, crate::Status::ResourceExhausted);
    }
}
