//! A `Client` is cheap to clone, and its clones share one connection: two
//! typed stubs from `service!` can make their calls over one TCP
//! connection (as tonic's and tarpc's clients can).

mod client_fakes;

use client_fakes::PATIENCE;
use minirpc::{service, Client, RpcError, Server, ServerHandle, Status};
use std::thread;
use std::time::Instant;

service! {
    /// Arithmetic.
    pub trait Arith, client ArithClient {
        /// l × r.
        fn multiply(l: i32, r: i32) -> i32, async multiply_async;
    }
}

service! {
    /// Greetings.
    pub trait Greeter, client GreeterClient {
        /// "hello, {name}".
        fn hello(name: String) -> String, async hello_async;
    }
}

struct Impl;

impl Arith for Impl {
    fn multiply(&self, l: i32, r: i32) -> i32 {
        l * r
    }
}

impl Greeter for Impl {
    fn hello(&self, name: String) -> String {
        format!("hello, {name}")
    }
}

/// Both services, and `Port()`: the client's port as the server sees it
/// (the same port means the same TCP connection).
fn server() -> ServerHandle {
    let mut server = Server::new();
    Arith::register_service(Impl, &mut server);
    Greeter::register_service(Impl, &mut server);
    server.register_with_context("Port", |ctx, (): ()| Ok(ctx.peer().port()));
    server.serve("127.0.0.1:0").unwrap()
}

/// Wait (bounded) until the server counts `n` open connections. The count
/// changes on the server's threads with nothing to wait on, so this polls.
fn await_connections(server: &ServerHandle, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    while server.stats().connections != n {
        assert!(Instant::now() < deadline, "{:?}", server.stats());
        thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn two_service_stubs_built_from_clones_of_one_client_share_its_connection() {
    let server = server();
    let client = Client::connect(server.local_addr()).unwrap();
    let arith = ArithClient::new(client.clone());
    let greeter = GreeterClient::new(client.clone());
    assert_eq!(arith.multiply(6, 7), Ok(42));
    assert_eq!(greeter.hello("stub".into()), Ok("hello, stub".into()));
    assert_eq!(arith.multiply_async(2, 3).wait(), Ok(6));
    let via_arith: u16 = arith.client().call("Port", &()).unwrap();
    let via_greeter: u16 = greeter.client().call("Port", &()).unwrap();
    assert_eq!(via_arith, via_greeter, "two connections");
    assert_eq!(server.stats().connections, 1);
}

#[test]
fn clones_used_from_many_threads_get_their_own_answers() {
    let server = server();
    let client = Client::connect(server.local_addr()).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let arith = ArithClient::new(client.clone());
            thread::spawn(move || {
                for i in 0..200 {
                    assert_eq!(arith.multiply(t, i), Ok(t * i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(server.stats().connections, 1);
    assert_eq!(client.in_flight(), 0);
}

#[test]
fn the_connection_closes_when_the_last_clone_is_dropped() {
    let server = server();
    let client = Client::connect(server.local_addr()).unwrap();
    let clone = client.clone();
    let pending = clone.call_async::<_, i32>("Arith.multiply", &(4, 5));
    drop(client);
    assert_eq!(pending.wait(), Ok(20), "the clone still had the connection");
    await_connections(&server, 1);
    let late = clone.call_async::<_, i32>("Arith.multiply", &(1, 1));
    drop(clone);
    // The last clone is gone: a call still pending is cancelled, and the
    // server sees the connection close.
    match late.wait() {
        Ok(1) => {} // answered before the drop
        Ok(other) => panic!("wrong answer {other}"),
        Err(RpcError { status, .. }) => assert_eq!(status, Status::Cancelled),
    }
    await_connections(&server, 0);
}
