//! `EtcdRegistry` against a real etcd: each test starts its own private
//! etcd on loopback (see `tests/common/etcd.rs`), so tests never share
//! state, and a test can kill and restart its etcd.
//!
//! The behaviours are the `Registry` trait's (register, lookup, drop
//! removes at once, TTL expiry, subscribe sees the list then each change,
//! group and version isolation, registration again after expiry), then
//! the faults: etcd killed and restarted under a subscription, etcd
//! unreachable, a gateway that answers garbage, a stored value that is not
//! an instance. A provider that "dies" or is "paused" is one whose
//! connection to etcd goes into a black hole (a `FaultProxy`), which is
//! exactly what etcd sees of either: renewals stop arriving.
//!
//! Every wait is bounded by a multiple of the lease TTL plus slack, so a
//! slow machine makes a test slower, never wrong.

mod common;

use common::etcd::Etcd;
use common::fault::{Fault, FaultProxy};
use minirpc::discovery::{EtcdRegistry, EtcdSettings, Instance, Registry, Snapshot, Subscription};
use minirpc::http::base64;
use minirpc::Status;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The lease TTL of test providers: etcd's minimum.
const TTL: Duration = Duration::from_secs(2);

/// The longest a change may take to reach a subscriber in these tests: a
/// TTL to expire, plus generous slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(2 + 8);

/// Settings that retry quickly, so the fault tests recover fast.
fn quick() -> EtcdSettings {
    EtcdSettings {
        request_timeout: Duration::from_secs(2),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..EtcdSettings::default()
    }
}

fn registry(url: &str) -> EtcdRegistry {
    EtcdRegistry::connect_with(url, quick()).unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

fn arith(port: u16) -> Instance {
    Instance::new("Arith", ([127, 0, 0, 1], port).into())
}

fn ports(instances: &[Instance]) -> Vec<u16> {
    instances.iter().map(|i| i.addr.port()).collect()
}

/// The next snapshot, or fail saying what was awaited.
fn next(sub: &Subscription, what: &str) -> Snapshot {
    sub.next_timeout(BOUND)
        .unwrap_or_else(|| panic!("no snapshot within {BOUND:?} while waiting for {what}"))
}

/// Take snapshots until one satisfies `done`, checking `each` on every one
/// (including the last); fail if none does within `BOUND`.
fn until(
    sub: &Subscription,
    what: &str,
    each: impl Fn(&Snapshot),
    done: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    let start = Instant::now();
    while let Some(s) = sub.next_timeout(BOUND.saturating_sub(start.elapsed())) {
        each(&s);
        if done(&s) {
            return s;
        }
    }
    panic!("no snapshot with {what} within {BOUND:?}");
}

#[test]
fn register_lookup_and_deregister() {
    let Some(etcd) = Etcd::start("register_lookup_and_deregister") else {
        return;
    };
    let reg = registry(&etcd.url());
    assert_eq!(
        reg.server_version(),
        "3.4.23",
        "the version these tests were written against"
    );
    assert_eq!(reg.lookup("Arith", "default", "1.0.0").unwrap(), vec![]);
    let a = arith(7002).meta("zone", "a").weight(5);
    let b = arith(7001);
    let ra = reg.register(&a, TTL).unwrap();
    let rb = reg.register(&b, TTL).unwrap();
    // Sorted by address, every field as registered.
    assert_eq!(
        reg.lookup("Arith", "default", "1.0.0").unwrap(),
        vec![b.clone(), a.clone()]
    );
    ra.deregister().unwrap();
    assert_eq!(reg.lookup("Arith", "default", "1.0.0").unwrap(), vec![b]);
    drop(rb); // dropping deregisters too, at once
    assert_eq!(reg.lookup("Arith", "default", "*").unwrap(), vec![]);
}

#[test]
fn subscribe_sees_the_initial_list_then_each_change_in_order() {
    let Some(etcd) = Etcd::start("subscribe_sees_the_initial_list_then_each_change_in_order")
    else {
        return;
    };
    let reg = registry(&etcd.url());
    let r1 = reg.register(&arith(7001), TTL).unwrap();
    let sub = reg.subscribe("Arith", "default", "1.0.0").unwrap();
    let first = next(&sub, "the initial list");
    assert_eq!((ports(&first.instances), first.stale), (vec![7001], false));
    let r2 = reg.register(&arith(7002), TTL).unwrap();
    assert_eq!(ports(&next(&sub, "7002 added").instances), vec![7001, 7002]);
    drop(r1);
    assert_eq!(ports(&next(&sub, "7001 removed").instances), vec![7002]);
    drop(r2);
    let last = next(&sub, "7002 removed");
    assert_eq!((last.instances, last.stale), (vec![], false));
}

#[test]
fn groups_and_versions_are_isolated() {
    let Some(etcd) = Etcd::start("groups_and_versions_are_isolated") else {
        return;
    };
    let reg = registry(&etcd.url());
    let _s1 = reg
        .register(&arith(7001).group("stable").version("1.0.0"), TTL)
        .unwrap();
    let _c1 = reg
        .register(&arith(7002).group("canary").version("1.0.0"), TTL)
        .unwrap();
    let _c2 = reg
        .register(&arith(7003).group("canary").version("2.0.0"), TTL)
        .unwrap();
    // A service whose name starts like ours is not ours.
    let _other = reg.register(
        &Instance::new("Arithmetic", ([127, 0, 0, 1], 7009).into()).group("stable"),
        TTL,
    );
    assert_eq!(
        ports(&reg.lookup("Arith", "stable", "1.0.0").unwrap()),
        vec![7001]
    );
    assert_eq!(
        ports(&reg.lookup("Arith", "stable", "*").unwrap()),
        vec![7001]
    );
    assert_eq!(
        ports(&reg.lookup("Arith", "canary", "2.0.0").unwrap()),
        vec![7003]
    );
    assert_eq!(
        ports(&reg.lookup("Arith", "canary", "*").unwrap()),
        vec![7002, 7003]
    );
    assert_eq!(reg.lookup("Arith", "canary", "3.0.0").unwrap(), vec![]);

    let stable = reg.subscribe("Arith", "stable", "*").unwrap();
    assert_eq!(
        ports(&next(&stable, "the stable list").instances),
        vec![7001]
    );
    let _c3 = reg
        .register(&arith(7004).group("canary").version("2.0.0"), TTL)
        .unwrap();
    let _s2 = reg
        .register(&arith(7005).group("stable").version("2.0.0"), TTL)
        .unwrap();
    let s = until(
        &stable,
        "both stable instances",
        |s| {
            assert!(
                s.instances.iter().all(|i| i.group == "stable"),
                "canary leaked: {s:?}"
            )
        },
        |s| s.instances.len() == 2,
    );
    assert_eq!(ports(&s.instances), vec![7001, 7005]);
}

#[test]
fn a_provider_that_dies_without_deregistering_disappears_after_its_ttl() {
    let Some(etcd) =
        Etcd::start("a_provider_that_dies_without_deregistering_disappears_after_its_ttl")
    else {
        return;
    };
    // The provider reaches etcd through a proxy; the consumer directly.
    let proxy = FaultProxy::start(etcd.addr());
    let provider = registry(&format!("http://{}", proxy.addr()));
    let consumer = registry(&etcd.url());
    let registration = provider.register(&arith(7001), TTL).unwrap();
    let sub = consumer.subscribe("Arith", "default", "*").unwrap();
    assert_eq!(ports(&next(&sub, "the provider").instances), vec![7001]);
    // The provider "dies": not one more renewal reaches etcd.
    proxy.set_both(Fault::Blackhole);
    let died = Instant::now();
    let gone = next(&sub, "the lease to expire");
    assert_eq!((gone.instances, gone.stale), (vec![], false));
    // It was the lease that ran out: the last renewal came at most a
    // renewal period (TTL/3) before the black hole, and renewed a full TTL.
    assert!(
        died.elapsed() >= TTL * 2 / 3 - Duration::from_millis(100),
        "{:?}",
        died.elapsed()
    );
    drop(registration); // its revoke goes into the black hole, and gives up
}

#[test]
fn a_lease_that_expired_while_the_provider_was_paused_is_registered_again() {
    let Some(etcd) =
        Etcd::start("a_lease_that_expired_while_the_provider_was_paused_is_registered_again")
    else {
        return;
    };
    let proxy = FaultProxy::start(etcd.addr());
    let provider = registry(&format!("http://{}", proxy.addr()));
    let consumer = registry(&etcd.url());
    let me = arith(7001).meta("zone", "a");
    let _registration = provider.register(&me, TTL).unwrap();
    let sub = consumer.subscribe("Arith", "default", "1.0.0").unwrap();
    assert_eq!(next(&sub, "the provider").instances, vec![me.clone()]);
    proxy.set_both(Fault::Blackhole); // paused: etcd hears nothing
    assert_eq!(next(&sub, "the lease to expire").instances, vec![]);
    proxy.set_both(Fault::Pass); // awake: the next keepalive finds no TTL
    let back = next(&sub, "the provider to register again");
    assert_eq!((back.instances, back.stale), (vec![me.clone()], false));
    assert_eq!(
        consumer.lookup("Arith", "default", "1.0.0").unwrap(),
        vec![me]
    );
}

#[test]
fn killing_etcd_keeps_the_last_list_marked_stale_and_a_restart_catches_up() {
    let Some(mut etcd) =
        Etcd::start("killing_etcd_keeps_the_last_list_marked_stale_and_a_restart_catches_up")
    else {
        return;
    };
    let reg = registry(&etcd.url());
    let sub = reg.subscribe("Arith", "default", "*").unwrap();
    assert_eq!(next(&sub, "the empty list").instances, vec![]);
    // A TTL that outlives the outage (etcd renews every lease on restart).
    let _a = reg.register(&arith(7001), Duration::from_secs(30)).unwrap();
    // Seen through the watch, so the watch is up when etcd dies.
    assert_eq!(ports(&next(&sub, "the list").instances), vec![7001]);

    etcd.kill();
    let stale = next(&sub, "a stale snapshot after etcd died");
    assert!(stale.stale, "{stale:?}");
    assert_eq!(
        ports(&stale.instances),
        vec![7001],
        "the last list, not an empty one"
    );
    assert!(
        reg.lookup("Arith", "default", "*").is_err(),
        "a lookup says etcd is down"
    );

    etcd.restart();
    let _b = reg.register(&arith(7002), Duration::from_secs(30)).unwrap();
    let fresh = until(
        &sub,
        "a fresh list with the instance registered after the restart",
        |s| assert!(ports(&s.instances).contains(&7001), "lost the list: {s:?}"),
        |s| !s.stale && ports(&s.instances) == [7001, 7002],
    );
    assert!(!fresh.stale);
}

#[test]
fn an_instance_value_that_is_not_json_is_skipped() {
    let Some(etcd) = Etcd::start("an_instance_value_that_is_not_json_is_skipped") else {
        return;
    };
    let reg = registry(&etcd.url());
    let put_raw = |port: u16, value: &[u8]| {
        let key = reg.key_of(&arith(port));
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}",
            base64::encode(key.as_bytes()),
            base64::encode(value)
        );
        let r = etcd.http().post_json("/v3/kv/put", &body).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    };
    put_raw(7009, b"not json{");
    let _good = reg.register(&arith(7001), TTL).unwrap();
    assert_eq!(
        ports(&reg.lookup("Arith", "default", "1.0.0").unwrap()),
        vec![7001]
    );
    let sub = reg.subscribe("Arith", "default", "1.0.0").unwrap();
    assert_eq!(ports(&next(&sub, "the list").instances), vec![7001]);
    // Bad values arriving through the watch are skipped too, and the watch
    // goes on to deliver the next good change.
    put_raw(7008, b"\xff\xfe");
    put_raw(7007, b"{\"service\":\"Arith\"}");
    let _also = reg.register(&arith(7002), TTL).unwrap();
    let s = until(
        &sub,
        "the second good instance",
        |_| {},
        |s| s.instances.len() == 2,
    );
    assert_eq!((ports(&s.instances), s.stale), (vec![7001, 7002], false));
}

#[test]
fn an_idle_watch_is_renewed_without_sending_the_same_list_again() {
    let Some(etcd) = Etcd::start("an_idle_watch_is_renewed_without_sending_the_same_list_again")
    else {
        return;
    };
    // A watch silent for 200 ms is replaced (list, then watch again).
    let settings = EtcdSettings {
        watch_idle: Duration::from_millis(200),
        ..quick()
    };
    let reg = EtcdRegistry::connect_with(&etcd.url(), settings).unwrap();
    let sub = reg.subscribe("Arith", "default", "*").unwrap();
    assert_eq!(next(&sub, "the empty list").instances, vec![]);
    // Several idle renewals pass; each re-list finds the same list, which
    // the consumer already has, so it is not sent again.
    assert_eq!(sub.next_timeout(Duration::from_secs(1)), None);
    let _r = reg.register(&arith(7001), TTL).unwrap();
    let s = next(&sub, "a change after the renewals");
    assert_eq!((ports(&s.instances), s.stale), (vec![7001], false));
}

#[test]
fn dropping_a_subscription_stops_its_watcher_promptly() {
    let Some(etcd) = Etcd::start("dropping_a_subscription_stops_its_watcher_promptly") else {
        return;
    };
    let reg = registry(&etcd.url());
    let sub = reg.subscribe("Arith", "default", "*").unwrap();
    next(&sub, "the list");
    let t = Instant::now();
    drop(sub); // closes the watch connection under the blocked read, joins
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
}

// ---- without etcd -----------------------------------------------------------

#[test]
fn etcd_unreachable_at_connect_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let e = EtcdRegistry::connect(&url).unwrap_err();
    assert_eq!(e.status, Status::Unavailable, "{e}");
    assert!(
        e.message.contains(&format!("cannot use etcd at {url}")),
        "{e}"
    );
    assert!(
        e.message.contains("check that etcd"),
        "says what to check: {e}"
    );
    let e = EtcdRegistry::connect("https://127.0.0.1:2379").unwrap_err();
    assert!(e.message.contains("no TLS"), "{e}");
}

/// A fake gateway on loopback: answers the `n`th connection with
/// `replies[n]` (after reading its request), then closes it.
fn fake_gateway(replies: Vec<Vec<u8>>) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        for reply in replies {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // The head, then the JSON body (small: one read is enough here).
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(&reply);
        }
    });
    (url, t)
}

/// A well-formed `200 OK` carrying `body`.
fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn a_malformed_or_truncated_gateway_reply_is_a_clear_error() {
    for (reply, status, why) in [
        (
            &b"SSH-2.0-OpenSSH_9.2\r\n"[..],
            Status::Internal,
            "malformed status line",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"header\":",
            Status::Unavailable,
            "closed with",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Status::Internal,
            "not etcd's",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
            Status::Internal,
            "not etcd's",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\n",
            Status::ResourceExhausted,
            "281474976710655 bytes",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: aaaa",
            Status::Unavailable,
            "middle of the header line",
        ),
    ] {
        let (url, server) = fake_gateway(vec![reply.to_vec()]);
        let e = EtcdRegistry::connect(&url).unwrap_err();
        assert_eq!(e.status, status, "{e}");
        assert!(e.message.contains(why) && e.message.contains(&url), "{e}");
        server.join().unwrap();
    }
}

#[test]
fn a_partial_or_empty_list_is_an_error_not_an_empty_list() {
    let (url, server) = fake_gateway(vec![
        ok(r#"{"header":{"revision":"1"},"version":"3.4.23"}"#),
        // count says 2, one kv came: a partial answer.
        ok(r#"{"header":{"revision":"5"},"kvs":[{"key":"L2E=","value":"e30="}],"count":"2"}"#),
        // No header at all: not an answer from etcd.
        ok("{}"),
    ]);
    let reg = EtcdRegistry::connect(&url).unwrap();
    let e = reg.lookup("Arith", "default", "*").unwrap_err();
    assert!(e.message.contains("count 2 but 1 kvs"), "{e}");
    let e = reg
        .subscribe("Arith", "default", "*")
        .err()
        .expect("no subscription on an empty answer");
    assert!(e.message.contains("no header.revision"), "{e}");
    server.join().unwrap();
}

#[test]
fn etcd_registry_passes_the_same_conformance_suite_as_memory_registry() {
    // The one suite every Registry must pass (minirpc::testkit), here in
    // real time against a real etcd: TTLs of 2 s, waits bounded.
    let Some(etcd) = Etcd::start("conformance") else {
        return;
    };
    let url = etcd.url();
    minirpc::testkit::check_registry(
        || Box::new(registry(&url)) as Box<dyn minirpc::discovery::Registry>,
        minirpc::testkit::Time::Real { ttl: TTL },
    );
}
