//! The decode budget: how much memory decoding one message may build.
//!
//! Article: 原理 › 序列化, where deserialization is named a security
//! problem (反序列化安全问题): the bytes come from a peer we do not
//! control. The one idea to take away: **a length check bounds what a
//! message *has*, not what decoding it *builds***. Checking a `Vec`'s count
//! against the bytes left (see [`Reader::seq_len`](super::Reader::seq_len))
//! stops a 4-byte message from claiming four billion elements, but an
//! element can be far bigger in memory than on the wire:
//!
//! ```text
//!  Vec<Option<Wide>>    on the wire: 1 byte per None (the tag 00)
//!                       in memory:   size_of::<Option<Wide>>() per element,
//!                                    392 bytes for a record of 48 u64s
//!  Vec<()>              on the wire: nothing per element
//!                       in memory:   nothing, but a loop turn per element
//!  JSON [[7],[7],...]   on the wire: 4 bytes per element
//!                       in memory:   a tree node, an array, a number ...
//! ```
//!
//! So every decoder also charges what it builds against a [`Budget`]
//! proportional to the input: `Limits::max_decoded_factor` bytes per byte
//! received, but never less than `Limits::min_decode_budget` (so a tiny
//! message that legitimately holds a few empty-looking values is never
//! refused). What is charged: `size_of::<T>()` for every element a `Vec`
//! reserves (at least 1, so a `Vec<()>` pays for its loop), the bytes of
//! every `String`, twice the entry size for every map entry (a hash table
//! keeps room to spare), every `Box`, and in JSON every node of the parsed
//! tree. Charges are made once per container or string, never per byte,
//! so the budget costs the fast path almost nothing.
//!
//! gRPC refuses a message over its maximum receive size with
//! `RESOURCE_EXHAUSTED`; minirpc has that limit too (the frame limit), and
//! the budget also bounds what a message *within* the limit may build.
//! Past the budget the message is refused with `RESOURCE_EXHAUSTED`, and
//! the error names the setting to change.

use crate::codec::Limits;
use crate::error::RpcError;
use std::cell::Cell;

/// The memory one message's decoding may still build, in bytes.
///
/// Made by [`Budget::for_input`] from the input's length and the
/// [`Limits`]; the binary [`Reader`](super::Reader) owns one, and JSON
/// decoding shares one between the parser and the
/// [`JsonCx`](super::JsonCx). Decoders call [`charge`](Budget::charge)
/// before they allocate. (A `Cell`, not an atomic: one message is decoded
/// by one thread, and the charge must be as cheap as an addition.)
#[derive(Debug)]
pub struct Budget {
    left: Cell<usize>,
    total: usize,
    input: usize,
    factor: usize,
    floor: usize,
}

impl Budget {
    /// The budget for decoding `input_len` bytes under `limits`:
    /// `max(input_len × max_decoded_factor, min_decode_budget)`.
    pub fn for_input(input_len: usize, limits: &Limits) -> Budget {
        let total = input_len
            .saturating_mul(limits.max_decoded_factor)
            .max(limits.min_decode_budget);
        Budget {
            left: Cell::new(total),
            total,
            input: input_len,
            factor: limits.max_decoded_factor,
            floor: limits.min_decode_budget,
        }
    }

    /// No bound at all, for text the program itself produced (what
    /// [`json::parse`](crate::json::parse) uses).
    pub fn unlimited() -> Budget {
        Budget {
            left: Cell::new(usize::MAX),
            total: usize::MAX,
            input: 0,
            factor: usize::MAX,
            floor: usize::MAX,
        }
    }

    /// Take `bytes` from the budget before building something that size,
    /// or refuse (`ResourceExhausted`, naming the setting) if not that many
    /// are left. `what` names the thing being built, for the message.
    #[inline]
    pub fn charge(&self, bytes: usize, what: &str) -> Result<(), RpcError> {
        let left = self.left.get();
        if bytes > left {
            return Err(self.exhausted(bytes, what));
        }
        self.left.set(left - bytes);
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn exhausted(&self, bytes: usize, what: &str) -> RpcError {
        RpcError::resource_exhausted(format!(
            "decoding {what} needs {bytes} bytes of memory, but only {} of the decode budget are left \
             ({} bytes for this {}-byte input: Limits::max_decoded_factor {} bytes per input byte, \
             at least Limits::min_decode_budget {}); raise Limits::max_decoded_factor \
             (ServerBuilder::limits, ClientBuilder::limits) if such messages are expected",
            self.left.get(),
            self.total,
            self.input,
            self.factor,
            self.floor
        ))
    }

    /// How many bytes have been charged so far.
    pub fn used(&self) -> usize {
        self.total - self.left.get()
    }

    /// The whole budget, in bytes.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// What one element of a sequence costs: its size in memory, but at least
/// one, so that a sequence of zero-sized values (`Vec<()>`) still pays for
/// the loop that decodes it.
#[inline]
pub(crate) const fn element_cost<T>() -> usize {
    let size = std::mem::size_of::<T>();
    if size == 0 {
        1
    } else {
        size
    }
}

/// What one map entry costs: twice the `(K, V)` pair plus a control byte.
/// A hash table keeps spare slots (Rust's `HashMap` is at most 7/8 full,
/// in power-of-two tables), and a B-tree's nodes are at least half full.
#[inline]
pub(crate) const fn map_entry_cost<K, V>() -> usize {
    2 * (std::mem::size_of::<(K, V)>() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    #[test]
    fn the_budget_is_the_factor_times_the_input_with_a_floor() {
        let limits = Limits::default();
        let big = Budget::for_input(1 << 20, &limits);
        assert_eq!(big.total(), (1 << 20) * limits.max_decoded_factor);
        let tiny = Budget::for_input(3, &limits);
        assert_eq!(tiny.total(), limits.min_decode_budget);
    }

    #[test]
    fn a_charge_past_the_budget_names_the_setting() {
        let b = Budget::for_input(0, &Limits::default());
        b.charge(b.total() - 1, "a Vec").unwrap();
        assert_eq!(b.used(), b.total() - 1);
        let e = b.charge(2, "a String of 2 bytes").unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
        assert!(e.message.contains("decoding a String of 2 bytes"), "{e}");
        assert!(e.message.contains("Limits::max_decoded_factor"), "{e}");
        // A refused charge takes nothing.
        b.charge(1, "a byte").unwrap();
    }

    #[test]
    fn zero_sized_elements_still_cost_one() {
        assert_eq!(element_cost::<()>(), 1);
        assert_eq!(element_cost::<u64>(), 8);
    }
}
