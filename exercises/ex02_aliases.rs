//! Exercise ex02_aliases (chapter 02): one function under several call ids.
//!
//! With string call ids the name is the contract: renaming `"Multiply"` to
//! `"Arith.multiply"` breaks every deployed caller. An alias keeps the old
//! name working. Make `register_with_aliases` put the *same* function into
//! the call table under every name of `names` (it registers only the first
//! one so far). Hint: share `f` in an `Arc`.
//! Check it with `cargo test --features exercises --test exercises -- ex02_aliases`.

use minirpc::{Decode, Encode, RpcError, Server};

/// Register `f` under every name in `names`.
pub fn register_with_aliases<A, R, F>(server: &mut Server, names: &[&str], f: F)
where
    A: Decode + 'static,
    R: Encode + 'static,
    F: Fn(A) -> Result<R, RpcError> + Send + Sync + 'static,
{
    if let Some(first) = names.first() {
        server.register(first, f);
    }
}
