//! Service discovery, health checks and a canary, watched as they happen.
//!
//! Article: 原理 › 服务发现 (providers publish, consumers subscribe, and a
//! consumer should notice a change within seconds, 秒级), its 健康检查 part
//! (a node that only looks alive, 假死, is suspected, 亚健康, then found
//! dead; a probe, 探活, checks it again), and 原理 › 分组部署 (业务分组: a
//! call never crosses groups). Chapters: `docs/07-discovery.md` and
//! `docs/11-groups.md`.
//!
//! ```text
//! cargo run --example discovery                                  # MemoryRegistry, consumer in group stable
//! cargo run --example discovery -- --group canary                # the same consumer, switched to the canary
//! MINIRPC_GROUP=canary cargo run --example discovery             # ... by environment instead of a flag
//! cargo run --example discovery -- --etcd http://127.0.0.1:2379  # the same against a real etcd
//! ```
//!
//! What it does, in one process, in about three seconds:
//!
//! ```text
//!  consumer: subscribe(Arith, <group>, "*") ──► watcher thread: prints every list pushed to it,
//!                                                  feeds it to a HealthTracker
//!                                               prober thread: every 200 ms, pings (Client::ping)
//!                                                  whom the tracker believes in (a heartbeat) and
//!                                                  whom it asks to probe; prints each transition
//!  providers: A stable 1.0.0 ─ ServerHandle::publish ─┐
//!             B stable 1.0.0 ─ registry.register ─────┼──► the registry (TTL 2 s)
//!             C canary 2.0.0 ─ ServerHandle::publish ─┘
//!  then:      A stops cleanly: shutdown() deregisters first, the consumer hears at once
//!             B "crashes": its registration is abandoned (never deregistered) and its
//!               server goes; the prober finds it dead after 3 missed heartbeats, and
//!               the registry drops it when its TTL runs out
//! ```
//!
//! The consumer's group is configuration (`--group`, or `MINIRPC_GROUP`),
//! not code: with `canary` the same program calls version 2 only and never
//! hears of A and B at all. Each event is timed from the moment it happened
//! to the moment the consumer saw it, and a table at the end puts each time
//! beside what bounds it. The one idea to take away: **a clean stop is
//! heard at once (push), a crash is found by the consumer's own heartbeats
//! well before the registry's lease runs out, and the lease is the safety
//! net for consumers that do not check**.
//!
//! ## Layout
//!
//! One file per part, in the order they are best read:
//!
//! - `main.rs` (this file): the settings of the demonstration, and `main`,
//!   which picks the registry and runs it;
//! - `args.rs`: the command line (`--group`, `--etcd`);
//! - `fleet.rs`: the three providers (`FLEET`), how each registers and how
//!   it leaves (`Provider`);
//! - `prober.rs`: the consumer's heartbeats and probes (`Prober`), and the
//!   health transitions they cause;
//! - `consumer.rs`: the consumer (`Consumer`): a watcher thread on its
//!   subscription and a prober thread;
//! - `timeline.rs`: the log every part prints to, which also keeps what the
//!   consumer saw and when (`Timeline`);
//! - `demo.rs`: the scripted steps, each timed, and the summary table.
//!
//! The pieces are small functions and types (`Provider`, `Prober`,
//! `Consumer`, `Timeline`) that `tests/discovery_scenarios.rs` drives on a
//! manual clock, so the properties printed here are also tested. (The
//! modules reach this file's settings as `super::`, not `crate::`, so that
//! the test can include this whole file as a module of its own.)

pub mod args;
pub mod consumer;
pub mod demo;
pub mod fleet;
pub mod prober;
pub mod timeline;

use args::USAGE;
use demo::Backend;
use minirpc::discovery::{EtcdRegistry, HealthConfig, MemoryRegistry, Registry};
use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

// ---- the settings of the demonstration ----------------------------------------

/// The service every provider offers.
pub const SERVICE: &str = "Arith";

/// How long a registration lives once its renewals stop. Short, so the
/// demonstration ends quickly; 2 s is also etcd's smallest lease.
pub const TTL: Duration = Duration::from_secs(2);

/// How often the consumer pings each instance (its heartbeat), and looks
/// for probes that are due.
pub const HEARTBEAT: Duration = Duration::from_millis(200);

/// How long one ping may take before it counts as missed.
pub const PING_TIMEOUT: Duration = Duration::from_millis(150);

/// The longest the demonstration waits for anything it expects to see
/// (beyond the bound that explains it).
pub const PATIENCE: Duration = Duration::from_secs(3);

/// The health thresholds: suspect after one missed heartbeat, dead after
/// three, the first probe half a second after an instance left `Healthy`.
/// (The library's defaults are seconds, fitted to a 5 s heartbeat; these are
/// the same rules, faster.)
pub fn health_config() -> HealthConfig {
    HealthConfig {
        misses_to_suspect: 1,
        misses_to_dead: 3,
        probe_backoff: Duration::from_millis(500),
        probe_backoff_max: TTL,
        probe_timeout: PING_TIMEOUT,
        ..HealthConfig::default()
    }
}

// ---- printing ------------------------------------------------------------------

/// Print a line to stdout; a closed stdout (`| head`) is not an error worth
/// a panic.
pub fn out(line: impl fmt::Display) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The same for stderr.
pub fn err(line: impl fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

// ---- main ----------------------------------------------------------------------

fn main() -> ExitCode {
    let parsed = args::parse(
        std::env::args().skip(1),
        std::env::var("MINIRPC_GROUP").ok(),
    );
    let args = match parsed {
        Ok(Some(a)) => a,
        Ok(None) => {
            out(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            err(format!("discovery: {e}\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let Some((registry, backend)) = open_registry(args.etcd.as_deref(), &args.group) else {
        return ExitCode::FAILURE;
    };
    match demo::demonstrate(registry.as_ref(), backend, &args.group) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            err("discovery: something expected was not seen in time (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            err(format!("discovery: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// The registry to run against: a `MemoryRegistry` in this process, or the
/// etcd at `etcd`. Says which on stdout; `None` (after saying how to start
/// one) if the etcd does not answer.
fn open_registry(etcd: Option<&str>, group: &str) -> Option<(Box<dyn Registry>, Backend)> {
    let Some(url) = etcd else {
        out(format!(
            "registry: MemoryRegistry (in this process); consumer group: {group}"
        ));
        return Some((Box::new(MemoryRegistry::new()), Backend::Memory));
    };
    match EtcdRegistry::connect(url) {
        Ok(etcd) => {
            out(format!(
                "registry: etcd {} at {url}; consumer group: {group}",
                etcd.server_version()
            ));
            Some((Box::new(etcd), Backend::Etcd))
        }
        Err(e) => {
            err(format!("discovery: {e}"));
            err(
                "\nTo run this example against etcd, start one first (in another terminal):\n\
                 \x20   etcd --data-dir /tmp/etcd-demo\n\
                 then run:\n\
                 \x20   cargo run --example discovery -- --etcd http://127.0.0.1:2379",
            );
            None
        }
    }
}
