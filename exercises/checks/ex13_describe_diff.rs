//! The check of ex13_describe_diff: an old and a new server with known
//! differences, two identical ones, and one that will not describe itself.

use crate::exercises::ex13_describe_diff::{breaking_changes, Change};
use crate::exercises::{broke, unfinished};
use minirpc::{Server, ServerHandle, Status};
use std::time::Duration;

const NAME: &str = "ex13_describe_diff";

/// What the starting point fails with.
pub const UNFINISHED: &str = "breaking_changes() found nothing between two servers where \"Divide\" was removed; fetch both call tables with $minirpc.describe and compare them call id by call id";

const PATIENCE: Duration = Duration::from_secs(10);

/// The old version's table.
fn old_table(s: &mut Server) {
    s.register("Multiply", |(l, r): (i32, i32)| Ok(l.wrapping_mul(r)));
    s.register("Divide", |(l, r): (i32, i32)| {
        Ok(l.checked_div(r).unwrap_or(0))
    });
    s.register("Echo", |s: String| Ok(s));
    s.register("Sum", |v: Vec<i64>| Ok(v.iter().sum::<i64>()));
    s.register("Stats", |v: Vec<i64>| Ok(v.len() as u64));
    s.idempotent(&["Multiply", "Echo"]);
}

/// The new version: Multiply widened, Divide gone, Echo no longer
/// idempotent, Stats answering another type, Sum now idempotent, Square new.
fn new_table(s: &mut Server) {
    s.register("Multiply", |(l, r): (i64, i64)| Ok(l.wrapping_mul(r)));
    s.register("Echo", |s: String| Ok(s));
    s.register("Sum", |v: Vec<i64>| Ok(v.iter().sum::<i64>()));
    s.register("Stats", |v: Vec<i64>| Ok(v.len() as u32));
    s.register("Square", |x: i32| Ok(x.wrapping_mul(x)));
    s.idempotent(&["Multiply", "Sum"]);
}

fn serve(table: fn(&mut Server), describe: bool) -> Result<ServerHandle, String> {
    let mut s = Server::builder().describe(describe).build();
    table(&mut s);
    s.serve("127.0.0.1:0").map_err(|e| broke(NAME, e))
}

fn text(s: &str) -> String {
    s.to_owned()
}

/// Run the check.
pub fn check() -> Result<(), String> {
    let old = serve(old_table, true)?;
    let new = serve(new_table, true)?;
    let silent = serve(old_table, false)?;
    let result = run(&old, &new, &silent);
    for h in [old, new, silent] {
        h.shutdown();
    }
    result
}

fn run(old: &ServerHandle, new: &ServerHandle, silent: &ServerHandle) -> Result<(), String> {
    let want = vec![
        Change::Removed {
            call_id: text("Divide"),
        },
        Change::NoLongerIdempotent {
            call_id: text("Echo"),
        },
        Change::ArgsChanged {
            call_id: text("Multiply"),
            was: text("(i32, i32)"),
            now: text("(i64, i64)"),
        },
        Change::ResultChanged {
            call_id: text("Multiply"),
            was: text("i32"),
            now: text("i64"),
        },
        Change::ResultChanged {
            call_id: text("Stats"),
            was: text("u64"),
            now: text("u32"),
        },
    ];
    match breaking_changes(old.local_addr(), new.local_addr(), PATIENCE) {
        Ok(got) if got == want => {}
        Ok(got) if got.is_empty() => return Err(unfinished(NAME, UNFINISHED)),
        Ok(got) => return Err(broke(NAME, format!("between the old and the new server, breaking_changes() gave {got:?}; expected {want:?} (a new method or a newly idempotent one breaks nobody; sort by call id)"))),
        Err(e) => return Err(broke(NAME, format!("breaking_changes() failed between two servers that both describe themselves: {e}"))),
    }
    match breaking_changes(new.local_addr(), new.local_addr(), PATIENCE) {
        Ok(got) if got.is_empty() => {}
        got => {
            return Err(broke(
                NAME,
                format!("a server compared with itself gave {got:?}; expected Ok([])"),
            ))
        }
    }
    match breaking_changes(new.local_addr(), old.local_addr(), PATIENCE) {
        Ok(got) if got.iter().any(|c| matches!(c, Change::Removed { call_id } if call_id == "Square")) => {}
        got => return Err(broke(NAME, format!("going back from the new server to the old one removes \"Square\", but breaking_changes() gave {got:?}"))),
    }
    for (old, new, which) in [
        (silent.local_addr(), new.local_addr(), "old"),
        (old.local_addr(), silent.local_addr(), "new"),
    ] {
        match breaking_changes(old, new, PATIENCE) {
            Err(e) if e.status == Status::Unimplemented => {}
            got => return Err(broke(NAME, format!("the {which} server has $minirpc.describe turned off (ServerBuilder::describe(false)), but breaking_changes() gave {got:?}; pass the server's UNIMPLEMENTED on"))),
        }
    }
    Ok(())
}
