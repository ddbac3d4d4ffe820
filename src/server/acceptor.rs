//! The acceptor (组件: RPC Acceptor): takes connections, up to a limit,
//! and gives each one a reader thread.
//!
//! The one idea to take away: **a slot taken must be given back on every
//! path**. The count of open connections is what `max_connections` checks;
//! if a reader thread panicked and its slot were never returned, the
//! server would refuse everyone after enough panics. So the slot is a
//! value, [`ConnSlot`], whose `Drop` gives it back: it travels with the
//! reading role and is returned however the last reader ends.
//!
//! **Running out is handled, not suffered.** A process has a limit on open
//! descriptors (`ulimit -n`) and on threads. When `accept` fails for lack
//! of a descriptor, the connection that caused it is still waiting in the
//! listen backlog, so an acceptor that simply tried again would fail again
//! at once, for ever, on a core of its own. This one keeps a spare
//! descriptor for that moment (a trick from libev and nginx): it lets the
//! spare go, takes the waiting connection with it, tells that client what
//! ran out and which limit to raise, closes it, and takes the spare back.
//! When even that fails (or a thread cannot start) it pauses, a little
//! longer each time up to [`MAX_PAUSE`], counts it in `ServerStats`, and
//! meanwhile every open connection is served as before.
//!
//! ```text
//!  accept ─► ok ──► max_connections reached? refuse : start a reader thread
//!    │                                                 (cannot? refuse, pause)
//!    └─ out of descriptors ─► drop the spare ─► accept ─► refuse ─► spare again
//!                              (no spare, or still failing: pause, retry)
//! ```

use super::connection::{read_loop, spawn_conn_thread, Conn, ReadRole};
use super::handle::{Inner, OpenConnection};
use super::outbox::Outbox;
use crate::codec::CodecId;
use crate::error::RpcError;
use crate::protocol;
use crate::sync::lock;
use crate::trace::{self, Side};
use std::fs::File;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The first pause after the process runs out of descriptors or threads;
/// each failure in a row doubles it, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause: short enough that a freed descriptor is used soon.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Descriptors a server leaves free when it sizes the default
/// `max_connections` from the descriptor limit: the listener, the spare,
/// stdio, a registry client's connections, and the application's own files.
/// (At least this many; a sixteenth of the limit if that is more.)
const FD_HEADROOM: usize = 64;
/// The largest default `max_connections`, however high the descriptor
/// limit: each connection thread also needs two memory mappings (its stack
/// and a guard page), and Linux allows a process 65,530 by default
/// (`vm.max_map_count`).
const MAX_DEFAULT_CONNECTIONS: usize = 30_000;
/// The default `max_connections` when the descriptor limit cannot be read.
const FALLBACK_MAX_CONNECTIONS: usize = 1024;

/// The default for `ServerBuilder::max_connections`: what the process's
/// soft descriptor limit can hold, one descriptor per connection, less the
/// headroom above.
pub(crate) fn default_max_connections() -> usize {
    soft_descriptor_limit().map_or(FALLBACK_MAX_CONNECTIONS, connections_for)
}

/// The soft "Max open files" of this process, from `/proc/self/limits`
/// (Linux); `None` elsewhere or if it cannot be read.
pub(crate) fn soft_descriptor_limit() -> Option<usize> {
    soft_nofile(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft "Max open files" in the text of a `/proc/<pid>/limits`.
fn soft_nofile(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The default `max_connections` for a soft descriptor limit.
fn connections_for(soft: usize) -> usize {
    let headroom = FD_HEADROOM.max(soft / 16);
    soft.saturating_sub(headroom)
        .clamp(1, MAX_DEFAULT_CONNECTIONS)
}

/// Whether an `accept` (or a spawn) failed because the process or the
/// system ran out of something, rather than because of one connection.
fn out_of_resources(e: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM (the same numbers on Linux and BSDs
    // for the first two; Linux's for the others).
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12)) || e.kind() == io::ErrorKind::OutOfMemory
}

/// What a client refused for lack of descriptors is told.
fn no_descriptors(e: &io::Error) -> RpcError {
    RpcError::resource_exhausted(format!(
        "server is out of file descriptors ({e}); retry later, or on the server raise the limit (`ulimit -n`) or lower ServerBuilder::max_connections"
    ))
}

/// Any descriptor will do as the spare; `/dev/null` always opens.
fn open_spare() -> Option<File> {
    File::open("/dev/null").ok()
}

/// The acceptor's state across failures.
struct Acceptor<'a> {
    inner: &'a Arc<Inner>,
    listener: TcpListener,
    spare: Option<File>,
    pause: Duration,
}

impl Acceptor<'_> {
    /// The process ran out (`why`): count it, say so, and wait a little
    /// longer than last time before trying again.
    fn back_off(&mut self, why: &str) {
        let stats = &self.inner.stats;
        stats.accept_pauses.fetch_add(1, Ordering::Relaxed);
        let pause = self.pause;
        trace::emit(&self.inner.config.tracer, Side::Server, 1, None, || {
            format!("acceptor pauses {pause:?}: {why}")
        });
        std::thread::sleep(pause);
        self.pause = (pause * 2).min(MAX_PAUSE);
    }

    /// `accept` failed for lack of descriptors. Let the spare go and wait
    /// for the next connection with its slot: if a descriptor is free again
    /// by then (the spare reopens), the connection is returned to be served;
    /// if not, it is refused with the reason, which frees its descriptor for
    /// the spare. With no spare to let go, pause instead.
    fn on_no_descriptors(&mut self, e: &io::Error) -> Option<(TcpStream, SocketAddr)> {
        if self.spare.take().is_none() {
            self.spare = open_spare();
            self.back_off(&format!(
                "out of file descriptors ({e}): raise `ulimit -n` or lower ServerBuilder::max_connections"
            ));
            return None;
        }
        // On Linux a waiting accept() holds its descriptor slot already,
        // which is why it failed at once rather than when a client came.
        let accepted = self.listener.accept();
        self.spare = open_spare();
        let (stream, peer) = accepted.ok()?;
        if self.spare.is_some() {
            return Some((stream, peer)); // descriptors came back meanwhile
        }
        self.inner
            .stats
            .refused_no_resources
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        refuse(stream, no_descriptors(e));
        self.spare = open_spare();
        None
    }
}

pub(crate) fn accept_loop(inner: &Arc<Inner>, listener: TcpListener) {
    let mut acceptor = Acceptor {
        inner,
        listener,
        spare: open_spare(),
        pause: FIRST_PAUSE,
    };
    loop {
        let accepted = match acceptor.listener.accept() {
            Err(e) if out_of_resources(&e) => acceptor.on_no_descriptors(&e).ok_or(e),
            other => other,
        };
        if inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(x) => x,
            // Out of descriptors (handled above: refused, or paused), or
            // the peer reset before we accepted: try again.
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        // The refusals below are tiny writes into an empty socket buffer;
        // the timeout is only a backstop so the acceptor can never hang.
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let max = inner.config.max_connections;
        if inner.live_connections.load(Ordering::SeqCst) >= max {
            refuse(
                stream,
                RpcError::resource_exhausted(format!(
                    "server has reached max_connections ({max}); retry later or raise ServerBuilder::max_connections"
                )),
            );
            continue;
        }
        match start_connection(inner, stream, peer) {
            Ok(()) => acceptor.pause = FIRST_PAUSE,
            Err(e) => {
                inner
                    .stats
                    .refused_no_resources
                    .fetch_add(1, Ordering::Relaxed);
                acceptor.back_off(&format!("cannot start a connection thread ({e})"));
            }
        }
    }
}

/// Register the connection and start its reader. If the thread cannot
/// start, the client is told so and the connection closed.
fn start_connection(inner: &Arc<Inner>, stream: TcpStream, peer: SocketAddr) -> io::Result<()> {
    let stream = Arc::new(stream);
    let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let config = &inner.config;
    let outbox = Outbox::new(
        Arc::clone(&stream),
        peer,
        config.max_outbox_bytes,
        config.write_timeout,
        config.connection_stack_size,
    );
    let conn = Arc::new(Conn::new(id, peer, outbox));
    // Taken before the thread exists, so the registry entry is there for
    // the reader to remove however it ends.
    let slot = ConnSlot::take(inner, &conn);
    let role = ReadRole::new(stream, config, slot);
    let spawned = {
        let inner = Arc::clone(inner);
        let conn = Arc::clone(&conn);
        let name = format!("minirpc-conn-{id}");
        spawn_conn_thread(name, config.connection_stack_size, move || {
            read_loop(&inner, &conn, role)
        })
    };
    match spawned {
        Ok(h) => {
            // If the reader has already finished, its entry is gone and the
            // handle is simply dropped (the thread is done).
            if let Some(entry) = lock(&inner.connections).get_mut(&id) {
                entry.readers.push(h);
            }
            Ok(())
        }
        Err(e) => {
            // The role (and the slot in it) was dropped with the closure.
            let err = RpcError::resource_exhausted(format!(
                "server cannot start a thread for the connection ({e}); retry later, or on the server raise its thread limit (`ulimit -u`) or lower ServerBuilder::max_connections"
            ));
            let mut out = Vec::new();
            protocol::error_response(&mut out, CodecId::Binary, 0, &err);
            let _ = conn.outbox.send(&out);
            let _ = conn.outbox.stream().shutdown(Shutdown::Both);
            Err(e)
        }
    }
}

/// Send a connection-level error (request id 0) and close.
fn refuse(mut stream: TcpStream, err: RpcError) {
    let mut out = Vec::new();
    protocol::error_response(&mut out, CodecId::Binary, 0, &err);
    let _ = stream.write_all(&out);
    let _ = stream.shutdown(Shutdown::Both);
}

/// One of the `max_connections` slots, and the connection's registry
/// entry. Given back when dropped, on every path (a panic included).
pub(crate) struct ConnSlot {
    inner: Arc<Inner>,
    id: u64,
}

impl ConnSlot {
    fn take(inner: &Arc<Inner>, conn: &Arc<Conn>) -> ConnSlot {
        inner.live_connections.fetch_add(1, Ordering::SeqCst);
        lock(&inner.connections).insert(
            conn.id,
            OpenConnection {
                conn: Arc::clone(conn),
                readers: Vec::new(),
            },
        );
        ConnSlot {
            inner: Arc::clone(inner),
            id: conn.id,
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        lock(&self.inner.connections).remove(&self.id);
        self.inner.live_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max processes             95364                95364                processes \n\
        Max open files            1024                 524288               files     \n";

    #[test]
    fn the_soft_descriptor_limit_is_read_from_proc_limits() {
        assert_eq!(soft_nofile(LIMITS), Some(1024));
        assert_eq!(soft_nofile("Max processes 10 10 processes\n"), None);
        assert_eq!(soft_nofile("Max open files  lots  lots files\n"), None);
    }

    #[test]
    fn the_default_max_connections_leaves_descriptors_for_the_rest() {
        assert_eq!(connections_for(1024), 960);
        assert_eq!(connections_for(20_000), 18_750);
        assert_eq!(connections_for(1 << 20), MAX_DEFAULT_CONNECTIONS);
        assert_eq!(connections_for(10), 1);
        if let Some(soft) = soft_descriptor_limit() {
            let n = default_max_connections();
            assert!(n < soft && n >= 1, "{n} connections for a limit of {soft}");
        }
    }
}
