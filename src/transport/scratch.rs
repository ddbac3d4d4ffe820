//! One spare frame buffer per thread.
//!
//! Article: 原理 › 网络传输 (a small call should cost little besides the
//! network). The one idea to take away: **a buffer that lives only until
//! its frame is written can be used again by the next frame**. A client's
//! request frame and a server's response frame are built, written and
//! dropped on one thread; keeping that buffer for the thread's next frame
//! saves an allocation and a free on every call, as Go's `net/rpc` keeps
//! free lists of its request and response headers.
//!
//! ```text
//!   take() ─► spare buffer, cleared (or a new one) ─► encode, write ─► give_back()
//! ```
//!
//! The bound: a thread keeps at most one spare of at most [`KEEP`] bytes.
//! A larger frame's buffer goes back to the allocator, so a server with ten
//! thousand connection threads holds at most 2 KiB of spares for each, and
//! only for those that have answered a call on their own thread.

use std::cell::Cell;

/// The largest spare a thread keeps (bytes of capacity). A Multiply frame
/// needs under 100 bytes, an Echo of 1 KiB about 1,100.
pub(crate) const KEEP: usize = 2048;

thread_local! {
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// An empty buffer with room for at least `want` bytes: this thread's spare
/// if it has one, else a new one.
pub(crate) fn take(want: usize) -> Vec<u8> {
    let mut buf = SPARE.take();
    buf.clear();
    buf.reserve(want);
    buf
}

/// Keep `buf` for this thread's next [`take`], unless it is larger than
/// [`KEEP`] (then it is freed).
pub(crate) fn give_back(buf: Vec<u8>) {
    if buf.capacity() <= KEEP {
        SPARE.set(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty() {
        let mut a = take(100);
        a.extend_from_slice(b"frame");
        let at = a.as_ptr();
        give_back(a);
        let b = take(50);
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), at, "the spare was not reused");
        assert!(b.capacity() >= 100);
    }

    #[test]
    fn a_large_buffer_is_not_kept() {
        give_back(Vec::with_capacity(KEEP + 1));
        assert!(take(0).capacity() <= KEEP);
    }

    #[test]
    fn each_thread_has_its_own_spare() {
        give_back(Vec::with_capacity(1000));
        let other = std::thread::spawn(|| take(0).capacity()).join().unwrap();
        assert_eq!(other, 0);
        assert!(take(0).capacity() >= 1000);
    }
}
