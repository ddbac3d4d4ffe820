//! A command-line client for any minirpc server, like `grpcurl` or
//! `redis-cli` (框架 › 对比: 管理中心). JSON in, JSON out: it needs none of
//! the server's Rust types.
//!
//! ```text
//! cargo run --example call -- 127.0.0.1:7000 Multiply '[10,20]'   # prints 200
//! cargo run --example call -- 127.0.0.1:7000 --list               # the call table
//! cargo run --example call -- --trace 127.0.0.1:7000 Multiply '[10,20]'  # and every frame
//! cargo run --example call -- --timeout 100 127.0.0.1:7000 Slow
//! ```
//!
//! Start a server to talk to with `cargo run --example multiply -- server`.
//! The logic is `minirpc::cli::run`, so `tests/cli.rs` can drive it too.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = minirpc::cli::run(&args, &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(code as u8)
}
