//! The bounded reader: a cursor over received bytes that never believes a
//! length it has not checked.
//!
//! Article: 本地调用VS远程调用 › 序列化和反序列化 (server step 5: turn the
//! bytes back into values). The one idea to take away: **every number the
//! peer sends that decides how much work we do is checked before the work
//! starts**: a length against the bytes left and [`Limits::max_len`], a
//! nesting level against [`Limits::max_depth`], and what the decoded value
//! will hold in memory against the decode [`Budget`].
//!
//! ```text
//!  bytes ──► Reader ──take(n)──► fixed-width numbers, string bytes
//!              │ len / seq_len:  count ≤ max_len, count × MIN_BYTES ≤ left
//!              │ enter / leave:  depth ≤ max_depth
//!              │ charge:         memory built ≤ budget (factor × input)
//!              └ finish:         no bytes left over
//! ```

use super::budget::Budget;
use super::Limits;
use crate::error::RpcError;

/// A cursor over received bytes that enforces [`Limits`].
#[derive(Debug)]
pub struct Reader<'a> {
    /// The bytes not read yet. (The rest, not an index into the whole:
    /// each read is then one length check, `split_at_checked`, instead of
    /// a check here and another in the slicing; `benches/codec.rs`,
    /// `order/decode`.)
    rest: &'a [u8],
    /// The whole input's length, for offsets in error messages.
    len: usize,
    depth: u32,
    limits: Limits,
    budget: Budget,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` with the given limits. Its decode budget is
    /// proportional to `buf.len()` (see [`Limits::max_decoded_factor`]).
    pub fn new(buf: &'a [u8], limits: Limits) -> Reader<'a> {
        Reader {
            rest: buf,
            len: buf.len(),
            depth: 0,
            limits,
            budget: Budget::for_input(buf.len(), &limits),
        }
    }

    /// How many bytes are left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// How many bytes have been read: the offset of the next one, for
    /// error messages.
    #[inline]
    pub fn offset(&self) -> usize {
        self.len - self.rest.len()
    }

    /// The next `n` bytes, or an error naming what we were reading.
    ///
    /// (The small methods here are `#[inline]` and their error messages are
    /// built in separate `#[cold]` functions: decoding calls them for every
    /// field, and without inlining across crates the call overhead alone
    /// cost as much as the work.)
    #[inline]
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], RpcError> {
        match self.rest.split_at_checked(n) {
            Some((s, rest)) => {
                self.rest = rest;
                Ok(s)
            }
            None => Err(self.truncated(n, what)),
        }
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self, n: usize, what: &str) -> RpcError {
        RpcError::invalid_argument(format!(
            "truncated input: {what} needs {n} bytes at offset {} but only {} remain",
            self.offset(),
            self.remaining()
        ))
    }

    /// Exactly `N` bytes as an array (for fixed-width numbers).
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], RpcError> {
        match self.rest.split_first_chunk::<N>() {
            Some((a, rest)) => {
                self.rest = rest;
                Ok(*a)
            }
            None => Err(self.truncated(N, what)),
        }
    }

    /// A u32 length prefix counting bytes (a string's), checked against the
    /// bytes left and [`Limits::max_len`] before the caller allocates
    /// anything for it.
    #[inline]
    pub fn len(&mut self, what: &str) -> Result<usize, RpcError> {
        let at = self.offset();
        let n = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        if n > self.limits.max_len || n > self.remaining() {
            return Err(self.bad_len(what, at, n, 1));
        }
        Ok(n)
    }

    /// A u32 length prefix counting bytes and the bytes it counts, with
    /// the checks of [`Reader::len`]; returns the offset of the bytes too
    /// (for error messages). Buys one bounds check instead of two for
    /// every string (`benches/codec.rs`, `order/decode`).
    #[inline]
    pub fn len_prefixed(&mut self, what: &str) -> Result<(usize, &'a [u8]), RpcError> {
        let at = self.offset();
        let n = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        if n > self.limits.max_len {
            return Err(self.bad_len(what, at, n, 1));
        }
        let start = self.offset();
        match self.rest.split_at_checked(n) {
            Some((s, rest)) => {
                self.rest = rest;
                Ok((start, s))
            }
            None => Err(self.bad_len(what, at, n, 1)),
        }
    }

    #[cold]
    #[inline(never)]
    fn bad_len(&self, what: &str, at: usize, n: usize, min_each: usize) -> RpcError {
        if n > self.limits.max_len {
            RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements, over the limit of {} (see Limits::max_len)",
                self.limits.max_len
            ))
        } else if min_each > 1 {
            RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements (at least {} bytes) but only {} bytes remain",
                n.saturating_mul(min_each),
                self.remaining()
            ))
        } else {
            RpcError::invalid_argument(format!(
                "{what} at offset {at} claims {n} elements but only {} bytes remain",
                self.remaining()
            ))
        }
    }

    /// A u32 element count for a sequence whose elements take at least
    /// `min_each` bytes: checked against [`Limits::max_len`] and against the
    /// bytes left (`count * min_each` must fit), before anything is reserved.
    /// That bounds the elements on the *wire*; what they take in memory is
    /// the caller's to [`charge`](Reader::charge) (zero-sized elements, with
    /// `min_each` 0, are bounded by that charge and `max_len` alone).
    #[inline]
    pub fn seq_len(&mut self, what: &str, min_each: usize) -> Result<usize, RpcError> {
        let at = self.offset();
        let n = u32::from_be_bytes(self.array::<4>(what)?) as usize;
        let needed = n.saturating_mul(min_each);
        if n > self.limits.max_len || needed > self.remaining() {
            return Err(self.bad_len(what, at, n, min_each));
        }
        Ok(n)
    }

    /// Charge `bytes` of memory that decoding is about to build against
    /// this message's decode [`Budget`]; past it, `ResourceExhausted`
    /// naming [`Limits::max_decoded_factor`]. Call it before reserving a
    /// sequence or copying a string, once per container, not per byte. A
    /// hand-written [`Decode`](super::Decode) that allocates should too.
    #[inline]
    pub fn charge(&mut self, bytes: usize, what: &str) -> Result<(), RpcError> {
        self.budget.charge(bytes, what)
    }

    /// The decode budget: how much has been charged, out of how much.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Enter one level of nesting; fails past [`Limits::max_depth`]. Pair
    /// with [`Reader::leave`].
    #[inline]
    pub fn enter(&mut self, what: &str) -> Result<(), RpcError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.too_deep(what));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self, what: &str) -> RpcError {
        RpcError::invalid_argument(format!(
            "{what} nested deeper than {} levels (see Limits::max_depth)",
            self.limits.max_depth
        ))
    }

    /// Leave one level of nesting.
    #[inline]
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Fail if any bytes are left over: a message with trailing bytes was
    /// built for a different type than the one we decoded.
    pub fn finish(&self, what: &str) -> Result<(), RpcError> {
        if self.remaining() != 0 {
            return Err(RpcError::invalid_argument(format!(
                "{} unexpected bytes after {what} (the sender encoded a different type?)",
                self.remaining()
            )));
        }
        Ok(())
    }
}
