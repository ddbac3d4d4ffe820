//! Many connections on blocking threads: what each one costs the server,
//! and that a good client is served while a crowd is held. (Linux: the
//! descriptor counts come from `/proc/self/fd`; elsewhere those tests only
//! check that the server serves.)
//!
//! The tests in this file take a lock so they never run at the same time:
//! each one's descriptor count must be its own. Running out of descriptors
//! is in `tests/c10k_exhaustion.rs`, a process of its own.

mod common;

use common::{assert_serves, raw_connect, PATIENCE};
use minirpc::{Client, Server, ServerBuilder, ServerHandle};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Instant;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Descriptors this process has open, if the OS tells us.
fn open_descriptors() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

fn serve(builder: ServerBuilder) -> ServerHandle {
    let mut server = builder.idle_timeout(None).build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    server.serve("127.0.0.1:0").unwrap()
}

/// Wait (bounded) until the server holds `n` connections.
fn wait_for_connections(server: &ServerHandle, n: usize) {
    let until = Instant::now() + PATIENCE * 2;
    while server.stats().connections != n && Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        server.stats().connections,
        n,
        "the server did not take them all"
    );
}

/// A server that has served one client and let it go, so the descriptors
/// it keeps for itself (the listener, the acceptor's spare) are all open.
fn settled(builder: ServerBuilder) -> ServerHandle {
    let server = serve(builder);
    assert_serves(server.local_addr());
    wait_for_connections(&server, 0);
    server
}

/// Connections opened for the descriptor counts.
const N: usize = 40;

#[test]
fn a_server_connection_costs_one_descriptor() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = settled(Server::builder());
    let before = open_descriptors();
    let crowd: Vec<TcpStream> = (0..N).map(|_| raw_connect(server.local_addr())).collect();
    wait_for_connections(&server, N);
    if let (Some(before), Some(after)) = (before, open_descriptors()) {
        // Each connection: the client's socket here, and the server's.
        let server_side = after - before - crowd.len();
        assert_eq!(
            server_side, N,
            "{N} connections cost the server {server_side} descriptors"
        );
    }
    assert_serves(server.local_addr());
}

#[test]
fn a_good_client_is_served_while_a_crowd_of_idle_connections_is_held() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const CROWD: usize = 300;
    let server = serve(Server::builder().max_connections(CROWD + 8));
    let addr = server.local_addr();
    let crowd: Vec<TcpStream> = (0..CROWD).map(|_| raw_connect(addr)).collect();
    wait_for_connections(&server, CROWD);
    let good = Client::builder()
        .connect_timeout(PATIENCE)
        .call_timeout(PATIENCE)
        .connect(addr)
        .expect("a good client connects past the crowd");
    for i in 0..200 {
        let y: i32 = good
            .call("Multiply", &(i, 3))
            .unwrap_or_else(|e| panic!("call {i} of the good client failed: {e}"));
        assert_eq!(y, 3 * i);
    }
    // The crowd is still held: nobody was dropped to make room.
    assert_eq!(server.stats().connections, CROWD + 1);
    assert_eq!(server.stats().refused_no_resources, 0);
    drop(crowd);
}

minirpc::record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Tree { pub value: i32, pub children: Vec<Tree> }
}

fn depth(t: &Tree) -> u32 {
    1 + t.children.iter().map(depth).max().unwrap_or(0)
}

/// Stack a handler uses for locals on top of its arguments' decoding.
const HANDLER_LOCALS: usize = 32 * 1024;

#[test]
fn an_inline_call_with_the_deepest_arguments_fits_a_connection_thread() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // Any call counts as short, so the method soon runs on the reader, whose
    // stack is the small connection stack.
    let mut server = Server::builder()
        .inline_max(std::time::Duration::from_secs(1))
        .idle_timeout(None)
        .build();
    server.register("Depth", |t: Tree| {
        let mut locals = [0u8; HANDLER_LOCALS];
        locals[HANDLER_LOCALS - 1] = 1;
        let locals = std::hint::black_box(locals);
        let on_reader = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("minirpc-conn-"));
        Ok((
            depth(&t) + u32::from(locals[HANDLER_LOCALS - 1]) - 1,
            on_reader,
        ))
    });
    let server = server.serve("127.0.0.1:0").unwrap();
    // The deepest tree the default limits let through.
    let mut tree = Tree {
        value: 0,
        children: vec![],
    };
    let limits = minirpc::codec::Limits::default();
    for i in 1..1000 {
        let deeper = Tree {
            value: i,
            children: vec![tree.clone()],
        };
        let bytes = minirpc::codec::to_bytes(&deeper);
        if minirpc::codec::from_bytes::<Tree>(&bytes, limits).is_err() {
            break;
        }
        tree = deeper;
    }
    let want = depth(&tree);
    assert!(want > 10, "the default limits allow only {want} levels");
    let client = Client::builder()
        .call_timeout(PATIENCE)
        .connect(server.local_addr())
        .unwrap();
    let mut inline = 0;
    for _ in 0..200 {
        let (got, on_reader): (u32, bool) = client
            .call("Depth", &tree)
            .unwrap_or_else(|e| panic!("the deep call failed: {e}"));
        assert_eq!(got, want);
        inline += usize::from(on_reader);
        if inline >= 20 {
            break;
        }
    }
    assert!(inline >= 20, "the call ran inline only {inline} times");
}
