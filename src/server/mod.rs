//! The server: the call table, the acceptor, a reader per connection, and
//! the Processor that runs handlers.
//!
//! Article: 本地调用VS远程调用 (the server's steps 1–6) and its Call ID映射;
//! 原理 › 组件 (RPC Server, Acceptor, Processor). The one idea to take away:
//! **the call table is just a map from a name to a function**,
//! `HashMap<String, Arc<Handler>>` below, exactly the article's
//! `std::map<std::string, std::function<>>`. Everything else here is about
//! feeding it safely: reading frames, bounding the work, and answering every
//! request exactly once.
//!
//! ```text
//!  acceptor thread ── accept() ──► one reader thread per connection
//!                                      │ read frame, parse envelope,
//!                                      │ look the call id up in the table
//!                                      │ (unknown? answer Unimplemented now)
//!                                      ▼
//!                     Processor: bounded queue ──► worker threads
//!                     (full? answer ResourceExhausted now)   │ deadline passed? skip
//!                                                            │ decode args, call handler
//!                                                            ▼ encode result
//!                               connection's outbox ◄── response frame
//!                               (never waits on the socket: see outbox.rs)
//! ```
//!
//! Because handlers run on the pool, not on the reader, a slow call does
//! not hold up the calls behind it on the same connection: their responses
//! simply leave first, matched to their callers by request id. (One
//! exception, for speed: a method that has proven very short runs on the
//! reader itself, with no thread hand-off; see `Method` in `table.rs` for
//! the policy, and `relief.rs` for how it stays safe.)
//!
//! # Where things are
//!
//! | file | what it holds |
//! |---|---|
//! | `table.rs` | [`Server`]: the call table and registration; `Method`, what the server learns of each |
//! | `builder.rs` | [`ServerBuilder`]: every setting, what it bounds, its default |
//! | `context.rs` | [`CallContext`]: what a handler knows of its call |
//! | `handle.rs` | `serve`, [`ServerHandle`], [`ServerStats`], shutdown |
//! | `local.rs` | [`LocalCaller`]: the call table for another front door (the HTTP gateway) |
//! | `acceptor.rs` | accepting connections up to `max_connections`; the slot guard; running out of descriptors |
//! | `connection.rs` | one connection's reader: deadlines, backpressure, the reading role |
//! | `dispatch.rs` | steps 3–6: look up, admit within limits, run, answer |
//! | `describe.rs` | the built-in `$minirpc.describe`: the call table describing itself |
//! | `outbox.rs` | responses out without a worker ever waiting on a socket |
//! | `relief.rs` | a new reader when an inline call blocks its connection |

mod acceptor;
mod admit;
mod builder;
mod connection;
mod context;
mod control;
mod describe;
mod dispatch;
mod handle;
mod local;
mod outbox;
mod relief;
mod table;

pub use builder::ServerBuilder;
pub use context::CallContext;
pub use control::ServerControl;
pub use describe::{MethodDescription, DESCRIBE_CALL_ID};
pub use handle::{ServerHandle, ServerStats};
pub use local::{LocalCall, LocalCaller};
pub use table::{Handler, Server};
