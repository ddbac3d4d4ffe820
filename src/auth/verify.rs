//! `Authenticator`: the server's side of signing. Which keys it knows, how
//! wide its timestamp window is, and the checks a request passes before a
//! single argument byte is decoded.
//!
//! Article: 原理 › 安全认证. The one idea to take away: **check the cheap
//! things first and the secret last, and tell a caller exactly which check
//! failed, but never anything secret**. The order:
//!
//! ```text
//!   four auth-* fields present and well formed?   no ─► UNAUTHENTICATED (which one)
//!   key id known?                                 no ─► UNAUTHENTICATED (unknown key)
//!   timestamp within ±window of our clock?        no ─► UNAUTHENTICATED (how far off)
//!   HMAC of the canonical bytes == auth-sig?      no ─► UNAUTHENTICATED (bad signature)
//!   key permits this call id?                     no ─► PERMISSION_DENIED
//!   nonce new within the window?                  no ─► UNAUTHENTICATED (replay)
//!   └─► Identity { name: the key's caller, verified: true }
//! ```
//!
//! The permission is checked only once the signature holds, so what a key
//! may call is told only to its holder; the nonce is remembered only once
//! everything else holds, so only a key holder can fill the replay cache.

use super::canonical::{self, Signed, META_KEY, META_NONCE, META_SIG, META_TS};
use super::clock::UnixClock;
use super::hex;
use super::hmac::constant_time_eq;
use super::keys::Key;
use super::nonces::{NonceCache, Verdict};
use super::Identity;
use crate::error::{RpcError, Status};
use crate::protocol::RequestHead;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The default timestamp window: a request signed up to 5 minutes before
/// or after the server's clock is accepted (the skew AWS Signature V4
/// allows too).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The default capacity of the replay cache, in nonces: the most signed
/// requests the server can take within one window before it starts
/// refusing the oldest-signed ones (see [`Authenticator::nonce_capacity`]).
pub const DEFAULT_NONCE_CAPACITY: usize = 1 << 16;

/// Verifies signed requests for a server (give it to
/// `ServerBuilder::authenticate`).
///
/// ```
/// use minirpc::auth::{Authenticator, Key};
/// use std::time::Duration;
///
/// let auth = Authenticator::new()
///     .key(Key::new("billing-1", "s3cret", "billing").allow("Arith.*"))
///     .window(Duration::from_secs(60));
/// assert_eq!(auth.window_secs(), 60);
/// ```
pub struct Authenticator {
    keys: HashMap<String, Key>,
    window: u64,
    clock: UnixClock,
    nonces: Mutex<NonceCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Authenticator")
            .field("keys", &ids)
            .field("window_secs", &self.window)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Default for Authenticator {
    fn default() -> Authenticator {
        Authenticator::new()
    }
}

impl Authenticator {
    /// No keys (so every request is refused until one is added), the
    /// default window of ±5 minutes, the system clock, and a replay cache
    /// of [`DEFAULT_NONCE_CAPACITY`] nonces.
    pub fn new() -> Authenticator {
        Authenticator {
            keys: HashMap::new(),
            window: DEFAULT_WINDOW.as_secs(),
            clock: UnixClock::system(),
            nonces: Mutex::new(NonceCache::new(DEFAULT_NONCE_CAPACITY)),
        }
    }

    /// Accept requests signed with `key` (a key with the same id replaces
    /// the earlier one).
    pub fn key(mut self, key: Key) -> Authenticator {
        self.keys.insert(key.id.clone(), key);
        self
    }

    /// How far a request's timestamp may be from the server's clock, either
    /// way, in whole seconds (at least 1). Wider tolerates worse clocks and
    /// makes the replay cache remember longer. Default ±5 minutes.
    pub fn window(mut self, window: Duration) -> Authenticator {
        self.window = window.as_secs().max(1);
        self
    }

    /// How many nonces the replay cache holds (at least 1). When more
    /// signed requests than this arrive within one window, the requests
    /// signed earliest are refused (the module docs of `src/auth/nonces.rs`
    /// say why that is safe); none is ever accepted twice. Each entry keeps
    /// its key id and nonce (at most 64 characters each) twice, in a hash
    /// set and in a set ordered by time. Default [`DEFAULT_NONCE_CAPACITY`].
    pub fn nonce_capacity(mut self, n: usize) -> Authenticator {
        self.nonces = Mutex::new(NonceCache::new(n));
        self
    }

    /// Read the time from `clock` (tests drive a
    /// [`ManualClock`](crate::time::ManualClock) through it). Default
    /// [`UnixClock::system`].
    pub fn clock(mut self, clock: UnixClock) -> Authenticator {
        self.clock = clock;
        self
    }

    /// The window, in seconds.
    pub fn window_secs(&self) -> u64 {
        self.window
    }

    /// How many nonces the replay cache remembers now.
    pub fn remembered_nonces(&self) -> usize {
        lock(&self.nonces).len()
    }

    /// Check a parsed request: its signature over its call id and argument
    /// bytes, its timestamp, its nonce, and its key's permission for the
    /// call id. The arguments are hashed, never decoded. Returns who the
    /// request proves it is from.
    pub fn verify(&self, head: &RequestHead<'_>) -> Result<Identity, RpcError> {
        let field = |name: &str| {
            head.meta(name).ok_or_else(|| {
                unauthenticated(format!(
                    "this server accepts only signed requests, and this one has no \"{name}\" metadata; sign every request (ClientBuilder::credentials, or docs/protocol.md §15)"
                ))
            })
        };
        let (key_id, ts_text, nonce, sig_text) = (
            field(META_KEY)?,
            field(META_TS)?,
            field(META_NONCE)?,
            field(META_SIG)?,
        );
        if !canonical::valid_key_id(key_id) {
            return Err(unauthenticated(
                "the auth-key metadata is not a key id (1 to 64 letters, digits, '.', '_' or '-'); see docs/protocol.md §15",
            ));
        }
        let Some(ts) = canonical::parse_timestamp(ts_text) else {
            return Err(unauthenticated(
                "the auth-ts metadata is not a timestamp (Unix seconds, in decimal digits); see docs/protocol.md §15",
            ));
        };
        if !canonical::valid_nonce(nonce) {
            return Err(unauthenticated(
                "the auth-nonce metadata is not a nonce (16 to 64 letters, digits, '_' or '-'); see docs/protocol.md §15",
            ));
        }
        let Some(sig) = hex::decode_32(sig_text) else {
            return Err(unauthenticated(
                "the auth-sig metadata is not a signature (64 lowercase hex digits); see docs/protocol.md §15",
            ));
        };
        let Some(key) = self.keys.get(key_id) else {
            return Err(unauthenticated(format!(
                "unknown key id \"{key_id}\": this server has no such key; sign with a key it was given (Authenticator::key)"
            )));
        };
        let now = self.clock.now_secs();
        let w = self.window;
        if ts.saturating_add(w) < now {
            return Err(unauthenticated(format!(
                "the request was signed {} s ago, more than the window of {w} s allows (too old): sign each request when it is sent, and check this machine's clock (NTP)",
                now - ts
            )));
        }
        if ts > now.saturating_add(w) {
            return Err(unauthenticated(format!(
                "the request was signed {} s in the future, more than the window of {w} s allows: this machine's clock is ahead of the server's; fix it (NTP)",
                ts - now
            )));
        }
        let expected = Signed {
            key_id,
            timestamp: ts_text,
            nonce,
            call_id: head.call_id,
            args: head.args,
        }
        .signature(&key.secret);
        if !constant_time_eq(&expected, &sig) {
            return Err(unauthenticated(format!(
                "bad signature for key id \"{key_id}\": the call id, arguments, timestamp or nonce are not what was signed, or the secret is not this key's; sign the request as sent with the key's secret (docs/protocol.md §15)"
            )));
        }
        if !key.permits(head.call_id) {
            return Err(RpcError::new(
                Status::PermissionDenied,
                format!(
                    "key id \"{key_id}\" (caller \"{}\") may not call \"{}\"; it may call: {}. Ask for the permission (Key::allow), or use a key that has it",
                    key.caller,
                    head.call_id,
                    key.permissions()
                ),
            ));
        }
        match lock(&self.nonces).check(key_id, nonce, ts, now, w) {
            Verdict::Fresh => Ok(Identity::verified(&key.caller, key_id)),
            Verdict::Replayed => Err(unauthenticated(format!(
                "replayed request: nonce already used with key id \"{key_id}\" within the window of {w} s; sign every request with a fresh nonce"
            ))),
            Verdict::BelowFloor { floor } => Err(unauthenticated(format!(
                "the replay cache is full and has forgotten the nonces of requests signed at or before {floor}, so it cannot rule out a replay of this one (signed at {ts}); sign it again now, or raise Authenticator::nonce_capacity"
            ))),
        }
    }
}

fn unauthenticated(message: impl Into<String>) -> RpcError {
    RpcError::new(Status::Unauthenticated, message)
}
