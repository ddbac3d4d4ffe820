//! The JSON parser: text in, a [`Json`] tree out, or an error naming the
//! line and column.
//!
//! Article: 原理 › 序列化 (JSON: 跨语言, 文本化). The one idea to take
//! away: **a parser is where a text format is strict or sloppy, and
//! sloppiness is where two programs start to disagree**: every refusal
//! here (duplicate keys, lone surrogates, trailing text ...) closes a case
//! where two JSON libraries would read one message two ways.
//!
//! It is a recursive-descent parser: one method per grammar rule
//! (`value`, `array`, `object`, `string`, `number`), each advancing `pos`
//! over the bytes. Recursion is bounded by `max_depth`, memory by the
//! [`Budget`], which every node, string and array is charged to before it
//! is kept.

use super::{Json, JsonNumber};
use crate::codec::budget::map_entry_cost;
use crate::codec::Budget;
use crate::error::RpcError;
use std::collections::HashSet;

/// What one element of an array costs: its node.
const NODE: usize = std::mem::size_of::<Json>();
/// What one member of an object costs: its key and its node.
const MEMBER: usize = std::mem::size_of::<(String, Json)>();

/// Parse one JSON text (see [`super::parse_within`]).
pub(super) fn parse(bytes: &[u8], max_depth: u32, budget: &Budget) -> Result<Json, RpcError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        RpcError::invalid_argument(format!(
            "JSON is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        depth: 0,
        max_depth,
        budget,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.error("unexpected text after the JSON value"));
    }
    Ok(v)
}

/// A finished array or object, cut to its exact length.
///
/// A `Vec` that grows by pushing keeps up to twice the room it needs, and
/// its first push reserves four slots; in a tree of many small arrays that
/// slack was most of the memory. So arrays and objects start with room for
/// one (a one-element array, the worst case, then allocates exactly once)
/// and are cut to size when they end. Cutting alone is not enough: the
/// allocator keeps the freed tail of each block for a later allocation of
/// that size, which in such a tree never comes, so the memory would stay
/// in use. The shrink is one `realloc`, and none when the length is exact.
fn exact<T>(mut v: Vec<T>) -> Vec<T> {
    v.shrink_to_fit();
    v
}

/// What one key costs in the duplicate-key set: a copy of it, in a hash
/// table slot.
fn key_cost(key: &str) -> usize {
    key.len() + map_entry_cost::<String, ()>()
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
    max_depth: u32,
    budget: &'a Budget,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> RpcError {
        let before = &self.s[..self.pos.min(self.s.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        RpcError::invalid_argument(format!(
            "invalid JSON at line {line} column {col} (byte {}): {what}",
            self.pos
        ))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_word(&mut self, word: &str, v: Json) -> Result<Json, RpcError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn value(&mut self) -> Result<Json, RpcError> {
        match self.peek() {
            None => Err(self.error("unexpected end of input, expected a value")),
            Some(b'n') => self.expect_word("null", Json::Null),
            Some(b't') => self.expect_word("true", Json::Bool(true)),
            Some(b'f') => self.expect_word("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'[') => self.nested(Parser::array),
            Some(b'{') => self.nested(Parser::object),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Json, RpcError>) -> Result<Json, RpcError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(self.error(&format!(
                "nested deeper than {} levels (see Limits::max_depth)",
                self.max_depth
            )));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn array(&mut self) -> Result<Json, RpcError> {
        self.pos += 1; // [
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        // Room for one to start with, not the four a first push reserves:
        // see `exact`.
        items.reserve_exact(1);
        loop {
            self.ws();
            self.budget.charge(NODE, "a JSON array element")?;
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(exact(items)));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn object(&mut self) -> Result<Json, RpcError> {
        self.pos += 1; // {
        let mut members: Vec<(String, Json)> = Vec::new();
        // Keys seen so far, once the object is big enough that scanning
        // `members` for each new key would cost n² (a 4 MiB object of short
        // keys would otherwise take a worker for minutes).
        let mut seen: Option<HashSet<String>> = None;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        members.reserve_exact(1);
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key in an object"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            // RFC 8259 says keys SHOULD be unique; parsers disagree on which
            // duplicate wins, which attackers exploit. Refuse them.
            // (The set holds copies of the keys, so they are charged too.)
            let duplicate = match &mut seen {
                Some(set) => {
                    self.budget
                        .charge(key_cost(&key), "a JSON object's key set")?;
                    !set.insert(key.clone())
                }
                None => {
                    let dup = members.iter().any(|(k, _)| *k == key);
                    if !dup && members.len() >= 16 {
                        let cost = members.iter().map(|(k, _)| key_cost(k)).sum::<usize>();
                        self.budget
                            .charge(cost + key_cost(&key), "a JSON object's key set")?;
                        let mut set: HashSet<String> =
                            members.iter().map(|(k, _)| k.clone()).collect();
                        set.insert(key.clone());
                        seen = Some(set);
                    }
                    dup
                }
            };
            if duplicate {
                self.pos = key_at;
                return Err(self.error(&format!("duplicate key \"{key}\" in an object")));
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after an object key"));
            }
            self.pos += 1;
            self.ws();
            self.budget.charge(MEMBER, "a JSON object member")?;
            let v = self.value()?;
            members.push((key, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(exact(members)));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<Json, RpcError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error("numbers may not have leading zeros"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        // The bytes are ASCII digits and signs, so this cannot fail.
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default();
        let number = JsonNumber::from(text);
        self.budget.charge(number.heap_bytes(), "a JSON number")?;
        Ok(Json::Number(number))
    }

    fn hex4(&mut self) -> Result<u32, RpcError> {
        let Some(h) = self.s.get(self.pos..self.pos + 4) else {
            return Err(self.error("expected four hex digits after \\u"));
        };
        let mut v = 0u32;
        for &b in h {
            let d = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, RpcError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the run of plain characters in one go.
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input was checked to be UTF-8 and we stopped on ASCII, so
            // this slice is whole characters.
            let plain = std::str::from_utf8(&self.s[run..self.pos]).unwrap_or_default();
            if out.is_empty() {
                // The common case, a string with no escapes: one
                // allocation of exactly its length.
                out = plain.to_owned();
            } else {
                out.push_str(plain);
            }
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    self.budget.charge(out.capacity(), "a JSON string")?;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated escape"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("unknown escape"));
                        }
                    }
                }
                Some(_) => {
                    return Err(self.error("control character in a string (escape it as \\u00XX)"))
                }
            }
        }
    }

    /// After `\u`: one BMP character, or a surrogate pair written as two
    /// escapes. A lone surrogate is not a character and is refused.
    fn unicode_escape(&mut self) -> Result<char, RpcError> {
        let hi = self.hex4()?;
        let code = match hi {
            0xD800..=0xDBFF => {
                if !self.s[self.pos..].starts_with(b"\\u") {
                    return Err(self.error("lone high surrogate (a \\uD800-\\uDBFF must be followed by a low surrogate)"));
                }
                self.pos += 2;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(self
                        .error("high surrogate followed by something other than a low surrogate"));
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone low surrogate")),
            c => c,
        };
        char::from_u32(code).ok_or_else(|| self.error("not a Unicode scalar value"))
    }
}

#[cfg(test)]
mod tests {
    use crate::json::{parse, Json};

    fn ok(s: &str) -> Json {
        parse(s.as_bytes(), 64).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }
    fn bad(s: &[u8]) -> String {
        parse(s, 64).expect_err("must be refused").message
    }

    #[test]
    fn parses_every_kind_of_value() {
        assert_eq!(ok(" null "), Json::Null);
        assert_eq!(ok("true"), Json::Bool(true));
        assert_eq!(ok("-12.5e+3"), Json::Number("-12.5e+3".into()));
        assert_eq!(ok(r#""a\"b""#), Json::String("a\"b".into()));
        assert_eq!(ok("[1, [], {}]").kind(), "an array");
        assert_eq!(
            ok(r#"{"k": [true]}"#).get("k"),
            Some(&Json::Array(vec![Json::Bool(true)]))
        );
    }

    #[test]
    fn escapes_and_surrogate_pairs_decode() {
        assert_eq!(
            ok(r#""\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00""#),
            Json::String("\" \\ / \u{8} \u{c} \n \r \t é 😀".into())
        );
    }

    #[test]
    fn lone_surrogates_are_refused() {
        assert!(bad(br#""\ud83d""#).contains("lone high surrogate"));
        assert!(bad(br#""\ude00""#).contains("lone low surrogate"));
        assert!(bad(br#""\ud83d\u0041""#).contains("other than a low surrogate"));
    }

    #[test]
    fn grammar_violations_name_the_position() {
        let m = bad(b"[1,\n 2,]");
        assert!(m.contains("line 2 column 4"), "{m}");
        assert!(bad(b"01").contains("leading zeros"));
        assert!(bad(b"1.").contains("after '.'"));
        assert!(bad(b"[1] x").contains("after the JSON value"));
        assert!(bad(b"\"a\x01\"").contains("control character"));
        assert!(bad(b"{\"a\":1,\"a\":2}").contains("duplicate key"));
        assert!(bad(b"\"\xff\"").contains("not valid UTF-8"));
        assert!(bad(b"").contains("end of input"));
        assert!(bad(b"'x'").contains("expected a value"));
    }

    #[test]
    fn a_huge_object_is_checked_for_duplicates_in_linear_time() {
        // 100,000 distinct keys, then one duplicate at the end. With an n²
        // scan this takes minutes; with the set it is instant. (No timing
        // assertion: a regression shows as a test that hangs the suite.)
        let mut text = String::from("{");
        for i in 0..100_000 {
            text.push_str(&format!("\"k{i}\":0,"));
        }
        text.push_str("\"k7\":1}");
        assert!(bad(text.as_bytes()).contains("duplicate key \"k7\""));
        // A small object still finds its duplicate by scanning.
        assert!(bad(br#"{"a":1,"b":2,"a":3}"#).contains("duplicate key \"a\""));
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert!(bad(deep.as_bytes()).contains("nested deeper than 64"));
        let fine = "[".repeat(64) + &"]".repeat(64);
        ok(&fine);
    }
}
