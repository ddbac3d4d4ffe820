//! Starting, watching and stopping a server: `serve`, `ServerHandle`,
//! `ServerStats`, and graceful shutdown.
//!
//! The one idea to take away: **every thread has an owner that joins it**.
//! The handle owns the acceptor and the relief thread; the registry of
//! open connections owns each connection's reader threads and writer
//! thread; shutdown stops them in order and waits for each, bounded by the
//! grace period.

use super::acceptor::accept_loop;
use super::builder::ServerBuilder;
use super::connection::Conn;
use super::control::ServerControl;
use super::describe::{MethodDescription, Signature};
use super::relief::relief_loop;
use super::table::{Method, Server};
use crate::discovery::{Instance, Registration, Registry};
use crate::error::RpcError;
use crate::hash::FnvMap;
use crate::metrics::{MethodMetrics, MetricsSnapshot};
use crate::pool::ThreadPool;
use crate::sync::lock;
use crate::trace::{self, Side};
use crate::whitelist::Whitelist;
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Counters a running server keeps (see [`ServerHandle::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Requests whose handler ran and returned `Ok`.
    pub calls_ok: u64,
    /// Requests answered with an error (handler error, panic, bad args,
    /// unknown call id, deadline passed, a limit hit).
    pub calls_failed: u64,
    /// Requests refused because a limit on queued work was hit: the
    /// Processor's queue, a connection's calls in flight, or the bytes of
    /// queued requests.
    pub rejected_busy: u64,
    /// Oneway calls that failed (there is no one to tell, so they are
    /// counted here).
    pub oneway_failed: u64,
    /// Requests refused by authentication (`ServerBuilder::authenticate`):
    /// unsigned, badly signed, stale, replayed, or outside the key's
    /// permissions. Also counted in `calls_failed`.
    pub rejected_auth: u64,
    /// Calls the client cancelled (with a cancel frame) before their answer
    /// left: dropped from the queue, or run but not answered.
    pub cancelled: u64,
    /// Requests refused by a rate limit ([`ServerBuilder::rate_limit`]),
    /// before they were queued. Also counted in `calls_failed`.
    pub rejected_rate_limited: u64,
    /// Connections open right now.
    pub connections: usize,
    /// Connections refused (told why, then closed) because the process had
    /// run out of file descriptors or could not start a thread for them
    /// (raise `ulimit -n`, or lower `ServerBuilder::max_connections`).
    pub refused_no_resources: u64,
    /// Times the acceptor paused after running out, instead of retrying at
    /// once.
    pub accept_pauses: u64,
}

#[derive(Default)]
pub(crate) struct StatCounters {
    pub(crate) calls_ok: AtomicU64,
    pub(crate) calls_failed: AtomicU64,
    pub(crate) rejected_busy: AtomicU64,
    pub(crate) rejected_auth: AtomicU64,
    pub(crate) oneway_failed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) rejected_rate_limited: AtomicU64,
    pub(crate) refused_no_resources: AtomicU64,
    pub(crate) accept_pauses: AtomicU64,
}

/// Everything the server's threads share.
pub(crate) struct Inner {
    /// The call table as served: each handler plus what we have learned of
    /// its speed (see [`Method`]).
    /// Filled before serving and never changed, so a peer's call ids are
    /// only looked up, never inserted: a plain hash is safe (`src/hash.rs`).
    pub(crate) table: FnvMap<String, Arc<Method>>,
    /// The same methods by index.
    pub(crate) methods: Vec<Arc<Method>>,
    pub(crate) whitelist: Arc<Whitelist>,
    pub(crate) config: ServerBuilder,
    pub(crate) pool: ThreadPool,
    pub(crate) shutting_down: AtomicBool,
    /// Open connections, so shutdown can close them and join their threads.
    pub(crate) connections: Mutex<HashMap<u64, OpenConnection>>,
    pub(crate) next_conn: AtomicU64,
    pub(crate) live_connections: AtomicUsize,
    /// Connections with at least one call in flight (see `Conn::enter`).
    pub(crate) active_connections: AtomicUsize,
    /// Bytes of requests queued or running, all connections together.
    pub(crate) queued_bytes: AtomicUsize,
    pub(crate) stats: StatCounters,
    /// The rate limits and their state (see [`crate::flow`]).
    pub(crate) flow: crate::flow::FlowControl,
    /// Calls to call ids not in the table (or unreadable), in one bucket so
    /// invented names cannot grow memory.
    pub(crate) unknown_calls: MethodMetrics,
    /// The zero of the server's clock for times kept in atomics.
    pub(crate) epoch: Instant,
}

impl Inner {
    /// Nanoseconds since the server started, never 0 (0 means "none").
    pub(crate) fn now_nanos(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() as u64).max(1)
    }
}

/// A connection as the registry keeps it: the connection, and the reader
/// threads that served it (more than one if the relief replaced a reader).
pub(crate) struct OpenConnection {
    pub(crate) conn: Arc<Conn>,
    pub(crate) readers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Bind `addr` and start serving on background threads. Use
    /// `"127.0.0.1:0"` to let the OS pick a free port, then ask the handle
    /// for [`local_addr`](ServerHandle::local_addr).
    pub fn serve(self, addr: impl ToSocketAddrs) -> io::Result<ServerHandle> {
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let pool = ThreadPool::with_spin(
            "minirpc-worker",
            self.config.workers,
            self.config.queue_capacity,
            self.config.spin,
        )?;
        trace::emit(&self.config.tracer, Side::Server, 1, None, || {
            format!(
                "call table ready: {} (call id -> function, a HashMap)",
                self.call_ids().join(", ")
            )
        });
        let mut whitelist = Whitelist::new();
        for name in self.declared_types.names() {
            whitelist.declare(name);
        }
        for name in &self.config.allowed_types {
            whitelist.allow(name);
        }
        let mut table = FnvMap::default();
        let mut methods = Vec::new();
        let mut ids: Vec<_> = self.table.into_iter().collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        let mut signatures = self.signatures;
        for (id, handler) in ids {
            let signature = signatures
                .remove(&id)
                .unwrap_or_else(|| Signature::untyped(&id));
            let m = Arc::new(Method::new(handler, methods.len()).described(signature));
            methods.push(Arc::clone(&m));
            table.insert(id, m);
        }
        let flow = crate::flow::FlowControl::new(&self.config.rate_limits);
        let inner = Arc::new(Inner {
            whitelist: Arc::new(whitelist),
            table,
            methods,
            config: self.config,
            pool,
            shutting_down: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            live_connections: AtomicUsize::new(0),
            active_connections: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            stats: StatCounters::default(),
            flow,
            unknown_calls: MethodMetrics::new(),
            epoch: Instant::now(),
        });
        let acceptor = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("minirpc-acceptor".into())
                .spawn(move || accept_loop(&inner, listener))?
        };
        let relief = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("minirpc-relief".into())
                .spawn(move || relief_loop(&inner))?
        };
        Ok(ServerHandle {
            local_addr,
            inner,
            threads: Some((acceptor, relief)),
            registrations: Arc::default(),
        })
    }
}

/// The running server. Dropping it shuts the server down.
pub struct ServerHandle {
    local_addr: SocketAddr,
    inner: Arc<Inner>,
    /// The acceptor and the relief thread, until shutdown joins them.
    threads: Option<(JoinHandle<()>, JoinHandle<()>)>,
    /// Where this server is published (see [`ServerHandle::publish`]);
    /// shared with [`ServerControl`]s, which may change its weight.
    pub(crate) registrations: Arc<Mutex<Vec<Registration>>>,
}

impl ServerHandle {
    /// The address the server is listening on (with the real port, if you
    /// asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The running call table, for another front door in this process
    /// (the HTTP gateway, `crate::gateway`): its calls share this server's
    /// queue, limits and workers.
    pub fn local_caller(&self) -> super::LocalCaller {
        super::LocalCaller::new(Arc::clone(&self.inner))
    }

    /// A snapshot of the server's counters.
    pub fn stats(&self) -> ServerStats {
        ServerStats::of(&self.inner)
    }

    /// A shareable handle for a management center: this server's counters
    /// and the weight it is published with (see [`ServerControl`]).
    pub fn control(&self) -> ServerControl {
        ServerControl::new(self)
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Every method's counters: calls, errors by status, in flight, bytes
    /// and latency (see [`crate::metrics`]). One entry per method of the
    /// call table, sorted by call id, called or not.
    pub fn metrics(&self) -> MetricsSnapshot {
        metrics_of(&self.inner)
    }

    /// The call table as `$minirpc.describe` reports it (whether or not
    /// the call is turned on: this is the owner asking, not a peer).
    pub fn describe(&self) -> Vec<MethodDescription> {
        super::describe::describe(&self.inner)
    }

    /// Publish this server in `registry` as `instance` (whose address is
    /// usually [`local_addr`](Self::local_addr)), kept alive with `ttl`
    /// until shutdown. Shutdown deregisters it *first*, before it stops
    /// accepting, so consumers stop sending before the server goes (原理 ›
    /// 服务发现: a provider that leaves says so).
    pub fn publish(
        &mut self,
        registry: &dyn Registry,
        instance: &Instance,
        ttl: Duration,
    ) -> Result<(), RpcError> {
        let r = registry.register(instance, ttl)?;
        lock(&self.registrations).push(r);
        Ok(())
    }

    /// Stop the server gracefully:
    /// 0. deregister from every registry it was published in;
    /// 1. stop accepting connections;
    /// 2. stop reading new requests (each connection's read half is shut);
    /// 3. let the calls already running or queued finish and send their
    ///    responses, for at most the configured grace period;
    /// 4. close every connection and join every thread.
    ///
    /// Requests still unread in a socket when it is shut get no answer; their
    /// callers see the connection close (`Unavailable`), so no call is lost
    /// silently.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // Consumers first learn we are leaving, while we still serve them.
        let published = std::mem::take(&mut *lock(&self.registrations));
        for r in published {
            let _ = r.deregister();
        }
        let Some((acceptor, relief)) = self.threads.take() else {
            return;
        };
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::SeqCst);
        // accept() blocks; a connection to ourselves wakes it up to see the flag.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = acceptor.join();
        let _ = relief.join();

        // Stop reading: each reader sees end-of-stream and exits, while the
        // write half stays open for the responses still to come.
        let (conns, readers): (Vec<Arc<Conn>>, Vec<JoinHandle<()>>) = {
            let mut open = lock(&inner.connections);
            let mut conns = Vec::new();
            let mut readers = Vec::new();
            for entry in open.values_mut() {
                let _ = entry.conn.outbox.stream().shutdown(Shutdown::Read);
                conns.push(Arc::clone(&entry.conn));
                readers.append(&mut entry.readers);
            }
            (conns, readers)
        };
        // Readers exit as soon as they see end-of-stream, unless one is
        // running a call inline: wait for them within the grace period, like
        // the pool's calls. (A thread cannot be stopped from outside; one
        // still busy at the deadline is left to finish and is not joined.)
        let deadline = Instant::now() + inner.config.shutdown_grace;
        for r in readers {
            while !r.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if r.is_finished() {
                let _ = r.join();
            }
        }
        inner
            .pool
            .shutdown(deadline.saturating_duration_since(Instant::now()));
        // Calls still running after the grace period will never be answered:
        // close their connections so their callers hear it now (Unavailable)
        // instead of waiting out their timeouts. That also ends any writer
        // thread, which we join.
        for c in conns {
            let _ = c.outbox.stream().shutdown(Shutdown::Both);
            if let Some(w) = c.outbox.take_thread() {
                let _ = w.join();
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ServerStats {
    pub(crate) fn of(inner: &Inner) -> ServerStats {
        let s = &inner.stats;
        ServerStats {
            calls_ok: s.calls_ok.load(Ordering::Relaxed),
            calls_failed: s.calls_failed.load(Ordering::Relaxed),
            rejected_busy: s.rejected_busy.load(Ordering::Relaxed),
            rejected_auth: s.rejected_auth.load(Ordering::Relaxed),
            oneway_failed: s.oneway_failed.load(Ordering::Relaxed),
            cancelled: s.cancelled.load(Ordering::Relaxed),
            rejected_rate_limited: s.rejected_rate_limited.load(Ordering::Relaxed),
            connections: inner.live_connections.load(Ordering::SeqCst),
            refused_no_resources: s.refused_no_resources.load(Ordering::Relaxed),
            accept_pauses: s.accept_pauses.load(Ordering::Relaxed),
        }
    }
}

/// Every method's counters (see [`ServerHandle::metrics`]).
pub(crate) fn metrics_of(inner: &Inner) -> MetricsSnapshot {
    MetricsSnapshot {
        methods: (inner.methods.iter())
            .map(|m| m.metrics.snapshot(&m.signature.call_id))
            .collect(),
        unknown: inner.unknown_calls.snapshot("(unknown)"),
    }
}
