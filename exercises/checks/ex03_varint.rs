//! The check of ex03_varint: `check_codec`, the exact bytes, and the
//! refusals that keep the encoding minimal.

use crate::exercises::ex03_varint::Varint;
use crate::exercises::{broke, unfinished};
use minirpc::codec::{from_bytes, from_json, to_bytes, to_json, JsonCx, Limits};
use minirpc::testkit::codec_failures;

const NAME: &str = "ex03_varint";

/// What the starting point fails with.
pub const UNFINISHED: &str = "Varint(10) still encodes as 8 bytes; write 7 bits per byte (LEB128)";

/// Run the check.
pub fn check() -> Result<(), String> {
    if to_bytes(&Varint(10)).len() == 8 {
        return Err(unfinished(NAME, UNFINISHED));
    }
    let samples: Vec<Varint> = [
        0,
        1,
        127,
        128,
        300,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX - 1,
        u64::MAX,
    ]
    .into_iter()
    .map(Varint)
    .collect();
    if let Some(f) = codec_failures(&samples).first() {
        return Err(broke(NAME, f));
    }
    let exact: [(u64, &[u8]); 5] = [
        (0, &[0x00]),
        (10, &[0x0a]),
        (128, &[0x80, 0x01]),
        (300, &[0xac, 0x02]),
        (
            u64::MAX,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ];
    for (v, bytes) in exact {
        let got = to_bytes(&Varint(v));
        if got != bytes {
            return Err(broke(
                NAME,
                format!("Varint({v}) encodes to {got:02x?}, expected {bytes:02x?}"),
            ));
        }
    }
    let refused: [(&[u8], &str); 4] = [
        (&[0x80, 0x00], "zero in two bytes (non-minimal)"),
        (&[0xac, 0x82, 0x00], "300 in three bytes (non-minimal)"),
        (
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            "a value past u64::MAX",
        ),
        (&[0x80; 11], "11 bytes"),
    ];
    for (bytes, what) in refused {
        if let Ok(v) = from_bytes::<Varint>(bytes, Limits::default()) {
            return Err(broke(
                NAME,
                format!("{bytes:02x?} ({what}) decoded as {v:?}; it must be refused"),
            ));
        }
    }
    let json = to_json(&Varint(300));
    let back = from_json::<Varint>(json.as_bytes(), Limits::default(), &JsonCx::unchecked());
    if json != "300" || back.as_ref().ok() != Some(&Varint(300)) {
        return Err(broke(
            NAME,
            format!("Varint(300) in JSON is {json:?} and reads back as {back:?}; expected \"300\""),
        ));
    }
    Ok(())
}
