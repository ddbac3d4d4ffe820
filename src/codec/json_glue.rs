//! What the JSON half of every `Decode` impl shares: the context it
//! decodes in ([`JsonCx`]: the whitelist and the decode budget) and the
//! small helpers the [`record!`](crate::record) macro writes its JSON with.
//!
//! Article: 原理 › 序列化 (JSON, and 反序列化白名单). The one idea to take
//! away: **a record's `"@type"` is checked before any of its fields is
//! read**, and the memory a decoded value takes is charged before it is
//! built, so neither an unexpected type nor a huge one gets half-built.
//!
//! ```text
//!  from_json ─► json::parse_within ─► tree ─► T::decode_json(tree, cx)
//!                    │ charges nodes                │ check_record("@type")
//!                    └──────── one Budget ──────────┘ charges Vecs, Strings
//! ```

use super::budget::Budget;
use super::Decode;
use crate::error::RpcError;
use crate::json::{self, Json};
use crate::whitelist::Whitelist;

/// What JSON decoding needs besides the text: the whitelist that records'
/// `"@type"` names are checked against, and the decode budget the value's
/// memory is charged to.
#[derive(Clone, Copy, Debug)]
pub struct JsonCx<'a> {
    whitelist: Option<&'a Whitelist>,
    budget: Option<&'a Budget>,
}

impl<'a> JsonCx<'a> {
    /// Check record names against `whitelist` (what a server does).
    pub fn checked(whitelist: &'a Whitelist) -> JsonCx<'a> {
        JsonCx {
            whitelist: Some(whitelist),
            budget: None,
        }
    }

    /// Accept any record name that matches the expected type (what a
    /// client decoding its own declared result type does).
    pub fn unchecked() -> JsonCx<'static> {
        JsonCx {
            whitelist: None,
            budget: None,
        }
    }

    /// The same context, charging what is decoded to `budget` (what
    /// [`from_json`](super::from_json) does, with the budget its parse
    /// already charged the tree to).
    pub fn with_budget<'b>(&self, budget: &'b Budget) -> JsonCx<'b>
    where
        'a: 'b,
    {
        JsonCx {
            whitelist: self.whitelist,
            budget: Some(budget),
        }
    }

    /// Charge `bytes` of memory about to be built to the decode budget, if
    /// this context has one (see [`Budget::charge`]).
    #[inline]
    pub fn charge(&self, bytes: usize, what: &str) -> Result<(), RpcError> {
        match self.budget {
            Some(b) => b.charge(bytes, what),
            None => Ok(()),
        }
    }

    /// The start of every record's `decode_json`: `v` must be an object; its
    /// `"@type"` (if present) must be on the whitelist and must name
    /// `expected`; and `expected` itself must be allowed.
    pub fn check_record(&self, expected: &'static str, v: &Json) -> Result<(), RpcError> {
        if !matches!(v, Json::Object(_)) {
            return Err(mismatch(expected, v));
        }
        let named = match v.get("@type") {
            None => expected,
            Some(Json::String(s)) => s.as_str(),
            Some(other) => {
                return Err(RpcError::invalid_argument(format!(
                    "\"@type\" must be a string, found {}",
                    other.kind()
                )))
            }
        };
        for name in [named, expected] {
            if let Some(w) = self.whitelist {
                if !w.allows(name) {
                    return Err(RpcError::invalid_argument(format!(
                        "type \"{name}\" is not in the deserialization whitelist (declare it in a registered method's signature, or allow it with ServerBuilder::allow_type(\"{name}\"))"
                    )));
                }
            }
        }
        if named != expected {
            return Err(RpcError::invalid_argument(format!(
                "expected {expected} here, but the JSON says \"@type\": \"{named}\""
            )));
        }
        Ok(())
    }
}

/// "expected X, found Y" for JSON decoding.
pub fn mismatch(expected: &str, found: &Json) -> RpcError {
    RpcError::invalid_argument(format!(
        "expected {expected}, found {} in JSON",
        found.kind()
    ))
}

/// Read field `name` of a JSON record. A missing field is read as `null`,
/// so a missing `Option` field is `None` and any other missing field is an
/// error naming it.
pub fn json_field<T: Decode>(
    v: &Json,
    owner: &str,
    name: &str,
    cx: &JsonCx<'_>,
) -> Result<T, RpcError> {
    match v.get(name) {
        // Keep the field's status: a field over the decode budget is still
        // ResourceExhausted, not a malformed message.
        Some(f) => T::decode_json(f, cx)
            .map_err(|e| RpcError::new(e.status, format!("{owner}.{name}: {}", e.message))),
        None => T::decode_json(&Json::Null, cx).map_err(|_| {
            RpcError::invalid_argument(format!("{owner} is missing its field \"{name}\""))
        }),
    }
}

/// Begin a JSON record: `{"@type":"Name"`. Used by [`record!`](crate::record).
pub fn json_record_start(out: &mut String, name: &str) {
    out.push_str("{\"@type\":");
    json::write_string(out, name);
}

/// Write `,"name":` inside a JSON record. Used by [`record!`](crate::record).
pub fn json_field_name(out: &mut String, name: &str) {
    out.push(',');
    json::write_string(out, name);
    out.push(':');
}
