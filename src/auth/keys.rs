//! `Key`: one secret the server knows, the caller it proves, and the call
//! ids it may call.
//!
//! Article: 原理 › 安全认证, and 原理 › 流量控制 › 识别调用来源. The one
//! idea to take away: **authentication says who, authorisation says what
//! they may do**, and they fail differently: an unproven request is
//! `UNAUTHENTICATED` ("prove who you are"), a proven caller asking for
//! something outside its permissions is `PERMISSION_DENIED` ("you may
//! not", and signing again will not help).

/// A key the server accepts: its id, its secret, the caller name a request
/// signed with it proves, and the call ids it may call.
///
/// ```
/// use minirpc::auth::Key;
///
/// let key = Key::new("billing-1", "s3cret", "billing").allow("Arith.*").allow("Echo");
/// assert!(key.permits("Arith.Multiply"));
/// assert!(key.permits("Echo"));
/// assert!(!key.permits("Echo2"));
/// assert!(!key.permits("Admin.Shutdown"));
/// ```
#[derive(Clone)]
pub struct Key {
    pub(crate) id: String,
    pub(crate) secret: Vec<u8>,
    pub(crate) caller: String,
    pub(crate) allowed: Vec<Pattern>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret: a Debug print ends up in logs.
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("caller", &self.caller)
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

/// One permission: a call id, or a prefix of call ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Exactly this call id.
    Exact(String),
    /// Every call id that starts with this (written with a trailing `*`:
    /// `Arith.*` is `Prefix("Arith.")`, `*` is `Prefix("")`).
    Prefix(String),
}

impl Pattern {
    /// Read a pattern: a trailing `*` makes a prefix; anything else is an
    /// exact call id (a `*` elsewhere is an ordinary character, because
    /// call ids may contain one).
    pub fn parse(text: &str) -> Pattern {
        match text.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None => Pattern::Exact(text.to_owned()),
        }
    }

    /// Whether `call_id` is one this pattern allows.
    pub fn matches(&self, call_id: &str) -> bool {
        match self {
            Pattern::Exact(id) => id == call_id,
            Pattern::Prefix(p) => call_id.starts_with(p.as_str()),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Exact(id) => f.write_str(id),
            Pattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

impl Key {
    /// A key with id `id` and secret `secret`, proving the caller `caller`.
    /// It may call nothing until [`allow`](Key::allow) says what. (A key id
    /// must be 1–64 letters, digits, `.`, `_` or `-`; a request naming any
    /// other is refused before the key table is consulted.)
    pub fn new(id: impl Into<String>, secret: impl AsRef<[u8]>, caller: impl Into<String>) -> Key {
        Key {
            id: id.into(),
            secret: secret.as_ref().to_vec(),
            caller: caller.into(),
            allowed: Vec::new(),
        }
    }

    /// Let this key call the call ids `pattern` matches: an exact call id
    /// (`Arith.Multiply`), a prefix ending in `*` (`Arith.*`), or `*` for
    /// every call id.
    pub fn allow(mut self, pattern: &str) -> Key {
        self.allowed.push(Pattern::parse(pattern));
        self
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The caller name a request signed with this key proves.
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// Whether this key may call `call_id`.
    pub fn permits(&self, call_id: &str) -> bool {
        self.allowed.iter().any(|p| p.matches(call_id))
    }

    /// The permissions, as written (for error messages and logs).
    pub fn permissions(&self) -> String {
        if self.allowed.is_empty() {
            return "none".to_owned();
        }
        let all: Vec<String> = self.allowed.iter().map(Pattern::to_string).collect();
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly_or_by_prefix() {
        assert!(Pattern::parse("*").matches("anything"));
        assert!(Pattern::parse("*").matches(""));
        let arith = Pattern::parse("Arith.*");
        assert!(arith.matches("Arith.Multiply"));
        assert!(!arith.matches("Arith"));
        assert!(!arith.matches("Arithmetic.Add"));
        assert!(Pattern::parse("a*b").matches("a*b"));
        assert!(!Pattern::parse("a*b").matches("axb"));
        assert_eq!(Pattern::parse("Arith.*").to_string(), "Arith.*");
    }

    #[test]
    fn a_new_key_permits_nothing_and_its_debug_hides_the_secret() {
        let k = Key::new("k", "hunter2", "me");
        assert!(!k.permits("Multiply"));
        assert_eq!(k.permissions(), "none");
        assert!(!format!("{k:?}").contains("hunter2"));
    }
}
