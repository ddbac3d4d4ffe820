//! The check of ex11_canary_split: shares, stability, and one-way moves,
//! over 10,000 callers.

use crate::exercises::ex11_canary_split::group_for;
use crate::exercises::{broke, unfinished};

const NAME: &str = "ex11_canary_split";

/// What the starting point fails with.
pub const UNFINISHED: &str = "group_for() sends every caller to \"stable\", even at 100%";

/// Run the check.
pub fn check() -> Result<(), String> {
    let callers: Vec<String> = (0..10_000).map(|i| format!("user-{i}")).collect();
    let canaries = |p: u32| {
        callers
            .iter()
            .filter(|c| group_for(c, p) == "canary")
            .count()
    };
    if canaries(100) == 0 {
        return Err(unfinished(NAME, UNFINISHED));
    }
    for c in &callers {
        for p in [0, 5, 50, 100, 250] {
            let g = group_for(c, p);
            if g != "stable" && g != "canary" {
                return Err(broke(
                    NAME,
                    format!(
                        "group_for({c:?}, {p}) = {g:?}; the groups are \"stable\" and \"canary\""
                    ),
                ));
            }
            if group_for(c, p) != g {
                return Err(broke(
                    NAME,
                    format!("group_for({c:?}, {p}) answered differently twice"),
                ));
            }
        }
    }
    for (p, want) in [(0, 0), (100, 10_000), (250, 10_000)] {
        let n = canaries(p);
        if n != want {
            return Err(broke(
                NAME,
                format!("at {p}%, {n} of 10,000 callers are on the canary, expected {want}"),
            ));
        }
    }
    // Five standard deviations around the expected share.
    for p in [1u32, 10, 30, 50] {
        let n = canaries(p) as f64;
        let mean = 100.0 * f64::from(p);
        let sd = (10_000.0 * f64::from(p) / 100.0 * (1.0 - f64::from(p) / 100.0)).sqrt();
        if (n - mean).abs() > 5.0 * sd {
            return Err(broke(
                NAME,
                format!("at {p}%, {n} of 10,000 callers are on the canary, expected about {mean}"),
            ));
        }
    }
    for c in &callers {
        for (low, high) in [(5, 10), (10, 50), (1, 99)] {
            if group_for(c, low) == "canary" && group_for(c, high) == "stable" {
                return Err(broke(NAME, format!("{c:?} is on the canary at {low}% but back on stable at {high}%; raising the share must only move callers to the canary")));
            }
        }
    }
    Ok(())
}
