//! Reference solution of ex13_describe_diff: two describe calls, then one
//! pass over the old table looking each call id up in the new one.

use minirpc::cli::describe;
use minirpc::RpcError;
use std::net::SocketAddr;
use std::time::Duration;

/// One change that breaks an old caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The new server has no method under this call id.
    Removed {
        /// The call id.
        call_id: String,
    },
    /// The argument type's name changed.
    ArgsChanged {
        /// The call id.
        call_id: String,
        /// The old server's argument type.
        was: String,
        /// The new server's argument type.
        now: String,
    },
    /// The result type's name changed.
    ResultChanged {
        /// The call id.
        call_id: String,
        /// The old server's result type.
        was: String,
        /// The new server's result type.
        now: String,
    },
    /// The old server declared it idempotent; the new one does not.
    NoLongerIdempotent {
        /// The call id.
        call_id: String,
    },
}

/// The changes between the call tables of the servers at `old` and `new`
/// that break a caller of `old`, each call waiting at most `timeout`.
pub fn breaking_changes(
    old: SocketAddr,
    new: SocketAddr,
    timeout: Duration,
) -> Result<Vec<Change>, RpcError> {
    let mut before = describe(&old.to_string(), timeout)?;
    let after = describe(&new.to_string(), timeout)?;
    before.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    let mut changes = Vec::new();
    for m in &before {
        let call_id = m.call_id.clone();
        let Some(n) = after.iter().find(|n| n.call_id == m.call_id) else {
            changes.push(Change::Removed { call_id });
            continue;
        };
        if n.args != m.args {
            changes.push(Change::ArgsChanged {
                call_id: call_id.clone(),
                was: m.args.clone(),
                now: n.args.clone(),
            });
        }
        if n.result != m.result {
            changes.push(Change::ResultChanged {
                call_id: call_id.clone(),
                was: m.result.clone(),
                now: n.result.clone(),
            });
        }
        if m.idempotent && !n.idempotent {
            changes.push(Change::NoLongerIdempotent { call_id });
        }
    }
    Ok(changes)
}
