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
//! grammar and builds a [`Json`] tree; it refuses invalid UTF-8, lone
//! surrogates, control characters in strings, duplicate keys, nesting past
//! the limit and anything after the value, naming the line and column. Then
//! the receiving type reads what it expects out of the tree
//! ([`crate::codec::Decode::decode_json`]). Numbers stay as their text in
//! the tree, so `18446744073709551615` becomes a `u64` exactly, never
//! passing through a float.

use crate::error::RpcError;
use std::collections::HashSet;
use std::fmt::Write as _;

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, kept as its exact text (already checked against the grammar).
    Number(String),
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

/// Parse one JSON text. `max_depth` bounds how deeply arrays and objects
/// may nest (each level is a recursion in the parser).
pub fn parse(bytes: &[u8], max_depth: u32) -> Result<Json, RpcError> {
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
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.error("unexpected text after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: u32,
    max_depth: u32,
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
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
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
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key in an object"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            // RFC 8259 says keys SHOULD be unique; parsers disagree on which
            // duplicate wins, which attackers exploit. Refuse them.
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let dup = members.iter().any(|(k, _)| *k == key);
                    if !dup && members.len() >= 16 {
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
            let v = self.value()?;
            members.push((key, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
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
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        Ok(Json::Number(text))
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
            out.push_str(std::str::from_utf8(&self.s[run..self.pos]).unwrap_or_default());
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
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

    #[test]
    fn strings_are_written_with_escapes_and_read_back() {
        let s = "q\"b\\n\nt\tc\u{1}é😀";
        let mut out = String::new();
        write_string(&mut out, s);
        assert_eq!(out, "\"q\\\"b\\\\n\\nt\\tc\\u0001é😀\"");
        assert_eq!(ok(&out), Json::String(s.into()));
    }
}
