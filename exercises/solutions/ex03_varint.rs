//! Reference solution of ex03_varint: LEB128, with the two refusals that
//! make every value have exactly one encoding.

use minirpc::codec::{JsonCx, Reader};
use minirpc::json::Json;
use minirpc::{Decode, Encode, RpcError};

/// A `u64` in 1 to 10 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Varint(pub u64);

impl Encode for Varint {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut v = self.0;
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out);
    }
}

impl Decode for Varint {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let mut value = 0u64;
        for i in 0..10 {
            let [b] = r.array::<1>("a Varint")?;
            // The tenth byte holds bit 63 alone.
            if i == 9 && b > 1 {
                return Err(RpcError::invalid_argument("a Varint past u64::MAX"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(RpcError::invalid_argument(
                        "a Varint with a needless 00 byte at the end (non-minimal encoding)",
                    ));
                }
                return Ok(Varint(value));
            }
        }
        Err(RpcError::invalid_argument("a Varint longer than 10 bytes"))
    }

    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        u64::decode_json(v, cx).map(Varint)
    }
}
