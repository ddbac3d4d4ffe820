//! The check of ex04_frame_splitter: the same frames whatever the chunks,
//! and an oversized length refused before its body.

use crate::exercises::ex04_frame_splitter::Splitter;
use crate::exercises::{broke, unfinished};

const NAME: &str = "ex04_frame_splitter";

/// What the starting point fails with.
pub const UNFINISHED: &str = "push() returned no frame for a whole frame; keep the bytes and cut out each frame once its length and body are in";

/// Run the check.
pub fn check() -> Result<(), String> {
    let bodies: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        vec![],
        vec![7],
        (0..=255).collect(),
        vec![0xff; 300],
    ];
    let stream: Vec<u8> = bodies
        .iter()
        .flat_map(|b| {
            (b.len() as u32)
                .to_be_bytes()
                .into_iter()
                .chain(b.iter().copied())
        })
        .collect();
    let whole = Splitter::new(1024).push(&stream);
    if matches!(&whole, Ok(f) if f.is_empty()) {
        return Err(unfinished(NAME, UNFINISHED));
    }
    for chunk in [stream.len(), 1, 2, 3, 4, 5, 7, 64] {
        let mut s = Splitter::new(1024);
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            match s.push(piece) {
                Ok(f) => got.extend(f),
                Err(e) => {
                    return Err(broke(
                        NAME,
                        format!("in chunks of {chunk} bytes, push() refused valid frames: {e}"),
                    ))
                }
            }
        }
        if got != bodies {
            let lens: Vec<usize> = got.iter().map(Vec::len).collect();
            return Err(broke(NAME, format!("in chunks of {chunk} bytes, the frames came out with lengths {lens:?}, expected [5, 0, 1, 256, 300]")));
        }
    }
    let mut s = Splitter::new(16);
    match s.push(&17u32.to_be_bytes()) {
        Err(_) => Ok(()),
        Ok(f) => Err(broke(NAME, format!("with max 16, the length 17 alone gave Ok({f:?}); refuse it as soon as the 4 length bytes are in"))),
    }
}
