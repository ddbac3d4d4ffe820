//! [`EtcdRegistry`]: the [`Registry`] trait over a real etcd (v3), spoken
//! through etcd's JSON gateway with minirpc's own HTTP client and JSON.
//!
//! Article: 原理 › 服务发现 (and the 多种注册中心 row of 框架 › 对比).
//! The one idea to take away: **liveness is a lease, and notification is a
//! watch from a revision**. A provider does not tell the registry when it
//! dies — a dead process tells nobody anything — so its entry lives on a
//! lease that it must keep renewing; when it stops, etcd deletes the entry
//! by itself. A consumer lists the entries once and then watches from the
//! revision of that list, so it hears every change after it, pushed, in
//! order. ZooKeeper does the same with ephemeral nodes and watches; Consul
//! with sessions and blocking queries; Nacos with heartbeats and pushes.
//!
//! ```text
//!  provider                          etcd                              consumer
//!  grant {"TTL":10} ───────────────► lease 7587...
//!  put key=/minirpc/services/Arith/stable/1.0.0/127.0.0.1:7001
//!      value={instance JSON}, lease ► revision 42 ◄──────────────────── range prefix → list, revision 42
//!  keepalive every TTL/3 ──────────► renewed      ◄──────────────────── watch from 43 (a chunked stream)
//!  (dies: no keepalive) ...TTL...    lease expires: DELETE event ─────► list without it
//!  (dropped: revoke) ──────────────► DELETE event at once ────────────► list without it
//! ```
//!
//! # Facts about the gateway (learned on etcd 3.4.23, Debian's `etcd-server`)
//!
//! - Everything is `POST /v3/...` with a JSON body, and the answer is JSON.
//!   Keys and values are base64; every int64 (revision, lease id, TTL) comes
//!   back as a JSON *string*; a proto3 reply omits fields at their default
//!   value, so an empty range has no `kvs` and no `count`.
//! - A lease: `/v3/lease/grant {"TTL": 10}` answers an `ID` (and the TTL
//!   granted: etcd raises a TTL below its minimum, 2 s by default). The
//!   instance is written with `/v3/kv/put {"key","value","lease"}`.
//!   `/v3/lease/keepalive {"ID"}` (every TTL/3) answers inside a `result`
//!   wrapper, since it is a streaming call; on a lease that has expired it
//!   still answers HTTP 200, but without a `TTL` — the sign to grant a new
//!   lease and put again. A put with an unknown lease is HTTP 404
//!   (`requested lease not found`), and so is a revoke of one.
//!   `/v3/lease/revoke {"ID"}` deletes the lease's keys at once.
//! - A list: `/v3/kv/range {"key": prefix, "range_end": prefix with its
//!   last byte + 1}`; its `header.revision` is the revision it was read at.
//! - A watch: `/v3/watch {"create_request": {"key", "range_end",
//!   "start_revision": revision + 1}}` answers a chunked HTTP stream, one
//!   JSON object (and a newline) per chunk: first `{"result":{...,
//!   "created":true}}`, then one message per revision with its `events`.
//!   A PUT event has no `type` field (PUT is the default); a DELETE,
//!   including a lease's expiry or revoke, has `"type":"DELETE"` and a `kv`
//!   with only the key.
//! - The gateway is half-duplex: a watch is one request, one connection,
//!   and is cancelled by closing that connection.
//! - A watch from a revision that was compacted answers `"canceled":true,
//!   "compact_revision"` (and then stays open): list again from scratch.
//! - An idle watch sends nothing at all, so the watcher needs its own read
//!   timeout ([`EtcdSettings::watch_idle`]); when etcd shuts down the stream
//!   ends with `{"error":{"message":"transport is closing",...}}`; when it is
//!   killed, the connection just ends. Either way: reconnect, with backoff
//!   and jitter.
//!
//! # What a consumer sees when etcd is in trouble
//!
//! Never an empty list it did not earn: the last good list again, marked
//! [`stale`](crate::discovery::Snapshot::stale), and a fresh one once etcd
//! answers (see `watch.rs`). Providers keep serving meanwhile; their
//! keepalive threads re-register if their lease ran out (see `lease.rs`).
//!
//! Files: `gateway.rs` (the etcd calls), `value.rs` (the instance as JSON),
//! `lease.rs` (a registration's keepalive), `watch.rs` (a subscription's
//! watcher), `worker.rs` (an owned, stoppable thread).

mod gateway;
mod lease;
mod value;
mod watch;
mod worker;

use crate::discovery::{Instance, Registration, Registry, Subscription};
use crate::error::RpcError;
use std::time::Duration;

/// The settings of an [`EtcdRegistry`], each with its default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdSettings {
    /// The key prefix of every instance (default `/minirpc/services`).
    pub root: String,
    /// The deadline of each unary gateway call (default 5 s).
    pub request_timeout: Duration,
    /// The longest a TCP connect to etcd may take (default 2 s).
    pub connect_timeout: Duration,
    /// How long a watch may stay silent before the watcher lists again
    /// (default 10 s). Silence is normal; this is how an etcd that vanished
    /// without closing the connection is noticed.
    pub watch_idle: Duration,
    /// The first wait before retrying etcd after a failure (default 100 ms),
    /// doubled on each failure in a row ...
    pub backoff_min: Duration,
    /// ... up to this (default 5 s). Each wait is jittered (half to all).
    pub backoff_max: Duration,
    /// The largest answer (or watch message) accepted (default 16 MiB).
    pub max_response_bytes: usize,
}

impl Default for EtcdSettings {
    fn default() -> EtcdSettings {
        EtcdSettings {
            root: "/minirpc/services".to_owned(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            watch_idle: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            max_response_bytes: 16 << 20,
        }
    }
}

/// A [`Registry`] kept in etcd. Cheap to share (`Arc`) between threads;
/// each registration and each subscription owns its own thread.
///
/// ```no_run
/// use minirpc::discovery::{EtcdRegistry, Instance, Registry};
/// use std::time::Duration;
///
/// let etcd = EtcdRegistry::connect("http://127.0.0.1:2379")?;
/// let me = Instance::new("Arith", ([127, 0, 0, 1], 7001).into()).group("stable");
/// let _registration = etcd.register(&me, Duration::from_secs(10))?;
/// let providers = etcd.lookup("Arith", "stable", "*")?;
/// assert!(providers.contains(&me));
/// # Ok::<(), minirpc::RpcError>(())
/// ```
#[derive(Debug)]
pub struct EtcdRegistry {
    gw: gateway::Gateway,
    settings: EtcdSettings,
    version: String,
}

/// What one lookup or subscription asks for, and the key prefix that holds it.
#[derive(Clone, Debug)]
struct Query {
    service: String,
    group: String,
    version: String,
    prefix: String,
}

impl EtcdRegistry {
    /// Connect to the etcd whose client URL is `url` (e.g.
    /// `http://127.0.0.1:2379`), with default settings, and check that it
    /// answers.
    pub fn connect(url: &str) -> Result<EtcdRegistry, RpcError> {
        EtcdRegistry::connect_with(url, EtcdSettings::default())
    }

    /// The same, with `settings`.
    pub fn connect_with(url: &str, settings: EtcdSettings) -> Result<EtcdRegistry, RpcError> {
        let gw = gateway::Gateway::new(url, &settings)?;
        let version = gw.status().map_err(|e| {
            RpcError::new(
                e.status,
                format!(
                    "cannot use etcd at {url}: {} (check that etcd 3.4 or later is running and \
                     that {url} is its client URL (--listen-client-urls; the default is \
                     http://127.0.0.1:2379))",
                    e.message
                ),
            )
        })?;
        Ok(EtcdRegistry {
            gw,
            settings,
            version,
        })
    }

    /// The etcd server's version, as it reported it on connect.
    pub fn server_version(&self) -> &str {
        &self.version
    }

    /// The key an instance is stored under:
    /// `<root>/<service>/<group>/<version>/<addr>`.
    pub fn key_of(&self, instance: &Instance) -> String {
        format!(
            "{}{}",
            self.prefix(&instance.service, &instance.group, &instance.version),
            instance.addr
        )
    }

    /// The prefix of every key a lookup of `version` (`"*"`: any, so the
    /// whole group) reads. Each part is escaped (`/` as `%2F`, `%` as `%25`)
    /// so that a name with a `/` cannot reach into another service's keys.
    fn prefix(&self, service: &str, group: &str, version: &str) -> String {
        let mut p = format!(
            "{}/{}/{}/",
            self.settings.root,
            escape(service),
            escape(group)
        );
        if version != "*" {
            p.push_str(&escape(version));
            p.push('/');
        }
        p
    }

    fn query(&self, service: &str, group: &str, version: &str) -> Query {
        Query {
            service: service.to_owned(),
            group: group.to_owned(),
            version: version.to_owned(),
            prefix: self.prefix(service, group, version),
        }
    }
}

fn escape(part: &str) -> String {
    part.replace('%', "%25").replace('/', "%2F")
}

impl Registry for EtcdRegistry {
    fn register(&self, instance: &Instance, ttl: Duration) -> Result<Registration, RpcError> {
        let lease = lease::EtcdLease::start(
            self.gw.clone(),
            self.key_of(instance),
            value::encode(instance),
            ttl,
        )?;
        Ok(Registration::new(instance.clone(), Box::new(lease)))
    }

    fn lookup(&self, service: &str, group: &str, version: &str) -> Result<Vec<Instance>, RpcError> {
        let q = self.query(service, group, version);
        let range = self.gw.range(&q.prefix)?;
        let mut found: Vec<Instance> = range
            .kvs
            .iter()
            .filter_map(|kv| value::instance_at(&kv.key, &kv.value, &q))
            .collect();
        found.sort_by(|a, b| (a.addr, &a.version).cmp(&(b.addr, &b.version)));
        Ok(found)
    }

    fn subscribe(
        &self,
        service: &str,
        group: &str,
        version: &str,
    ) -> Result<Subscription, RpcError> {
        watch::subscribe(
            self.gw.clone(),
            self.query(service, group, version),
            &self.settings,
        )
    }
}
