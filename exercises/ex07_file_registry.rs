//! Exercise ex07_file_registry (chapter 07): a registry that remembers its
//! instances across a restart.
//!
//! `FileRegistry` keeps its instances in a `MemoryRegistry` (which already
//! passes `check_registry`) and should also keep them in a file: one line
//! per live registration, written when it registers, removed when it is
//! deregistered, left alone when it is abandoned (a crashed provider's
//! entry stays until a new registry's TTL has run out). `open` reads the
//! file back and registers every line again, abandoned at once, so that a
//! restarted registry lists the providers it had and lets them expire if
//! they do not come back. A line format such as
//! `service\tgroup\tversion\taddr\tweight\tttl_ms\tkey=value,...` is
//! enough. Hint: wrap the inner `Registration` in a `Lease` of your own
//! (`Registration::new`); its `revoke` removes the line, and its `Drop`
//! without `revoke` abandons the inner registration. So far the file is
//! never written. Check it with
//! `cargo test --features exercises --test exercises -- ex07_file_registry`.

use minirpc::discovery::{Instance, MemoryRegistry, Registration, Registry, Subscription};
use minirpc::time::Clock;
use minirpc::RpcError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A registry whose instances survive a restart, kept in a file.
pub struct FileRegistry {
    inner: MemoryRegistry,
    path: PathBuf,
}

impl FileRegistry {
    /// A registry on `clock`, with the instances listed in the file at
    /// `path` (none if there is no file yet).
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<FileRegistry, RpcError> {
        Ok(FileRegistry {
            inner: MemoryRegistry::with_clock(clock),
            path: path.to_path_buf(),
        })
    }
}

impl Registry for FileRegistry {
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        let _ = &self.path;
        self.inner.register(instance, ttl)
    }

    fn lookup(&self, service: &str, group: &str, version: &str) -> Result<Vec<Instance>, RpcError> {
        self.inner.lookup(service, group, version)
    }

    fn subscribe(
        &self,
        service: &str,
        group: &str,
        version: &str,
    ) -> Result<Subscription, RpcError> {
        self.inner.subscribe(service, group, version)
    }
}
