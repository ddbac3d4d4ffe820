//! JSON (RFC 8259), written here: the text format of the codec.
//!
//! Article: 原理 › 序列化. The article weighs JSON (cross-language,
//! human-readable, bigger and slower) against binary formats; minirpc has
//! both, from one description of each type (see [`crate::codec`]). The one
//! idea to take away: **a text format is easy for people and other languages
//! and costly for machines**: every number is parsed digit by digit, every
//! string is scanned for escapes, and the names of fields travel in every
//! message. `cargo run --example codecs` measures how much.
//!
//! Decoding happens in two steps. [`parse`] checks the text against the
//! grammar and builds a [`Json`] tree (the parser is in `parser.rs`); it
//! refuses invalid UTF-8, lone surrogates, control characters in strings,
//! duplicate keys, nesting past the limit and anything after the value,
//! naming the line and column. Then the receiving type reads what it
//! expects out of the tree ([`crate::codec::Decode::decode_json`]). Numbers
//! stay as their text in the tree ([`JsonNumber`]), so
//! `18446744073709551615` becomes a `u64` exactly, never passing through a
//! float.
//!
//! # What the tree costs
//!
//! The tree is built before a single field is decoded, so its memory is
//! what a JSON message really asks of the receiver. Three choices keep it
//! small and bounded:
//!
//! - every node, string and array is charged to the decode
//!   [`Budget`] as it is built ([`parse_within`]; `codec::from_json` passes
//!   the budget its value is then charged to as well);
//! - a finished array or object is cut to its exact length, so a
//!   one-element array holds one 32-byte node, not the four a growing
//!   `Vec` reserves on its first push;
//! - a number short enough (almost all are) lives inside its node
//!   ([`JsonNumber`]) instead of in a heap `String` of its own.
//!
//! `cargo run --release --example decode_memory` measures the tree per byte
//! of text for several shapes; docs/03-serialization.md has the numbers.

mod parser;

use crate::codec::Budget;
use crate::error::RpcError;
use std::fmt::Write as _;

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, kept as its exact text (already checked against the grammar).
    Number(JsonNumber),
    /// A string, with escapes resolved.
    String(String),
    /// `[ ... ]`
    Array(Vec<Json>),
    /// `{ ... }`, members in their order in the text (keys are unique).
    Object(Vec<(String, Json)>),
}

impl Json {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The longest number text kept inside the node itself. `u64::MAX` and
/// `i64::MIN` are 20 characters; a float written as shortest round-trip
/// text is at most 24, and rarely more than 20.
const INLINE: usize = 22;

/// The text of a JSON number, exactly as it was written. It reads as a
/// `&str` (through `Deref`, [`as_str`](JsonNumber::as_str) or `Display`),
/// so `text.parse::<u64>()` works on it as on a `String`.
///
/// A number of up to 22 characters is stored inline, with no allocation:
/// in a tree of small numbers, a heap `String` per number would cost more
/// than the node that holds it (an allocator hands out at least 32 bytes
/// for a one-byte string). Longer ones are boxed.
#[derive(Clone)]
pub struct JsonNumber(NumberText);

#[derive(Clone)]
enum NumberText {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl JsonNumber {
    /// The number's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ever filled from a whole &str, so this cannot fail.
            NumberText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default()
            }
            NumberText::Heap(s) => s,
        }
    }

    /// The heap bytes this number holds besides its node: 0 when inline.
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            NumberText::Inline { .. } => 0,
            NumberText::Heap(s) => s.len(),
        }
    }
}

impl From<&str> for JsonNumber {
    fn from(text: &str) -> JsonNumber {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            JsonNumber(NumberText::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            JsonNumber(NumberText::Heap(text.into()))
        }
    }
}

impl From<String> for JsonNumber {
    fn from(text: String) -> JsonNumber {
        JsonNumber::from(text.as_str())
    }
}

impl std::ops::Deref for JsonNumber {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for JsonNumber {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for JsonNumber {
    fn eq(&self, other: &JsonNumber) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for JsonNumber {}

impl PartialEq<str> for JsonNumber {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for JsonNumber {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::hash::Hash for JsonNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl std::fmt::Display for JsonNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for JsonNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Parse one JSON text with no bound on the tree's memory (for text this
/// program wrote itself, and for tests). `max_depth` bounds how deeply
/// arrays and objects may nest (each level is a recursion in the parser).
/// Text from a peer goes through [`parse_within`], as `codec::from_json`
/// does.
pub fn parse(bytes: &[u8], max_depth: u32) -> Result<Json, RpcError> {
    parse_within(bytes, max_depth, &Budget::unlimited())
}

/// Parse one JSON text, charging every node, string and array of the tree
/// to `budget` as it is built; past the budget, `ResourceExhausted` (see
/// [`crate::codec::Limits::max_decoded_factor`]).
pub fn parse_within(bytes: &[u8], max_depth: u32, budget: &Budget) -> Result<Json, RpcError> {
    parser::parse(bytes, max_depth, budget)
}

/// Append `s` as a JSON string, quoted and escaped.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push_str(esc);
        }
        run = i + c.len_utf8();
    }
    out.push_str(&s[run..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Limits;
    use crate::Status;

    #[test]
    fn a_node_stays_32_bytes_with_numbers_inline() {
        assert_eq!(std::mem::size_of::<Json>(), 32);
    }

    #[test]
    fn short_numbers_are_inline_and_long_ones_boxed() {
        let short = JsonNumber::from("18446744073709551615");
        assert_eq!(short.heap_bytes(), 0);
        assert_eq!(short.parse::<u64>(), Ok(u64::MAX));
        let long = JsonNumber::from("1.00000000000000000000000001");
        assert_eq!(long.heap_bytes(), 28);
        assert_eq!(long, "1.00000000000000000000000001");
        assert_eq!(
            format!("{short} {long:?}"),
            "18446744073709551615 \"1.00000000000000000000000001\""
        );
    }

    #[test]
    fn a_finished_array_holds_exactly_its_elements() {
        let Json::Array(outer) = parse(b"[[1],[2,3]]", 64).unwrap() else {
            panic!("not an array")
        };
        let caps: Vec<usize> = outer
            .iter()
            .map(|v| match v {
                Json::Array(items) => items.capacity(),
                _ => 0,
            })
            .collect();
        assert_eq!((outer.capacity(), caps), (2, vec![1, 2]));
    }

    #[test]
    fn the_tree_is_charged_to_the_budget_as_it_is_built() {
        let text = b"[[1],[2,3],\"abc\"]";
        let budget = Budget::for_input(0, &Limits::default());
        parse_within(text, 64, &budget).unwrap();
        // Six nodes below the root (two arrays, three numbers, a string)
        // and the string's three bytes.
        assert_eq!(budget.used(), 6 * std::mem::size_of::<Json>() + 3);
        let tiny = Limits {
            min_decode_budget: 100,
            ..Limits::default()
        };
        let e = parse_within(text, 64, &Budget::for_input(0, &tiny)).unwrap_err();
        assert_eq!(e.status, Status::ResourceExhausted);
        assert!(e.message.contains("Limits::max_decoded_factor"), "{e}");
    }

    #[test]
    fn strings_are_written_with_escapes_and_read_back() {
        let s = "q\"b\\n\nt\tc\u{1}é😀";
        let mut out = String::new();
        write_string(&mut out, s);
        assert_eq!(out, "\"q\\\"b\\\\n\\nt\\tc\\u0001é😀\"");
        assert_eq!(parse(out.as_bytes(), 64).unwrap(), Json::String(s.into()));
    }
}
