//! Introspection: the built-in call `$minirpc.describe`, which answers with
//! the server's call table.
//!
//! Article: 框架 › 对比 (the 管理中心 row): a management center must first
//! know what a server offers. The one idea to take away: **the call table
//! can describe itself**, in the same frames and codecs as any call, so a
//! tool that knows only the wire (the `call` example, a script in another
//! language) can list a server's methods, as gRPC's server reflection lets
//! `grpcurl` do.
//!
//! ```text
//!  request  call id "$minirpc.describe", arguments () in the request's codec
//!  response Vec<MethodDescription>, one per method, sorted by call id:
//!           call_id, args, result, idempotent, inline, max_frame_bytes
//! ```
//!
//! The type names are those of the Rust signature with the paths cut off
//! (`(i32, i32)`, `Vec<String>`, `Order`): names for a person or a tool to
//! show, not a schema to decode by. `ServerBuilder::describe(false)` turns
//! the call off; it is then `UNIMPLEMENTED` like any unknown call id.

use super::connection::Conn;
use super::handle::Inner;
use crate::codec::{self, CodecId};
use crate::error::RpcError;
use crate::protocol::{self, HEADER_LEN};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The call id of the built-in describe call.
pub const DESCRIBE_CALL_ID: &str = "$minirpc.describe";

crate::record! {
    /// One method of a server's call table, as `$minirpc.describe` reports it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct MethodDescription {
        /// The call id it is registered under.
        pub call_id: String,
        /// The argument type's name (a tuple for several arguments), or
        /// `"bytes"` for a handler registered untyped.
        pub args: String,
        /// The result type's name, or `"bytes"`.
        pub result: String,
        /// Whether the server declared it safe to run twice
        /// (`Server::idempotent`), so a client may retry it after a failure.
        pub idempotent: bool,
        /// Whether it runs on the connection's reader right now, having
        /// proven short (`ServerBuilder::inline_max`).
        pub inline: bool,
        /// The largest request and response frame body the server accepts
        /// for it (`ServerBuilder::max_frame_bytes`).
        pub max_frame_bytes: u64,
    }
}

/// What registration learned of a method's signature.
#[derive(Clone, Debug)]
pub(crate) struct Signature {
    /// Shared with every [`CallContext`](super::CallContext) of its calls,
    /// so that serving a call does not copy its name.
    pub(crate) call_id: Arc<str>,
    pub(crate) args: String,
    pub(crate) result: String,
    pub(crate) idempotent: bool,
}

impl Signature {
    /// A handler registered as bytes in, bytes out.
    pub(crate) fn untyped(call_id: &str) -> Signature {
        Signature {
            call_id: call_id.into(),
            args: "bytes".into(),
            result: "bytes".into(),
            idempotent: false,
        }
    }

    /// A typed handler from `A` to `R`.
    pub(crate) fn typed<A, R>(call_id: &str) -> Signature {
        Signature {
            call_id: call_id.into(),
            args: short_type_name(std::any::type_name::<A>()),
            result: short_type_name(std::any::type_name::<R>()),
            idempotent: false,
        }
    }
}

/// A Rust type name without its paths:
/// `alloc::vec::Vec<alloc::string::String>` becomes `Vec<String>`.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the path now being written began: a `::` cuts back to it.
    let mut path_start = 0;
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            out.truncate(path_start);
            continue;
        }
        out.push(c);
        if !(c.is_alphanumeric() || c == '_') {
            path_start = out.len();
        }
    }
    out
}

/// The call table as `$minirpc.describe` reports it.
pub(crate) fn describe(inner: &Inner) -> Vec<MethodDescription> {
    inner
        .methods
        .iter()
        .map(|m| MethodDescription {
            call_id: m.signature.call_id.to_string(),
            args: m.signature.args.clone(),
            result: m.signature.result.clone(),
            idempotent: m.signature.idempotent,
            inline: m.inline.load(Ordering::Relaxed),
            max_frame_bytes: inner.config.max_frame_bytes as u64,
        })
        .collect()
}

/// Answer a describe request (id `id`, codec `codec`) on `conn`.
pub(crate) fn answer(inner: &Inner, conn: &Conn, codec: CodecId, id: u64) {
    let mut out = Vec::with_capacity(256);
    let start = protocol::begin_ok_response(&mut out, codec, id);
    codec::encode_as(codec, &describe(inner), &mut out);
    let body = out.len() - start - HEADER_LEN;
    if body > inner.config.max_frame_bytes {
        out.clear();
        let e = RpcError::resource_exhausted(format!(
            "the description of this server's {} methods would be a {body}-byte frame body, over max_frame_bytes {} (raise ServerBuilder::max_frame_bytes, or call the methods by name)",
            inner.methods.len(),
            inner.config.max_frame_bytes
        ));
        protocol::error_response(&mut out, codec, id, &e);
    } else {
        protocol::finish_frame(&mut out, start);
    }
    conn.seal(&mut out, 0);
    conn.send(&out);
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_lose_their_paths_only() {
        let cases = [
            ("(i32, i32)", "(i32, i32)"),
            ("alloc::vec::Vec<alloc::string::String>", "Vec<String>"),
            ("core::option::Option<my_app::shop::Order>", "Option<Order>"),
            (
                "std::collections::hash::map::HashMap<alloc::string::String, u64>",
                "HashMap<String, u64>",
            ),
            ("&str", "&str"),
            ("()", "()"),
        ];
        for (full, short) in cases {
            assert_eq!(short_type_name(full), short, "{full}");
        }
    }
}
