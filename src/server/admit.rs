//! Admission: who is calling, and whether they may call now. The two
//! checks every front door makes after the call id is found and before
//! anything is spent on the call: the minirpc reader
//! (`dispatch.rs`) and the HTTP gateway's [`LocalCaller`](super::LocalCaller).
//!
//! Article: 原理 › 安全认证 and 原理 › 流量控制 (识别调用来源, 单节点限流).
//! The one idea to take away: **identify first, then limit by the
//! identity you proved**. A limit keyed by a name anyone can claim is a
//! limit anyone can dodge (or spend for someone else), so the rate limiter
//! sees the caller that authentication proved — or, on a server without
//! authentication, the caller's own claim, marked unverified.
//!
//! ```text
//!   request head (call id, metadata, args)
//!     ─► identify: signed and allowed?  no ─► UNAUTHENTICATED / PERMISSION_DENIED
//!     ─► within_limits(identity)?       no ─► RESOURCE_EXHAUSTED + retry-after
//!     ─► the call goes on, carrying its Identity in its CallContext
//! ```
//!
//! Both run before a single argument byte is decoded and before the call
//! takes a worker or a queue slot, so a refusal costs one small answer.

use super::handle::Inner;
use crate::auth::Identity;
use crate::error::RpcError;
use crate::protocol::{self, RequestHead};
use std::sync::atomic::Ordering;

/// Who is calling: the identity the request's signature proves when the
/// server authenticates (`Err` when it proves none, or the key may not make
/// this call), else the caller's own unverified claim, if it made one.
pub(crate) fn identify(
    inner: &Inner,
    head: &RequestHead<'_>,
) -> Result<Option<Identity>, RpcError> {
    let Some(auth) = &inner.config.auth else {
        // Without authentication the caller's own claim is all there is.
        return Ok(head.meta(protocol::META_CALLER).map(Identity::declared));
    };
    match auth.verify(head) {
        Ok(identity) => Ok(Some(identity)),
        Err(e) => {
            inner.stats.rejected_auth.fetch_add(1, Ordering::Relaxed);
            Err(e)
        }
    }
}

/// Whether a call to `call_id` by `identity` is within the server's rate
/// limits (`crate::flow`); `Err` is the refusal, with when to retry.
pub(crate) fn within_limits(
    inner: &Inner,
    call_id: &str,
    identity: Option<&Identity>,
) -> Result<(), RpcError> {
    let caller = identity.map(Identity::name);
    inner.flow.check(call_id, caller).inspect_err(|_| {
        (inner.stats.rejected_rate_limited).fetch_add(1, Ordering::Relaxed);
    })
}
