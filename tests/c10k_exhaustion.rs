//! The acceptor when the process runs out of file descriptors: it refuses
//! with a message naming the limit, does not spin, keeps serving the
//! connections it has, and serves new clients once descriptors are free.
//!
//! A file of its own, so a process of its own: the test lowers this
//! process's soft descriptor limit (with `prlimit` from util-linux, since
//! the standard library cannot call `setrlimit`) and then fills what is
//! left, which would break any test running beside it. Linux only; without
//! `prlimit` it is skipped, except under CI (env `CI` set) where that fails.

mod common;

use common::{assert_serves, raw_connect, read_response, request_frame, send, PATIENCE};
use minirpc::codec::to_bytes;
use minirpc::{Server, ServerHandle};
use std::fs::File;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// Descriptors left free above what the process has open when the limit is
/// lowered: enough for the idle crowd, not for much more.
const HEADROOM: usize = 48;
/// Idle connections held through the exhaustion.
const CROWD: usize = 8;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn hard_nofile() -> Option<String> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(4).map(str::to_owned)
}

/// Lower this process's soft descriptor limit to `soft`; `false` if
/// `prlimit` is not installed.
fn lower_soft_limit(soft: usize) -> bool {
    let Some(hard) = hard_nofile() else {
        return false;
    };
    let run = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={soft}:{hard}"))
        .status();
    match run {
        Ok(status) => {
            assert!(status.success(), "prlimit could not lower the limit");
            true
        }
        Err(_) => false,
    }
}

/// Wait (bounded) until `ok` holds for the server's stats.
fn wait_until(server: &ServerHandle, what: &str, ok: impl Fn(&minirpc::ServerStats) -> bool) {
    let until = Instant::now() + PATIENCE * 2;
    while !ok(&server.stats()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(ok(&server.stats()), "{what}: {:?}", server.stats());
}

#[test]
fn the_acceptor_survives_descriptor_exhaustion_and_serves_again() {
    if !std::path::Path::new("/proc/self/fd").exists() {
        return;
    }
    let mut server = Server::builder()
        .max_connections(10_000) // the descriptors, not this, must run out
        .idle_timeout(None)
        .build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").unwrap();
    let addr = server.local_addr();

    if !lower_soft_limit(open_descriptors() + HEADROOM) {
        assert!(
            std::env::var_os("CI").is_none(),
            "prlimit (util-linux) is missing; CI must install it"
        );
        eprintln!("skipped: prlimit (util-linux) is not installed");
        return;
    }
    let mut crowd: Vec<TcpStream> = (0..CROWD).map(|_| raw_connect(addr)).collect();
    wait_until(&server, "the crowd was not taken", |s| {
        s.connections == CROWD
    });

    // Fill every descriptor left (bounded: the limit is just above us).
    let mut filler = Vec::new();
    while filler.len() < 10 * HEADROOM {
        match File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(_) => break,
        }
    }
    assert!(
        File::open("/dev/null").is_err(),
        "could not use up the descriptors"
    );

    // New clients, one descriptor freed for each. The server has no
    // descriptor to spare for them (its acceptor may take one or two while
    // it waits in accept(), which holds a descriptor slot on Linux), so
    // within a few of them one must be refused, saying which limit to raise.
    let args = to_bytes(&(6i32, 7i32));
    let mut newcomers = Vec::new();
    let mut refusal = None;
    while refusal.is_none() && newcomers.len() < 4 {
        filler.pop();
        let before = server.stats();
        let mut s = raw_connect(addr);
        wait_until(
            &server,
            "a new client was neither taken nor refused",
            |now| {
                now.connections > before.connections
                    || now.refused_no_resources > before.refused_no_resources
            },
        );
        if server.stats().refused_no_resources > before.refused_no_resources {
            refusal = Some(read_response(&mut s));
        } else {
            // Taken: it is served like any other.
            send(&mut s, &request_frame(1, "Multiply", &args));
            assert_eq!(read_response(&mut s).result_i32(), 42);
        }
        newcomers.push(s);
    }
    let refusal = refusal.expect("no new client was refused though no descriptor was free");
    assert_eq!(refusal.header.request_id, 0, "a connection-level error");
    let message = &refusal.message;
    assert!(
        message.contains("ulimit -n") && message.contains("max_connections"),
        "the refusal does not name the limits to raise: {message}"
    );
    let held = server.stats().connections;

    // While nothing new arrives the acceptor waits in accept(): it does not
    // retry in a loop. (A spinning acceptor pauses thousands of times here.)
    let pauses = server.stats().accept_pauses;
    std::thread::sleep(Duration::from_millis(500));
    let later = server.stats();
    assert!(
        later.accept_pauses <= pauses + 10,
        "the acceptor kept retrying: {pauses} pauses, then {}",
        later.accept_pauses
    );
    assert_eq!(later.refused_no_resources, 1, "{later:?}");

    // The connections it has are served all along: a call on one of them.
    send(&mut crowd[0], &request_frame(1, "Multiply", &args));
    let reply = read_response(&mut crowd[0]);
    assert_eq!(reply.result_i32(), 42);
    assert_eq!(server.stats().connections, held);

    // Descriptors come back: a new client is served.
    drop(newcomers);
    drop(filler);
    assert_serves(addr);
    drop(crowd);
}
