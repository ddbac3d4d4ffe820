//! The binary codec: how values become bytes and bytes become values.
//!
//! Article: 本地调用VS远程调用 › 序列化和反序列化, and 原理 › 序列化. A local
//! call passes `10` and `20` on the stack; a remote call cannot share memory,
//! so both sides must agree on a byte layout. The one idea to take away:
//! **the bytes carry no type information; the types live in the code on both
//! sides**, so the encoding is small and fast, and decoding can only ever
//! build the type the receiver asked for (which is also what makes it safe,
//! see chapter 12 of the docs).
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
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Which wire format a frame's arguments and result are in. Sent as one byte
/// in the frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum CodecId {
    /// The compact binary layout of this module.
    #[default]
    Binary = 0,
}

impl CodecId {
    /// The codec for a header byte, or `None` if this build does not know it.
    pub fn from_byte(b: u8) -> Option<CodecId> {
        match b {
            0 => Some(CodecId::Binary),
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

/// Something that can be written in the binary layout.
pub trait Encode {
    /// Append this value's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
}

/// Something that can be read back from the binary layout.
pub trait Decode: Sized {
    /// The fewest bytes one value of this type can take on the wire (`u64`:
    /// 8, `String`: 4 for its length, `()`: 0). A sequence that claims `n`
    /// elements needs at least `n * MIN_BYTES` bytes, so the claim is
    /// checked against what actually arrived before anything is reserved.
    const MIN_BYTES: usize = 1;

    /// Read one value from `r`, or explain (as `InvalidArgument`) why the
    /// bytes are not one.
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError>;
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
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes, or an error naming what we were reading.
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RpcError> {
        if n > self.remaining() {
            return Err(RpcError::invalid_argument(format!(
                "truncated input: {what} needs {n} bytes at offset {} but only {} remain",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Exactly `N` bytes as an array (for fixed-width numbers).
    pub fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RpcError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A u32 length prefix counting bytes (a string's), checked against the
    /// bytes left and [`Limits::max_len`] before the caller allocates
    /// anything for it.
    pub fn len(&mut self, what: &str) -> Result<usize, RpcError> {
        let at = self.pos;
        let n = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        if n > self.limits.max_len {
            return Err(RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements, over the limit of {} (see Limits::max_len)",
                self.limits.max_len
            )));
        }
        if n > self.remaining() {
            return Err(RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// A u32 element count for a sequence whose elements take at least
    /// `min_each` bytes: checked against [`Limits::max_len`] and against the
    /// bytes left (`count * min_each` must fit), before anything is reserved.
    /// Zero-sized elements (`()`) are bounded by `max_len` alone.
    pub fn seq_len(&mut self, what: &str, min_each: usize) -> Result<usize, RpcError> {
        let at = self.pos;
        let n = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        if n > self.limits.max_len {
            return Err(RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements, over the limit of {} (see Limits::max_len)",
                self.limits.max_len
            )));
        }
        let needed = n.saturating_mul(min_each);
        if needed > self.remaining() {
            return Err(RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements (at least {needed} bytes) but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Enter one level of nesting; fails past [`Limits::max_depth`]. Pair
    /// with [`Reader::leave`].
    pub fn enter(&mut self, what: &str) -> Result<(), RpcError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(RpcError::invalid_argument(format!(
                "{what} nested deeper than {} levels (see Limits::max_depth)",
                self.limits.max_depth
            )));
        }
        Ok(())
    }

    /// Leave one level of nesting.
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

// ---- numbers -------------------------------------------------------------

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
        impl Decode for $t {
            const MIN_BYTES: usize = std::mem::size_of::<$t>();
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
                Ok(<$t>::from_be_bytes(r.array(stringify!($t))?))
            }
        }
    )*};
}
number!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

impl Encode for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out)
    }
}
impl Decode for usize {
    const MIN_BYTES: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let v = u64::decode(r)?;
        usize::try_from(v)
            .map_err(|_| RpcError::invalid_argument(format!("usize {v} does not fit here")))
    }
}
impl Encode for isize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as i64).encode(out)
    }
}
impl Decode for isize {
    const MIN_BYTES: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let v = i64::decode(r)?;
        isize::try_from(v)
            .map_err(|_| RpcError::invalid_argument(format!("isize {v} does not fit here")))
    }
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self as u8)
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
}

impl Encode for char {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u32).encode(out)
    }
}
impl Decode for char {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let v = u32::decode(r)?;
        char::from_u32(v).ok_or_else(|| {
            RpcError::invalid_argument(format!("{v:#x} is not a Unicode scalar value"))
        })
    }
}

impl Encode for () {
    fn encode(&self, _out: &mut Vec<u8>) {}
}
impl Decode for () {
    const MIN_BYTES: usize = 0;
    fn decode(_r: &mut Reader<'_>) -> Result<Self, RpcError> {
        Ok(())
    }
}

// ---- strings -------------------------------------------------------------

impl Encode for str {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
}
impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out)
    }
}
impl Decode for String {
    const MIN_BYTES: usize = 4;
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
}

/// Write a u32 length prefix. Lengths over `u32::MAX` cannot be sent; they
/// are also far past any frame limit, so this is a bug in the caller.
fn encode_len(n: usize, out: &mut Vec<u8>) {
    let n = u32::try_from(n).expect("minirpc cannot encode a sequence of more than 2^32-1 items");
    n.encode(out)
}

// ---- references and boxes ------------------------------------------------

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
}
impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
}
impl<T: Decode> Decode for Box<T> {
    const MIN_BYTES: usize = T::MIN_BYTES;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        r.enter("Box")?;
        let v = T::decode(r)?;
        r.leave();
        Ok(Box::new(v))
    }
}

// ---- sequences and maps --------------------------------------------------

impl<T: Encode> Encode for [T] {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for x in self {
            x.encode(out);
        }
    }
}
impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out)
    }
}
impl<T: Decode> Decode for Vec<T> {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = r.seq_len("Vec length", T::MIN_BYTES)?;
        r.enter("Vec")?;
        // Safe to reserve: `seq_len` has checked n against the bytes that exist.
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(r)?);
        }
        r.leave();
        Ok(v)
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
}
impl<K: Decode + Eq + Hash, V: Decode> Decode for HashMap<K, V> {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = r.seq_len("map length", K::MIN_BYTES + V::MIN_BYTES)?;
        r.enter("map")?;
        let mut m = HashMap::with_capacity(n);
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
}

impl<K: Encode, V: Encode> Encode for BTreeMap<K, V> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_len(self.len(), out);
        for (k, v) in self {
            k.encode(out);
            v.encode(out);
        }
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
}

// ---- Option and Result ---------------------------------------------------

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
}

// ---- tuples --------------------------------------------------------------

macro_rules! tuple {
    ($($name:ident),+) => {
        impl<$($name: Encode),+> Encode for ($($name,)+) {
            #[allow(non_snake_case)]
            #[inline]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
        }
        impl<$($name: Decode),+> Decode for ($($name,)+) {
            const MIN_BYTES: usize = 0 $(+ $name::MIN_BYTES)+;
            #[inline]
            fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
                Ok(($($name::decode(r)?,)+))
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);
tuple!(A, B, C, D, E, F);

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
/// There is no magic: for the struct above the macro writes exactly
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
        }
        impl $crate::codec::Decode for $name {
            const MIN_BYTES: usize = 0 $(+ <$fty as $crate::codec::Decode>::MIN_BYTES)*;
            fn decode(r: &mut $crate::codec::Reader<'_>) -> ::std::result::Result<Self, $crate::RpcError> {
                r.enter(stringify!($name))?;
                let v = $name { $( $field: $crate::codec::Decode::decode(r)? ),* };
                r.leave();
                Ok(v)
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
