//! A command-line client for any minirpc server, in the spirit of
//! `grpcurl` and `redis-cli`: JSON in, JSON out, no Rust types needed.
//! `examples/call.rs` is a thin `main` around [`run`].
//!
//! Article: 框架 › 对比 (管理中心), and 原理 › 序列化 (JSON: 跨语言,
//! 文本化). The one idea to take away: **a tool that knows only the wire
//! can call everything**. The request's codec byte says JSON, the
//! arguments are the JSON text the user typed (checked to be JSON, never
//! decoded into a type), and the server decodes them into the method's
//! declared types as it would for a Rust client; the result comes back as
//! JSON text and is printed as it arrived. `--list` asks the server's
//! built-in `$minirpc.describe` what there is to call.
//!
//! ```text
//!  call HOST:PORT Multiply '[10,20]'
//!    ─► frame: codec 1 (JSON), call id "Multiply", arguments b"[10,20]"
//!    ◄─ frame: status 0, result b"200"  ─► prints 200, exit 0
//!    ◄─ frame: status 12, a message     ─► prints UNIMPLEMENTED (12): ..., exit 1
//! ```
//!
//! One connection, one request, one answer: nothing here is multiplexed,
//! so each frame can be shown as it goes (`--trace`).

use crate::codec::{self, CodecId, JsonCx, Limits};
use crate::error::{RpcError, Status};
use crate::protocol::{self, FrameKind, ResponseHead, HEADER_LEN};
use crate::server::{MethodDescription, DESCRIBE_CALL_ID};
use crate::trace::annotate_frame;
use crate::transport::{self, FrameReader, ReadError};
use std::io::Write;
use std::time::{Duration, Instant};

/// What `--help` and a bad command line print.
pub const USAGE: &str = "\
usage: call [--trace] [--timeout MS] ADDR CALL_ID [JSON_ARGS]
       call [--trace] [--timeout MS] ADDR --list

Call CALL_ID on the minirpc server at ADDR with JSON_ARGS (JSON text,
default null; several arguments are an array: '[10,20]') in the JSON codec,
and print the JSON result. --list prints the server's call table (from its
built-in $minirpc.describe). --trace prints every frame, field by field.
--timeout is the call's deadline in milliseconds (default 5000).
Exit status: 0 on success, 1 if the call failed, 2 on bad usage.

example: call HOST:PORT Multiply '[10,20]'
(start a server to try it on: cargo run --example multiply -- server)";

/// What one command line asks for.
#[derive(Debug, PartialEq)]
struct Command {
    addr: String,
    /// `None` for `--list`.
    call: Option<(String, String)>,
    trace: bool,
    timeout: Duration,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut trace = false;
    let mut list = false;
    let mut timeout = Duration::from_millis(5000);
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--trace" => trace = true,
            "--list" => list = true,
            "--timeout" => {
                let ms = it
                    .next()
                    .ok_or("--timeout needs a number of milliseconds")?;
                let ms: u32 = ms.parse().map_err(|_| {
                    format!("--timeout takes milliseconds (1 to 4294967295), not {ms:?}")
                })?;
                timeout = Duration::from_millis(ms.max(1).into());
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => positional.push(a.clone()),
        }
    }
    let mut positional = positional.into_iter();
    let addr = positional.next().ok_or("missing ADDR (host:port)")?;
    let call = if list {
        None
    } else {
        let id = positional.next().ok_or("missing CALL_ID (or --list)")?;
        Some((id, positional.next().unwrap_or_else(|| "null".into())))
    };
    if let Some(extra) = positional.next() {
        return Err(format!(
            "unexpected argument {extra:?} (quote the JSON arguments as one word)"
        ));
    }
    Ok(Command {
        addr,
        call,
        trace,
        timeout,
    })
}

/// Run one command line (without the program name), writing the result to
/// `out` and errors to `err`; returns the process exit status.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let cmd = match parse_args(args) {
        Ok(c) => c,
        Err(why) => {
            if !why.is_empty() {
                let _ = writeln!(err, "call: {why}\n");
            }
            let _ = writeln!(err, "{USAGE}");
            return if why.is_empty() { 0 } else { 2 };
        }
    };
    let mut trace = |line: &str| {
        if cmd.trace {
            let _ = write!(err, "{line}");
        }
    };
    let result = match &cmd.call {
        Some((id, args)) => {
            if let Err(e) = crate::json::parse(args.as_bytes(), Limits::default().max_depth) {
                let _ = writeln!(err, "call: the arguments are not JSON: {}", e.message);
                return 2;
            }
            call_json(&cmd.addr, id, args, cmd.timeout, &mut trace).map(|text| {
                let _ = writeln!(out, "{text}");
            })
        }
        None => describe_with(&cmd.addr, cmd.timeout, &mut trace).map(|methods| {
            let _ = write!(out, "{}", format_table(&methods));
        }),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "{} ({}): {}", e.status, e.status.code(), e.message);
            1
        }
    }
}

/// Call `call_id` on the server at `addr` with `args_json` (JSON text) in
/// the JSON codec, and return the result's JSON text. `trace` sees each
/// frame, annotated field by field.
pub fn call_json(
    addr: &str,
    call_id: &str,
    args_json: &str,
    timeout: Duration,
    trace: &mut dyn FnMut(&str),
) -> Result<String, RpcError> {
    let result = round_trip(addr, call_id, args_json.as_bytes(), timeout, trace)?;
    String::from_utf8(result)
        .map_err(|_| RpcError::internal("the server's JSON result is not UTF-8"))
}

/// The server's call table, from its built-in `$minirpc.describe`.
pub fn describe(addr: &str, timeout: Duration) -> Result<Vec<MethodDescription>, RpcError> {
    describe_with(addr, timeout, &mut |_| {})
}

fn describe_with(
    addr: &str,
    timeout: Duration,
    trace: &mut dyn FnMut(&str),
) -> Result<Vec<MethodDescription>, RpcError> {
    let text = round_trip(addr, DESCRIBE_CALL_ID, b"null", timeout, trace)?;
    codec::from_json(&text, Limits::default(), &JsonCx::unchecked()).map_err(|e| {
        RpcError::internal(format!(
            "the server's description does not read as a list of MethodDescription: {}",
            e.message
        ))
    })
}

/// The call table as aligned text columns.
pub fn format_table(methods: &[MethodDescription]) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut rows = vec![[
        "CALL ID".to_string(),
        "ARGUMENTS".into(),
        "RESULT".into(),
        "IDEMPOTENT".into(),
        "INLINE".into(),
    ]];
    for m in methods {
        rows.push([
            m.call_id.clone(),
            m.args.clone(),
            m.result.clone(),
            yes(m.idempotent).into(),
            yes(m.inline).into(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            let pad = widths[c] - cell.chars().count() + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// One request frame out, its response frame back: the result's bytes, or
/// the server's error.
fn round_trip(
    addr: &str,
    call_id: &str,
    args_json: &[u8],
    timeout: Duration,
    trace: &mut dyn FnMut(&str),
) -> Result<Vec<u8>, RpcError> {
    let started = Instant::now();
    let stream = transport::connect(addr, timeout)?;
    let io = |what: &str, e: std::io::Error| RpcError::from_io(what, &e);
    const ID: u64 = 1;
    let mut frame = Vec::with_capacity(64 + args_json.len());
    let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let start = protocol::begin_request(
        &mut frame,
        FrameKind::Request,
        CodecId::Json,
        ID,
        call_id,
        ms,
        &[],
    );
    frame.extend_from_slice(args_json);
    protocol::finish_frame(&mut frame, start);
    trace(&format!(
        "--> request, {} bytes\n{}",
        frame.len(),
        annotate_frame(&frame)
    ));
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| io("set the write timeout", e))?;
    (&stream)
        .write_all(&frame)
        .map_err(|e| io("send the request", e))?;
    let mut reader = FrameReader::new(&stream, protocol::DEFAULT_MAX_FRAME_BYTES);
    // Frames other than our answer (a newer server's kinds) are skipped;
    // the deadline bounds how long that may go on.
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(no_answer(timeout));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| io("set the read timeout", e))?;
        let f = match reader.read_frame() {
            Ok(f) => f,
            Err(ReadError::TimedOut) => return Err(no_answer(timeout)),
            Err(ReadError::UnknownKind { .. }) => continue,
            Err(ReadError::Protocol(e)) | Err(ReadError::TooLarge { error: e, .. }) => {
                return Err(e)
            }
            Err(ReadError::Io(e)) => return Err(io("read the answer", e)),
            Err(ReadError::Closed) | Err(ReadError::Truncated { .. }) => {
                return Err(RpcError::unavailable(
                    "the server closed the connection without answering",
                ))
            }
        };
        if f.header.kind != FrameKind::Response
            || (f.header.request_id != ID && f.header.request_id != 0)
        {
            continue;
        }
        let mut bytes = f.header.to_bytes().to_vec();
        bytes.extend_from_slice(&f.body);
        trace(&format!(
            "<-- response, {} bytes\n{}",
            HEADER_LEN + f.body.len(),
            annotate_frame(&bytes)
        ));
        let head = ResponseHead::parse(&f.body)?;
        return head.into_result().map(<[u8]>::to_vec);
    }
}

fn no_answer(timeout: Duration) -> RpcError {
    RpcError::new(
        Status::DeadlineExceeded,
        format!(
            "no answer within {} ms (raise --timeout)",
            timeout.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn command_lines_parse_or_say_what_is_wrong() {
        let c = parse_args(&args(&[
            "--timeout",
            "250",
            "somewhere",
            "Multiply",
            "[10,20]",
        ]))
        .unwrap();
        assert_eq!(c.call, Some(("Multiply".into(), "[10,20]".into())));
        assert_eq!(c.timeout, Duration::from_millis(250));
        let l = parse_args(&args(&["somewhere", "--list", "--trace"])).unwrap();
        assert_eq!((l.call, l.trace), (None, true));
        assert_eq!(
            parse_args(&args(&["somewhere", "Ping"]))
                .unwrap()
                .call
                .unwrap()
                .1,
            "null"
        );
        for bad in [
            &[][..],
            &["somewhere"],
            &["--timeout", "x", "somewhere", "M"],
            &["--bogus"],
            &["somewhere", "M", "1", "2"],
        ] {
            assert!(!parse_args(&args(bad)).unwrap_err().is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn bad_usage_prints_help_and_exits_2() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(&args(&["somewhere"]), &mut out, &mut err), 2);
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.contains("missing CALL_ID") && err.contains("usage: call"),
            "{err}"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            run(&args(&["somewhere", "M", "[1,"]), &mut out, &mut err),
            2
        );
        assert!(String::from_utf8(err).unwrap().contains("not JSON"));
    }
}
