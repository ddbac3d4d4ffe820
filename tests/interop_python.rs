//! A client in another language, written only from `docs/protocol.md`, can
//! call a minirpc server.
//!
//! `examples/python/multiply_client.py` uses nothing but Python's standard
//! library. These tests start a real server with `Multiply` registered and
//! run the script against it, in the binary codec and (with `--json`) in the
//! JSON codec, and (with `--checksum`) with frames sealed by a CRC-32C that
//! the script computes itself (§14 of the page), and (with `--sign`) signed
//! with HMAC-SHA256 for a server that authenticates (§15). If `python3` is
//! not on the PATH, each test prints that it was skipped and passes: the
//! Rust side of the project must not depend on Python being installed.
//!
//! Every wait is bounded: the script gets 30 seconds, then it is killed and
//! the test fails.

mod common;

use common::python::{have_python3, run_bounded, Finished, LIMIT};
use minirpc::{RpcError, Server, ServerHandle};
use std::process::Command;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/python/multiply_client.py"
);

/// A server with `Multiply` in its call table, on a free port.
///
/// It checks for overflow so that the error case below behaves the same in
/// debug and release builds (a plain `l * r` panics in one and wraps in the
/// other).
fn multiply_server() -> ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument(format!("{l} * {r} does not fit in an i32")))
    });
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// The script reported the server's refusal of `100000 * 100000`: exit
/// status 1, and the status and message exactly as the server sent them.
fn assert_reports_the_overflow(f: &Finished) {
    assert_eq!(
        f.status.code(),
        Some(1),
        "expected exit status 1 for a server error.\nstdout:\n{}\nstderr:\n{}",
        f.stdout,
        f.stderr
    );
    assert!(
        f.stderr
            .contains("INVALID_ARGUMENT (status 3): 100000 * 100000 does not fit in an i32"),
        "stderr should carry the server's status and message:\n{}",
        f.stderr
    );
}

/// Run the script against `server` with `args` after the address. Returns
/// `None` (after saying so) when python3 is missing.
fn run_script(test: &str, server: &ServerHandle, args: &[&str]) -> Option<Finished> {
    if !have_python3() {
        // In CI the interop proof must run, never be skipped quietly.
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: python3 is not on the PATH, and CI must run this test (install python3)"
        );
        println!("{test}: skipped, python3 is not on the PATH");
        return None;
    }
    let addr = server.local_addr().to_string();
    let mut cmd = Command::new("python3");
    cmd.arg(SCRIPT).arg(&addr).args(args);
    let finished = run_bounded(&mut cmd, LIMIT)
        .unwrap_or_else(|e| panic!("cannot start python3 {SCRIPT}: {e}"))
        .unwrap_or_else(|| {
            panic!("python3 {SCRIPT} {addr} {args:?} did not finish within {LIMIT:?}; killed it")
        });
    Some(finished)
}

/// Assert the script succeeded and printed exactly `want`.
fn assert_prints(f: &Finished, want: &str) {
    assert!(
        f.status.success(),
        "the Python client failed ({}).\nstdout:\n{}\nstderr:\n{}",
        f.status,
        f.stdout,
        f.stderr
    );
    assert_eq!(
        f.stdout.trim_end(),
        want,
        "unexpected output; stderr:\n{}",
        f.stderr
    );
}

#[test]
fn python_client_multiplies_10_by_20_by_default() {
    let server = multiply_server();
    let Some(f) = run_script("python_client_multiplies_10_by_20_by_default", &server, &[]) else {
        return;
    };
    assert_prints(&f, "200");
    assert_eq!(server.stats().calls_ok, 1);
}

#[test]
fn python_client_multiplies_the_numbers_it_is_given() {
    let server = multiply_server();
    let Some(f) = run_script(
        "python_client_multiplies_the_numbers_it_is_given",
        &server,
        &["6", "7"],
    ) else {
        return;
    };
    assert_prints(&f, "42");
}

#[test]
fn python_client_reports_the_servers_status_and_message() {
    let server = multiply_server();
    let Some(f) = run_script(
        "python_client_reports_the_servers_status_and_message",
        &server,
        &["100000", "100000"],
    ) else {
        return;
    };
    assert_eq!(
        f.status.code(),
        Some(1),
        "expected exit status 1 for a server error.\nstdout:\n{}\nstderr:\n{}",
        f.stdout,
        f.stderr
    );
    assert_eq!(f.stdout, "", "nothing on stdout when the call fails");
    assert!(
        f.stderr
            .contains("INVALID_ARGUMENT (status 3): 100000 * 100000 does not fit in an i32"),
        "stderr should carry the server's status and message:\n{}",
        f.stderr
    );
}

#[test]
fn python_client_multiplies_in_json_with_json_flag() {
    let server = multiply_server();
    let Some(f) = run_script(
        "python_client_multiplies_in_json_with_json_flag",
        &server,
        &["--json"],
    ) else {
        return;
    };
    // Same answer as the binary call: the server read `[10,20]` as the
    // (i32, i32) Multiply takes and answered `200` in JSON.
    assert_prints(&f, "200");
    assert_eq!(server.stats().calls_ok, 1);
}

#[test]
fn python_client_reports_the_servers_error_in_json_too() {
    let server = multiply_server();
    let Some(f) = run_script(
        "python_client_reports_the_servers_error_in_json_too",
        &server,
        &["--json", "100000", "100000"],
    ) else {
        return;
    };
    // The status and message travel in the binary envelope whatever the
    // codec, so the error reads exactly as it does in binary.
    assert_reports_the_overflow(&f);
}

#[test]
fn python_client_seals_its_request_and_checks_the_sealed_answer_with_checksum_flag() {
    let server = multiply_server();
    let Some(f) = run_script(
        "python_client_seals_its_request_and_checks_the_sealed_answer_with_checksum_flag",
        &server,
        &["--checksum"],
    ) else {
        return;
    };
    // Both CRCs held: the server ran the call (a bad CRC gets DATA_LOSS and
    // no call), and the script found the sealed answer's CRC right (it
    // refuses an answer that is unsealed or whose CRC does not match).
    assert_prints(&f, "200");
    assert_eq!(server.stats().calls_ok, 1);
}

#[test]
fn python_client_reads_a_sealed_error_and_a_sealed_json_answer() {
    let server = multiply_server();
    let Some(f) = run_script(
        "python_client_reads_a_sealed_error_and_a_sealed_json_answer",
        &server,
        &["--checksum", "100000", "100000"],
    ) else {
        return;
    };
    assert_reports_the_overflow(&f);
    let Some(f) = run_script(
        "python_client_reads_a_sealed_error_and_a_sealed_json_answer",
        &server,
        &["--checksum", "--json", "6", "7"],
    ) else {
        return;
    };
    assert_prints(&f, "42");
}

#[test]
fn python_client_reads_a_rate_limit_refusal_that_carries_metadata() {
    // An error response may go on after its message with a metadata list
    // (`retry-after-ms`, docs/protocol.md §5); a client written before that
    // existed reads the status and message and ignores the rest.
    let clock = minirpc::time::ManualClock::new();
    let mut server = Server::builder()
        .rate_limit(minirpc::flow::Rule::token_bucket("Multiply", 1.0, 1).clock(clock))
        .build();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let server = server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let test = "python_client_reads_a_rate_limit_refusal_that_carries_metadata";
    let Some(first) = run_script(test, &server, &[]) else {
        return;
    };
    assert_prints(&first, "200");
    let second = run_script(test, &server, &[]).expect("python3 ran a moment ago");
    assert_eq!(
        second.status.code(),
        Some(1),
        "a refusal is a server error (exit 1), not a protocol error (exit 3).\nstderr:\n{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(
            "RESOURCE_EXHAUSTED (status 8): rate limit \"Multiply: 1/s burst 1\" exceeded for calls without a caller id; retry after 1000 ms"
        ),
        "stderr:\n{}",
        second.stderr
    );
    assert_eq!(server.stats().rejected_rate_limited, 1);
}

/// A server that accepts only requests signed with key `py-1`
/// (`docs/protocol.md` §15), with `Multiply` registered.
fn authenticating_multiply_server() -> ServerHandle {
    let auth = minirpc::auth::Authenticator::new()
        .key(minirpc::auth::Key::new("py-1", "python secret", "python").allow("Multiply"));
    let mut server = Server::builder().authenticate(auth).build();
    server.register_with_context(
        "Multiply",
        |ctx: &minirpc::CallContext, (l, r): (i32, i32)| {
            // The caller the handler sees is the one the key proves.
            let who = ctx.identity().expect("a signed call has an identity");
            assert!(who.is_verified() && who.name() == "python");
            Ok(l * r)
        },
    );
    server.serve("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

#[test]
fn python_client_signs_its_call_with_sign_flag_and_the_server_accepts_it() {
    let server = authenticating_multiply_server();
    let test = "python_client_signs_its_call_with_sign_flag_and_the_server_accepts_it";
    let Some(f) = run_script(test, &server, &["--sign", "py-1:python secret"]) else {
        return;
    };
    // The script computed SHA-256 and HMAC with Python's own hashlib and
    // hmac, from the page alone; the server's check of them held.
    assert_prints(&f, "200");
    let Some(f) = run_script(
        test,
        &server,
        &["--sign", "py-1:python secret", "--json", "6", "7"],
    ) else {
        return;
    };
    assert_prints(&f, "42");
    assert_eq!(server.stats().calls_ok, 2);
    assert_eq!(server.stats().rejected_auth, 0);
}

#[test]
fn python_client_signed_with_the_wrong_secret_or_not_at_all_is_refused() {
    let server = authenticating_multiply_server();
    let test = "python_client_signed_with_the_wrong_secret_or_not_at_all_is_refused";
    let Some(f) = run_script(test, &server, &["--sign", "py-1:not the secret"]) else {
        return;
    };
    assert_eq!(f.status.code(), Some(1), "stderr:\n{}", f.stderr);
    assert!(
        f.stderr
            .contains("UNAUTHENTICATED (status 16): bad signature for key id \"py-1\""),
        "stderr:\n{}",
        f.stderr
    );
    let Some(f) = run_script(test, &server, &[]) else {
        return;
    };
    assert_eq!(f.status.code(), Some(1), "stderr:\n{}", f.stderr);
    assert!(
        f.stderr
            .contains("UNAUTHENTICATED (status 16): this server accepts only signed requests"),
        "stderr:\n{}",
        f.stderr
    );
    assert_eq!(server.stats().calls_ok, 0);
    assert_eq!(server.stats().rejected_auth, 2);
}
