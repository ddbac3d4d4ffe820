//! Authentication: HMAC-SHA256 request signing, and who the caller is.
//!
//! Article: 原理 › 安全认证, and 原理 › 流量控制 › 识别调用来源. A server
//! that limits, logs or bills its callers by name must first know that the
//! name is true. The one idea to take away: **a caller proves it holds a
//! secret without sending it**: it sends a MAC of the request under the
//! secret, which the server, holding the same secret, recomputes. A
//! changed byte, an unknown key, a stale or repeated request all fail the
//! check, before a single argument byte is decoded.
//!
//! ```text
//!   client                                            server (on the connection's reader)
//!   Signer::sign(call id, args) ─► auth-key/ts/nonce/sig ─► call table lookup
//!                                                        ─► Authenticator::verify ─► Identity
//!                                                        ─► queue or run inline ─► handler
//!                                                           (CallContext::identity)
//! ```
//!
//! | file | what |
//! |---|---|
//! | `sha256.rs` | SHA-256 (FIPS 180-4) |
//! | `hmac.rs` | HMAC-SHA256 (RFC 2104), constant-time comparison |
//! | `hex.rs` | the text form of digests and signatures |
//! | `canonical.rs` | the exact bytes signed, and the metadata keys |
//! | `clock.rs` | `UnixClock`: wall-clock seconds through the injectable clock |
//! | `keys.rs` | `Key`: secret, caller name, permissions |
//! | `nonces.rs` | the bounded replay cache |
//! | `verify.rs` | `Authenticator`: the server's checks |
//! | `signer.rs` | `Signer`: the client's side |
//!
//! What signing does **not** give is confidentiality: the arguments and
//! results still cross the network in the clear. minirpc uses only the
//! standard library, which has no TLS; a production deployment runs the
//! connection over TLS (or mTLS, which also authenticates the machines)
//! and keeps its secrets in a secret store. Chapter 12 of the docs
//! (`docs/12-auth.md`) states the threat model in full.

pub mod canonical;
pub mod clock;
pub mod hex;
pub mod hmac;
pub mod keys;
mod nonces;
pub mod sha256;
pub mod signer;
pub mod verify;

pub use canonical::{Signed, META_KEY, META_NONCE, META_SIG, META_TS};
pub use clock::UnixClock;
pub use keys::{Key, Pattern};
pub use signer::{SignedMeta, Signer};
pub use verify::Authenticator;

/// Who a call comes from, as the server knows it.
///
/// With authentication on (`ServerBuilder::authenticate`), the name is the
/// caller of the key that signed the request, and `verified` is true: the
/// request proved it. With it off, the name is whatever the client put in
/// its `caller` metadata (`ClientBuilder::caller_id`), and `verified` is
/// false: anyone can claim any name, so an unverified name is fine for
/// logs and for spreading load, never for a decision about trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    name: String,
    key_id: Option<String>,
    verified: bool,
}

impl Identity {
    /// An identity proven by a signature made with `key_id`.
    pub fn verified(name: &str, key_id: &str) -> Identity {
        Identity {
            name: name.to_owned(),
            key_id: Some(key_id.to_owned()),
            verified: true,
        }
    }

    /// An identity the caller declared, unproven.
    pub fn declared(name: &str) -> Identity {
        Identity {
            name: name.to_owned(),
            key_id: None,
            verified: false,
        }
    }

    /// The caller's name (the key's caller, or the declared one).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a signature proved the name.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// The key id that proved it, if one did.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }
}
