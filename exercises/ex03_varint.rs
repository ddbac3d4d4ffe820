//! Exercise ex03_varint (chapter 03): a variable-length integer that
//! refuses every encoding but the shortest.
//!
//! Encode `Varint` as LEB128: 7 bits per byte, lowest first, the high bit
//! set on every byte but the last (`300` is `ac 02`, `0` is `00`). Decode
//! it back, and never trust the input: refuse an encoding longer than 10
//! bytes or past `u64::MAX`, and refuse a non-minimal one such as `80 00`
//! for zero (a last byte of `00` after others). Errors are
//! `RpcError::invalid_argument`. JSON is an ordinary number (done below).
//! So far it is written as 8 fixed bytes, like a `u64`.
//! Check it with `cargo test --features exercises --test exercises -- ex03_varint`.

use minirpc::codec::{JsonCx, Reader};
use minirpc::json::Json;
use minirpc::{Decode, Encode, RpcError};

/// A `u64` in 1 to 10 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Varint(pub u64);

impl Encode for Varint {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }

    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out);
    }
}

impl Decode for Varint {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        Ok(Varint(u64::from_be_bytes(r.array::<8>("a Varint")?)))
    }

    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        u64::decode_json(v, cx).map(Varint)
    }
}
