//! [`FrameReader`]: whole frames out of a byte stream, never trusting a
//! length it has not received. See the module docs of [`crate::transport`].

use super::ReadError;
use crate::error::{RpcError, Status};
use crate::protocol::{Frame, Header, FLAG_CHECKSUM, HEADER_LEN};
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// Reads frames from a stream through a buffer. See the module docs.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes `buf[start..end]` have been read but not yet returned.
    start: usize,
    end: usize,
    max_frame_bytes: usize,
    /// Body bytes of a refused frame still to be thrown away.
    skip: usize,
    /// When the first byte of the unfinished frame in the buffer arrived
    /// (moved later by the pauses credited to it).
    frame_started: Option<Instant>,
    /// How much pause that frame has been credited (see
    /// [`pause_frame_clock`](Self::pause_frame_clock)).
    paused: Duration,
    /// Return `TimedOut` after each read that leaves a frame unfinished
    /// (see [`yield_mid_frame`](Self::yield_mid_frame)).
    yield_mid_frame: bool,
    /// Whether this call of `read_frame` has read the socket or started a
    /// frame's clock: then the socket's timeout, which the receiver set
    /// before the call, is out of date (see [`may_read`](Self::may_read)).
    rearm: bool,
}

/// How much one `read` asks the kernel for.
const READ_CHUNK: usize = 64 * 1024;

impl<R: Read> FrameReader<R> {
    /// A reader that refuses bodies over `max_frame_bytes`.
    pub fn new(inner: R, max_frame_bytes: usize) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            max_frame_bytes,
            skip: 0,
            frame_started: None,
            paused: Duration::ZERO,
            yield_mid_frame: false,
            rearm: false,
        }
    }

    /// The stream underneath (e.g. to change its read timeout).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream underneath, to change how it reads.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Whether any unread bytes are buffered.
    pub fn has_buffered_bytes(&self) -> bool {
        self.end > self.start
    }

    /// Whether part of a frame has arrived and the rest has not: bytes of
    /// an unfinished frame are buffered, or a refused body is still being
    /// skipped. A receiver uses it to tell a quiet connection (fine) from
    /// one stalled in the middle of a frame (see [`frame_started`](Self::frame_started)).
    ///
    /// (Whole frames waiting in the buffer do not count: only the bytes
    /// after the last whole one.)
    pub fn mid_frame(&self) -> bool {
        if self.skip > 0 {
            return true;
        }
        let mut at = self.start;
        while self.end - at >= HEADER_LEN {
            let len = u32::from_be_bytes(self.buf[at + 14..at + 18].try_into().unwrap()) as usize;
            if self.end - at - HEADER_LEN < len {
                return true;
            }
            at += HEADER_LEN + len;
        }
        at < self.end
    }

    /// When the first byte of the unfinished frame arrived, if one is
    /// unfinished: a frame must arrive whole within a deadline counted from
    /// here, or a peer could hold a connection (and its memory) forever by
    /// sending one byte at a time.
    pub fn frame_started(&self) -> Option<Instant> {
        if self.mid_frame() {
            self.frame_started
        } else {
            None
        }
    }

    /// Take `paused` off the unfinished frame's clock: time the receiver
    /// chose not to read (it waited for room to send its answers) is not
    /// time the peer took to send the frame. At most `most` in all per
    /// frame, so a frame's deadline can move by that much and no more: a
    /// peer that keeps the receiver waiting again and again, a little at a
    /// time, does not hold its half frame forever.
    pub(crate) fn pause_frame_clock(&mut self, paused: Duration, most: Duration) {
        let credit = paused.min(most.saturating_sub(self.paused));
        if let Some(started) = &mut self.frame_started {
            *started += credit;
            self.paused += credit;
        }
    }

    /// The first bytes of an unfinished frame are here: start its clock.
    fn start_clock(&mut self) {
        self.frame_started = Some(Instant::now());
        self.paused = Duration::ZERO;
    }

    /// The flags byte of the unfinished frame at the front of the buffer,
    /// once its header has arrived: a receiver that gives up on the frame
    /// can still answer in kind (sealed, if the frame was).
    pub(crate) fn unfinished_flags(&self) -> Option<u8> {
        let whole_header = self.end - self.start >= HEADER_LEN;
        (self.skip == 0 && whole_header && !self.has_buffered_frame())
            .then(|| self.buf[self.start + 5])
    }

    /// Make [`read_frame`](Self::read_frame) return `TimedOut` after every
    /// read that brings part of a frame but not all of it, instead of
    /// reading on: each call reads the socket at most once. The bytes stay
    /// buffered and the next call resumes. A receiver that enforces a
    /// deadline on whole frames needs this: within one call, each `read` is
    /// bounded only by the socket's timeout, which the receiver set before
    /// the call for a connection with no frame begun. A peer whose header
    /// arrives whole and whose body never comes would otherwise be waited
    /// for with that timeout, not the frame's.
    pub fn yield_mid_frame(&mut self, yes: bool) {
        self.yield_mid_frame = yes;
    }

    /// Whether a whole frame is already buffered, so the next
    /// [`read_frame`](Self::read_frame) will not block.
    pub fn has_buffered_frame(&self) -> bool {
        if self.skip > 0 {
            return false; // the bytes at the front are a refused body's
        }
        let avail = self.end - self.start;
        if avail < HEADER_LEN {
            return false;
        }
        let len = u32::from_be_bytes(
            self.buf[self.start + 14..self.start + 18]
                .try_into()
                .unwrap(),
        );
        avail >= HEADER_LEN + len as usize
    }

    /// Read the next frame.
    pub fn read_frame(&mut self) -> Result<Frame, ReadError> {
        self.rearm = false;
        self.skip_refused_body()?;
        self.fill_to(HEADER_LEN)?;
        let header_bytes: &[u8; HEADER_LEN] = self.buf[self.start..self.start + HEADER_LEN]
            .try_into()
            .unwrap();
        if let Some((kind, request_id, body_len)) = unknown_kind(header_bytes) {
            self.start += HEADER_LEN;
            self.skip = body_len;
            self.skip_refused_body()?;
            return Err(ReadError::UnknownKind { kind, request_id });
        }
        let header = Header::parse(header_bytes).map_err(ReadError::Protocol)?;
        let body_len = header.body_len as usize;
        // The check that keeps a 4 GiB claim from costing 4 GiB: done on the
        // header alone, before the body is read or any room made for it.
        // The framing is still sound (we know where the next frame starts),
        // so only this frame is refused: its body is skipped, not stored.
        if body_len > self.max_frame_bytes {
            self.start += HEADER_LEN;
            self.skip = body_len;
            let error = RpcError::resource_exhausted(format!(
                "frame of {body_len} bytes exceeds max_frame_bytes {} (see ServerBuilder::max_frame_bytes / ClientBuilder::max_frame_bytes)",
                self.max_frame_bytes
            ));
            return Err(ReadError::TooLarge { header, error });
        }
        self.fill_to(HEADER_LEN + body_len)?;
        let body_start = self.start + HEADER_LEN;
        let frame_bytes = &self.buf[self.start..body_start + body_len];
        let body = if header.flags & FLAG_CHECKSUM != 0 {
            let body = checked_body(frame_bytes).map_err(ReadError::Protocol)?;
            body.to_vec()
        } else {
            frame_bytes[HEADER_LEN..].to_vec()
        };
        self.start = body_start + body_len;
        self.frame_done();
        Ok(Frame { header, body })
    }

    /// A frame (or a refused body) has just ended at `start`. Empty the
    /// buffer if nothing is left; if what is left is the start of an
    /// unfinished frame, start that frame's clock now: its bytes arrived
    /// with the read that finished this one. (A whole frame left over needs
    /// no clock: its turn comes next, and the clock starts then if it
    /// leaves part of another.) Without this after a skipped body, the
    /// frame behind it had no clock at all, or the one of an older frame.
    fn frame_done(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if !self.has_buffered_frame() {
            self.start_clock();
            self.rearm = true;
        }
    }

    /// Throw away what is left of a refused frame's body, as it arrives.
    fn skip_refused_body(&mut self) -> Result<(), ReadError> {
        if self.skip == 0 {
            return Ok(());
        }
        while self.skip > 0 {
            if self.end == self.start {
                self.start = 0;
                self.end = 0;
                self.may_read()?;
                self.read_some()?;
            }
            let n = self.skip.min(self.end - self.start);
            self.start += n;
            self.skip -= n;
        }
        self.frame_done();
        Ok(())
    }

    /// Make sure at least `n` unread bytes are buffered.
    fn fill_to(&mut self, n: usize) -> Result<(), ReadError> {
        if self.end - self.start >= n {
            return Ok(());
        }
        // Move the unread tail to the front.
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < n {
            // Grow the buffer as bytes arrive, one read's worth at a time,
            // never to the size the header merely claims: a peer that
            // promises 4 MiB and sends 18 bytes costs 18 bytes (plus one
            // chunk), not 4 MiB.
            if self.buf.len() < n && self.buf.len() - self.end < READ_CHUNK {
                let want = (self.end + READ_CHUNK).min(n);
                self.buf.resize(want.max(self.buf.len()), 0);
            }
            self.may_read()?;
            match self.read_some() {
                Ok(()) => {}
                Err(ReadError::Closed) if self.end > 0 => {
                    return Err(ReadError::Truncated { got: self.end })
                }
                Err(e) => return Err(e),
            }
        }
        // Give a big frame's memory back once it has been read.
        if self.buf.len() > 4 * READ_CHUNK && n <= READ_CHUNK {
            self.buf.truncate(READ_CHUNK.max(self.end));
            self.buf.shrink_to_fit();
        }
        Ok(())
    }

    /// Whether this call may read the socket now: with
    /// [`yield_mid_frame`](Self::yield_mid_frame), only if it has neither
    /// read it yet nor started a frame's clock. (`TimedOut` hands the frame
    /// back to the receiver, which checks its deadline and sets the
    /// socket's timeout to what is left of it.)
    fn may_read(&self) -> Result<(), ReadError> {
        if self.yield_mid_frame && self.rearm {
            return Err(ReadError::TimedOut);
        }
        Ok(())
    }

    /// One `read` into the free end of the buffer.
    fn read_some(&mut self) -> Result<(), ReadError> {
        loop {
            let was_empty = self.end == self.start && self.skip == 0;
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(k) => {
                    self.end += k;
                    self.rearm = true;
                    // The first bytes of a frame start its clock, unless
                    // they are a whole frame already (the usual case, and
                    // then no clock is read; a partial frame left after it
                    // starts the clock in `read_frame`).
                    if was_empty && !self.has_buffered_frame() {
                        self.start_clock();
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(ReadError::TimedOut)
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

/// The body of a sealed frame (header and body as received, CRC last),
/// without its CRC, if the CRC matches.
fn checked_body(frame: &[u8]) -> Result<&[u8], RpcError> {
    if frame.len() < HEADER_LEN + 4 {
        return Err(RpcError::new(
            Status::DataLoss,
            "a frame flagged as checksummed is too short to hold its CRC-32C; connection closed",
        ));
    }
    let (data, crc) = frame.split_at(frame.len() - 4);
    let sent = u32::from_be_bytes(crc.try_into().unwrap());
    let got = crate::checksum::crc32c(data);
    if sent != got {
        return Err(RpcError::new(
            Status::DataLoss,
            format!(
                "frame checksum mismatch (CRC-32C {got:08x}, the frame says {sent:08x}): bytes were damaged on the way; connection closed"
            ),
        ));
    }
    Ok(&data[HEADER_LEN..])
}

/// A sound minirpc header (magic and version right) whose kind this build
/// does not know: its kind, request id and body length.
fn unknown_kind(b: &[u8; HEADER_LEN]) -> Option<(u8, u64, usize)> {
    if b[0..2] != crate::protocol::MAGIC
        || b[2] != crate::protocol::VERSION
        || crate::protocol::FrameKind::from_byte(b[3]).is_some()
    {
        return None;
    }
    let id = u64::from_be_bytes(b[6..14].try_into().unwrap());
    let len = u32::from_be_bytes(b[14..18].try_into().unwrap()) as usize;
    Some((b[3], id, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::CodecId;
    use crate::protocol::{control_frame, FrameKind};

    /// A stream that hands out the chunks it is given, one per read, and
    /// says "would block" when it has none.
    struct Chunks(std::collections::VecDeque<Vec<u8>>);
    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let chunk = self.0.pop_front().ok_or(io::ErrorKind::WouldBlock)?;
            out[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn a_frames_clock_is_paused_by_at_most_the_cap_in_all() {
        // A peer that makes the receiver wait for room again and again must
        // not move its half frame's deadline without limit (a review held
        // one for 30 s with a 2 s frame_timeout). End to end this needs a
        // peer whose socket buffers stay small, which the standard library
        // cannot arrange; here is the rule itself.
        let mut frames = Vec::new();
        control_frame(&mut frames, FrameKind::Ping, 1);
        control_frame(&mut frames, FrameKind::Ping, 2);
        let (first, second) = frames.split_at(HEADER_LEN);
        let mut r = FrameReader::new(Chunks(Default::default()), 1024);
        r.yield_mid_frame(true);
        r.get_mut().0.push_back(first[..10].to_vec());
        assert!(matches!(r.read_frame(), Err(ReadError::TimedOut)));
        let t0 = r.frame_started().expect("a half frame has a clock");
        let (wait, cap) = (Duration::from_secs(5), Duration::from_secs(3));
        r.pause_frame_clock(wait, cap);
        assert_eq!(r.frame_started(), Some(t0 + cap), "credited up to the cap");
        r.pause_frame_clock(wait, cap);
        assert_eq!(r.frame_started(), Some(t0 + cap), "and no more");
        // The next frame's clock starts fresh, with its own credit.
        r.get_mut()
            .0
            .push_back([&first[10..], &second[..10]].concat());
        assert_eq!(r.read_frame().unwrap().header.request_id, 1);
        let t1 = r.frame_started().expect("the next half frame has a clock");
        r.pause_frame_clock(Duration::from_secs(1), cap);
        assert_eq!(r.frame_started(), Some(t1 + Duration::from_secs(1)));
    }

    #[test]
    fn reads_frames_split_and_joined_arbitrarily() {
        let mut bytes = Vec::new();
        for id in 1..=3 {
            control_frame(&mut bytes, FrameKind::Ping, id);
        }
        // A reader that returns one byte per read: the worst split there is.
        struct OneByte(Vec<u8>, usize);
        impl Read for OneByte {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1 == self.0.len() {
                    return Ok(0);
                }
                out[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let mut r = FrameReader::new(OneByte(bytes, 0), 1024);
        for id in 1..=3 {
            assert_eq!(r.read_frame().unwrap().header.request_id, id);
        }
        assert!(matches!(r.read_frame(), Err(ReadError::Closed)));
    }

    #[test]
    fn a_header_claiming_4_gib_is_refused_before_reading_the_body() {
        let mut bytes = Vec::new();
        let start =
            crate::protocol::begin_frame(&mut bytes, FrameKind::Request, CodecId::Binary, 1);
        let _ = start;
        bytes[14..18].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut r = FrameReader::new(&bytes[..], 4 << 20);
        match r.read_frame() {
            Err(ReadError::TooLarge { header, error }) => {
                assert_eq!(header.request_id, 1);
                assert!(error.message.contains("4294967295"), "{error}");
                assert!(error.message.contains("max_frame_bytes"), "{error}");
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // Nothing of the body was buffered: 18 bytes arrived, so the reader
        // holds no more than its first read chunk.
        assert!(r.buf.len() <= READ_CHUNK);
    }

    #[test]
    fn a_too_large_frame_is_skipped_and_the_next_frame_is_read() {
        let mut bytes = Vec::new();
        let start =
            crate::protocol::begin_frame(&mut bytes, FrameKind::Request, CodecId::Binary, 7);
        bytes.extend_from_slice(&[0xAB; 5000]);
        crate::protocol::finish_frame(&mut bytes, start);
        control_frame(&mut bytes, FrameKind::Ping, 8);
        let mut r = FrameReader::new(&bytes[..], 1000);
        assert!(
            matches!(r.read_frame(), Err(ReadError::TooLarge { header, .. }) if header.request_id == 7)
        );
        assert_eq!(r.read_frame().unwrap().header.request_id, 8);
    }

    #[test]
    fn a_frame_of_an_unknown_kind_is_skipped() {
        let mut bytes = Vec::new();
        let start = crate::protocol::begin_frame(&mut bytes, FrameKind::Ping, CodecId::Binary, 3);
        bytes.extend_from_slice(b"future");
        crate::protocol::finish_frame(&mut bytes, start);
        bytes[3] = 42; // a kind from some later version
        control_frame(&mut bytes, FrameKind::Ping, 4);
        let mut r = FrameReader::new(&bytes[..], 1000);
        assert!(matches!(
            r.read_frame(),
            Err(ReadError::UnknownKind {
                kind: 42,
                request_id: 3
            })
        ));
        assert_eq!(r.read_frame().unwrap().header.request_id, 4);
    }

    #[test]
    fn a_body_buffer_grows_with_the_bytes_that_arrive_not_with_the_claim() {
        // A header claiming 4 MiB followed by 100 bytes, then end of stream.
        let mut bytes = Vec::new();
        let start =
            crate::protocol::begin_frame(&mut bytes, FrameKind::Request, CodecId::Binary, 1);
        crate::protocol::finish_frame(&mut bytes, start);
        bytes[14..18].copy_from_slice(&(4u32 << 20).to_be_bytes());
        bytes.extend_from_slice(&[0; 100]);
        let mut r = FrameReader::new(&bytes[..], 4 << 20);
        assert!(matches!(
            r.read_frame(),
            Err(ReadError::Truncated { got: 118 })
        ));
        assert!(
            r.buf.len() <= 2 * READ_CHUNK,
            "buffer grew to {}",
            r.buf.len()
        );
    }

    #[test]
    fn a_sealed_frame_is_checked_and_one_flipped_bit_is_refused() {
        let mut bytes = Vec::new();
        let start =
            crate::protocol::begin_frame(&mut bytes, FrameKind::Request, CodecId::Binary, 5);
        bytes.extend_from_slice(b"some arguments");
        crate::protocol::finish_frame(&mut bytes, start);
        crate::protocol::seal(&mut bytes, start);
        let mut r = FrameReader::new(&bytes[..], 1000);
        let f = r.read_frame().unwrap();
        assert_eq!(f.body, b"some arguments", "the CRC is not part of the body");
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let mut r = FrameReader::new(&bad[..], 1000);
            match r.read_frame() {
                Err(ReadError::Protocol(e)) => {
                    assert!(e.status == Status::DataLoss || i < 6, "byte {i}: {e}")
                }
                Err(_) => {} // a damaged length or kind fails in its own way
                Ok(f) => panic!("byte {i} flipped, yet read {f:?}"),
            }
        }
    }

    #[test]
    fn eof_in_the_middle_of_a_frame_is_truncated() {
        let mut bytes = Vec::new();
        control_frame(&mut bytes, FrameKind::Ping, 1);
        let mut r = FrameReader::new(&bytes[..10], 1024);
        assert!(matches!(
            r.read_frame(),
            Err(ReadError::Truncated { got: 10 })
        ));
    }
}
