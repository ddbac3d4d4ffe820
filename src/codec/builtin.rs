//! The built-in types that are not numbers or collections: strings,
//! references and boxes, `Option`, `Result`, tuples, and `Duration`.
//!
//! Article: 原理 › 序列化. The one idea to take away: **a composite type's
//! layout is its parts' layouts, one after another**, plus at most a tag or
//! a length: a tuple is its fields with nothing between, an `Option` is one
//! tag byte and then the value. Of these, only a `String` and a `Box` own
//! heap memory, so only they charge the decode budget (a `String` its bytes,
//! a `Box` the size of what it holds); the rest live inside their owner.

use super::{encode_len, json_field, json_field_name, json_record_start, mismatch};
use super::{DeclaredTypes, Decode, Encode, JsonCx, Reader};
use crate::error::RpcError;
use crate::json::{self, Json};

// ---- strings -------------------------------------------------------------

impl Encode for str {
    const JSON_STRING: bool = true;
    #[inline]
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
    #[inline]
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
    #[inline]
    fn encoded_len(&self) -> usize {
        4 + self.len()
    }
    #[inline]
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
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        // One bounds check for the length and the bytes together.
        let (at, bytes) = r.len_prefixed("string length")?;
        r.charge(bytes.len(), "a string")?;
        // Copy first, then check the copy: the new allocation is aligned,
        // which lets the UTF-8 check take its word-at-a-time path over
        // ASCII (the bytes in the frame sit at any offset). Buys a
        // cheaper check per string (`benches/codec.rs`, `order/decode`).
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            RpcError::invalid_argument(format!(
                "string at offset {at} is not valid UTF-8: {}",
                e.utf8_error()
            ))
        })
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::String(s) => {
                cx.charge(s.len(), "a string")?;
                Ok(s.clone())
            }
            other => Err(mismatch("a string", other)),
        }
    }
}

// ---- references and boxes ------------------------------------------------

impl<T: Encode + ?Sized> Encode for &T {
    const JSON_STRING: bool = T::JSON_STRING;
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode_json(&self, out: &mut String) {
        (**self).encode_json(out)
    }
}
impl<T: Encode + ?Sized> Encode for Box<T> {
    const JSON_STRING: bool = T::JSON_STRING;
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out)
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
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
        r.charge(std::mem::size_of::<T>(), "a Box")?;
        let v = T::decode(r)?;
        r.leave();
        Ok(Box::new(v))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        cx.charge(std::mem::size_of::<T>(), "a Box")?;
        T::decode_json(v, cx).map(Box::new)
    }
    fn declared_types(out: &mut DeclaredTypes) {
        T::declared_types(out)
    }
}

// ---- Option and Result ---------------------------------------------------
//
// JSON: `None` is `null` and `Some(v)` is just `v`, as every JSON library
// does; so `Some(None)` cannot be told from `None` in JSON (it can in
// binary). `Result` is `{"Ok": v}` or `{"Err": e}`.

impl<T: Encode> Encode for Option<T> {
    #[inline]
    fn encoded_len(&self) -> usize {
        1 + self.as_ref().map_or(0, Encode::encoded_len)
    }
    #[inline]
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
    fn encoded_len(&self) -> usize {
        1 + match self {
            Ok(v) => v.encoded_len(),
            Err(e) => e.encoded_len(),
        }
    }
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
            #[inline]
            fn encoded_len(&self) -> usize {
                let ($($name,)+) = self;
                0 $(+ $name.encoded_len())+
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
    fn encoded_len(&self) -> usize {
        12
    }
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
