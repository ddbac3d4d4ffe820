//! `http://host:port/path`: the one URL shape the client speaks.
//!
//! There is no TLS in the standard library, so only `http://` is accepted;
//! an `https://` URL is refused with a message that says so, rather than
//! sending plain text to a port that expects a TLS handshake (which would
//! look like a hang or like garbage).

use crate::error::RpcError;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `http://` URL: host, port (default 80) and an optional base
/// path that every request path is appended to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// The host name or IP address (an IPv6 address without its brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The path before every request's own path, without a trailing `/`
    /// (empty for `http://127.0.0.1:2379`).
    pub base_path: String,
}

impl Url {
    /// Parse `text`, e.g. `http://127.0.0.1:2379`. Refuses other schemes,
    /// user names, query strings, and hosts or ports that cannot be right,
    /// each with a message naming the part.
    pub fn parse(text: &str) -> Result<Url, RpcError> {
        let bad = |why: &str| RpcError::invalid_argument(format!("bad URL {text:?}: {why}"));
        let t = text.trim();
        let scheme_end = t
            .find("://")
            .ok_or_else(|| bad("expected http://host:port, e.g. http://127.0.0.1:2379"))?;
        let scheme = &t[..scheme_end];
        if scheme.eq_ignore_ascii_case("https") {
            return Err(bad(
                "https is not supported (minirpc's HTTP client has no TLS); use the server's \
                 plain http:// URL",
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("only http:// URLs are supported"));
        }
        let rest = &t[scheme_end + 3..];
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(bad("user names and passwords in URLs are not supported"));
        }
        if path.contains(['?', '#']) {
            return Err(bad("a base URL cannot have a query or a fragment"));
        }
        let (host, port) = split_host_port(authority).map_err(|why| bad(&why))?;
        Ok(Url {
            host,
            port,
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `host:port` as the `Host` header wants it (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The full path to send for request path `path` (which starts with `/`).
    pub fn path_for(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }

    /// The addresses the host resolves to. An IP address needs no lookup;
    /// a name goes through the system resolver (which the standard library
    /// cannot bound by a deadline, so prefer addresses where it matters).
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, RpcError> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| {
                RpcError::unavailable(format!(
                    "cannot resolve the host of {self}: {e}; check the name, or use an IP address"
                ))
            })?
            .collect();
        if addrs.is_empty() {
            return Err(RpcError::unavailable(format!(
                "the host of {self} resolves to no address"
            )));
        }
        Ok(addrs)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.base_path)
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or("an IPv6 host needs its closing ']'")?;
        let after = &v6[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("expected ':port' after ']'")?),
        };
        (&v6[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':');
    if !host.chars().all(ok) {
        return Err(format!("{host:?} is not a host name or an IP address"));
    }
    let port = match port {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("{p:?} is not a port (1-65535)")),
            Ok(n) => n,
        },
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_and_base_path_are_parsed() {
        let u = Url::parse("http://127.0.0.1:2379").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.base_path.as_str()),
            ("127.0.0.1", 2379, "")
        );
        assert_eq!(u.path_for("/v3/kv/range"), "/v3/kv/range");
        let u = Url::parse(" HTTP://localhost/etcd/ ").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("localhost", 80));
        assert_eq!(u.path_for("/v3/kv/put"), "/etcd/v3/kv/put");
        let u = Url::parse("http://[::1]:2379").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.to_string(), "http://[::1]:2379");
    }

    #[test]
    fn urls_that_cannot_work_are_refused_with_the_reason() {
        for (text, why) in [
            ("https://127.0.0.1:2379", "no TLS"),
            ("h:2379", "expected http://"),
            ("ftp://x", "only http://"),
            ("http://:2379", "host is missing"),
            ("http://h:0", "not a port"),
            ("http://h:99999", "not a port"),
            ("http://u:p@h:1", "user names"),
            ("http://h:1/p?q=1", "query"),
            ("http://[::1", "closing ']'"),
            ("http://a b:1", "not a host name"),
        ] {
            let e = Url::parse(text).unwrap_err();
            assert!(e.message.contains(why), "{text}: {e}");
        }
    }
}
