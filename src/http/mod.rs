//! A small HTTP/1.1 client: `POST` JSON, read the answer, by a deadline.
//!
//! Article: 框架 › RPC与HTTP (and 原理 › 服务发现, for what it is used
//! for first: speaking to etcd's v3 JSON gateway, see
//! `crate::discovery::EtcdRegistry`). The one idea to take away: **HTTP/1.1
//! is text until the body, and every piece of text is a claim to check**:
//! the status line, each header, the `Content-Length`, each chunk's size.
//! A client that believes a claim of 256 TiB, or waits forever for a line
//! that never ends, can be made to fall over by any peer. So every read
//! here has a [`Deadline`](crate::time::Deadline), every line a length
//! bound, and every body a size limit ([`HttpSettings::max_response_bytes`]),
//! and every refusal is an `RpcError` naming the URL and what was wrong.
//!
//! ```text
//!  HttpClient::post_json(path, json)                 HttpClient::post_stream
//!      │ url.rs     http://host:port, resolved            │ (a watch that never ends)
//!      │ client.rs  connect, write, by one deadline       │
//!      ▼ response.rs status line, headers, framing        ▼
//!   Response { status, headers, body }              Stream::next_chunk(deadline)
//!                  ▲ input.rs   bounded lines, reads by deadline ▲ chunked.rs
//! ```
//!
//! - `url.rs`: [`Url`], `http://` only (there is no TLS in std);
//! - `input.rs`: [`Input`] over a [`Source`] — a socket, or canned bytes
//!   in tests, so the parsers are tested without a network;
//! - `response.rs`: the [`Head`] and the three ways a body is framed;
//! - `chunked.rs`: `Transfer-Encoding: chunked`, one chunk at a time
//!   ([`ChunkedReader`]);
//! - `client.rs`: [`HttpClient`], one request per connection;
//! - [`base64`]: etcd's keys and values travel as base64.
//!
//! What it leaves out, on purpose: TLS, redirects, compression, keep-alive
//! and HTTP/2. A production client (Go's `net/http`, Rust's `hyper`) has
//! all of them; none is needed to talk to a server on a trusted network,
//! and each would double the code a reader has to follow.

pub mod base64;
mod chunked;
mod client;
mod connection;
mod input;
mod reply;
mod request;
mod response;
mod router;
mod server;
mod url;

pub use chunked::ChunkedReader;
pub use client::{Closer, HttpClient, HttpSettings, Response, Stream};
pub use connection::HttpConnection;
pub use input::{Input, Source};
pub use reply::HttpResponse;
pub use request::{HttpLimits, HttpRequest, Next, Refusal, RequestReader};
pub use response::{Framing, Head, MAX_HEADERS, MAX_LINE};
pub use router::Router;
pub use server::{HttpHandler, HttpServer, HttpServerHandle, HttpStats};
pub use url::Url;
