//! `CallContext`: what a handler can know about the call it serves.
//!
//! Article: 原理 › 组件 (the RPC Processor hands each call its context).
//! The one idea to take away: **the envelope travels with the call**: the
//! deadline the caller set, who the caller is, whether it has since given
//! up. A handler that reads them can skip work nobody is waiting for.

use crate::auth::Identity;
use crate::codec::{CodecId, Limits};
use crate::time::Deadline;
use crate::trace::{self, Side, Tracer};
use crate::whitelist::Whitelist;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a handler can know about the call it is serving.
pub struct CallContext {
    pub(crate) call_id: Arc<str>,
    pub(crate) request_id: u64,
    pub(crate) deadline: Deadline,
    /// When the request was read (where the server's latency clock starts).
    pub(crate) received: Instant,
    pub(crate) identity: Option<Identity>,
    pub(crate) peer: SocketAddr,
    pub(crate) codec: CodecId,
    pub(crate) limits: Limits,
    pub(crate) whitelist: Arc<Whitelist>,
    pub(crate) tracer: Option<Tracer>,
    /// Set when the client sends a cancel frame for this call.
    pub(crate) cancelled: Option<Arc<AtomicBool>>,
    /// Answer with a checksummed frame (the request came with one).
    pub(crate) sealed: bool,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("call_id", &self.call_id)
            .field("request_id", &self.request_id)
            .field("deadline", &self.deadline)
            .field("identity", &self.identity)
            .field("peer", &self.peer)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl CallContext {
    /// The call id the client asked for.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
    /// The request id on the connection (unique per connection, not global).
    pub fn request_id(&self) -> u64 {
        self.request_id
    }
    /// When the caller stops waiting, if it said.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.instant()
    }
    /// How long until the caller stops waiting (zero if it already has), or
    /// `None` if the caller set no deadline. A long handler can check this
    /// and give up early.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline.remaining()
    }
    /// Whether the caller has given up on this call: it sent a cancel frame
    /// (its future was dropped, or it timed out), or its deadline passed. A
    /// long handler checks this now and then and stops early; its answer
    /// would be thrown away anyway.
    pub fn is_cancelled(&self) -> bool {
        self.deadline.has_passed()
            || self
                .cancelled
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
    }
    /// The caller's name: the key's caller when the server authenticates
    /// (`ServerBuilder::authenticate`), else the `caller` metadata if the
    /// request carried one. See [`identity`](Self::identity) for whether
    /// it was proven.
    pub fn caller(&self) -> Option<&str> {
        self.identity.as_ref().map(Identity::name)
    }
    /// Who the call is from, and whether a signature proved it (原理 ›
    /// 流量控制 › 识别调用来源): verified when the server authenticates,
    /// declared (unverified) when it does not; `None` for an unsigned
    /// request that named no caller.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }
    /// The address the call came from.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    /// The codec the arguments are in (and the result must be in).
    pub fn codec(&self) -> CodecId {
        self.codec
    }
    /// The decoding limits the server was configured with.
    pub fn limits(&self) -> Limits {
        self.limits
    }
    /// The deserialization whitelist, for a handler that decodes JSON by
    /// hand (`codec::from_json(bytes, limits, &JsonCx::checked(ctx.whitelist()))`).
    pub fn whitelist(&self) -> &Whitelist {
        &self.whitelist
    }
    pub(crate) fn trace(&self, step: u8, bytes: Option<&[u8]>, message: impl FnOnce() -> String) {
        trace::emit(&self.tracer, Side::Server, step, bytes, message)
    }
}
