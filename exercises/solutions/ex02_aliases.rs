//! Reference solution of ex02_aliases: one `Arc` of the function, one
//! table entry per name.

use minirpc::{Decode, Encode, RpcError, Server};
use std::sync::Arc;

/// Register `f` under every name in `names`.
pub fn register_with_aliases<A, R, F>(server: &mut Server, names: &[&str], f: F)
where
    A: Decode + 'static,
    R: Encode + 'static,
    F: Fn(A) -> Result<R, RpcError> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    for name in names {
        let f = Arc::clone(&f);
        server.register(name, move |a: A| f(a));
    }
}
