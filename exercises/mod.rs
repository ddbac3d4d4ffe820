//! The registry of exercises: each one's answer file, its check, and the
//! message its unfinished starting point fails with.
//!
//! ```text
//!  exercises/exNN_name.rs            the starting point: you write here
//!  exercises/solutions/exNN_name.rs  a reference solution (--features solutions)
//!  exercises/checks/exNN_name.rs     the check: check() and UNFINISHED
//! ```
//!
//! To add an exercise: the three files, three lines in the answers below,
//! one in `checks/mod.rs`, one in `course!`, and its section in
//! `docs/exercises.md`.

#![allow(dead_code)]

pub mod checks;

/// Declare `$name`: the starting point, or with `solutions` the
/// reference solution.
macro_rules! answer {
    ($name:ident, $start:literal, $solution:literal) => {
        #[cfg_attr(not(feature = "solutions"), path = $start)]
        #[cfg_attr(feature = "solutions", path = $solution)]
        pub mod $name;
    };
}

// The files the learner edits (or, with `solutions`, the references):
// `crate::exercises::exNN_name`.
answer!(ex01_arith, "ex01_arith.rs", "solutions/ex01_arith.rs");
answer!(
    ex01_checked_multiply,
    "ex01_checked_multiply.rs",
    "solutions/ex01_checked_multiply.rs"
);
answer!(ex02_aliases, "ex02_aliases.rs", "solutions/ex02_aliases.rs");
answer!(ex02_methods, "ex02_methods.rs", "solutions/ex02_methods.rs");
answer!(ex03_varint, "ex03_varint.rs", "solutions/ex03_varint.rs");
answer!(ex03_blob, "ex03_blob.rs", "solutions/ex03_blob.rs");
answer!(
    ex04_read_frame,
    "ex04_read_frame.rs",
    "solutions/ex04_read_frame.rs"
);
answer!(
    ex04_frame_splitter,
    "ex04_frame_splitter.rs",
    "solutions/ex04_frame_splitter.rs"
);
answer!(
    ex05_cancel_aware,
    "ex05_cancel_aware.rs",
    "solutions/ex05_cancel_aware.rs"
);
answer!(ex05_fan_out, "ex05_fan_out.rs", "solutions/ex05_fan_out.rs");
answer!(
    ex06_stub_by_hand,
    "ex06_stub_by_hand.rs",
    "solutions/ex06_stub_by_hand.rs"
);
answer!(
    ex06_counting_caller,
    "ex06_counting_caller.rs",
    "solutions/ex06_counting_caller.rs"
);
answer!(
    ex07_file_registry,
    "ex07_file_registry.rs",
    "solutions/ex07_file_registry.rs"
);
answer!(
    ex07_sticky_registry,
    "ex07_sticky_registry.rs",
    "solutions/ex07_sticky_registry.rs"
);
answer!(
    ex08_least_connections,
    "ex08_least_connections.rs",
    "solutions/ex08_least_connections.rs"
);
answer!(
    ex08_rendezvous,
    "ex08_rendezvous.rs",
    "solutions/ex08_rendezvous.rs"
);
answer!(
    ex09_retry_budget,
    "ex09_retry_budget.rs",
    "solutions/ex09_retry_budget.rs"
);
answer!(
    ex09_failover,
    "ex09_failover.rs",
    "solutions/ex09_failover.rs"
);
answer!(
    ex10_fixed_window,
    "ex10_fixed_window.rs",
    "solutions/ex10_fixed_window.rs"
);
answer!(ex10_gcra, "ex10_gcra.rs", "solutions/ex10_gcra.rs");
answer!(
    ex11_canary_split,
    "ex11_canary_split.rs",
    "solutions/ex11_canary_split.rs"
);
answer!(
    ex11_version_range,
    "ex11_version_range.rs",
    "solutions/ex11_version_range.rs"
);
answer!(
    ex12_sign_by_hand,
    "ex12_sign_by_hand.rs",
    "solutions/ex12_sign_by_hand.rs"
);
answer!(
    ex12_replay_cache,
    "ex12_replay_cache.rs",
    "solutions/ex12_replay_cache.rs"
);
answer!(
    ex12_key_rotation,
    "ex12_key_rotation.rs",
    "solutions/ex12_key_rotation.rs"
);
answer!(
    ex13_rate_window,
    "ex13_rate_window.rs",
    "solutions/ex13_rate_window.rs"
);
answer!(
    ex13_describe_diff,
    "ex13_describe_diff.rs",
    "solutions/ex13_describe_diff.rs"
);
answer!(
    ex14_grpc_timeout,
    "ex14_grpc_timeout.rs",
    "solutions/ex14_grpc_timeout.rs"
);
answer!(
    ex14_chunked_body,
    "ex14_chunked_body.rs",
    "solutions/ex14_chunked_body.rs"
);

/// One exercise, as the course lists it.
pub struct Exercise {
    /// `exNN_name`: the file names, the test name and the docs anchor.
    pub name: &'static str,
    /// The chapter, e.g. `"08"`.
    pub chapter: &'static str,
    /// Runs the check: `Err` says what broke, or for the starting point
    /// what to do.
    pub check: fn() -> Result<(), String>,
    /// What the check says about the unfinished starting point.
    pub unfinished: &'static str,
}

/// The whole course, and a `#[test]` per exercise.
macro_rules! course {
    ($($chapter:literal: $name:ident;)*) => {
        /// Every exercise, in chapter order.
        pub const EXERCISES: &[Exercise] = &[$(Exercise {
            name: stringify!($name),
            chapter: $chapter,
            check: checks::$name::check,
            unfinished: checks::$name::UNFINISHED,
        }),*];

        // Not for the unfinished check, unless the solutions are in.
        #[cfg(any(not(feature = "exercises-unfinished-check"), feature = "solutions"))]
        mod tests {
            $(
                #[test]
                fn $name() {
                    if let Err(message) = super::checks::$name::check() {
                        panic!("{message}");
                    }
                }
            )*
        }
    };
}

course! {
    "01": ex01_arith;
    "01": ex01_checked_multiply;
    "02": ex02_aliases;
    "02": ex02_methods;
    "03": ex03_varint;
    "03": ex03_blob;
    "04": ex04_read_frame;
    "04": ex04_frame_splitter;
    "05": ex05_cancel_aware;
    "05": ex05_fan_out;
    "06": ex06_stub_by_hand;
    "06": ex06_counting_caller;
    "07": ex07_file_registry;
    "07": ex07_sticky_registry;
    "08": ex08_least_connections;
    "08": ex08_rendezvous;
    "09": ex09_retry_budget;
    "09": ex09_failover;
    "10": ex10_fixed_window;
    "10": ex10_gcra;
    "11": ex11_canary_split;
    "11": ex11_version_range;
    "12": ex12_sign_by_hand;
    "12": ex12_replay_cache;
    "12": ex12_key_rotation;
    "13": ex13_rate_window;
    "13": ex13_describe_diff;
    "14": ex14_grpc_timeout;
    "14": ex14_chunked_body;
}

/// The message a check gives for an unfinished exercise: what is still
/// missing, and where the exercise is described.
pub fn unfinished(name: &str, what: &str) -> String {
    format!("exercise {name}: {what}; see docs/exercises.md#{name}")
}

/// The message a check gives when a property of a started answer broke.
pub fn broke(name: &str, what: impl std::fmt::Display) -> String {
    format!("exercise {name}: {what}; see docs/exercises.md#{name}")
}

/// CI's proof that the starting points are unfinished: every check fails,
/// with exactly its documented message, and `docs/exercises.md` has a
/// section for it that quotes that message. (With the solutions in, the
/// starting points are not built, and this is not either.)
#[cfg(all(feature = "exercises-unfinished-check", not(feature = "solutions")))]
#[test]
fn every_starting_point_fails_its_check_with_the_documented_message() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/exercises.md"))
        .expect("read docs/exercises.md");
    let mut wrong = Vec::new();
    for ex in EXERCISES {
        let want = unfinished(ex.name, ex.unfinished);
        match std::panic::catch_unwind(ex.check) {
            Ok(Err(got)) if got == want => {}
            Ok(Err(got)) => wrong.push(format!("{}: said {got:?}, documented {want:?}", ex.name)),
            Ok(Ok(())) => wrong.push(format!("{}: the starting point passes its check", ex.name)),
            Err(_) => wrong.push(format!("{}: the check panicked", ex.name)),
        }
        if !docs.contains(&format!("### {}", ex.name)) {
            wrong.push(format!(
                "{}: docs/exercises.md has no section \"### {}\"",
                ex.name, ex.name
            ));
        }
        if !docs.contains(ex.unfinished) {
            wrong.push(format!(
                "{}: docs/exercises.md does not quote {:?}",
                ex.name, ex.unfinished
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
