//! Reference solution of ex03_blob: check the length, charge it, copy.

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
        let n = r.len("a Blob")?;
        r.charge(n, "a Blob")?;
        Ok(Blob(r.take(n, "a Blob")?.to_vec()))
    }

    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        Vec::<u8>::decode_json(v, cx).map(Blob)
    }
}
