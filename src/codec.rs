//! The binary codec: how values become bytes and bytes become values.
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
//! length against the
//! bytes actually left (a `Vec<u64>` claiming `n` elements needs `8n` bytes:
//! see [`Decode::MIN_BYTES`]) and against
//! [`Limits::max_len`], *before* anything is allocated. Recursive types (a
//! `Box` inside a record inside a `Vec` ...) are cut off at
//! [`Limits::max_depth`] so a hostile message cannot overflow the stack.
//!
//! # A second format
//!
//! The codec in use travels in every frame header as one byte ([`CodecId`]),
//! so a server can answer each caller in the format it spoke. This module is
//! format 0, binary; a text format (JSON) gets its own id.

use crate::error::RpcError;
use crate::json::{self, Json};
use crate::whitelist::Whitelist;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::Hash;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most elements (or bytes, for strings) one length prefix may claim.
    /// Default: 4 MiB, the default frame limit, since no longer sequence could
    /// fit in a frame anyway.
    pub max_len: usize,
    /// How deeply sequences, options, maps, boxes and records may nest.
    /// Default: 64.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_len: 4 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// Something that can be written in both wire formats.
///
/// One impl describes the type once, with a method per format: that is how
/// "one description, two formats" is kept honest. The [`record!`] macro
/// writes both methods for your structs and enums.
pub trait Encode {
    /// Whether [`encode_json`](Encode::encode_json) writes a JSON string, so
    /// the value can be a JSON object key (maps keyed by it become objects).
    const JSON_STRING: bool = false;

    /// Append this value's bytes to `out` (binary codec).
    fn encode(&self, out: &mut Vec<u8>);

    /// Append this value as JSON text to `out` (JSON codec).
    fn encode_json(&self, out: &mut String);
}

/// Something that can be read back from both wire formats.
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

    /// Read one value from a parsed JSON tree (JSON codec). Records check
    /// their `"@type"` against `cx`'s whitelist.
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError>;

    /// Add the names of the record types this type contains (itself
    /// included, if it is one) to `out`: layer 1 of the deserialization
    /// whitelist. Built-in types contain none.
    fn declared_types(_out: &mut DeclaredTypes) {}
}

/// The record types found by [`Decode::declared_types`]: the names JSON
/// will carry in `"@type"` (layer 1 of the whitelist), plus the full Rust
/// paths already visited. Two types may share a name (`billing::Order` and
/// `shipping::Order`); each is still walked once, by its path.
#[derive(Clone, Debug, Default)]
pub struct DeclaredTypes {
    names: Vec<&'static str>,
    visited: Vec<&'static str>,
}

impl DeclaredTypes {
    /// An empty set.
    pub fn new() -> DeclaredTypes {
        DeclaredTypes::default()
    }

    /// Record a type called `name` in JSON, whose Rust path is `path`.
    /// Returns true the first time this path is seen (so the caller walks
    /// its fields), false after.
    pub fn visit(&mut self, name: &'static str, path: &'static str) -> bool {
        if self.visited.contains(&path) {
            return false;
        }
        self.visited.push(path);
        if !self.names.contains(&name) {
            self.names.push(name);
        }
        true
    }

    /// The names found so far, in the order found.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

/// What JSON decoding needs besides the text: the whitelist that records'
/// `"@type"` names are checked against.
#[derive(Clone, Copy, Debug)]
pub struct JsonCx<'a> {
    whitelist: Option<&'a Whitelist>,
}

impl<'a> JsonCx<'a> {
    /// Check record names against `whitelist` (what a server does).
    pub fn checked(whitelist: &'a Whitelist) -> JsonCx<'a> {
        JsonCx {
            whitelist: Some(whitelist),
        }
    }

    /// Accept any record name that matches the expected type (what a
    /// client decoding its own declared result type does).
    pub fn unchecked() -> JsonCx<'static> {
        JsonCx { whitelist: None }
    }

    /// The start of every record's `decode_json`: `v` must be an object; its
    /// `"@type"` (if present) must be on the whitelist and must name
    /// `expected`; and `expected` itself must be allowed.
    pub fn check_record(&self, expected: &'static str, v: &Json) -> Result<(), RpcError> {
        if !matches!(v, Json::Object(_)) {
            return Err(mismatch(expected, v));
        }
        let named = match v.get("@type") {
            None => expected,
            Some(Json::String(s)) => s.as_str(),
            Some(other) => {
                return Err(RpcError::invalid_argument(format!(
                    "\"@type\" must be a string, found {}",
                    other.kind()
                )))
            }
        };
        for name in [named, expected] {
            if let Some(w) = self.whitelist {
                if !w.allows(name) {
                    return Err(RpcError::invalid_argument(format!(
                        "type \"{name}\" is not in the deserialization whitelist (declare it in a registered method's signature, or allow it with ServerBuilder::allow_type(\"{name}\"))"
                    )));
                }
            }
        }
        if named != expected {
            return Err(RpcError::invalid_argument(format!(
                "expected {expected} here, but the JSON says \"@type\": \"{named}\""
            )));
        }
        Ok(())
    }
}

/// "expected X, found Y" for JSON decoding.
pub fn mismatch(expected: &str, found: &Json) -> RpcError {
    RpcError::invalid_argument(format!(
        "expected {expected}, found {} in JSON",
        found.kind()
    ))
}

/// Read field `name` of a JSON record. A missing field is read as `null`,
/// so a missing `Option` field is `None` and any other missing field is an
/// error naming it.
pub fn json_field<T: Decode>(
    v: &Json,
    owner: &str,
    name: &str,
    cx: &JsonCx<'_>,
) -> Result<T, RpcError> {
    match v.get(name) {
        Some(f) => T::decode_json(f, cx)
            .map_err(|e| RpcError::invalid_argument(format!("{owner}.{name}: {}", e.message))),
        None => T::decode_json(&Json::Null, cx).map_err(|_| {
            RpcError::invalid_argument(format!("{owner} is missing its field \"{name}\""))
        }),
    }
}

/// Begin a JSON record: `{"@type":"Name"`. Used by [`record!`].
pub fn json_record_start(out: &mut String, name: &str) {
    out.push_str("{\"@type\":");
    json::write_string(out, name);
}

/// Write `,"name":` inside a JSON record. Used by [`record!`].
pub fn json_field_name(out: &mut String, name: &str) {
    out.push(',');
    json::write_string(out, name);
    out.push(':');
}

/// A cursor over received bytes that enforces [`Limits`].
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: u32,
    limits: Limits,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` with the given limits.
    pub fn new(buf: &'a [u8], limits: Limits) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            depth: 0,
            limits,
        }
    }

    /// How many bytes are left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes, or an error naming what we were reading.
    ///
    /// (The small methods here are `#[inline]` and their error messages are
    /// built in separate `#[cold]` functions: decoding calls them for every
    /// field, and without inlining across crates the call overhead alone
    /// cost as much as the work.)
    #[inline]
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RpcError> {
        if n > self.remaining() {
            return Err(self.truncated(n, what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self, n: usize, what: &str) -> RpcError {
        RpcError::invalid_argument(format!(
            "truncated input: {what} needs {n} bytes at offset {} but only {} remain",
            self.pos,
            self.remaining()
        ))
    }

    /// Exactly `N` bytes as an array (for fixed-width numbers).
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RpcError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A u32 length prefix counting bytes (a string's), checked against the
    /// bytes left and [`Limits::max_len`] before the caller allocates
    /// anything for it.
    #[inline]
    pub fn len(&mut self, what: &str) -> Result<usize, RpcError> {
        let at = self.pos;
        let n = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        if n > self.limits.max_len || n > self.remaining() {
            return Err(self.bad_len(what, at, n, 1));
        }
        Ok(n)
    }

    #[cold]
    #[inline(never)]
    fn bad_len(&self, what: &str, at: usize, n: usize, min_each: usize) -> RpcError {
        if n > self.limits.max_len {
            RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements, over the limit of {} (see Limits::max_len)",
                self.limits.max_len
            ))
        } else if min_each > 1 {
            RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements (at least {} bytes) but only {} bytes remain",
                n.saturating_mul(min_each),
                self.remaining()
            ))
        } else {
            RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements but only {} bytes remain",
                self.remaining()
            ))
        }
    }

    /// A u32 element count for a sequence whose elements take at least
    /// `min_each` bytes: checked against [`Limits::max_len`] and against the
    /// bytes left (`count * min_each` must fit), before anything is reserved.
    /// Zero-sized elements (`()`) are bounded by `max_len` alone.
    #[inline]
    pub fn seq_len(&mut self, what: &str, min_each: usize) -> Result<usize, RpcError> {
        let at = self.pos;
        let n = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        let needed = n.saturating_mul(min_each);
        if n > self.limits.max_len || needed > self.remaining() {
            return Err(self.bad_len(what, at, n, min_each));
        }
        Ok(n)
    }

    /// Enter one level of nesting; fails past [`Limits::max_depth`]. Pair
    /// with [`Reader::leave`].
    #[inline]
    pub fn enter(&mut self, what: &str) -> Result<(), RpcError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.too_deep(what));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self, what: &str) -> RpcError {
        RpcError::invalid_argument(format!(
            "{what} nested deeper than {} levels (see Limits::max_depth)",
            self.limits.max_depth
        ))
    }

    /// Leave one level of nesting.
    #[inline]
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Fail if any bytes are left over: a message with trailing bytes was
    /// built for a different type than the one we decoded.
    pub fn finish(&self, what: &str) -> Result<(), RpcError> {
        if self.remaining() != 0 {
            return Err(RpcError::invalid_argument(format!(
                "{} unexpected bytes after {what} (the sender encoded a different type?)",
                self.remaining()
            )));
        }
        Ok(())
    }
}

/// The most elements a decoder reserves room for before they decode.
const PREALLOCATE_MAX: usize = 4096;

/// Encode `value` into a new byte vector.
pub fn to_bytes<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Decode exactly one `T` from `bytes` (no bytes may be left over).
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
pub fn from_json<T: Decode>(bytes: &[u8], limits: Limits, cx: &JsonCx<'_>) -> Result<T, RpcError> {
    if bytes.len() > limits.max_len {
        return Err(RpcError::invalid_argument(format!(
            "JSON text of {} bytes is over the limit of {} (see Limits::max_len)",
            bytes.len(),
            limits.max_len
        )));
    }
    let tree = json::parse(bytes, limits.max_depth)?;
    T::decode_json(&tree, cx)
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

/// Decode exactly one `T` from `bytes` in the given codec.
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

// ---- numbers -------------------------------------------------------------
//
// Binary: fixed width, big-endian. JSON: a number, written and read as exact
// decimal text (integers never pass through a float, so u64::MAX survives).

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn encode_json(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
        impl Decode for $t {
            const MIN_BYTES: usize = std::mem::size_of::<$t>();
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
                Ok(<$t>::from_be_bytes(r.array(stringify!($t))?))
            }
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
        }
        impl Decode for $t {
            const MIN_BYTES: usize = std::mem::size_of::<$t>();
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
                Ok(<$t>::from_be_bytes(r.array(stringify!($t))?))
            }
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

// ---- strings -------------------------------------------------------------

impl Encode for str {
    const JSON_STRING: bool = true;
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
    fn encode_json(&self, out: &mut String) {
        json::write_string(out, self)
    }
}
impl Encode for String {
    const JSON_STRING: bool = true;
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        json::write_string(out, self)
    }
}
impl Decode for String {
    const MIN_BYTES: usize = 4;
    const JSON_STRING: bool = true;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = r.len("string length")?;
        let at = r.pos;
        let bytes = r.take(n, "string")?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(RpcError::invalid_argument(format!(
                "string at offset {at} is not valid UTF-8: {e}"
            ))),
        }
    }
    fn decode_json(v: &Json, _cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::String(s) => Ok(s.clone()),
            other => Err(mismatch("a string", other)),
        }
    }
}

/// Write a u32 length prefix. Lengths over `u32::MAX` cannot be sent; they
/// are also far past any frame limit, so this is a bug in the caller.
fn encode_len(n: usize, out: &mut Vec<u8>) {
    let n = u32::try_from(n).expect("minirpc cannot encode a sequence of more than 2^32-1 items");
    n.encode(out)
}

// ---- references and boxes ------------------------------------------------

impl<T: Encode + ?Sized> Encode for &T {
    const JSON_STRING: bool = T::JSON_STRING;
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        (**self).encode_json(out)
    }
}
impl<T: Encode + ?Sized> Encode for Box<T> {
    const JSON_STRING: bool = T::JSON_STRING;
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        (**self).encode_json(out)
    }
}
impl<T: Decode> Decode for Box<T> {
    const MIN_BYTES: usize = T::MIN_BYTES;
    const JSON_STRING: bool = T::JSON_STRING;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        r.enter("Box")?;
        let v = T::decode(r)?;
        r.leave();
        Ok(Box::new(v))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        T::decode_json(v, cx).map(Box::new)
    }
    fn declared_types(out: &mut DeclaredTypes) {
        T::declared_types(out)
    }
}

// ---- sequences and maps --------------------------------------------------

fn json_array<'a, T: Encode + 'a>(items: impl Iterator<Item = &'a T>, out: &mut String) {
    out.push('[');
    for (i, x) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        x.encode_json(out);
    }
    out.push(']');
}

impl<T: Encode> Encode for [T] {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for x in self {
            x.encode(out);
        }
    }
    fn encode_json(&self, out: &mut String) {
        json_array(self.iter(), out)
    }
}
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        json_array(self.iter(), out)
    }
}
impl<T: Decode> Decode for Vec<T> {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = r.seq_len("Vec length", T::MIN_BYTES)?;
        r.enter("Vec")?;
        // `seq_len` has checked n against the bytes that exist, but an
        // element can be bigger in memory than on the wire (an
        // `Option<String>` is 1 byte as None, 24 in memory), so reserve at
        // most a modest amount up front and let the Vec grow as elements
        // actually decode.
        let mut v = Vec::with_capacity(n.min(PREALLOCATE_MAX));
        for _ in 0..n {
            v.push(T::decode(r)?);
        }
        r.leave();
        Ok(v)
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::Array(items) => items.iter().map(|x| T::decode_json(x, cx)).collect(),
            other => Err(mismatch("an array", other)),
        }
    }
    fn declared_types(out: &mut DeclaredTypes) {
        T::declared_types(out)
    }
}

/// A map as JSON: an object if its keys are strings, otherwise an array of
/// `[key, value]` pairs (JSON object keys can only be strings).
fn json_map<'a, K: Encode + 'a, V: Encode + 'a>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    out: &mut String,
) {
    let as_object = K::JSON_STRING;
    out.push(if as_object { '{' } else { '[' });
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if as_object {
            k.encode_json(out);
            out.push(':');
            v.encode_json(out);
        } else {
            out.push('[');
            k.encode_json(out);
            out.push(',');
            v.encode_json(out);
            out.push(']');
        }
    }
    out.push(if as_object { '}' } else { ']' });
}

/// Read a JSON map (see [`json_map`]) entry by entry into `insert`, which
/// returns false on a duplicate key.
fn json_map_entries<K: Decode, V: Decode>(
    v: &Json,
    cx: &JsonCx<'_>,
    mut insert: impl FnMut(K, V) -> bool,
) -> Result<(), RpcError> {
    let dup = || RpcError::invalid_argument("map has a duplicate key");
    match v {
        Json::Object(members) if <K as Decode>::JSON_STRING => {
            for (k, val) in members {
                let key = K::decode_json(&Json::String(k.clone()), cx)?;
                if !insert(key, V::decode_json(val, cx)?) {
                    return Err(dup());
                }
            }
            Ok(())
        }
        Json::Array(pairs) if !<K as Decode>::JSON_STRING => {
            for pair in pairs {
                match pair {
                    Json::Array(kv) if kv.len() == 2 => {
                        let key = K::decode_json(&kv[0], cx)?;
                        if !insert(key, V::decode_json(&kv[1], cx)?) {
                            return Err(dup());
                        }
                    }
                    other => return Err(mismatch("a [key, value] pair", other)),
                }
            }
            Ok(())
        }
        other => Err(mismatch(
            if <K as Decode>::JSON_STRING {
                "an object (a map with string keys)"
            } else {
                "an array of [key, value] pairs"
            },
            other,
        )),
    }
}

impl<K: Encode, V: Encode, S> Encode for HashMap<K, V, S> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for (k, v) in self {
            k.encode(out);
            v.encode(out);
        }
    }
    fn encode_json(&self, out: &mut String) {
        json_map(self.iter(), out)
    }
}
impl<K: Decode + Eq + Hash, V: Decode> Decode for HashMap<K, V> {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = r.seq_len("map length", K::MIN_BYTES + V::MIN_BYTES)?;
        r.enter("map")?;
        let mut m = HashMap::with_capacity(n.min(PREALLOCATE_MAX));
        for _ in 0..n {
            let k = K::decode(r)?;
            let v = V::decode(r)?;
            if m.insert(k, v).is_some() {
                return Err(RpcError::invalid_argument("map has a duplicate key"));
            }
        }
        r.leave();
        Ok(m)
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        let mut m = HashMap::new();
        json_map_entries(v, cx, |k, v| m.insert(k, v).is_none())?;
        Ok(m)
    }
    fn declared_types(out: &mut DeclaredTypes) {
        K::declared_types(out);
        V::declared_types(out);
    }
}

impl<K: Encode, V: Encode> Encode for BTreeMap<K, V> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for (k, v) in self {
            k.encode(out);
            v.encode(out);
        }
    }
    fn encode_json(&self, out: &mut String) {
        json_map(self.iter(), out)
    }
}
impl<K: Decode + Ord, V: Decode> Decode for BTreeMap<K, V> {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = r.seq_len("map length", K::MIN_BYTES + V::MIN_BYTES)?;
        r.enter("map")?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = K::decode(r)?;
            let v = V::decode(r)?;
            if m.insert(k, v).is_some() {
                return Err(RpcError::invalid_argument("map has a duplicate key"));
            }
        }
        r.leave();
        Ok(m)
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        let mut m = BTreeMap::new();
        json_map_entries(v, cx, |k, v| m.insert(k, v).is_none())?;
        Ok(m)
    }
    fn declared_types(out: &mut DeclaredTypes) {
        K::declared_types(out);
        V::declared_types(out);
    }
}

// ---- Option and Result ---------------------------------------------------
//
// JSON: `None` is `null` and `Some(v)` is just `v`, as every JSON library
// does; so `Some(None)` cannot be told from `None` in JSON (it can in
// binary). `Result` is `{"Ok": v}` or `{"Err": e}`.

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out)
            }
        }
    }
    fn encode_json(&self, out: &mut String) {
        match self {
            None => out.push_str("null"),
            Some(v) => v.encode_json(out),
        }
    }
}
impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        match r.take(1, "Option tag")?[0] {
            0 => Ok(None),
            1 => {
                r.enter("Option")?;
                let v = T::decode(r)?;
                r.leave();
                Ok(Some(v))
            }
            b => Err(RpcError::invalid_argument(format!(
                "Option tag must be 0 or 1, got {b}"
            ))),
        }
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::Null => Ok(None),
            other => T::decode_json(other, cx).map(Some),
        }
    }
    fn declared_types(out: &mut DeclaredTypes) {
        T::declared_types(out)
    }
}

impl<T: Encode, E: Encode> Encode for Result<T, E> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ok(v) => {
                out.push(0);
                v.encode(out)
            }
            Err(e) => {
                out.push(1);
                e.encode(out)
            }
        }
    }
    fn encode_json(&self, out: &mut String) {
        match self {
            Ok(v) => {
                out.push_str("{\"Ok\":");
                v.encode_json(out);
            }
            Err(e) => {
                out.push_str("{\"Err\":");
                e.encode_json(out);
            }
        }
        out.push('}');
    }
}
impl<T: Decode, E: Decode> Decode for Result<T, E> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let tag = r.take(1, "Result tag")?[0];
        r.enter("Result")?;
        let v = match tag {
            0 => Ok(T::decode(r)?),
            1 => Err(E::decode(r)?),
            b => {
                return Err(RpcError::invalid_argument(format!(
                    "Result tag must be 0 or 1, got {b}"
                )))
            }
        };
        r.leave();
        Ok(v)
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::Object(m) if m.len() == 1 && m[0].0 == "Ok" => {
                Ok(Ok(T::decode_json(&m[0].1, cx)?))
            }
            Json::Object(m) if m.len() == 1 && m[0].0 == "Err" => {
                Ok(Err(E::decode_json(&m[0].1, cx)?))
            }
            other => Err(mismatch("{\"Ok\": ...} or {\"Err\": ...}", other)),
        }
    }
    fn declared_types(out: &mut DeclaredTypes) {
        T::declared_types(out);
        E::declared_types(out);
    }
}

// ---- tuples --------------------------------------------------------------
//
// JSON: an array with exactly one element per field, so Multiply(10, 20)'s
// arguments are `[10,20]`.

macro_rules! tuple {
    ($n:expr; $($name:ident),+) => {
        impl<$($name: Encode),+> Encode for ($($name,)+) {
            #[allow(non_snake_case)]
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
            #[allow(non_snake_case)]
            fn encode_json(&self, out: &mut String) {
                let ($($name,)+) = self;
                out.push('[');
                let mut first = true;
                $(
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    $name.encode_json(out);
                )+
                let _ = first;
                out.push(']');
            }
        }
        impl<$($name: Decode),+> Decode for ($($name,)+) {
            const MIN_BYTES: usize = 0 $(+ $name::MIN_BYTES)+;
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
                Ok(($($name::decode(r)?,)+))
            }
            fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
                match v {
                    Json::Array(items) if items.len() == $n => {
                        let mut it = items.iter();
                        Ok(($(
                            match it.next() {
                                Some(x) => $name::decode_json(x, cx)?,
                                None => return Err(mismatch(concat!("an array of ", $n), v)),
                            },
                        )+))
                    }
                    Json::Array(items) => Err(RpcError::invalid_argument(format!(
                        "expected an array of {} elements, found one of {}",
                        $n,
                        items.len()
                    ))),
                    other => Err(mismatch(concat!("an array of ", $n, " elements"), other)),
                }
            }
            fn declared_types(out: &mut DeclaredTypes) {
                $($name::declared_types(out);)+
            }
        }
    };
}
tuple!(1; A);
tuple!(2; A, B);
tuple!(3; A, B, C);
tuple!(4; A, B, C, D);
tuple!(5; A, B, C, D, E);
tuple!(6; A, B, C, D, E, F);

// ---- a built-in named type -------------------------------------------------
//
// `Duration` is on the whitelist's built-in layer: it has a name in JSON
// (`{"@type":"Duration","secs":1,"nanos":500}`), and a method may take one
// without declaring it.

impl Encode for std::time::Duration {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_secs().encode(out);
        self.subsec_nanos().encode(out);
    }
    fn encode_json(&self, out: &mut String) {
        json_record_start(out, "Duration");
        json_field_name(out, "secs");
        self.as_secs().encode_json(out);
        json_field_name(out, "nanos");
        self.subsec_nanos().encode_json(out);
        out.push('}');
    }
}
impl Decode for std::time::Duration {
    const MIN_BYTES: usize = 12;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let secs = u64::decode(r)?;
        let nanos = u32::decode(r)?;
        duration(secs, nanos)
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        cx.check_record("Duration", v)?;
        let secs = json_field(v, "Duration", "secs", cx)?;
        let nanos = json_field(v, "Duration", "nanos", cx)?;
        duration(secs, nanos)
    }
}

fn duration(secs: u64, nanos: u32) -> Result<std::time::Duration, RpcError> {
    if nanos >= 1_000_000_000 {
        return Err(RpcError::invalid_argument(format!(
            "Duration nanos must be below 1000000000, got {nanos}"
        )));
    }
    Ok(std::time::Duration::new(secs, nanos))
}

// ---- user types ------------------------------------------------------------

/// Declare a struct or enum and make it [`Encode`] + [`Decode`].
///
/// Write the type exactly as you would by hand, inside `record! { ... }`.
/// Structs need named fields; enum variants may be unit (`Empty`) or have
/// named fields (`Circle { radius: f64 }`).
///
/// ```
/// minirpc::record! {
///     #[derive(Debug, Clone, PartialEq)]
///     pub struct Item { pub sku: String, pub qty: u32 }
/// }
/// minirpc::record! {
///     #[derive(Debug, PartialEq)]
///     pub enum Shape { Empty, Circle { radius: f64 } }
/// }
/// let bytes = minirpc::codec::to_bytes(&Item { sku: "A-1".into(), qty: 2 });
/// assert_eq!(bytes, [0, 0, 0, 3, b'A', b'-', b'1', 0, 0, 0, 2]);
/// let back: Item = minirpc::codec::from_bytes(&bytes, Default::default()).unwrap();
/// assert_eq!(back.qty, 2);
/// ```
///
/// There is no magic: for the struct above the macro writes exactly this
/// (plus `encode_json`/`decode_json`, which write and read
/// `{"@type":"Item","sku":"A-1","qty":2}` the same way, field by field, and
/// `declared_types`, which reports `"Item"` for the whitelist):
///
/// ```ignore
/// impl Encode for Item {
///     fn encode(&self, out: &mut Vec<u8>) {
///         self.sku.encode(out);
///         self.qty.encode(out);
///     }
/// }
/// impl Decode for Item {
///     fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
///         r.enter("Item")?;
///         let v = Item { sku: Decode::decode(r)?, qty: Decode::decode(r)? };
///         r.leave();
///         Ok(v)
///     }
/// }
/// ```
#[macro_export]
macro_rules! record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $fty ),*
        }
        impl $crate::codec::Encode for $name {
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                let _ = &out;
                $( $crate::codec::Encode::encode(&self.$field, out); )*
            }
            fn encode_json(&self, out: &mut ::std::string::String) {
                $crate::codec::json_record_start(out, stringify!($name));
                $(
                    $crate::codec::json_field_name(out, stringify!($field));
                    $crate::codec::Encode::encode_json(&self.$field, out);
                )*
                out.push('}');
            }
        }
        impl $crate::codec::Decode for $name {
            const MIN_BYTES: usize = 0 $(+ <$fty as $crate::codec::Decode>::MIN_BYTES)*;
            fn decode(r: &mut $crate::codec::Reader<'_>) -> ::std::result::Result<Self, $crate::RpcError> {
                r.enter(stringify!($name))?;
                let v = $name { $( $field: $crate::codec::Decode::decode(r)? ),* };
                r.leave();
                Ok(v)
            }
            fn decode_json(
                v: &$crate::json::Json,
                cx: &$crate::codec::JsonCx<'_>,
            ) -> ::std::result::Result<Self, $crate::RpcError> {
                // The whitelist check comes first, before any field is read.
                cx.check_record(stringify!($name), v)?;
                Ok($name {
                    $( $field: $crate::codec::json_field(v, stringify!($name), stringify!($field), cx)? ),*
                })
            }
            fn declared_types(out: &mut $crate::codec::DeclaredTypes) {
                // `visit` is false the second time: that stops recursive
                // types (a Tree of Trees) from looping.
                if out.visit(stringify!($name), ::std::any::type_name::<Self>()) {
                    $( <$fty as $crate::codec::Decode>::declared_types(out); )*
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident $( { $( $field:ident : $fty:ty ),* $(,)? } )? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant $( { $( $field : $fty ),* } )? ),*
        }
        impl $crate::codec::Encode for $name {
            #[allow(unused_assignments, unused_variables)]
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                // The variant index is its position in the declaration.
                let mut index: u32 = 0;
                $(
                    if let $name::$variant $( { $( $field ),* } )? = self {
                        $crate::codec::Encode::encode(&index, out);
                        $( $( $crate::codec::Encode::encode($field, out); )* )?
                        return;
                    }
                    index += 1;
                )*
            }
            #[allow(unused_variables)]
            fn encode_json(&self, out: &mut ::std::string::String) {
                // {"@type":"Shape","@variant":"Circle","radius":1.5}
                $(
                    if let $name::$variant $( { $( $field ),* } )? = self {
                        $crate::codec::json_record_start(out, stringify!($name));
                        $crate::codec::json_field_name(out, "@variant");
                        $crate::json::write_string(out, stringify!($variant));
                        $( $(
                            $crate::codec::json_field_name(out, stringify!($field));
                            $crate::codec::Encode::encode_json($field, out);
                        )* )?
                        out.push('}');
                        return;
                    }
                )*
            }
        }
        impl $crate::codec::Decode for $name {
            const MIN_BYTES: usize = 4;
            #[allow(unused_assignments)]
            fn decode(r: &mut $crate::codec::Reader<'_>) -> ::std::result::Result<Self, $crate::RpcError> {
                let wanted = <u32 as $crate::codec::Decode>::decode(r)?;
                let mut index: u32 = 0;
                $(
                    if wanted == index {
                        r.enter(stringify!($name))?;
                        let v = $name::$variant $( { $( $field: $crate::codec::Decode::decode(r)? ),* } )?;
                        r.leave();
                        return Ok(v);
                    }
                    index += 1;
                )*
                Err($crate::RpcError::invalid_argument(format!(
                    "{} has no variant number {} (it has {})", stringify!($name), wanted, index
                )))
            }
            #[allow(unused_variables)]
            fn decode_json(
                v: &$crate::json::Json,
                cx: &$crate::codec::JsonCx<'_>,
            ) -> ::std::result::Result<Self, $crate::RpcError> {
                cx.check_record(stringify!($name), v)?;
                let variant = match v.get("@variant") {
                    Some($crate::json::Json::String(s)) => s.as_str(),
                    _ => return Err($crate::RpcError::invalid_argument(format!(
                        "{} needs an \"@variant\" string naming one of its variants", stringify!($name)
                    ))),
                };
                $(
                    if variant == stringify!($variant) {
                        return Ok($name::$variant $( { $(
                            $field: $crate::codec::json_field(v, stringify!($name), stringify!($field), cx)?
                        ),* } )?);
                    }
                )*
                Err($crate::RpcError::invalid_argument(format!(
                    "{} has no variant \"{}\"", stringify!($name), variant
                )))
            }
            fn declared_types(out: &mut $crate::codec::DeclaredTypes) {
                if out.visit(stringify!($name), ::std::any::type_name::<Self>()) {
                    $( $( $( <$fty as $crate::codec::Decode>::declared_types(out); )* )? )*
                }
            }
        }
    };
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
}
