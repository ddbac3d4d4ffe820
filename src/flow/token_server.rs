//! The token server: one place that hands out a global rate, in batches.
//!
//! Article: 原理 › 流量控制 › 集群限流. The one idea to take away: **a
//! global limit needs one counter**. Three servers that each allow a
//! third of the rate are only right while traffic is spread evenly; a
//! token server counts for all of them, so however the calls fall, the
//! cluster together passes the rate. It is itself a minirpc service,
//! published in the registry like any other:
//!
//! ```text
//!   server A ─┐  "TokenServer.Acquire" ("Arith", want 10)   ┌─────────────────────┐
//!   server B ─┼──────────────────────────────────────►  │ TokenServer         │
//!   server C ─┘  ◄─ (granted 10, retry after 0 ms)      │  "Arith": bucket    │
//!                ◄─ (granted 0, retry after 40 ms)      │  100/s burst 20     │
//!                                                       └─────────────────────┘
//! ```
//!
//! Sentinel's token server (`TokenService.requestToken`, checked by its
//! `ClusterFlowChecker`) is asked for each call's token; minirpc's asks
//! for a batch at a time, so one round trip covers many calls, at the
//! cost of a server holding a few tokens it may not use (a batch is
//! small, and expires; see [`super::ClusterLimiter`]).
//!
//! The call: arguments `(flow: String, wanted: u32)`, result
//! `(granted: u32, retry_after_ms: u64)`. `granted` is at most `wanted`
//! and may be 0; then `retry_after_ms` says when the next token is due.
//! An unknown flow is `NOT_FOUND`.

use super::{ceil_ms, TokenBucket};
use crate::error::{RpcError, Status};
use crate::server::Server;
use crate::sync::lock;
use crate::time::{Clock, SystemClock};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The call id a token server answers (an ordinary call: ids starting
/// `$minirpc.` are reserved for the built-in probe).
pub const TOKEN_CALL_ID: &str = "TokenServer.Acquire";
/// The service name a token server is published under in a registry.
pub const TOKEN_SERVICE: &str = "minirpc.tokens";

/// A token server: global token buckets by flow name, served as the call
/// [`TOKEN_CALL_ID`]. Register it on a [`Server`] with
/// [`register_on`](TokenServer::register_on) and publish that server under
/// [`TOKEN_SERVICE`].
pub struct TokenServer {
    clock: Arc<dyn Clock>,
    flows: HashMap<String, Flow>,
}

struct Flow {
    bucket: TokenBucket,
    granted: Mutex<u64>,
}

impl Default for TokenServer {
    fn default() -> TokenServer {
        TokenServer::new()
    }
}

impl TokenServer {
    /// A token server with no flows, on the system clock.
    pub fn new() -> TokenServer {
        TokenServer {
            clock: Arc::new(SystemClock),
            flows: HashMap::new(),
        }
    }

    /// Read time from `clock` (tests pass a [`crate::time::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> TokenServer {
        self.clock = clock;
        self
    }

    /// Serve the flow `name`: `rate_per_sec` for the whole cluster, up to
    /// `burst` at once.
    pub fn flow(mut self, name: &str, rate_per_sec: f64, burst: u32) -> TokenServer {
        self.flows.insert(
            name.to_owned(),
            Flow {
                bucket: TokenBucket::new(rate_per_sec, burst),
                granted: Mutex::new(0),
            },
        );
        self
    }

    /// Grant up to `wanted` tokens of `flow` now: `(granted, retry_after_ms)`.
    pub fn acquire(&self, flow: &str, wanted: u32) -> Result<(u32, u64), RpcError> {
        let f = self.flows.get(flow).ok_or_else(|| {
            RpcError::new(
                Status::NotFound,
                format!("this token server has no flow {flow:?} (see TokenServer::flow)"),
            )
        })?;
        let now = self.clock.now();
        let got = f.bucket.take_up_to(wanted, now);
        *lock(&f.granted) += u64::from(got);
        let retry = if got == 0 {
            ceil_ms(f.bucket.time_to_next(now))
        } else {
            0
        };
        Ok((got, retry))
    }

    /// Tokens of `flow` granted so far, to all servers together.
    pub fn granted(&self, flow: &str) -> u64 {
        self.flows.get(flow).map_or(0, |f| *lock(&f.granted))
    }

    /// Add [`TOKEN_CALL_ID`] to `server`'s call table, answered by `this`.
    pub fn register_on(this: &Arc<TokenServer>, server: &mut Server) {
        let ts = Arc::clone(this);
        server.register(TOKEN_CALL_ID, move |(flow, wanted): (String, u32)| {
            ts.acquire(&flow, wanted)
        });
    }
}
