//! `ServerBuilder`: every setting of a server, what it bounds, and its default.
//!
//! The one idea to take away: **every resource a peer can make the server
//! spend has a setting, and every setting has a default that is safe**.
//! What one peer can make a server with the defaults hold, at most:
//!
//! | what | bound | default |
//! |---|---|---|
//! | a frame being read | the bytes it has actually sent of it, up to `max_frame_bytes` | 4 MiB |
//! | time to send one frame | `frame_timeout`, from its first byte | 10 s |
//! | its calls queued or running | `max_in_flight_per_connection`; and while the queue is more than half full, its fair share of it (`queue_capacity / (4 × connections with calls in flight)`, at least 1; none while it is the only one) | 1024 |
//! | bytes of its requests queued or running | `max_queued_bytes_per_connection` | 16 MiB |
//! | its responses not yet read | `max_outbox_bytes`, counting the batch being written (one frame of any allowed size always fits) | 8 MiB |
//! | time to take a queued response | `write_timeout` | 10 s |
//! | a connection with no calls | `idle_timeout` (pings do not count) | 15 s |
//!
//! And all peers together: `max_connections` connections (by default what
//! the descriptor limit holds: 960 under the common `ulimit -n` of 1024), and
//! `max_queued_bytes` of requests waiting or running (64 MiB), so however
//! many peers send large requests, queued work holds at most that (plus
//! one request per connection that had nothing else queued). The
//! worst case in total is therefore about `max_queued_bytes` plus, per
//! connection, one frame being read and one outbox: 64 MiB + 960 ×
//! 12 MiB with every default under that limit, reached only if a
//! thousand peers each send near-maximum frames *and* stop reading. A server that expects hostile
//! peers lowers `max_connections`, `max_frame_bytes` and `max_outbox_bytes`
//! to what its methods need.

use super::table::Server;
use crate::auth::Authenticator;
use crate::codec::{DeclaredTypes, Limits};
use crate::protocol::{self, HEADER_LEN};
use crate::trace::Tracer;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The default [`ServerBuilder::connection_stack_size`].
pub(crate) const CONNECTION_STACK_SIZE: usize = 256 * 1024;
/// The smallest stack a connection thread gets, whatever is asked.
const MIN_CONNECTION_STACK_SIZE: usize = 64 * 1024;

/// Settings for a [`Server`]. Every field has a documented default (see
/// the table in this module's docs for what each bounds).
#[derive(Clone)]
pub struct ServerBuilder {
    pub(crate) workers: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) max_connections: usize,
    pub(crate) connection_stack_size: usize,
    pub(crate) max_frame_bytes: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) frame_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_outbox_bytes: usize,
    pub(crate) max_in_flight_per_connection: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) max_queued_bytes_per_connection: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) spin: Duration,
    pub(crate) read_spin: Duration,
    pub(crate) inline_max: Duration,
    pub(crate) limits: Limits,
    pub(crate) allowed_types: Vec<String>,
    pub(crate) tracer: Option<Tracer>,
    pub(crate) rate_limits: Vec<crate::flow::Rule>,
    pub(crate) describe: bool,
    pub(crate) auth: Option<Arc<Authenticator>>,
}

impl Default for ServerBuilder {
    fn default() -> ServerBuilder {
        ServerBuilder {
            workers: 16,
            queue_capacity: 1024,
            max_connections: super::acceptor::default_max_connections(),
            connection_stack_size: CONNECTION_STACK_SIZE,
            max_frame_bytes: protocol::DEFAULT_MAX_FRAME_BYTES,
            idle_timeout: Some(Duration::from_secs(15)),
            frame_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_outbox_bytes: 8 << 20,
            max_in_flight_per_connection: 1024,
            max_queued_bytes: 64 << 20,
            max_queued_bytes_per_connection: 16 << 20,
            shutdown_grace: Duration::from_secs(5),
            spin: crate::pool::DEFAULT_SPIN,
            read_spin: Duration::ZERO,
            inline_max: Duration::from_micros(20),
            limits: Limits::default(),
            allowed_types: Vec::new(),
            tracer: None,
            rate_limits: Vec::new(),
            describe: true,
            auth: None,
        }
    }
}

impl ServerBuilder {
    /// Worker threads that run handlers. Default 16: handlers may block
    /// (on a database, on another RPC), so more threads than cores.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }
    /// Calls that may wait for a worker, beyond one per idle worker, before
    /// new ones are refused with `ResourceExhausted`. Zero is a pure
    /// hand-off: a call is taken only if a worker is free. Default 1024.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }
    /// Open connections at once; one more gets an error frame and is closed.
    /// Each costs one file descriptor and one reader thread. Default: what
    /// the process's soft descriptor limit can hold (`ulimit -n`, read from
    /// `/proc/self/limits` when the builder is made), less a sixteenth of it
    /// (at least 64) for the listener and everything else the process opens,
    /// and at most 30,000; 1024 where the limit cannot be read. Raise
    /// `ulimit -n` for more.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
    /// Stack size of each connection's threads (its reader, and its writer
    /// while a slow peer has one), in bytes. A server holds one reader per
    /// connection, so this is a stack per client; the pool's workers keep
    /// the standard size. Calls that have proven short run on the reader
    /// itself (see [`inline_max`](Self::inline_max)), so this stack must
    /// also hold such a handler and the decoding of its arguments: the
    /// default leaves room for arguments nested as deep as
    /// [`Limits::max_depth`] allows plus a handler with tens of KiB of
    /// locals. A handler that recurses deeply or keeps large arrays on the
    /// stack should raise this, or run with `inline_max(Duration::ZERO)`
    /// (always on the pool), or do its deep work on a thread of its own.
    /// Default 256 KiB (the standard is 2 MiB); the cost per connection is
    /// measured in docs/04-transport.md.
    pub fn connection_stack_size(mut self, bytes: usize) -> Self {
        self.connection_stack_size = bytes.max(MIN_CONNECTION_STACK_SIZE);
        self
    }
    /// Largest frame body accepted, and the largest response sent. A
    /// bigger request is skipped as it arrives and answered
    /// `ResourceExhausted`; a bigger result is replaced by that error. The
    /// connection goes on either way. Default 4 MiB.
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n;
        self.limits.max_len = self.limits.max_len.min(n);
        self
    }
    /// Close a connection that has had no call in flight and sent no
    /// request for this long (pings do not count: a client that only pings
    /// is idle). That is how the server lets go of clients that went away
    /// or no longer call. `None` never closes. Default 15 s.
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }
    /// Once the first byte of a frame has arrived, the whole frame must
    /// arrive within this long, or the connection is closed: a peer cannot
    /// hold a connection by sending a byte now and then (slowloris).
    /// Time the server spends not reading because the peer is not reading
    /// its answers (see [`max_outbox_bytes`](Self::max_outbox_bytes)) does
    /// not count, up to `write_timeout` per frame. Default 10 s.
    pub fn frame_timeout(mut self, t: Duration) -> Self {
        self.frame_timeout = t.max(Duration::from_millis(1));
        self
    }
    /// Every response byte must be taken by the peer within this long of
    /// being queued, or the connection is closed and its calls dropped. It
    /// is a deadline for the whole response, not per system call, so a
    /// peer reading a trickle cannot stretch it. Default 10 s.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }
    /// Bytes of responses a connection may have waiting for its peer to
    /// read. Past it, the peer is cut off (it is not reading); at half of
    /// it, the server stops reading that peer's requests until it catches
    /// up. One response of any allowed size always fits. Default 8 MiB.
    pub fn max_outbox_bytes(mut self, n: usize) -> Self {
        self.max_outbox_bytes = n;
        self
    }
    /// Calls one connection may have queued or running; more are refused
    /// with `ResourceExhausted`. Besides this fixed cap, while the queue is
    /// more than half full no connection may hold more than its fair share
    /// of it (`queue_capacity / (4 × connections with calls in flight)`, at
    /// least 1), so a few greedy connections cannot fill the shared queue and
    /// lock everyone else out; a connection alone keeps the whole queue.
    /// Default 1024.
    pub fn max_in_flight_per_connection(mut self, n: usize) -> Self {
        self.max_in_flight_per_connection = n.max(1);
        self
    }
    /// Bytes of requests (all connections together) that may be waiting for
    /// a worker or running; more are refused with `ResourceExhausted`. A
    /// connection with nothing queued may still queue one request, so a few
    /// connections that hold the whole budget cannot lock everyone else out
    /// (the total passes the budget by at most one request per such
    /// connection). Default 64 MiB.
    pub fn max_queued_bytes(mut self, n: usize) -> Self {
        self.max_queued_bytes = n;
        self
    }
    /// Like [`max_queued_bytes`](Self::max_queued_bytes), for one
    /// connection. Default 16 MiB.
    pub fn max_queued_bytes_per_connection(mut self, n: usize) -> Self {
        self.max_queued_bytes_per_connection = n;
        self
    }
    /// How long [`ServerHandle::shutdown`](super::ServerHandle::shutdown)
    /// lets calls in flight finish. Default 5 s.
    pub fn shutdown_grace(mut self, t: Duration) -> Self {
        self.shutdown_grace = t;
        self
    }
    /// How long an idle worker keeps checking the queue before it sleeps
    /// (see [`crate::pool`]): a call that arrives meanwhile skips a thread
    /// wake-up. Zero turns it off, which leaves more CPU to other threads on
    /// a small, busy machine. A process allowed one CPU never spins. Default
    /// 50 µs.
    pub fn spin(mut self, t: Duration) -> Self {
        self.spin = t;
        self
    }
    /// How long a connection's reader polls its socket for the next
    /// request before it sleeps on it (see `src/transport/spin.rs`): a
    /// request that arrives meanwhile is read with no thread wake-up. It
    /// costs up to this much CPU each time a connection goes quiet, so it
    /// is off by default; chapter 04 measures what it buys and costs. It
    /// polls only while the last read brought a single request, and never
    /// in a process allowed one CPU. Default zero (off).
    /// Pair it with [`ClientBuilder::read_spin`](crate::ClientBuilder::read_spin).
    pub fn read_spin(mut self, t: Duration) -> Self {
        self.read_spin = t;
        self
    }
    /// A method whose successful calls have proven shorter than this (a
    /// streak of them on the pool, see `Method` in `src/server/table.rs`)
    /// is then run by the connection's reader itself, with no hand-off to a
    /// worker; any call that takes longer sends the method back to the pool.
    /// Zero: always use the pool. Default 20 µs.
    pub fn inline_max(mut self, t: Duration) -> Self {
        self.inline_max = t;
        self
    }
    /// Limits for decoding arguments (lengths, nesting). Default
    /// [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        // Nothing longer than a frame can arrive, whichever was set first.
        self.limits.max_len = self.limits.max_len.min(self.max_frame_bytes);
        self
    }
    /// Add a record type to layer 3 of the deserialization whitelist (the
    /// user list): for types a handler decodes from JSON by hand. Types in
    /// registered methods' signatures are allowed already. See
    /// [`crate::whitelist`].
    pub fn allow_type(mut self, name: &str) -> Self {
        self.allowed_types.push(name.to_owned());
        self
    }
    /// Report each step of every call to `tracer` (see [`crate::trace`]).
    pub fn trace(mut self, tracer: Tracer) -> Self {
        self.tracer = Some(tracer);
        self
    }
    /// Add a rate limit (原理 › 流量控制): calls matching `rule` over its
    /// limit are refused with `RESOURCE_EXHAUSTED` and a `retry-after-ms`,
    /// on the connection's reader, before they take a worker or a queue
    /// slot. Rules are checked in the order added. Default: none. See
    /// [`crate::flow`].
    pub fn rate_limit(mut self, rule: crate::flow::Rule) -> Self {
        self.rate_limits.push(rule);
        self
    }

    /// Answer the built-in `$minirpc.describe` call with the call table
    /// (each call id, its types, whether it is idempotent; see
    /// `docs/protocol.md`). `false` makes it `UNIMPLEMENTED` like any unknown
    /// call id, for a server that would rather not list its methods.
    /// Default true.
    pub fn describe(mut self, on: bool) -> Self {
        self.describe = on;
        self
    }

    /// Accept only requests signed with one of `auth`'s keys, and only for
    /// the call ids each key is allowed (see [`crate::auth`]). Checked on
    /// the connection's reader, after the call id is found and before any
    /// argument byte is decoded; a refusal is `Unauthenticated` or
    /// `PermissionDenied` and costs one small frame. The health probe
    /// `$minirpc.ping` stays open. Handlers then see the key's caller as a
    /// verified [`CallContext::identity`](super::CallContext::identity).
    /// Default off: every request is served, and the `caller` metadata is
    /// taken on trust (unverified).
    pub fn authenticate(mut self, auth: impl Into<Arc<Authenticator>>) -> Self {
        self.auth = Some(auth.into());
        self
    }
    /// A server with these settings and an empty call table.
    pub fn build(mut self) -> Server {
        // An outbox must hold at least one whole response.
        self.max_outbox_bytes = self
            .max_outbox_bytes
            .max(self.max_frame_bytes.saturating_add(HEADER_LEN));
        Server {
            config: self,
            table: HashMap::new(),
            declared_types: DeclaredTypes::new(),
            signatures: HashMap::new(),
        }
    }
}
