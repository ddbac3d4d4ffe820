//! HTTP/1.1 in both directions: a small client (for etcd) and a small
//! server (for the call gateway and the admin page).
//!
//! Article: 对比 › RPC与HTTP (and 原理 › 服务发现, for what the client is
//! used for first: speaking to etcd's v3 JSON gateway, see
//! `crate::discovery::EtcdRegistry`). The one idea to take away: **HTTP/1.1
//! is text until the body, and every piece of text is a claim to check**:
//! the request or status line, each header, the `Content-Length`, each
//! chunk's size. A side that believes a claim of 256 TiB, or waits forever
//! for a line that never ends, can be made to fall over by any peer. So
//! every read here has a [`Deadline`](crate::time::Deadline), every line a
//! length bound, every body a size limit, and every refusal names what was
//! wrong and the setting that bounds it.
//!
//! ```text
//!  client side                                        server side
//!  HttpClient::post_json / HttpConnection::request    HttpServer::serve(addr, handler)
//!      │ url.rs     http://host:port                      │ server.rs   acceptor, cap, one thread per connection
//!      │ client.rs  one request per connection            │ request.rs  RequestReader: head by header_timeout,
//!      │ connection.rs  many, kept alive                  │             body by body_timeout, 400/408/411/413/431
//!      ▼ response.rs status line, headers, framing        ▼ router.rs   Router: handlers under path prefixes
//!   Response { status, headers, body }                 HttpHandler::handle(&HttpRequest) -> HttpResponse (reply.rs)
//!                  ▲ input.rs   bounded lines, reads by deadline ▲ chunked.rs
//! ```
//!
//! - `url.rs`: [`Url`], `http://` only (there is no TLS in std);
//! - `input.rs`: [`Input`] over a [`Source`] — a socket, or canned bytes
//!   in tests, so the parsers are tested without a network;
//! - `response.rs`: the [`Head`] and the three ways a body is framed (its
//!   header parser also reads the server's request headers);
//! - `chunked.rs`: `Transfer-Encoding: chunked`, one chunk at a time
//!   ([`ChunkedReader`]);
//! - `client.rs`: [`HttpClient`], one request per connection;
//!   `connection.rs`: [`HttpConnection`], one kept-alive connection;
//! - `request.rs`: [`RequestReader`], [`HttpRequest`], [`HttpLimits`];
//!   `reply.rs`: [`HttpResponse`]; `server.rs`: [`HttpServer`] and the
//!   [`HttpHandler`] trait; `router.rs`: [`Router`];
//! - [`base64`]: etcd's keys and values travel as base64.
//!
//! What it leaves out, on purpose: TLS, redirects, compression, chunked
//! *request* bodies (refused with 411) and HTTP/2. A production stack (Go's
//! `net/http`, Rust's `hyper`) has all of them; none is needed on a trusted
//! network, and each would double the code a reader has to follow.

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
