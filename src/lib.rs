//! # minirpc
//!
//! A small, readable RPC framework built on nothing but the Rust standard
//! library, written to be read side by side with an RPC article (in
//! Chinese; section headings are cited below and in every module). Every idea
//! of the article is here as code you can run, read and change.
//!
//! ```
//! use minirpc::{Client, Server};
//!
//! // Server steps 1-6 of the article: a call table, and a loop serving it.
//! let mut server = Server::new();
//! server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
//! let handle = server.serve("127.0.0.1:0").unwrap();
//!
//! // Client steps 1-5: call id, serialize, send, wait, deserialize.
//! let client = Client::connect(handle.local_addr()).unwrap();
//! let l_times_r: i32 = client.call("Multiply", &(10, 20)).unwrap();
//! assert_eq!(l_times_r, 200);
//! ```
//!
//! # Layout
//!
//! | module | article section | the idea |
//! |---|---|---|
//! | [`server`] | 本地调用VS远程调用 (server steps), Call ID映射, 组件 (Server, Acceptor, Processor) | the call table is a `HashMap<String, handler>` |
//! | [`client`] | 本地调用VS远程调用 (client steps), 模式, 组件 (Client, Invoker, Connector) | request ids multiplex many calls (in four modes) on one connection |
//! | [`discovery`] | 原理 › 服务发现, 健康检查, 分组部署 | push, not poll: providers hold leases, consumers are told of changes |
//! | [`balance`] | 原理 › 负载均衡; RPC与HTTP (负载均衡) | the caller picks among the healthy providers itself, one call at a time |
//! | [`cluster`] | 原理 › 负载均衡 (集群策略); RPC与HTTP (负载均衡, 通知) | discovery + health + balancer + strategy, joined at one call |
//! | [`auth`] | 原理 › 安全认证; 原理 › 流量控制 (识别调用来源) | a caller proves it holds a secret without sending it: an HMAC over the request |
//! | [`flow`] | 原理 › 流量控制 (识别调用来源, 单节点限流, 集群限流) | limit before you queue, and a refusal says when to come back |
//! | [`codec`] | 序列化和反序列化, 原理 › 序列化 | one description of a type, two formats; never trust a length |
//! | [`json`] | 原理 › 序列化 (JSON: 跨语言, 文本化) | a text format is easy for people, costly for machines |
//! | [`whitelist`] | 原理 › 序列化 (反序列化白名单) | refuse every type name you did not expect |
//! | [`service`] | 原理 › 组件 (RPC Proxy) | the proxy is code you could have written by hand |
//! | [`protocol`] | 网络传输, 原理 › 建立通信 | a fixed header that states the body's length |
//! | [`transport`] | 网络传输 (组件: Channel) | buffered reads, batched writes, every syscall counts |
//! | [`http`] | RPC与HTTP; 原理 › 服务发现 (the etcd gateway) | HTTP/1.1 is text until the body, and every line is a claim to check |
//! | [`gateway`] | RPC与HTTP ("HTTP is a special RPC") | the same call table over HTTP/1.1 + JSON: the call id moves into the URL |
//! | [`checksum`] | 网络传输 | TCP checks each hop; only the two ends can check the whole path |
//! | [`pool`] | 组件 › RPC Processor | a bounded queue says "busy" instead of growing |
//! | [`sync`] | — | a panic elsewhere must not poison the server's locks |
//! | [`time`] | 远程过程调用带来的新问题 | a timeout becomes one deadline, once; a huge one means none |
//! | [`error`] | 远程过程调用带来的新问题 | every failure is a status plus a message |
//! | [`trace`] | 本地调用VS远程调用 | watch the article's steps happen in a real call |
//! | [`metrics`] | 框架 › 对比 (管理中心); 特点 › 优点 (monitoring) | count on the hot path with a few atomic adds, compute percentiles on the cold path |
//! | [`admin`] | 框架 › 对比 (管理中心) | a management center adds no mechanism: it shows what the registry, the probes and the metrics already know |
//! | [`cli`] | 框架 › 对比 (管理中心) | a tool that knows only the wire can list and call any server's methods |
//! | [`testkit`] | — (coursework) | your own implementation of a minirpc trait passes the same checks as ours |
//!
//! The docs in `docs/` have one chapter per article section; start at
//! `docs/README.md`. The wire format, byte by byte, is `docs/protocol.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod balance;
pub mod checksum;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod codec;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod gateway;
mod hash;
pub mod http;
pub mod json;
pub mod metrics;
pub mod pool;
pub mod protocol;
pub mod server;
pub mod service;
pub mod sync;
pub mod testkit;
pub mod time;
pub mod trace;
pub mod transport;
pub mod whitelist;

pub use client::{Client, ClientBuilder, Pending};
pub use codec::{CodecId, Decode, Encode, Limits};
pub use error::{RpcError, Status};
pub use server::{CallContext, Server, ServerBuilder, ServerControl, ServerHandle, ServerStats};
pub use whitelist::Whitelist;
