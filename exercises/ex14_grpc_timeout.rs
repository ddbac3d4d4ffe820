//! Exercise ex14_grpc_timeout (chapter 14): read a deadline as gRPC writes
//! it in an HTTP header.
//!
//! minirpc's frame carries the caller's wait as 4 bytes of milliseconds;
//! the gateway reads `X-Timeout-Ms`. gRPC over HTTP/2 sends
//! `grpc-timeout: 250m`: 1 to 8 ASCII digits, then one unit letter,
//! nothing else (no sign, no spaces, no fraction). The units are `H`
//! hours, `M` minutes, `S` seconds, `m` milliseconds, `u` microseconds and
//! `n` nanoseconds, and the case matters (`s` is not a unit). Parse the
//! header's value into a `Duration`, and refuse anything else with
//! `INVALID_ARGUMENT` and a message that quotes the value, names the
//! header and says what was expected. Never panic, whatever the bytes.
//! So far every value reads as zero. Check it with
//! `cargo test --features exercises --test exercises -- ex14_grpc_timeout`.

use minirpc::RpcError;
use std::time::Duration;

/// The wait a `grpc-timeout` header's value asks for.
pub fn parse_grpc_timeout(value: &str) -> Result<Duration, RpcError> {
    let _ = value;
    Ok(Duration::ZERO)
}
