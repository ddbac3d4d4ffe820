//! The cluster client and its strategies (原理 › 负载均衡, 集群策略), on a
//! `MemoryRegistry` and real servers on 127.0.0.1.
//!
//! Every wait is bounded (`PATIENCE`); no test asserts how fast anything
//! is, only that nothing is lost, nothing runs twice that must not, and no
//! call outlives its deadline by more than a generous margin.

use minirpc::balance::RoundRobin;
use minirpc::cluster::{ClusterClient, Strategy};
use minirpc::discovery::{Health, HealthConfig, Instance, MemoryRegistry, Registry};
use minirpc::{RpcError, Server, ServerHandle, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any wait may take: only a hang gets near it.
const PATIENCE: Duration = Duration::from_secs(10);
const TTL: Duration = Duration::from_secs(30);
const SERVICE: &str = "Echo";

/// A provider named `name` in `group`: `Who` answers its name, `Echo`
/// answers its argument, and `setup` may add more.
fn provider(
    registry: &MemoryRegistry,
    group: &str,
    name: &str,
    setup: impl FnOnce(&mut Server),
) -> ServerHandle {
    let mut server = Server::new();
    let who = name.to_owned();
    server.register("Who", move |(): ()| Ok(who.clone()));
    server.register("Echo", |n: u64| Ok(n));
    setup(&mut server);
    let mut handle = server.serve("127.0.0.1:0").unwrap();
    let instance = Instance::new(SERVICE, handle.local_addr()).group(group);
    handle.publish(registry, &instance, TTL).unwrap();
    handle
}

fn plain(registry: &MemoryRegistry, group: &str, name: &str) -> ServerHandle {
    provider(registry, group, name, |_| {})
}

fn cluster(registry: &Arc<MemoryRegistry>, group: &str, strategy: Strategy) -> ClusterClient {
    let r: Arc<dyn Registry> = Arc::clone(registry) as Arc<dyn Registry>;
    ClusterClient::builder(r, SERVICE, group, "1.0.0")
        .balancer(Box::new(RoundRobin::new()))
        .strategy(strategy)
        .call_timeout(PATIENCE)
        .connect()
        .unwrap()
}

/// Wait (bounded) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < until, "not within {PATIENCE:?}: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A handler that counts its runs and answers `Unavailable`: a call that
/// ran and then failed, the case a retry must not repeat unless idempotent.
fn counting_refusal(runs: &Arc<AtomicUsize>) -> impl FnOnce(&mut Server) {
    let runs = Arc::clone(runs);
    move |s: &mut Server| {
        s.register("Charge", move |(): ()| -> Result<(), RpcError> {
            runs.fetch_add(1, Ordering::SeqCst);
            Err(RpcError::unavailable("ran, then failed"))
        });
    }
}

/// A handler that blocks until the gate opens (or PATIENCE passes).
fn gated(gate: &Arc<Mutex<mpsc::Receiver<()>>>, name: &str) -> impl FnOnce(&mut Server) {
    let gate = Arc::clone(gate);
    let name = name.to_owned();
    move |s: &mut Server| {
        s.register("Slow", move |(): ()| {
            let _ = gate.lock().unwrap().recv_timeout(PATIENCE);
            Ok(name.clone())
        });
    }
}

#[test]
fn fail_fast_surfaces_the_first_error_after_one_try() {
    let registry = Arc::new(MemoryRegistry::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let _a = provider(&registry, "default", "a", counting_refusal(&runs));
    let _b = provider(&registry, "default", "b", counting_refusal(&runs));
    let c = cluster(&registry, "default", Strategy::FailFast);
    let err = c.call_idempotent::<_, ()>("Charge", &()).unwrap_err();
    assert_eq!(err.status, Status::Unavailable);
    assert!(err.message.contains("ran, then failed"), "{err}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "fail-fast tries once");
}

#[test]
fn failover_never_retries_a_non_idempotent_call_that_may_have_run() {
    let registry = Arc::new(MemoryRegistry::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let _a = provider(&registry, "default", "a", counting_refusal(&runs));
    let _b = provider(&registry, "default", "b", counting_refusal(&runs));
    let c = cluster(&registry, "default", Strategy::Failover { retries: 2 });
    let err = c.call::<_, ()>("Charge", &()).unwrap_err();
    assert_eq!(err.status, Status::Unavailable);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "a call that may have run is not repeated"
    );
}

#[test]
fn failover_retries_an_idempotent_call_once_on_each_untried_instance() {
    let registry = Arc::new(MemoryRegistry::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let _a = provider(&registry, "default", "a", counting_refusal(&runs));
    let _b = provider(&registry, "default", "b", counting_refusal(&runs));
    let c = cluster(&registry, "default", Strategy::Failover { retries: 5 });
    let err = c.call_idempotent::<_, ()>("Charge", &()).unwrap_err();
    assert_eq!(err.status, Status::Unavailable);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "one try per instance, never the same twice"
    );
}

#[test]
fn a_retry_never_outlives_the_original_deadline() {
    let registry = Arc::new(MemoryRegistry::new());
    let (open, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let refuse = |s: &mut Server| {
        s.register("Slow", |(): ()| -> Result<String, RpcError> {
            Err(RpcError::unavailable("queue full"))
        });
    };
    // Two instances refuse at once (so Failover retries), one holds the
    // call until the gate opens (it does not, here). In whatever order
    // they are tried, the held one is reached with only what is left of
    // the deadline: a retry that got a fresh timeout would take PATIENCE.
    let _a = provider(&registry, "default", "a", refuse);
    let _b = provider(&registry, "default", "b", refuse);
    let _held = provider(&registry, "default", "held", gated(&gate, "held"));
    let c = cluster(&registry, "default", Strategy::Failover { retries: 3 });
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let options = minirpc::cluster::CallOptions {
        timeout: Some(timeout),
        idempotent: true,
        ..Default::default()
    };
    let err = c.call_with::<_, String>("Slow", &(), options).unwrap_err();
    assert_eq!(err.status, Status::DeadlineExceeded, "{err}");
    assert!(
        started.elapsed() < timeout + PATIENCE / 2,
        "the call took {:?}, far past its {timeout:?}",
        started.elapsed()
    );
    drop(open); // release the held handler, so its server stops at once
}

#[test]
fn the_retry_budget_stops_retries_when_the_whole_cluster_fails() {
    let registry = Arc::new(MemoryRegistry::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let _a = provider(&registry, "default", "a", counting_refusal(&runs));
    let _b = provider(&registry, "default", "b", counting_refusal(&runs));
    let c = cluster(&registry, "default", Strategy::Failover { retries: 1 });
    for _ in 0..20 {
        let err = c.call_idempotent::<_, ()>("Charge", &()).unwrap_err();
        assert_eq!(err.status, Status::Unavailable);
    }
    // 20 first tries, and retries only while more than half of the 10
    // tokens are left: 5. Without a budget it would be 40.
    assert_eq!(runs.load(Ordering::SeqCst), 25);
    assert!(c.retry_tokens() <= 5.0);
}

#[test]
fn fixed_always_hits_its_instance() {
    let registry = Arc::new(MemoryRegistry::new());
    let _a = plain(&registry, "default", "a");
    let b = plain(&registry, "default", "b");
    let _c = plain(&registry, "default", "c");
    let client = cluster(&registry, "default", Strategy::Fixed(b.local_addr()));
    for _ in 0..20 {
        assert_eq!(client.call::<_, String>("Who", &()).unwrap(), "b");
    }
}

#[test]
fn forking_returns_a_success_while_another_instance_is_stuck() {
    let registry = Arc::new(MemoryRegistry::new());
    let (open, gate) = mpsc::channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    let _slow = provider(&registry, "default", "slow", gated(&gate, "slow"));
    let _fast = provider(&registry, "default", "fast", |s| {
        s.register("Slow", |(): ()| Ok("fast".to_owned()));
    });
    let c = cluster(&registry, "default", Strategy::Forking { n: 2 });
    for _ in 0..3 {
        assert_eq!(c.call::<_, String>("Slow", &()).unwrap(), "fast");
    }
    drop(open); // release the stuck handlers
}

#[test]
fn forking_cancels_the_losing_calls_on_their_servers() {
    // The slow instance's handler runs until its call is cancelled
    // (bounded). Once the fast answer wins, the dropped loser's cancel frame
    // must reach the slow server long before the call's own 10 s deadline:
    // it then drops the call unrun, or stops the running handler and sends
    // no answer. Either way the server counts it as cancelled.
    let registry = Arc::new(MemoryRegistry::new());
    let slow = provider(&registry, "default", "slow", |s| {
        s.register_with_context("Race", |ctx: &minirpc::CallContext, (): ()| {
            let until = Instant::now() + PATIENCE;
            while !ctx.is_cancelled() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok("slow".to_owned())
        });
    });
    let _fast = provider(&registry, "default", "fast", |s| {
        s.register("Race", |(): ()| Ok("fast".to_owned()));
    });
    let c = cluster(&registry, "default", Strategy::Forking { n: 2 });
    let started = Instant::now();
    assert_eq!(c.call::<_, String>("Race", &()).unwrap(), "fast");
    eventually("the slow server hears that its call lost", || {
        slow.stats().cancelled == 1
    });
    assert!(
        started.elapsed() < PATIENCE,
        "only the call's own deadline stopped the loser"
    );
}

#[test]
fn broadcast_reaches_every_instance_and_names_the_one_that_failed() {
    let registry = Arc::new(MemoryRegistry::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let ok = |runs: &Arc<AtomicUsize>| {
        let runs = Arc::clone(runs);
        move |s: &mut Server| {
            s.register("Invalidate", move |(): ()| {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
    };
    let _a = provider(&registry, "default", "a", ok(&runs));
    let _b = provider(&registry, "default", "b", ok(&runs));
    let c = cluster(&registry, "default", Strategy::Broadcast);
    c.call::<_, ()>("Invalidate", &()).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "every instance ran it");

    let bad = provider(&registry, "default", "bad", |s| {
        s.register("Invalidate", |(): ()| -> Result<(), RpcError> {
            Err(RpcError::internal("cache is on fire"))
        });
    });
    let bad_addr: SocketAddr = bad.local_addr();
    eventually("the client hears of the third instance", || {
        c.health().len() == 3
    });
    let err = c.call::<_, ()>("Invalidate", &()).unwrap_err();
    assert_eq!(err.status, Status::Internal);
    assert!(err.message.contains(&bad_addr.to_string()), "{err}");
    assert_eq!(runs.load(Ordering::SeqCst), 4, "the others still ran it");
}

#[test]
fn no_call_crosses_groups() {
    let registry = Arc::new(MemoryRegistry::new());
    let _stable = plain(&registry, "stable", "stable");
    let _canary = plain(&registry, "canary", "canary");
    let c = cluster(&registry, "stable", Strategy::Failover { retries: 2 });
    for _ in 0..20 {
        assert_eq!(
            c.call_idempotent::<_, String>("Who", &()).unwrap(),
            "stable"
        );
    }
    let none = cluster(&registry, "gray", Strategy::FailFast);
    let err = none.call::<_, String>("Who", &()).unwrap_err();
    assert_eq!(err.status, Status::Unavailable);
    assert!(err.message.contains("Echo/gray/1.0.0"), "{err}");
}

#[test]
fn failover_loses_no_idempotent_call_when_a_provider_shuts_down() {
    let registry = Arc::new(MemoryRegistry::new());
    let a = plain(&registry, "default", "a");
    let _b = plain(&registry, "default", "b");
    let _c = plain(&registry, "default", "c");
    let client = cluster(&registry, "default", Strategy::Failover { retries: 2 });
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..4u64)
            .map(|t| {
                let (client, done) = (&client, &done);
                s.spawn(move || {
                    for i in 0..300u64 {
                        let n = t * 1000 + i;
                        let got: u64 = client
                            .call_idempotent("Echo", &n)
                            .unwrap_or_else(|e| panic!("call {n} was lost: {e}"));
                        assert_eq!(got, n);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        eventually("some calls are done", || done.load(Ordering::SeqCst) >= 200);
        a.shutdown();
        for c in callers {
            c.join().unwrap();
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 1200);
}

#[test]
fn the_cluster_client_follows_a_provider_joining_and_leaving_while_callers_run() {
    let registry = Arc::new(MemoryRegistry::new());
    let a = plain(&registry, "default", "a");
    let client = cluster(&registry, "default", Strategy::Failover { retries: 2 });
    let stop = AtomicBool::new(false);
    let seen: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let errors = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let until = Instant::now() + PATIENCE * 2;
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    match client.call_idempotent::<_, String>("Who", &()) {
                        Ok(who) => seen.lock().unwrap().push(who),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        eventually("a answers", || {
            seen.lock().unwrap().contains(&"a".to_owned())
        });
        let b = plain(&registry, "default", "b");
        eventually("b joins and answers", || {
            seen.lock().unwrap().contains(&"b".to_owned())
        });
        a.shutdown();
        eventually("a's client is closed", || {
            client.open_clients() == vec![b.local_addr()]
        });
        seen.lock().unwrap().clear();
        eventually("only b answers", || seen.lock().unwrap().len() >= 20);
        stop.store(true, Ordering::SeqCst);
        assert!(seen.lock().unwrap().iter().all(|w| w == "b"));
    });
    assert_eq!(errors.load(Ordering::SeqCst), 0, "no caller saw an error");
}

#[test]
fn calls_stop_going_to_an_instance_once_its_failures_make_it_suspect() {
    let registry = Arc::new(MemoryRegistry::new());
    let sick = provider(&registry, "default", "sick", |s| {
        s.register("Get", |(): ()| -> Result<String, RpcError> {
            Err(RpcError::unavailable("sick"))
        });
    });
    let _well = provider(&registry, "default", "well", |s| {
        s.register("Get", |(): ()| Ok("well".to_owned()));
    });
    let r: Arc<dyn Registry> = Arc::clone(&registry) as Arc<dyn Registry>;
    let config = HealthConfig {
        // No probe within the test, so no recovery muddles the count.
        probe_backoff: PATIENCE * 10,
        probe_backoff_max: PATIENCE * 10,
        ..HealthConfig::default()
    };
    let failures_to_suspect = config.failures_to_suspect as usize;
    let c = ClusterClient::builder(r, SERVICE, "default", "1.0.0")
        .balancer(Box::new(RoundRobin::new()))
        .health(config)
        .connect()
        .unwrap();
    let errors = (0..30)
        .filter(|_| c.call::<_, String>("Get", &()).is_err())
        .count();
    assert_eq!(
        errors, failures_to_suspect,
        "then only the healthy one is used"
    );
    let sick_health = c
        .health()
        .into_iter()
        .find(|(a, _)| *a == sick.local_addr());
    assert_eq!(sick_health, Some((sick.local_addr(), Health::Suspect)));
}

#[test]
fn a_oneway_call_reaches_one_instance() {
    let registry = Arc::new(MemoryRegistry::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let counting = |runs: &Arc<AtomicUsize>| {
        let runs = Arc::clone(runs);
        move |s: &mut Server| {
            s.register("Log", move |_line: String| {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
    };
    let _a = provider(&registry, "default", "a", counting(&runs));
    let _b = provider(&registry, "default", "b", counting(&runs));
    let c = cluster(&registry, "default", Strategy::Failover { retries: 2 });
    c.call_oneway("Log", "hello").unwrap();
    eventually("the handler ran", || runs.load(Ordering::SeqCst) == 1);
}

#[test]
fn a_future_call_answers_from_the_instance_it_names() {
    let registry = Arc::new(MemoryRegistry::new());
    let a = plain(&registry, "default", "a");
    let b = plain(&registry, "default", "b");
    let c = cluster(&registry, "default", Strategy::FailFast);
    let futures: Vec<_> = (0..4)
        .map(|_| c.call_async::<_, String>("Who", &(), None, None))
        .collect();
    for f in futures {
        let addr = f.addr().expect("sent");
        let who = f.wait().unwrap();
        let expected = if addr == a.local_addr() { "a" } else { "b" };
        assert!(addr == a.local_addr() || addr == b.local_addr());
        assert_eq!(who, expected);
    }
    let none = cluster(&registry, "gray", Strategy::FailFast);
    let err = none.call_async::<_, String>("Who", &(), None, None).wait();
    assert_eq!(err.unwrap_err().status, Status::Unavailable);
}

#[test]
fn a_callback_call_runs_its_callback_once_with_the_answer() {
    let registry = Arc::new(MemoryRegistry::new());
    let _a = plain(&registry, "default", "a");
    let c = cluster(&registry, "default", Strategy::FailFast);
    let (tx, rx) = mpsc::channel();
    c.call_with_callback("Echo", &7u64, move |r: Result<u64, RpcError>| {
        let _ = tx.send(r);
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap().unwrap(), 7);
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err(), "once");

    let none = cluster(&registry, "gray", Strategy::FailFast);
    let err = none
        .call_with_callback("Echo", &7u64, |_: Result<u64, RpcError>| {
            panic!("not sent, so never run")
        })
        .unwrap_err();
    assert_eq!(err.status, Status::Unavailable);
}

#[test]
fn a_suspect_instance_that_answers_its_probe_gets_calls_again() {
    let registry = Arc::new(MemoryRegistry::new());
    let failures_left = Arc::new(AtomicUsize::new(3));
    let left = Arc::clone(&failures_left);
    let flaky = provider(&registry, "default", "flaky", move |s| {
        s.register("Get", move |(): ()| {
            if left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                Err(RpcError::unavailable("hiccup"))
            } else {
                Ok("flaky".to_owned())
            }
        });
    });
    let r: Arc<dyn Registry> = Arc::clone(&registry) as Arc<dyn Registry>;
    let config = HealthConfig {
        probe_backoff: Duration::from_millis(10),
        ..HealthConfig::default()
    };
    let c = ClusterClient::builder(r, SERVICE, "default", "1.0.0")
        .health(config)
        .connect()
        .unwrap();
    for _ in 0..3 {
        assert!(c.call::<_, String>("Get", &()).is_err());
    }
    let addr = flaky.local_addr();
    // Alone and suspect, it is still used (better than nothing), but the
    // watcher's probe is what makes it healthy again.
    eventually("the probe makes it healthy", || {
        c.health() == vec![(addr, Health::Healthy)]
    });
    assert_eq!(c.call::<_, String>("Get", &()).unwrap(), "flaky");
}

#[test]
fn a_keyed_call_goes_to_the_same_instance_every_time_under_consistent_hashing() {
    let registry = Arc::new(MemoryRegistry::new());
    let _a = plain(&registry, "default", "a");
    let _b = plain(&registry, "default", "b");
    let _c = plain(&registry, "default", "c");
    let r: Arc<dyn Registry> = Arc::clone(&registry) as Arc<dyn Registry>;
    let c = ClusterClient::builder(r, SERVICE, "default", "1.0.0")
        .balancer(Box::new(minirpc::balance::ConsistentHash::new()))
        .connect()
        .unwrap();
    for user in ["alice", "bob", "carol"] {
        let first: String = c.call_keyed(user.as_bytes(), "Who", &()).unwrap();
        for _ in 0..10 {
            let again: String = c.call_keyed(user.as_bytes(), "Who", &()).unwrap();
            assert_eq!(again, first, "{user} moved");
        }
    }
}
