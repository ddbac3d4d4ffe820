//! The check of ex13_rate_window: snapshots built by hand, one second
//! apart: a steady rate, a bounded window, a restart, and the empty cases.

use crate::exercises::ex13_rate_window::RateWindow;
use crate::exercises::{broke, unfinished};
use minirpc::metrics::{HistogramSnapshot, MethodSnapshot};
use minirpc::Status;
use std::time::{Duration, Instant};

const NAME: &str = "ex13_rate_window";

/// What the starting point fails with.
pub const UNFINISHED: &str = "calls_per_sec() answers None after 3 snapshots 1 s apart; keep the snapshots and divide the increase in calls by the seconds between the oldest and the newest";

/// A snapshot of "Multiply" with `ok` successes and `failed` refusals.
fn snap(ok: u64, failed: u64) -> MethodSnapshot {
    let mut by_status = Vec::new();
    if ok > 0 {
        by_status.push((Status::Ok, ok));
    }
    if failed > 0 {
        by_status.push((Status::InvalidArgument, failed));
    }
    MethodSnapshot {
        call_id: "Multiply".into(),
        calls: ok + failed,
        by_status,
        in_flight: 0,
        bytes_in: 0,
        bytes_out: 0,
        latency: HistogramSnapshot::default(),
    }
}

/// A window fed `(ok, failed)` totals one second apart.
fn fed(samples: usize, totals: &[(u64, u64)]) -> RateWindow {
    let t0 = Instant::now();
    let mut w = RateWindow::new(samples);
    for (i, &(ok, failed)) in totals.iter().enumerate() {
        w.push(t0 + Duration::from_secs(i as u64), &snap(ok, failed));
    }
    w
}

fn near(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() < 1e-9)
}

/// Run the check.
pub fn check() -> Result<(), String> {
    // 0, 100 and 300 calls; 0, 10 and 40 of them failed.
    let w = fed(10, &[(0, 0), (90, 10), (260, 40)]);
    match w.calls_per_sec() {
        None => return Err(unfinished(NAME, UNFINISHED)),
        got if near(got, 150.0) => {}
        got => return Err(broke(NAME, format!("totals of 0, 100 and 300 calls 1 s apart gave calls_per_sec() {got:?}, expected Some(150.0): 300 more calls in 2 s"))),
    }
    if !near(w.error_ratio(), 40.0 / 300.0) {
        return Err(broke(NAME, format!("40 of the 300 calls failed, but error_ratio() gave {:?}; count errors() as calls minus the Ok ones", w.error_ratio())));
    }
    // A window of 3 forgets the older, slower seconds.
    let w = fed(3, &[(0, 0), (1000, 0), (2000, 0), (2100, 0), (2200, 0)]);
    if w.len() != 3 || !near(w.calls_per_sec(), 100.0) {
        return Err(broke(NAME, format!("a RateWindow::new(3) fed 5 snapshots kept {} and gave {:?}; expected 3 kept and Some(100.0), the rate over the last 3 only", w.len(), w.calls_per_sec())));
    }
    // The server restarted between the second and the third snapshot.
    let w = fed(10, &[(0, 0), (500, 0), (40, 10), (140, 10)]);
    if !near(w.calls_per_sec(), 650.0 / 3.0) {
        return Err(broke(NAME, format!("totals of 0, 500, 50 (a restart) and 150 calls gave {:?} calls per second; expected Some(216.66…): 500, then 50 since the restart, then 100, in 3 s", w.calls_per_sec())));
    }
    if !near(w.error_ratio(), 10.0 / 650.0) {
        return Err(broke(
            NAME,
            format!(
                "across the restart 10 of 650 calls failed, but error_ratio() gave {:?}",
                w.error_ratio()
            ),
        ));
    }
    let one = fed(10, &[(5, 5)]);
    if one.calls_per_sec().is_some() || !fed(10, &[]).is_empty() {
        return Err(broke(
            NAME,
            "with one snapshot there is no rate yet (None), and a new window is empty",
        ));
    }
    let idle = fed(10, &[(7, 0), (7, 0)]);
    if !near(idle.calls_per_sec(), 0.0) || idle.error_ratio().is_some() {
        return Err(broke(NAME, format!("with no call in the window, calls_per_sec() gave {:?} (expected Some(0.0)) and error_ratio() {:?} (expected None: no share of nothing)", idle.calls_per_sec(), idle.error_ratio())));
    }
    let small = fed(0, &[(0, 0), (10, 0), (20, 0)]);
    if small.len() != 2 {
        return Err(broke(
            NAME,
            format!(
                "RateWindow::new(0) kept {} snapshots; it keeps at least 2",
                small.len()
            ),
        ));
    }
    Ok(())
}
