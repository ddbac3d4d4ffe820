//! The providers of the `discovery` example: who they are (`FLEET`), how
//! each registers, and how each leaves (`Provider`).
//!
//! Article: 原理 › 服务发现, the provider's side: a provider registers
//! itself on start (服务注册), renews its registration while it lives, and
//! deregisters when it stops. The one idea to take away: **how a provider
//! leaves decides how its consumers hear of it.**
//!
//! ```text
//!  StopsCleanly, Stays: ServerHandle::publish ── shutdown() deregisters, then stops
//!  Crashes:             registry.register ─────── the Registration is abandoned:
//!                                                 it lingers until its TTL runs out
//! ```

use super::SERVICE;
use minirpc::discovery::{Instance, Registration, Registry};
use minirpc::{RpcError, Server, ServerHandle};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How a provider of the demonstration leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// `shutdown()`: it deregisters, then stops.
    StopsCleanly,
    /// It stops answering and never deregisters.
    Crashes,
    /// It serves until the end of the demonstration.
    Stays,
}

impl Fate {
    /// How a provider with this fate registers, in the words of the log
    /// (see [`Provider::register`]).
    pub fn registers_by(self) -> &'static str {
        match self {
            Fate::Crashes => "registry.register (it keeps the registration, to crash later)",
            Fate::StopsCleanly | Fate::Stays => "ServerHandle::publish",
        }
    }
}

/// One provider of the demonstration.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// A short name, kept in the instance's metadata (`name`).
    pub name: &'static str,
    /// Its group (分组).
    pub group: &'static str,
    /// The version it serves.
    pub version: &'static str,
    /// How it leaves.
    pub fate: Fate,
}

/// The three providers: two of version 1 in `stable`, one of version 2 in
/// `canary`.
pub const FLEET: [Spec; 3] = [
    spec("A", "stable", "1.0.0", Fate::StopsCleanly),
    spec("B", "stable", "1.0.0", Fate::Crashes),
    spec("C", "canary", "2.0.0", Fate::Stays),
];

/// A row of [`FLEET`]: name, group, version, fate.
const fn spec(name: &'static str, group: &'static str, version: &'static str, fate: Fate) -> Spec {
    Spec {
        name,
        group,
        version,
        fate,
    }
}

/// A Multiply server, also answering `Version` with the version it serves
/// (so a caller can see which fleet answered).
pub fn multiply_server(version: &str) -> Server {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument(format!("{l} * {r} overflows i32")))
    });
    let version = version.to_owned();
    server.register("Version", move |(): ()| Ok(version.clone()));
    server
}

/// A running provider: a server on `127.0.0.1:0`, published in a registry.
pub struct Provider {
    /// What it registered.
    pub instance: Instance,
    /// The moment just before it registered.
    pub registering_at: Instant,
    /// How it will leave.
    pub fate: Fate,
    server: ServerHandle,
    /// A provider that will crash holds its registration here, outside the
    /// server, so that it can abandon it instead of deregistering.
    held: Option<Registration>,
}

impl Provider {
    /// Start `spec`'s server on `127.0.0.1:0`, not registered yet.
    pub fn serve(spec: &Spec) -> Result<Provider, RpcError> {
        let server = multiply_server(spec.version)
            .serve("127.0.0.1:0")
            .map_err(|e| RpcError::from_io("cannot start a provider on 127.0.0.1:0", &e))?;
        let instance = Instance::new(SERVICE, server.local_addr())
            .group(spec.group)
            .version(spec.version)
            .meta("name", spec.name);
        Ok(Provider {
            instance,
            registering_at: Instant::now(),
            fate: spec.fate,
            server,
            held: None,
        })
    }

    /// Register in `registry` with `ttl`. A provider that stops cleanly or
    /// stays is published by its server (`ServerHandle::publish`, which
    /// deregisters first on shutdown); one that will crash registers
    /// through `registry.register` and keeps the [`Registration`] itself.
    pub fn register(&mut self, registry: &dyn Registry, ttl: Duration) -> Result<(), RpcError> {
        self.registering_at = Instant::now();
        match self.fate {
            Fate::Crashes => self.held = Some(registry.register(&self.instance, ttl)?),
            Fate::StopsCleanly | Fate::Stays => {
                self.server.publish(registry, &self.instance, ttl)?;
            }
        }
        Ok(())
    }

    /// [`serve`](Provider::serve), then [`register`](Provider::register).
    pub fn start(
        registry: &dyn Registry,
        spec: &Spec,
        ttl: Duration,
    ) -> Result<Provider, RpcError> {
        let mut p = Provider::serve(spec)?;
        p.register(registry, ttl)?;
        Ok(p)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.instance.addr
    }

    /// A clean stop: deregister (consumers hear it now), then stop serving.
    pub fn stop(self) {
        if let Some(r) = self.held {
            let _ = r.deregister();
        }
        self.server.shutdown();
    }

    /// A crash, as the rest of the world sees one: the registration is
    /// never renewed again but nobody removes it (so it lingers until its
    /// TTL runs out), and the server stops answering.
    pub fn crash(self) {
        if let Some(r) = self.held {
            r.abandon();
        }
        // Published through the server, its shutdown would deregister it
        // first: only a provider started with `Fate::Crashes` crashes
        // silently.
        self.server.shutdown();
    }
}
