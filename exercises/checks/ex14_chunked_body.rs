//! The check of ex14_chunked_body: bodies handed over a few bytes at a
//! time, the next request left unread, and hostile bodies refused after
//! reading little of them.

use crate::exercises::ex14_chunked_body::{read_chunked_body, BodyError, MAX_LINE};
use crate::exercises::{broke, unfinished};
use std::io::{BufRead, Read};

const NAME: &str = "ex14_chunked_body";

/// What the starting point fails with.
pub const UNFINISHED: &str = "read_chunked_body() returned an empty body for two chunks, \"hello\" and \" world\"; read each size line, its data and CRLF, until the chunk of size 0 and the empty line";

/// Bytes handed out at most `piece` at a time, counting what was consumed.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    piece: usize,
}

impl Trickle {
    fn new(data: impl Into<Vec<u8>>, piece: usize) -> Trickle {
        Trickle {
            data: data.into(),
            at: 0,
            piece,
        }
    }

    fn rest(&self) -> &[u8] {
        &self.data[self.at..]
    }
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.fill_buf()?.len().min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl BufRead for Trickle {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let end = (self.at + self.piece).min(self.data.len());
        Ok(&self.data[self.at..end])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.data.len());
    }
}

/// Bytes in, the body expected (`None`: refused as malformed), what the
/// case is.
type Case = (&'static [u8], Option<&'static [u8]>, &'static str);

const TWO: &[u8] = b"5\r\nhello\r\n6;name=value\r\n world\r\n0\r\n\r\nNEXT";

/// Run the check.
pub fn check() -> Result<(), String> {
    for piece in [1, 2, 3, 7, 64] {
        let mut input = Trickle::new(TWO, piece);
        match read_chunked_body(&mut input, 1024) {
            Ok(body) if body == b"hello world" => {}
            Ok(body) if body.is_empty() => return Err(unfinished(NAME, UNFINISHED)),
            got => return Err(broke(NAME, format!("two chunks \"hello\" and \" world\" (the second with an extension), handed over {piece} bytes at a time, gave {got:?}"))),
        }
        if input.rest() != b"NEXT" {
            return Err(broke(NAME, format!("after the body, {:?} was left unread; expected exactly \"NEXT\", the next request (read up to the end of the body, not past it)", String::from_utf8_lossy(input.rest()))));
        }
    }
    let cases: &[Case] = &[
        (
            b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
            Some(b"0123456789abcdefghij"),
            "sizes in either case of hex",
        ),
        (b"0\r\n\r\n", Some(b""), "an empty body"),
        (
            b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n",
            Some(b"abc"),
            "trailer lines",
        ),
        (
            b"3\nabc\r\n0\r\n\r\n",
            None,
            "a size line ending in a bare LF",
        ),
        (
            b"3\r\nabcd\r\n0\r\n\r\n",
            None,
            "a chunk longer than its size",
        ),
        (b"3\r\nab", None, "a body cut short inside a chunk"),
        (
            b"3\r\nabc\r\n",
            None,
            "a body cut short before the last chunk",
        ),
        (
            b"3\r\nabc\r\n0\r\n",
            None,
            "a body cut short before the empty line",
        ),
        (b"x\r\nabc\r\n0\r\n\r\n", None, "a size that is not hex"),
        (b"-3\r\nabc\r\n0\r\n\r\n", None, "a negative size"),
        (b"\r\nabc\r\n0\r\n\r\n", None, "an empty size line"),
        (b"10000000000000000\r\n", None, "a size past u64::MAX"),
    ];
    for &(bytes, want, what) in cases {
        let got = read_chunked_body(&mut Trickle::new(bytes, 5), 1024);
        let ok = match (&got, want) {
            (Ok(body), Some(w)) => body == w,
            (Err(BodyError::Malformed(_)), None) => true,
            _ => false,
        };
        if !ok {
            let want = want.map_or("Err(Malformed(..))".to_owned(), |w| format!("Ok({w:?})"));
            return Err(broke(
                NAME,
                format!(
                    "{what} ({:?}) gave {got:?}, expected {want}",
                    String::from_utf8_lossy(bytes)
                ),
            ));
        }
    }
    // 5 MiB in chunks of 1 KiB against a limit of 64 KiB: refused while
    // most of it is still unread.
    let chunk = [b"400\r\n".as_slice(), &[b'x'; 1024], b"\r\n"].concat();
    let huge: Vec<u8> = chunk.repeat(5 * 1024);
    let mut input = Trickle::new(huge, 4096);
    match read_chunked_body(&mut input, 64 * 1024) {
        Err(BodyError::TooLarge) if input.at <= 66 * 1024 => {}
        Err(BodyError::TooLarge) => return Err(broke(NAME, format!("a body of 5 MiB on a limit of 64 KiB was refused only after {} bytes were read; refuse as soon as a size line takes the total past the limit", input.at))),
        got => return Err(broke(NAME, format!("a body of 5 MiB in 1 KiB chunks on a limit of 64 KiB gave {:?}; expected Err(TooLarge)", got.map(|b| b.len())))),
    }
    // One size line announcing more than the limit: refused before its data.
    let mut input = Trickle::new(b"FFFFFFFF\r\nabc".to_vec(), 64);
    match read_chunked_body(&mut input, 64 * 1024) {
        Err(BodyError::TooLarge) if input.at <= 10 => {}
        got => return Err(broke(NAME, format!("a size line of FFFFFFFF (4 GiB) on a limit of 64 KiB gave {got:?} after reading {} bytes; refuse it with TooLarge before reserving or reading its data", input.at))),
    }
    // A size line of 10,000 digits, and 1,000 trailer lines.
    let long = [vec![b'1'; 10_000], b"\r\n".to_vec()].concat();
    let mut input = Trickle::new(long, 512);
    match read_chunked_body(&mut input, 1024) {
        Err(BodyError::Malformed(_)) if input.at <= MAX_LINE + 512 => {}
        got => return Err(broke(NAME, format!("a size line of 10,000 digits gave {got:?} after reading {} bytes; refuse a line once MAX_LINE ({MAX_LINE}) bytes are read without its end", input.at))),
    }
    let trailers = [
        b"0\r\n".to_vec(),
        b"X: y\r\n".repeat(1000),
        b"\r\n".to_vec(),
    ]
    .concat();
    let mut input = Trickle::new(trailers, 512);
    match read_chunked_body(&mut input, 1024) {
        Err(BodyError::Malformed(_)) if input.at < 1000 => {}
        got => {
            return Err(broke(
                NAME,
                format!(
                "1,000 trailer lines gave {got:?} after reading {} bytes; refuse past MAX_TRAILERS",
                input.at
            ),
            ))
        }
    }
    Ok(())
}
