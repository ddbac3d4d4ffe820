//! The article's Multiply walkthrough (本地调用VS远程调用), run for real.
//!
//! ```text
//! cargo run --example multiply                 # both sides in one process, each step printed
//! cargo run --example multiply -- --trace      # ... plus every frame's bytes, field by field
//! cargo run --example multiply -- server [ADDR]    # just the server (default 127.0.0.1:7000)
//! cargo run --example multiply -- client ADDR [L R] # just the client
//! ```
//!
//! The steps are not printed by this example: they are reported by the
//! library as it takes them (see `minirpc::trace`), from the client's thread
//! and the server's threads, in the order they really happen.

use minirpc::trace::{annotate_frame, hex, Side, TraceEvent, Tracer};
use minirpc::{Client, RpcError, Server};
use std::process::ExitCode;
use std::sync::Arc;

/// The function the article calls, as a local function.
fn multiply(l: i32, r: i32) -> i32 {
    l * r
}

/// The same function, registered in a call table (server step 1). Overflow
/// is the caller's problem to hear about, not a panic on the server.
fn multiply_server(tracer: Tracer) -> Server {
    let mut server = Server::builder().trace(tracer).build();
    server.register("Multiply", |(l, r): (i32, i32)| {
        l.checked_mul(r)
            .ok_or_else(|| RpcError::invalid_argument(format!("{l} * {r} overflows i32")))
    });
    server
}

/// Print each step; with `bytes`, show them too (a whole frame field by
/// field, or a hex dump of encoded values).
fn tracer(show_bytes: bool) -> Tracer {
    Arc::new(move |e: &TraceEvent<'_>| {
        let side = match e.side {
            Side::Client => "client",
            Side::Server => "server",
        };
        let mut out = format!("[{side} {}] {}\n", e.step, e.message);
        if let (true, Some(b)) = (show_bytes, e.bytes) {
            let is_frame = b.len() >= 18 && b[0..2] == *b"MR";
            if is_frame {
                for line in annotate_frame(b).lines() {
                    out.push_str("           ");
                    out.push_str(line);
                    out.push('\n');
                }
            } else {
                out.push_str(&hex(b, "           "));
            }
        }
        print!("{out}");
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let trace_bytes = args.iter().any(|a| a == "--trace");
    let positional: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let result = match positional.as_slice() {
        [] => walkthrough(trace_bytes),
        ["server", rest @ ..] => run_server(
            rest.first().copied().unwrap_or("127.0.0.1:7000"),
            trace_bytes,
        ),
        ["client", addr, rest @ ..] => run_client(addr, rest, trace_bytes),
        _ => {
            eprintln!(
                "usage: multiply [--trace]\n       multiply server [ADDR] [--trace]\n       multiply client ADDR [L R] [--trace]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn walkthrough(trace_bytes: bool) -> Result<(), Box<dyn std::error::Error>> {
    println!("== A local call: the function body runs in this process");
    let (lvalue, rvalue) = (10, 20);
    println!(
        "Multiply({lvalue}, {rvalue}) = {}\n",
        multiply(lvalue, rvalue)
    );

    println!("== A remote call: the same function, behind a socket");
    println!(
        "   (the server runs on threads of this process, on 127.0.0.1, port chosen by the OS)\n"
    );
    let handle = multiply_server(tracer(trace_bytes)).serve("127.0.0.1:0")?;
    let client = Client::builder()
        .trace(tracer(trace_bytes))
        .connect(handle.local_addr())?;

    let l_times_r: i32 = client.call("Multiply", &(lvalue, rvalue))?;
    println!("\nMultiply({lvalue}, {rvalue}) = {l_times_r}");

    println!("\n== What a local call never does: fail");
    match client.call::<_, i32>("Multiply", &(i32::MAX, 2)) {
        Ok(v) => println!("Multiply(i32::MAX, 2) = {v}"),
        Err(e) => println!("Multiply(i32::MAX, 2) -> {e}"),
    }
    match client.call::<_, i32>("Multipy", &(1, 2)) {
        Ok(v) => println!("Multipy(1, 2) = {v}"),
        Err(e) => println!("Multipy(1, 2) -> {e}"),
    }
    if !trace_bytes {
        println!("\n(run with -- --trace to see every frame's bytes)");
    }
    handle.shutdown();
    Ok(())
}

fn run_server(addr: &str, trace_bytes: bool) -> Result<(), Box<dyn std::error::Error>> {
    let handle = multiply_server(tracer(trace_bytes)).serve(addr)?;
    println!(
        "serving Multiply on {} (Ctrl-C to stop)",
        handle.local_addr()
    );
    loop {
        std::thread::park();
    }
}

fn run_client(
    addr: &str,
    rest: &[&str],
    trace_bytes: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let (l, r): (i32, i32) = match rest {
        [l, r] => (l.parse()?, r.parse()?),
        _ => (10, 20),
    };
    let client = Client::builder().trace(tracer(trace_bytes)).connect(addr)?;
    let y: i32 = client.call("Multiply", &(l, r))?;
    println!("Multiply({l}, {r}) = {y}");
    Ok(())
}
