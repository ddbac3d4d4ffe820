//! Exercise ex03_blob (chapter 03): decoding a length prefix by hand,
//! without believing it.
//!
//! `Blob` is written as a `u32` byte count, then the bytes (done below).
//! Write `decode`: read the count with `Reader::len` (which checks it
//! against the bytes left and `Limits::max_len`), charge it to the decode
//! budget with `Reader::charge` before copying, then take the bytes. So
//! far it returns an empty `Blob` whatever it is given.
//! Check it with `cargo test --features exercises --test exercises -- ex03_blob`.

use minirpc::codec::{JsonCx, Reader};
use minirpc::json::Json;
use minirpc::{Decode, Encode, RpcError};

/// Some bytes, with their length in front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl Encode for Blob {
    fn encode(&self, out: &mut Vec<u8>) {
        let n = u32::try_from(self.0.len()).expect("a Blob of at most 4 GiB");
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&self.0);
    }

    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out);
    }
}

impl Decode for Blob {
    const MIN_BYTES: usize = 4;

    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let _ = r;
        Ok(Blob(Vec::new()))
    }

    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        Vec::<u8>::decode_json(v, cx).map(Blob)
    }
}
