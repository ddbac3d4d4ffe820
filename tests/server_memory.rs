//! What hostile peers can make a server hold, measured: the server runs in
//! this test process, and its resident memory is read from
//! `/proc/self/status`. (Linux only; elsewhere these tests only check that
//! the server keeps serving.)
//!
//! The tests in this file take a lock so they never run at the same time:
//! each one's memory figure must be its own.

mod common;

use common::{header_bytes, raw_connect, request_frame, PATIENCE};
use minirpc::protocol::FrameKind;
use minirpc::{Client, Server, ServerBuilder, ServerHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// This process's resident memory in bytes, if the OS tells us.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn serve(builder: ServerBuilder) -> ServerHandle {
    let mut server = builder.build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.register("Big", |n: u32| Ok(vec![7u8; n as usize]));
    server.register("Sink", |v: Vec<u8>| Ok(v.len() as u32));
    server.serve("127.0.0.1:0").unwrap()
}

fn good_call(client: &Client, i: i32) {
    let y: i32 = client
        .call("Multiply", &(i, 3))
        .unwrap_or_else(|e| panic!("a good client's call failed: {e}"));
    assert_eq!(y, 3 * i);
}

const MIB: u64 = 1 << 20;

/// Calls the good client makes while the hostile peers run.
const GOOD_CALLS: i32 = 1000;

#[test]
fn stalled_connections_cost_what_they_sent_not_what_they_claimed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = serve(Server::builder().frame_timeout(PATIENCE * 2));
    let addr = server.local_addr();
    let before = resident_bytes();
    // 200 connections, each a header promising a 4 MiB body and then ten
    // bytes of it. A buffer sized from the header would hold 800 MiB.
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut s = raw_connect(addr);
        s.write_all(&header_bytes(FrameKind::Request, 1, 4 << 20))
            .unwrap();
        s.write_all(&[0u8; 10]).unwrap();
        stalled.push(s);
    }
    let client = Client::builder()
        .call_timeout(PATIENCE)
        .connect(addr)
        .unwrap();
    // Let the readers take their bytes, then look (bounded).
    let mut peak = 0;
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        good_call(&client, 7);
        peak = peak.max(resident_bytes().unwrap_or(0));
        thread::sleep(Duration::from_millis(20));
    }
    if let Some(before) = before {
        let grew = peak.saturating_sub(before);
        eprintln!(
            "200 stalled connections: resident memory grew {} KiB",
            grew / 1024
        );
        assert!(
            grew < 64 * MIB,
            "200 stalled connections grew the server by {} MiB",
            grew / MIB
        );
    }
    drop(stalled);
}

/// A thread that does one kind of bad thing until told to stop (bounded).
fn misbehave(
    stop: &Arc<AtomicBool>,
    addr: SocketAddr,
    each: impl Fn(&mut TcpStream) -> bool + Send + 'static,
) -> thread::JoinHandle<()> {
    let stop = Arc::clone(stop);
    thread::spawn(move || {
        let until = Instant::now() + 3 * PATIENCE;
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            let Ok(mut s) = TcpStream::connect_timeout(&addr, PATIENCE) else {
                thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            while !stop.load(Ordering::SeqCst) && Instant::now() < until && each(&mut s) {}
        }
    })
}

#[test]
fn a_mix_of_hostile_peers_leaves_a_good_client_served_and_memory_bounded() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = serve(
        Server::builder()
            .workers(4)
            .max_frame_bytes(256 << 10)
            .max_outbox_bytes(512 << 10)
            .write_timeout(Duration::from_millis(500))
            .frame_timeout(Duration::from_millis(300))
            .idle_timeout(Some(Duration::from_millis(500)))
            .max_queued_bytes(4 << 20)
            .max_queued_bytes_per_connection(1 << 20),
    );
    let addr = server.local_addr();
    let before = resident_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let mut bad = Vec::new();
    // Clients that ask for big answers and never read them.
    for _ in 0..8 {
        let id = AtomicU64::new(1);
        bad.push(misbehave(&stop, addr, move |s| {
            let n = id.fetch_add(1, Ordering::Relaxed);
            s.write_all(&request_frame(n, "Big", &(64u32 << 10).to_be_bytes()))
                .is_ok()
        }));
    }
    // Clients that send a frame one byte at a time.
    for _ in 0..8 {
        let frame = request_frame(1, "Multiply", &minirpc::codec::to_bytes(&(1i32, 2i32)));
        let at = std::sync::atomic::AtomicUsize::new(0);
        bad.push(misbehave(&stop, addr, move |s| {
            let i = at.fetch_add(1, Ordering::Relaxed) % frame.len();
            thread::sleep(Duration::from_millis(20));
            s.write_all(&frame[i..i + 1]).is_ok()
        }));
    }
    // Clients that connect and say nothing.
    for _ in 0..16 {
        bad.push(misbehave(&stop, addr, |s| {
            let mut b = [0u8; 64];
            !matches!(s.read(&mut b), Ok(0))
        }));
    }
    // Clients that send near-maximum frames as fast as they can, reading
    // whatever comes back.
    for _ in 0..4 {
        let args = minirpc::codec::to_bytes(&vec![1u8; 250 << 10]);
        bad.push(misbehave(&stop, addr, move |s| {
            let mut b = vec![0u8; 64 << 10];
            let _ = s.read(&mut b);
            s.write_all(&request_frame(1, "Sink", &args)).is_ok()
        }));
    }
    // Meanwhile a good client's calls all succeed.
    let client = Client::builder()
        .call_timeout(3 * PATIENCE)
        .connect(addr)
        .unwrap();
    // A fixed number of calls, each bounded by its timeout (generous: 36
    // hostile threads share two cores with it, and CI may be busier still):
    // the test asserts that they all succeed, not how fast.
    let mut peak = 0;
    for i in 0..GOOD_CALLS {
        good_call(&client, i);
        if i % 50 == 0 {
            peak = peak.max(resident_bytes().unwrap_or(0));
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in bad {
        t.join().unwrap();
    }
    if let Some(before) = before {
        // The limits above allow at most about 4 MiB queued plus 36
        // connections × (256 KiB being read + 512 KiB outbox) ≈ 32 MiB; the
        // rest is threads, buffers and the allocator's slack.
        let grew = peak.saturating_sub(before);
        eprintln!("hostile mix: resident memory grew {} KiB", grew / 1024);
        assert!(
            grew < 128 * MIB,
            "the server grew by {} MiB under the hostile mix",
            grew / MIB
        );
    }
}
