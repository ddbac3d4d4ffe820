//! Short methods run on the connection's reader (no hand-off to a worker);
//! a method that turns slow loses the reader to a fresh thread (the
//! relief) and goes back to the pool, so it holds up its connection only
//! for a moment, and only once.

use minirpc::{Client, Server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn a_method_that_turns_slow_holds_up_its_connection_only_until_the_relief_takes_over() {
    // `Work` is fast until `slow` is set; then each call waits for a
    // release (bounded), like a handler stuck on a lock.
    let slow = Arc::new(AtomicBool::new(false));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(started_tx);
    let mut server = Server::new();
    {
        let slow = Arc::clone(&slow);
        let release_rx = Arc::clone(&release_rx);
        server.register("Work", move |x: u32| {
            if slow.load(Ordering::SeqCst) {
                started_tx.lock().unwrap().send(()).unwrap();
                let _ = release_rx.lock().unwrap().recv_timeout(PATIENCE);
            }
            Ok(x)
        });
    }
    server.register("Fast", |x: u32| Ok(x + 1));
    let handle = server.serve("127.0.0.1:0").unwrap();
    let client = Arc::new(Client::connect(handle.local_addr()).unwrap());

    // Prove `Work` fast, so it runs inline on the reader.
    for i in 0..20 {
        assert_eq!(client.call::<_, u32>("Work", &i).unwrap(), i);
    }
    slow.store(true, Ordering::SeqCst);

    // The first slow call runs inline and holds up the connection, but only
    // until the relief gives the reading role to a new thread: a fast call
    // sent meanwhile is answered while the slow one is still stuck.
    let (done_tx, done_rx) = mpsc::channel();
    let first = {
        let (client, done_tx) = (Arc::clone(&client), done_tx.clone());
        std::thread::spawn(move || {
            let r = client.call::<_, u32>("Work", &1);
            done_tx.send("slow-1").unwrap();
            r
        })
    };
    // Send the fast call only once the slow one is running.
    started_rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(client.call::<_, u32>("Fast", &1).unwrap(), 2);
    assert!(
        done_rx.try_recv().is_err(),
        "the fast call was answered while the slow one still runs"
    );
    release_tx.send(()).unwrap();
    assert_eq!(first.join().unwrap().unwrap(), 1);
    assert_eq!(done_rx.recv_timeout(PATIENCE).unwrap(), "slow-1");

    // That slow call sent `Work` back to the pool: the next slow call no
    // longer holds up a fast one.
    let second = {
        let (client, done_tx) = (Arc::clone(&client), done_tx.clone());
        std::thread::spawn(move || {
            let r = client.call::<_, u32>("Work", &2);
            done_tx.send("slow-2").unwrap();
            r
        })
    };
    started_rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(client.call::<_, u32>("Fast", &5).unwrap(), 6);
    assert!(
        done_rx.try_recv().is_err(),
        "the fast call returned while the slow one is still running"
    );
    release_tx.send(()).unwrap();
    assert_eq!(second.join().unwrap().unwrap(), 2);
    assert_eq!(client.in_flight(), 0);
}
