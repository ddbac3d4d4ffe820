//! The command-line client (`examples/call.rs`, whose logic is
//! `minirpc::cli::run`) against a live server: JSON in, JSON out.

mod common;

use minirpc::{RpcError, Server, ServerHandle};
use std::path::PathBuf;
use std::process::Command;

fn serve() -> ServerHandle {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument(format!("{l} * {r} overflows i32")))
    });
    server.register("Echo", |s: String| Ok(s));
    server.serve("127.0.0.1:0").unwrap()
}

/// Run the CLI in-process: (exit status, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = minirpc::cli::run(&args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn calling_multiply_10_20_prints_200() {
    let handle = serve();
    let addr = handle.local_addr().to_string();
    let (code, out, err) = cli(&[&addr, "Multiply", "[10,20]"]);
    assert_eq!((code, out.as_str()), (0, "200\n"), "stderr: {err}");
    let (code, out, _) = cli(&[&addr, "Echo", r#""héllo \"you\"""#]);
    assert_eq!((code, out.as_str()), (0, "\"héllo \\\"you\\\"\"\n"));
}

#[test]
fn a_failed_call_prints_its_status_and_message_and_exits_1() {
    let handle = serve();
    let addr = handle.local_addr().to_string();
    let (code, out, err) = cli(&[&addr, "Multiply", "[2147483647,2]"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "INVALID_ARGUMENT (3): 2147483647 * 2 overflows i32\n");
    let (code, _, err) = cli(&[&addr, "Multiply", r#"["ten",20]"#]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("INVALID_ARGUMENT (3): arguments for \"Multiply\""),
        "{err}"
    );
    let (code, _, err) = cli(&[&addr, "Nope", "[]"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("UNIMPLEMENTED (12): no method \"Nope\""),
        "{err}"
    );
}

#[test]
fn list_prints_the_described_call_table() {
    let handle = serve();
    let addr = handle.local_addr().to_string();
    let (code, out, err) = cli(&[&addr, "--list"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("CALL ID"), "{out}");
    let words = |l: &str| {
        l.split("  ")
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(words(lines[1]), ["Echo", "String", "String", "no", "no"]);
    assert_eq!(
        words(lines[2]),
        ["Multiply", "(i32, i32)", "i32", "no", "no"]
    );
}

#[test]
fn trace_prints_both_frames_field_by_field() {
    let handle = serve();
    let addr = handle.local_addr().to_string();
    let (code, out, err) = cli(&["--trace", &addr, "Multiply", "[10,20]"]);
    assert_eq!((code, out.as_str()), (0, "200\n"));
    assert!(err.contains("--> request, 45 bytes"), "{err}");
    assert!(err.contains("call id \"Multiply\""), "{err}");
    assert!(err.contains("codec 1"), "{err}");
    // The JSON arguments and result, as bytes: "[10,20]" and "200".
    assert!(err.contains("5b 31 30 2c 32 30 5d"), "{err}");
    assert!(err.contains("<-- response, 26 bytes"), "{err}");
    assert!(err.contains("32 30 30"), "{err}");
}

#[test]
fn a_server_that_is_not_there_is_unavailable() {
    // A port that was free a moment ago: bind, note it, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = cli(&["--timeout", "2000", &addr.to_string(), "Multiply", "[1,2]"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("UNAVAILABLE (14)"), "{err}");
}

/// The example binary itself, where `cargo test` built it (next to this
/// test's own binary, in `target/<profile>/examples/`).
fn built_example() -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    let profile_dir = me.parent()?.parent()?;
    let exe = profile_dir
        .join("examples")
        .join(format!("call{}", std::env::consts::EXE_SUFFIX));
    exe.exists().then_some(exe)
}

#[test]
fn the_call_example_binary_prints_200_for_multiply() {
    // `cargo test` builds the examples before it runs any test; a test run
    // alone (`cargo test --test cli`) may not have, and then only the
    // in-process tests above speak for the CLI.
    let Some(exe) = built_example() else {
        eprintln!("examples/call is not built; run `cargo test` (or `cargo build --example call`) to test the binary too");
        return;
    };
    let handle = serve();
    let out = Command::new(&exe)
        .args([&handle.local_addr().to_string(), "Multiply", "[10,20]"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200\n");
    let bad = Command::new(&exe).arg("--bogus").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("usage: call"));
}
