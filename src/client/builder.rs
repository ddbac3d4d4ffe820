//! `ClientBuilder`: every setting of a client, each with its default.
//!
//! Article: 原理 › 组件 (RPC Client, and the RPC Connector's timeouts).
//! The one idea to take away: **every limit and every wait has a default
//! you can read here**, as tarpc's and gRPC's client configs document
//! theirs, and each error that a limit causes names the setting to change.
//! Any `Duration` is accepted, `Duration::MAX` included: a wait too long
//! to represent simply has no end (see [`crate::time::Deadline`]).

use super::heartbeat::Heartbeat;
use super::Client;
use crate::auth::Signer;
use crate::codec::{CodecId, Limits};
use crate::error::RpcError;
use crate::metrics::ClientMetrics;
use crate::protocol;
use crate::trace::Tracer;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Settings for a [`Client`]. Every field has a documented default.
#[derive(Clone)]
pub struct ClientBuilder {
    pub(super) connect_timeout: Duration,
    pub(super) call_timeout: Duration,
    pub(super) write_timeout: Duration,
    pub(super) caller_id: Option<String>,
    pub(super) max_frame_bytes: usize,
    pub(super) max_request_bytes: usize,
    pub(super) limits: Limits,
    pub(super) codec: CodecId,
    pub(super) heartbeat: Option<Heartbeat>,
    pub(super) reconnect_min: Duration,
    pub(super) reconnect_max: Duration,
    pub(super) checksums: bool,
    pub(super) tracer: Option<Tracer>,
    /// The client's counters (a fresh set for each client: see `Client::open`).
    pub(super) metrics: Arc<ClientMetrics>,
    pub(super) signer: Option<Arc<Signer>>,
    pub(super) read_spin: Duration,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            caller_id: None,
            max_frame_bytes: protocol::DEFAULT_MAX_FRAME_BYTES,
            max_request_bytes: protocol::DEFAULT_MAX_FRAME_BYTES,
            limits: Limits::default(),
            checksums: false,
            codec: CodecId::Binary,
            heartbeat: Some(Heartbeat {
                interval: Duration::from_secs(5),
                misses: 3,
            }),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            tracer: None,
            metrics: Arc::default(),
            signer: None,
            read_spin: Duration::ZERO,
        }
    }
}

impl ClientBuilder {
    /// How long to wait for the TCP connection, at most (a call that
    /// reconnects waits no longer than its own timeout). Default 5 s.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }
    /// How long a call waits for its answer unless told otherwise (the
    /// `*_timeout` methods). Sent to the server as the call's deadline.
    /// Default 10 s.
    pub fn call_timeout(mut self, t: Duration) -> Self {
        self.call_timeout = t;
        self
    }
    /// How long the caller reading the connection polls its socket for
    /// responses before it sleeps on it (see `src/transport/spin.rs`): a
    /// response that arrives meanwhile is read with no thread wake-up. It
    /// costs up to this much CPU each time the connection goes quiet, so
    /// it is off by default; chapter 04 measures what it buys and costs. It
    /// polls only while a single call is waiting, and never in a process
    /// allowed one CPU. Default zero (off).
    /// Pair it with [`ServerBuilder::read_spin`](crate::ServerBuilder::read_spin).
    pub fn read_spin(mut self, t: Duration) -> Self {
        self.read_spin = t;
        self
    }
    /// How long a write may block on a server that is not reading. Default
    /// 10 s.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }
    /// Who is calling: sent with every request as the `caller` metadata
    /// (servers use it for flow control and logs). Default none.
    pub fn caller_id(mut self, id: impl Into<String>) -> Self {
        self.caller_id = Some(id.into());
        self
    }
    /// Sign every request with key `key_id` and its `secret` (HMAC-SHA256
    /// over the call id, the argument bytes, the time and a fresh nonce;
    /// see [`crate::auth`]), for a server that authenticates
    /// (`ServerBuilder::authenticate`). The secret never leaves this
    /// process. Default none: requests are not signed.
    pub fn credentials(self, key_id: impl Into<String>, secret: impl AsRef<[u8]>) -> Self {
        self.signer(Signer::new(key_id, secret))
    }
    /// Sign every request with `signer` (as
    /// [`credentials`](Self::credentials) does, with a signer you built,
    /// for example on a test clock).
    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }
    /// Largest response body accepted. Default 4 MiB. It also sizes the
    /// connection's send buffer: requests wait there, up to eight times
    /// this (and at least 8 MiB) besides the batch being written, for a
    /// server that reads slower than the callers send. A call that finds it
    /// full waits for room until its deadline, then fails with
    /// `DeadlineExceeded` unsent; a call made from a callback is refused at
    /// once with `ResourceExhausted`.
    pub fn max_frame_bytes(mut self, n: usize) -> Self {
        self.max_frame_bytes = n;
        self
    }
    /// Largest request body sent. A call whose request is larger fails
    /// alone, with `ResourceExhausted`, and nothing is sent: a server
    /// closes the connection on a frame over its own limit
    /// (`ServerBuilder::max_frame_bytes`), which would fail every other
    /// call on it. Default 4 MiB, the servers' default limit.
    pub fn max_request_bytes(mut self, n: usize) -> Self {
        self.max_request_bytes = n;
        self
    }
    /// Seal every frame with a CRC-32C of header and body, and accept only
    /// sealed frames back (a minirpc server answers a sealed request
    /// sealed). A byte damaged anywhere between the two programs then fails
    /// the connection with `DATA_LOSS` instead of becoming a wrong answer.
    /// TCP's own checksum covers one hop only (see [`crate::checksum`]).
    /// Default off: it costs a pass over every byte sent and received.
    pub fn checksums(mut self, on: bool) -> Self {
        self.checksums = on;
        self
    }
    /// Limits for decoding results. Default [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// The wire format for arguments and results: [`CodecId::Binary`]
    /// (default, compact and fast) or [`CodecId::Json`] (text, for reading
    /// and for other languages). The server answers in the same codec.
    pub fn codec(mut self, codec: CodecId) -> Self {
        self.codec = codec;
        self
    }
    /// Send a ping after `interval` of silence from the server (and again
    /// every interval), and declare the connection dead once a ping has gone
    /// unanswered for `misses` intervals (pending calls fail with
    /// `Unavailable`). Default 5 s × 3, like the servers'
    /// default idle timeout of 15 s. `None` turns heartbeats off.
    pub fn heartbeat(mut self, every: Option<(Duration, u32)>) -> Self {
        self.heartbeat = every.map(|(interval, misses)| Heartbeat {
            interval: interval.max(Duration::from_millis(1)),
            misses: misses.max(1),
        });
        self
    }
    /// After the connection breaks, the next call reconnects at once if the
    /// connection had answered a call. Otherwise (and after every further
    /// attempt), calls fail fast until the next attempt is due: `min`,
    /// then 1.6 times longer each time up to `max`, each delay moved by a
    /// random ±20 % (gRPC's connection backoff). Default 50 ms up to 5 s.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }
    /// Report each step of every call to `tracer` (see [`crate::trace`]).
    pub fn trace(mut self, tracer: Tracer) -> Self {
        self.tracer = Some(tracer);
        self
    }
    /// Connect to `addr` with these settings. Fails if the server cannot be
    /// reached now; after that, the client reconnects by itself.
    pub fn connect(self, addr: impl ToSocketAddrs) -> Result<Client, RpcError> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| RpcError::unavailable(format!("cannot resolve server address: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(RpcError::unavailable(
                "the server address resolved to nothing",
            ));
        }
        Client::open(addrs, self)
    }
}
