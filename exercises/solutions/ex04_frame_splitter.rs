//! Reference solution of ex04_frame_splitter: one buffer, cut from the
//! front while it holds a whole frame.

/// Splits a byte stream into frame bodies.
pub struct Splitter {
    max: usize,
    buf: Vec<u8>,
}

impl Splitter {
    /// A splitter that refuses bodies over `max` bytes.
    pub fn new(max: usize) -> Splitter {
        Splitter {
            max,
            buf: Vec::new(),
        }
    }

    /// Take `bytes` and return the frame bodies they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut at = 0;
        while self.buf.len() - at >= 4 {
            let len: [u8; 4] = self.buf[at..at + 4].try_into().expect("4 bytes");
            let n = u32::from_be_bytes(len) as usize;
            if n > self.max {
                return Err(format!(
                    "a frame of {n} bytes is over the limit of {}",
                    self.max
                ));
            }
            if self.buf.len() - at - 4 < n {
                break;
            }
            frames.push(self.buf[at + 4..at + 4 + n].to_vec());
            at += 4 + n;
        }
        self.buf.drain(..at);
        Ok(frames)
    }
}
