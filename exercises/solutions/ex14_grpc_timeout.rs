//! Reference solution of ex14_grpc_timeout: split off the last byte as the
//! unit, insist on 1 to 8 ASCII digits before it, then multiply.

use minirpc::RpcError;
use std::time::Duration;

/// The wait a `grpc-timeout` header's value asks for.
pub fn parse_grpc_timeout(value: &str) -> Result<Duration, RpcError> {
    let refuse = |why: &str| {
        RpcError::invalid_argument(format!(
            "grpc-timeout {value:?} {why}; send 1 to 8 digits and a unit (H, M, S, m, u or n), e.g. \"250m\""
        ))
    };
    // Split at a byte, not a char: a multi-byte last char is no unit.
    let bytes = value.as_bytes();
    let Some((&unit, digits)) = bytes.split_last() else {
        return Err(refuse("is empty"));
    };
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(refuse("does not start with 1 to 8 digits"));
    }
    // At most 8 digits: below 10^8, so the products below cannot overflow.
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    match unit {
        b'H' => Ok(Duration::from_secs(n * 3600)),
        b'M' => Ok(Duration::from_secs(n * 60)),
        b'S' => Ok(Duration::from_secs(n)),
        b'm' => Ok(Duration::from_millis(n)),
        b'u' => Ok(Duration::from_micros(n)),
        b'n' => Ok(Duration::from_nanos(n)),
        _ => Err(refuse("does not end in a unit")),
    }
}
