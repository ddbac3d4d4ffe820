//! Reference solution of ex07_file_registry: a book of lines, rewritten
//! whole on every change (a real registry would append to a log and
//! compact it), and a lease that keeps the book and the memory in step.

use minirpc::discovery::{Instance, Lease, MemoryRegistry, Registration, Registry, Subscription};
use minirpc::time::Clock;
use minirpc::RpcError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A registry whose instances survive a restart, kept in a file.
pub struct FileRegistry {
    inner: MemoryRegistry,
    book: Arc<Mutex<Book>>,
}

/// The file's lines, each under the number of its registration.
struct Book {
    path: PathBuf,
    lines: Vec<(u64, String)>,
    next: u64,
}

impl Book {
    fn add(&mut self, line: String) -> Result<u64, RpcError> {
        let id = self.next;
        self.next += 1;
        self.lines.push((id, line));
        self.save().map(|()| id)
    }

    fn remove(&mut self, id: u64) -> Result<(), RpcError> {
        self.lines.retain(|(i, _)| *i != id);
        self.save()
    }

    fn save(&self) -> Result<(), RpcError> {
        let text: String = self.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        std::fs::write(&self.path, text)
            .map_err(|e| RpcError::from_io("writing the registry file", &e))
    }
}

impl FileRegistry {
    /// A registry on `clock`, with the instances listed in the file at
    /// `path` (none if there is no file yet).
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<FileRegistry, RpcError> {
        let inner = MemoryRegistry::with_clock(clock);
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(RpcError::from_io("reading the registry file", &e)),
        };
        let mut book = Book {
            path: path.to_path_buf(),
            lines: Vec::new(),
            next: 0,
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (instance, ttl) = parse(line)?;
            inner.register(&instance, ttl)?.abandon();
            book.lines.push((book.next, line.to_string()));
            book.next += 1;
        }
        Ok(FileRegistry {
            inner,
            book: Arc::new(Mutex::new(book)),
        })
    }
}

impl Registry for FileRegistry {
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        let registration = self.inner.register(instance, ttl)?;
        let id = lock(&self.book).add(format_line(instance, ttl))?;
        let lease = FileLease {
            inner: Some(registration),
            book: Arc::clone(&self.book),
            id,
        };
        Ok(Registration::new(instance.clone(), Box::new(lease)))
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

/// One registration: the memory's, and its line in the book.
struct FileLease {
    inner: Option<Registration>,
    book: Arc<Mutex<Book>>,
    id: u64,
}

impl Lease for FileLease {
    fn revoke(&mut self) -> Result<(), RpcError> {
        let removed = lock(&self.book).remove(self.id);
        let deregistered = self.inner.take().map_or(Ok(()), Registration::deregister);
        removed.and(deregistered)
    }
}

impl Drop for FileLease {
    fn drop(&mut self) {
        // Dropped without revoke: a crash. The line stays; the memory's
        // entry runs out its TTL.
        if let Some(r) = self.inner.take() {
            r.abandon();
        }
    }
}

fn lock(book: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|p| p.into_inner())
}

fn format_line(i: &Instance, ttl: Duration) -> String {
    let meta: Vec<String> = i.metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
        i.service,
        i.group,
        i.version,
        i.addr,
        i.weight,
        ttl.as_millis(),
        meta.join(",")
    )
}

fn parse(line: &str) -> Result<(Instance, Duration), RpcError> {
    let bad = || {
        RpcError::invalid_argument(format!(
            "a registry file line that does not parse: {line:?}"
        ))
    };
    let f: Vec<&str> = line.split('\t').collect();
    let [service, group, version, addr, weight, ttl, meta] = f[..] else {
        return Err(bad());
    };
    let mut i = Instance::new(service, addr.parse().map_err(|_| bad())?)
        .group(group)
        .version(version)
        .weight(weight.parse().map_err(|_| bad())?);
    for kv in meta.split(',').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(bad)?;
        i = i.meta(k, v);
    }
    Ok((i, Duration::from_millis(ttl.parse().map_err(|_| bad())?)))
}
