//! Sequences and maps: `Vec<T>`, `[T]`, `HashMap` and `BTreeMap`.
//!
//! Article: 原理 › 序列化 (and its 反序列化安全问题: the bytes come from a
//! peer we do not control). The one idea to take away: **a count from the wire is checked
//! twice before a single element is reserved**: against the bytes that
//! arrived (a `Vec<u64>` of `n` needs `8n` of them), and against the decode
//! budget for what the elements will take in *memory*, which can be far
//! more (a `None` is one byte on the wire and `size_of::<Option<T>>()` in
//! a `Vec`).
//!
//! ```text
//!  Vec<T>::decode
//!   count n ──seq_len──► n ≤ max_len, n × T::MIN_BYTES ≤ bytes left
//!           ──charge───► n × size_of::<T>() (at least n) ≤ budget left
//!           ──reserve──► exactly n, then decode n elements
//! ```
//!
//! Once both checks pass, reserving all `n` at once is safe (the budget has
//! already said this much memory is acceptable), and it saves the `Vec` the
//! copies of growing step by step.

use super::budget::{element_cost, map_entry_cost};
use super::{encode_len, mismatch, DeclaredTypes, Decode, Encode, JsonCx, Reader};
use crate::error::RpcError;
use crate::json::Json;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

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
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        // Into a buffer with no room left (a fresh `Vec`), room for it all
        // at once: one allocation (see `Encode::encoded_len`).
        if out.capacity() == out.len() {
            out.reserve(self.encoded_len());
        }
        encode_len(self.len(), out);
        // One by one, or one copy for bytes (see `Encode::encode_slice`).
        T::encode_slice(self, out);
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        4 + T::slice_encoded_len(self)
    }
    fn encode_json(&self, out: &mut String) {
        json_array(self.iter(), out)
    }
}
impl<T: Encode> Encode for Vec<T> {
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out)
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        self.as_slice().encoded_len()
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
        // `Option<String>` is 1 byte as None, 24 in memory), so the memory
        // is charged to the decode budget before it is reserved.
        r.charge(n.saturating_mul(element_cost::<T>()), "a Vec")?;
        // Reserves n and decodes them one by one, or copies n bytes at
        // once for a Vec<u8> (see `Decode::decode_vec`).
        let v = T::decode_vec(r, n)?;
        r.leave();
        Ok(v)
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        match v {
            Json::Array(items) => {
                cx.charge(items.len().saturating_mul(element_cost::<T>()), "a Vec")?;
                items.iter().map(|x| T::decode_json(x, cx)).collect()
            }
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
    let entries = match v {
        Json::Object(members) => members.len(),
        Json::Array(pairs) => pairs.len(),
        _ => 0,
    };
    cx.charge(entries.saturating_mul(map_entry_cost::<K, V>()), "a map")?;
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
    fn encoded_len(&self) -> usize {
        4 + self
            .iter()
            .map(|(k, v)| k.encoded_len() + v.encoded_len())
            .sum::<usize>()
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
        r.charge(n.saturating_mul(map_entry_cost::<K, V>()), "a map")?;
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
    fn encoded_len(&self) -> usize {
        4 + self
            .iter()
            .map(|(k, v)| k.encoded_len() + v.encoded_len())
            .sum::<usize>()
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
        r.charge(n.saturating_mul(map_entry_cost::<K, V>()), "a map")?;
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
