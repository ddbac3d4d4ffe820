//! The check of ex03_blob: `check_codec` (round trips, truncations,
//! trailing bytes, a hostile length), and a decoder that charges the
//! budget.

use crate::exercises::ex03_blob::Blob;
use crate::exercises::{broke, unfinished};
use minirpc::codec::{from_bytes, to_bytes, Limits};
use minirpc::testkit::codec_failures;
use minirpc::Status;

const NAME: &str = "ex03_blob";

/// What the starting point fails with.
pub const UNFINISHED: &str = "decode() still returns an empty Blob; read the length with Reader::len, charge it, then take the bytes";

/// Run the check.
pub fn check() -> Result<(), String> {
    let three = Blob(vec![1, 2, 3]);
    let bytes = to_bytes(&three);
    let mut r = minirpc::codec::Reader::new(&bytes, Limits::default());
    if matches!(minirpc::Decode::decode(&mut r), Ok(Blob(v)) if v.is_empty()) && r.offset() == 0 {
        return Err(unfinished(NAME, UNFINISHED));
    }
    let samples = [
        Blob(vec![]),
        three.clone(),
        Blob(vec![0xff; 300]),
        Blob((0..=255).collect()),
    ];
    if let Some(f) = codec_failures(&samples).first() {
        return Err(broke(NAME, f));
    }
    let none = Limits {
        max_decoded_factor: 0,
        min_decode_budget: 0,
        ..Limits::default()
    };
    match from_bytes::<Blob>(&bytes, none) {
        Err(e) if e.status == Status::ResourceExhausted => Ok(()),
        other => Err(broke(
            NAME,
            format!("with a decode budget of 0 bytes, decoding Blob([1, 2, 3]) gave {other:?}; charge the bytes with Reader::charge before copying them (expected RESOURCE_EXHAUSTED)"),
        )),
    }
}
