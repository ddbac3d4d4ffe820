//! The check of ex14_grpc_timeout: a table of values gRPC sends, a table
//! of values it never does, and what each refusal says.

use crate::exercises::ex14_grpc_timeout::parse_grpc_timeout;
use crate::exercises::{broke, unfinished};
use minirpc::Status;
use std::time::Duration;

const NAME: &str = "ex14_grpc_timeout";

/// What the starting point fails with.
pub const UNFINISHED: &str = "parse_grpc_timeout(\"250m\") still answers 0 s; read 1 to 8 ASCII digits, then the unit (H, M, S, m, u or n)";

/// Run the check.
pub fn check() -> Result<(), String> {
    let good: &[(&str, Duration)] = &[
        ("250m", Duration::from_millis(250)),
        ("1H", Duration::from_secs(3600)),
        ("2M", Duration::from_secs(120)),
        ("3S", Duration::from_secs(3)),
        ("7u", Duration::from_micros(7)),
        ("9n", Duration::from_nanos(9)),
        ("0S", Duration::ZERO),
        ("00000001S", Duration::from_secs(1)),
        ("99999999H", Duration::from_secs(99_999_999 * 3600)),
        ("12345678n", Duration::from_nanos(12_345_678)),
    ];
    for &(value, want) in good {
        match parse_grpc_timeout(value) {
            Ok(got) if got == want => {}
            Ok(Duration::ZERO) if value == "250m" => return Err(unfinished(NAME, UNFINISHED)),
            got => {
                return Err(broke(
                    NAME,
                    format!("parse_grpc_timeout({value:?}) gave {got:?}, expected Ok({want:?})"),
                ))
            }
        }
    }
    let bad = [
        "",
        "m",
        "250",
        "250x",
        "1s",
        "123456789n",
        "-1S",
        "+1S",
        " 1S",
        "1S ",
        "1.5S",
        "1mS",
        "0x1S",
        "\u{0661}S",
        "1\u{00b5}",
        "1\u{0}",
    ];
    for value in bad {
        match parse_grpc_timeout(value) {
            Err(e) if e.status == Status::InvalidArgument => {
                if !e.message.contains(&format!("{value:?}")) || !e.message.contains("grpc-timeout") {
                    return Err(broke(NAME, format!("the refusal of {value:?} said {:?}; quote the value (as {{value:?}} does) and name the grpc-timeout header", e.message)));
                }
            }
            got => return Err(broke(NAME, format!("parse_grpc_timeout({value:?}) gave {got:?}; gRPC never sends that, refuse it with INVALID_ARGUMENT"))),
        }
    }
    Ok(())
}
