//! The deserialization whitelist (反序列化白名单).
//!
//! Article: 原理 › 序列化, the note on deserialization safety, which asks
//! for a whitelist in three layers: the types declared by the service
//! interfaces, a built-in list, and a list the user adds to. The one idea to
//! take away: **a format that names its own types lets the sender choose
//! what the receiver builds**, so the receiver must refuse every name it did
//! not expect.
//!
//! # The attack this blocks
//!
//! In Java, fastjson's `autoType` and Hessian read a class name from the
//! message (`"@type": "com.sun.rowset.JdbcRowSetImpl"`) and instantiate that
//! class, running its setters. An attacker who can send a message picks a
//! class already on the server's classpath whose setters do something
//! dangerous (open a JNDI connection, run a command): a *gadget chain*.
//! Dubbo, fastjson and Jackson all shipped fixes that came down to lists of
//! allowed (or banned) names.
//!
//! # Why Rust is mostly safe already, and what is left
//!
//! minirpc never builds a type because a message named it: the receiver
//! decodes into the type its code declares, so a `"@type"` cannot conjure
//! anything else. What is left is defence in depth and clarity: a JSON
//! record carries `"@type"`, and the decoder checks that name against the
//! three layers below *before* reading a single field, so a message naming
//! an unexpected type is refused loudly (`InvalidArgument: type "X" is not
//! in the deserialization whitelist ...`) instead of being half-read.
//!
//! | layer | filled by |
//! |---|---|
//! | declared | `Server::register`: every record type reachable from a method's argument types, collected through `Decode::declared_types` into [`DeclaredTypes`] |
//! | built-in | [`BUILTIN_TYPES`]: named types minirpc itself defines codecs for |
//! | user | `ServerBuilder::allow_type`: types a raw handler decodes by hand |

use std::collections::BTreeSet;

/// Named types minirpc itself gives a JSON form: allowed on every server.
pub const BUILTIN_TYPES: &[&str] = &["Duration"];

/// The set of record names a server will decode from JSON. See the module
/// docs for the three layers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Whitelist {
    declared: BTreeSet<String>,
    user: BTreeSet<String>,
}

/// Which layer allowed a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// Declared by a registered method's signature.
    Declared,
    /// On minirpc's built-in list.
    BuiltIn,
    /// Added by the user.
    User,
}

impl Whitelist {
    /// An empty whitelist (only the built-in layer allows anything).
    pub fn new() -> Whitelist {
        Whitelist::default()
    }

    /// Layer 1: a type a registered method declares.
    pub fn declare(&mut self, name: &str) {
        self.declared.insert(name.to_owned());
    }

    /// Layer 3: a type the user allows by hand.
    pub fn allow(&mut self, name: &str) {
        self.user.insert(name.to_owned());
    }

    /// The layer that allows `name`, if any.
    pub fn layer_of(&self, name: &str) -> Option<Layer> {
        if self.declared.contains(name) {
            Some(Layer::Declared)
        } else if BUILTIN_TYPES.contains(&name) {
            Some(Layer::BuiltIn)
        } else if self.user.contains(name) {
            Some(Layer::User)
        } else {
            None
        }
    }

    /// Whether `name` may be decoded.
    pub fn allows(&self, name: &str) -> bool {
        self.layer_of(name).is_some()
    }

    /// The declared layer, sorted (for the admin page and for tests).
    pub fn declared(&self) -> impl Iterator<Item = &str> {
        self.declared.iter().map(String::as_str)
    }
}

/// The record types found by
/// [`Decode::declared_types`](crate::codec::Decode::declared_types): the names JSON
/// will carry in `"@type"` (layer 1 of the whitelist), plus the full Rust
/// paths already visited. Two types may share a name (`billing::Order` and
/// `shipping::Order`); each is still walked once, by its path.
#[derive(Clone, Debug, Default)]
pub struct DeclaredTypes {
    names: Vec<&'static str>,
    visited: Vec<&'static str>,
}

impl DeclaredTypes {
    /// An empty set.
    pub fn new() -> DeclaredTypes {
        DeclaredTypes::default()
    }

    /// Record a type called `name` in JSON, whose Rust path is `path`.
    /// Returns true the first time this path is seen (so the caller walks
    /// its fields), false after.
    pub fn visit(&mut self, name: &'static str, path: &'static str) -> bool {
        if self.visited.contains(&path) {
            return false;
        }
        self.visited.push(path);
        if !self.names.contains(&name) {
            self.names.push(name);
        }
        true
    }

    /// The names found so far, in the order found.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_layer_allows_its_names_and_nothing_else() {
        let mut w = Whitelist::new();
        w.declare("Order");
        w.allow("AuditRecord");
        assert_eq!(w.layer_of("Order"), Some(Layer::Declared));
        assert_eq!(w.layer_of("Duration"), Some(Layer::BuiltIn));
        assert_eq!(w.layer_of("AuditRecord"), Some(Layer::User));
        assert_eq!(w.layer_of("JdbcRowSetImpl"), None);
        assert!(!w.allows("order"), "names are case-sensitive");
    }
}
