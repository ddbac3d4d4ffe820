//! The coursework: one test per exercise of `docs/exercises.md`, built only
//! with `--features exercises` (the starting points in `exercises/`) or
//! `--features solutions` (the reference solutions in
//! `exercises/solutions/`).
//!
//! ```text
//!  cargo test --features exercises --test exercises -- ex08   one exercise
//!  cargo test --features solutions --test exercises           every solution passes
//!  cargo test --features exercises-unfinished-check --test exercises
//!                      every starting point fails with its documented message
//! ```
//!
//! The list of exercises, their files and their checks is
//! `exercises/mod.rs`.

#[path = "../exercises/mod.rs"]
mod exercises;
