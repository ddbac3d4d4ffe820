//! The acceptor (组件: RPC Acceptor): takes connections, up to a limit,
//! and gives each one a reader thread.
//!
//! The one idea to take away: **a slot taken must be given back on every
//! path**. The count of open connections is what `max_connections` checks;
//! if a reader thread panicked and its slot were never returned, the
//! server would refuse everyone after enough panics. So the slot is a
//! value, [`ConnSlot`], whose `Drop` gives it back: it travels with the
//! reading role and is returned however the last reader ends.

use super::connection::{read_loop, Conn, ReadRole};
use super::handle::{Inner, OpenConnection};
use super::outbox::Outbox;
use crate::codec::CodecId;
use crate::error::RpcError;
use crate::protocol;
use crate::sync::lock;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn accept_loop(inner: &Arc<Inner>, listener: TcpListener) {
    loop {
        let accepted = listener.accept();
        if inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(_) => {
                // Out of file descriptors, or the peer reset before we
                // accepted: not fatal. Pause briefly so a persistent error
                // does not spin a core.
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
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
        if let Err((stream, e)) = start_connection(inner, stream, peer) {
            refuse(stream, e);
        }
    }
}

/// Register the connection and start its reader. On failure the stream is
/// handed back to be refused.
fn start_connection(
    inner: &Arc<Inner>,
    stream: TcpStream,
    peer: SocketAddr,
) -> Result<(), (TcpStream, RpcError)> {
    let read_half = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            return Err((
                stream,
                RpcError::from_io("server could not set up the connection", &e),
            ))
        }
    };
    let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let config = &inner.config;
    let outbox = Outbox::new(stream, peer, config.max_outbox_bytes, config.write_timeout);
    let conn = Arc::new(Conn::new(id, peer, outbox));
    // Taken before the thread exists, so the registry entry is there for
    // the reader to remove however it ends.
    let slot = ConnSlot::take(inner, &conn);
    let role = ReadRole::new(read_half, config, slot);
    let spawned = {
        let inner = Arc::clone(inner);
        let conn = Arc::clone(&conn);
        std::thread::Builder::new()
            .name(format!("minirpc-conn-{id}"))
            .spawn(move || read_loop(&inner, &conn, role))
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
            let err = RpcError::resource_exhausted(format!("server cannot start a thread: {e}"));
            let mut out = Vec::new();
            protocol::error_response(&mut out, CodecId::Binary, 0, &err);
            let _ = conn.outbox.send(&out);
            let _ = conn.outbox.stream().shutdown(Shutdown::Both);
            Ok(())
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
