//! The health state machine (健康检查), one arrow at a time.
//!
//! Every transition of `HealthState::step` is walked here on a manual
//! clock: the table of every (state, event) pair, then each path a
//! consumer relies on — N failed calls in a row make an instance suspect,
//! missed heartbeats make it dead, a probe on a doubling backoff brings it
//! back, a probe that never answers counts as failed, and a deregistered
//! instance is dead at once and never probed. Then `HealthTracker`, which
//! applies the machine to a subscription's instances. Time only moves when
//! a test advances the clock; nothing sleeps.

use minirpc::discovery::{
    Event, Health, HealthConfig, HealthState, HealthTracker, Instance, Snapshot,
};
use minirpc::time::{Clock, ManualClock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use Event::*;
use Health::*;

const SECOND: Duration = Duration::from_secs(1);

fn config() -> HealthConfig {
    HealthConfig::default()
}

/// Apply `events` in order, all at `now`.
fn after(state: &HealthState, events: &[Event], now: Instant) -> HealthState {
    events
        .iter()
        .fold(state.clone(), |s, e| s.step(*e, now, &config()))
}

/// A state in each `Health`: `Probing` made at `t0 + 1 s` (when the first
/// probe fell due), the others at `t0`.
fn one_of_each(t0: Instant) -> [(Health, HealthState); 4] {
    let healthy = HealthState::new(t0);
    let suspect = after(&healthy, &[HeartbeatMissed], t0);
    let probing = suspect.step(Tick, t0 + SECOND, &config());
    let dead = after(&healthy, &[HeartbeatMissed; 3], t0);
    [
        (Healthy, healthy),
        (Suspect, suspect),
        (Probing, probing),
        (Dead, dead),
    ]
}

#[test]
fn every_state_and_event_has_the_documented_next_state() {
    // The table in docs/07-discovery.md, row by row. Each event is applied
    // once, at a moment when no probe is due and none has timed out.
    let events = [
        CallSucceeded,
        CallFailed,
        HeartbeatMissed,
        HeartbeatAnswered,
        ProbeSucceeded,
        ProbeFailed,
        Deregistered,
        Tick,
    ];
    let table: [(Health, [Health; 8]); 4] = [
        (
            Healthy,
            [
                Healthy, Healthy, Suspect, Healthy, Healthy, Healthy, Dead, Healthy,
            ],
        ),
        (
            Suspect,
            [
                Suspect, Suspect, Suspect, Suspect, Suspect, Suspect, Dead, Suspect,
            ],
        ),
        (
            Probing,
            [
                Probing, Probing, Probing, Probing, Healthy, Suspect, Dead, Probing,
            ],
        ),
        (Dead, [Dead, Dead, Dead, Dead, Dead, Dead, Dead, Dead]),
    ];
    let t0 = ManualClock::new().now();
    for ((from, state), (row_from, row)) in one_of_each(t0).iter().zip(&table) {
        assert_eq!(from, row_from);
        assert_eq!(state.health, *from, "setting up {from}");
        // Probing began at t0 + 1 s, the others at t0: step each at its
        // own start, when nothing is due yet.
        let now = if *from == Probing { t0 + SECOND } else { t0 };
        for (event, want) in events.iter().zip(row) {
            let got = state.step(*event, now, &config()).health;
            assert_eq!(got, *want, "{from} + {event:?} should be {want}, was {got}");
        }
    }
}

#[test]
fn the_probe_backoff_doubles_up_to_its_cap() {
    let c = config();
    let secs: Vec<u64> = (0..7).map(|k| c.backoff(k).as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(c.backoff(u32::MAX), SECOND * 30);
}

#[test]
fn nonsense_thresholds_are_read_as_the_nearest_sensible_ones() {
    // Dead before suspect, or suspect after zero failures, cannot be meant:
    // read as "dead at the suspect threshold" and "suspect at one failure".
    let t0 = ManualClock::new().now();
    let odd = HealthConfig {
        failures_to_suspect: 0,
        misses_to_suspect: 3,
        misses_to_dead: 1,
        ..config()
    };
    let healthy = HealthState::new(t0);
    assert_eq!(healthy.step(CallFailed, t0, &odd).health, Suspect);
    let two = [HeartbeatMissed; 2]
        .iter()
        .fold(healthy.clone(), |s, e| s.step(*e, t0, &odd));
    assert_eq!(two.health, Healthy);
    assert_eq!(two.step(HeartbeatMissed, t0, &odd).health, Dead);
}

#[test]
fn n_failed_calls_in_a_row_make_an_instance_suspect() {
    let t0 = ManualClock::new().now();
    let s = after(&HealthState::new(t0), &[CallFailed, CallFailed], t0);
    assert_eq!(s.health, Healthy, "two of three");
    // A success in between starts the count again: "in a row".
    let s = after(&s, &[CallSucceeded, CallFailed, CallFailed], t0);
    assert_eq!((s.health, s.failures), (Healthy, 2));
    let s = s.step(CallFailed, t0, &config());
    assert_eq!(s.health, Suspect);
    assert_eq!(
        s.probe_at,
        Some(t0 + SECOND),
        "first probe after the backoff"
    );
}

#[test]
fn the_failure_threshold_is_configurable() {
    let t0 = ManualClock::new().now();
    let strict = HealthConfig {
        failures_to_suspect: 1,
        ..config()
    };
    let s = HealthState::new(t0).step(CallFailed, t0, &strict);
    assert_eq!(s.health, Suspect);
}

#[test]
fn a_missed_heartbeat_makes_an_instance_suspect_and_more_make_it_dead() {
    let t0 = ManualClock::new().now();
    let s = after(&HealthState::new(t0), &[HeartbeatMissed], t0);
    assert_eq!(s.health, Suspect);
    let s = after(&s, &[HeartbeatMissed], t0 + SECOND / 2);
    assert_eq!(s.health, Suspect);
    let t = t0 + SECOND * 3 / 4;
    let s = s.step(HeartbeatMissed, t, &config());
    assert_eq!((s.health, s.since), (Dead, t));
    assert_eq!(
        s.probe_at,
        Some(t0 + SECOND),
        "the probe schedule carries on"
    );
}

#[test]
fn an_answered_heartbeat_clears_the_misses_but_only_a_probe_restores() {
    let t0 = ManualClock::new().now();
    let s = after(
        &HealthState::new(t0),
        &[HeartbeatMissed, HeartbeatAnswered],
        t0,
    );
    assert_eq!((s.health, s.misses), (Suspect, 0));
    // So two more misses are not yet three.
    let s = after(&s, &[HeartbeatMissed, HeartbeatMissed], t0);
    assert_eq!(s.health, Suspect);
    // Nor does a late call result or an unasked probe answer bring it back.
    let s = after(&s, &[CallSucceeded, ProbeSucceeded], t0);
    assert_eq!(s.health, Suspect);
}

#[test]
fn a_suspect_instance_is_probed_after_the_backoff_and_an_answer_makes_it_healthy() {
    let t0 = ManualClock::new().now();
    let s = after(&HealthState::new(t0), &[CallFailed; 3], t0);
    let s = s.step(Tick, t0 + SECOND - Duration::from_millis(1), &config());
    assert_eq!(s.health, Suspect, "not due yet");
    let s = s.step(Tick, t0 + SECOND, &config());
    assert_eq!(s.health, Probing);
    let s = s.step(ProbeSucceeded, t0 + SECOND, &config());
    assert_eq!(s, HealthState::new(t0 + SECOND), "all counters cleared");
}

#[test]
fn a_failed_probe_sends_it_back_and_the_next_probe_waits_twice_as_long() {
    let t0 = ManualClock::new().now();
    let mut s = after(&HealthState::new(t0), &[CallFailed; 3], t0);
    let mut due = t0 + SECOND;
    let mut health = Vec::new();
    for wait in [2, 4, 8] {
        s = s.step(Tick, due, &config());
        assert_eq!(s.health, Probing);
        s = s.step(ProbeFailed, due, &config());
        health.push(s.health);
        assert_eq!(s.probe_at, Some(due + SECOND * wait), "backoff {wait} s");
        due += SECOND * wait;
    }
    // A failed probe is a missed ping: the third one adds up to dead.
    assert_eq!(health, [Suspect, Suspect, Dead]);
    // A dead instance is still probed, and can come back.
    s = after(&s, &[Tick, ProbeSucceeded], due);
    assert_eq!(s.health, Healthy);
}

#[test]
fn a_probe_that_never_answers_times_out_as_failed() {
    let t0 = ManualClock::new().now();
    let s = after(&HealthState::new(t0), &[HeartbeatMissed], t0);
    let s = s.step(Tick, t0 + SECOND, &config());
    assert_eq!(s.health, Probing);
    let timeout = t0 + SECOND + config().probe_timeout;
    assert_eq!(
        s.step(Tick, timeout - SECOND / 10, &config()).health,
        Probing
    );
    let s = s.step(Tick, timeout, &config());
    assert_eq!((s.health, s.failed_probes), (Suspect, 1));
    // And its answer, arriving after all, changes nothing.
    assert_eq!(s.step(ProbeSucceeded, timeout, &config()).health, Suspect);
}

#[test]
fn a_deregistered_instance_is_dead_at_once_and_never_probed() {
    let t0 = ManualClock::new().now();
    for (from, state) in one_of_each(t0) {
        let s = state.step(Deregistered, t0, &config());
        assert_eq!(s.health, Dead, "from {from}");
        assert!(s.deregistered && s.probe_at.is_none(), "from {from}");
        let later = after(&s, &[Tick, ProbeSucceeded], t0 + SECOND * 3600);
        assert_eq!(later, s, "from {from}: nothing brings it back");
    }
}

// ---- the tracker -----------------------------------------------------------------

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn snapshot(ports: &[u16], stale: bool) -> Snapshot {
    Snapshot {
        instances: ports
            .iter()
            .map(|p| Instance::new("Arith", addr(*p)))
            .collect(),
        stale,
    }
}

fn tracker() -> (Arc<ManualClock>, HealthTracker) {
    let clock = ManualClock::new();
    let t = HealthTracker::new(config(), clock.clone());
    (clock, t)
}

fn healthy_ports(t: &HealthTracker) -> Vec<u16> {
    t.healthy().iter().map(|i| i.addr.port()).collect()
}

#[test]
fn the_tracker_calls_only_healthy_instances_and_says_whom_to_probe() {
    let (clock, t) = tracker();
    t.update(&snapshot(&[3, 1, 2], false));
    assert_eq!(healthy_ports(&t), [1, 2, 3]);
    for _ in 0..3 {
        t.record(addr(2), CallFailed);
    }
    assert_eq!(t.health(addr(2)), Some(Suspect));
    assert_eq!(healthy_ports(&t), [1, 3]);
    assert!(t.due_for_probe().is_empty(), "not before the backoff");
    clock.advance(SECOND);
    assert_eq!(t.due_for_probe(), [addr(2)]);
    assert!(t.due_for_probe().is_empty(), "once: it is probing now");
    assert_eq!(t.record(addr(2), ProbeSucceeded), Some(Healthy));
    assert_eq!(healthy_ports(&t), [1, 2, 3]);
    assert_eq!(t.record(addr(9), CallFailed), None, "unknown address");
}

#[test]
fn the_tracker_times_out_a_probe_whose_answer_never_came() {
    let (clock, t) = tracker();
    t.update(&snapshot(&[1], false));
    t.record(addr(1), HeartbeatMissed);
    clock.advance(SECOND);
    assert_eq!(t.due_for_probe(), [addr(1)]);
    clock.advance(config().probe_timeout);
    assert!(t.due_for_probe().is_empty());
    let s = t.state(addr(1)).unwrap();
    assert_eq!((s.health, s.failed_probes), (Suspect, 1));
}

#[test]
fn an_instance_the_registry_drops_is_dead_at_once_then_forgotten() {
    let (clock, t) = tracker();
    t.update(&snapshot(&[1, 2], false));
    t.update(&snapshot(&[1], false));
    assert_eq!(t.health(addr(2)), Some(Dead));
    clock.advance(SECOND * 3600);
    assert!(
        t.due_for_probe().is_empty(),
        "a deregistered instance is never probed"
    );
    t.update(&snapshot(&[1], false));
    assert_eq!(t.health(addr(2)), None);
}

#[test]
fn an_instance_registered_again_starts_healthy() {
    let (_clock, t) = tracker();
    t.update(&snapshot(&[1], false));
    t.record(addr(1), Deregistered);
    assert_eq!(t.health(addr(1)), Some(Dead));
    t.update(&snapshot(&[1], false));
    assert_eq!(t.health(addr(1)), Some(Healthy));
}

#[test]
fn a_stale_snapshot_removes_nothing() {
    // The registry is unreachable: the list is the last good one, and
    // providers missing from it have not left.
    let (_clock, t) = tracker();
    t.update(&snapshot(&[1, 2], false));
    t.update(&snapshot(&[1], true));
    assert_eq!(t.health(addr(2)), Some(Healthy));
    assert_eq!(healthy_ports(&t), [1, 2]);
}
