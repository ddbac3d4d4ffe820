//! The HTTP gateway: the server's call table over HTTP/1.1 + JSON.
//!
//! Article: 对比 › RPC与HTTP. The article's claim is that HTTP is a special
//! RPC; this module makes it literal. `POST /call/Multiply` with the body
//! `[10,20]` runs the very handler a minirpc frame with call id `Multiply`
//! runs, through the same table, queue, deadline check and worker pool
//! ([`LocalCaller`]), with the arguments in the JSON codec. The one idea
//! to take away: **the call id moved from a frame field into the URL, the
//! status from a byte into the status line; nothing else changed**.
//!
//! ```text
//!  POST /call/Multiply HTTP/1.1          ─► call id "Multiply"
//!  X-Timeout-Ms: 500                     ─► the call's deadline (default 10 s)
//!  X-Caller: billing                     ─► CallContext::caller
//!  auth-key, auth-ts, auth-nonce, auth-sig ─► the signature (protocol.md §15)
//!  Content-Length: 7
//!
//!  [10,20]                               ─► JSON arguments ─► LocalCaller::call
//!                                                                  │
//!  HTTP/1.1 200 OK  + body 200           ◄── Ok(result JSON) ──────┤
//!  HTTP/1.1 501 ... {"code":12,"status":"UNIMPLEMENTED","message":"..."}
//!                                        ◄── Err(RpcError) ────────┘
//! ```
//!
//! Status codes follow gRPC-JSON transcoding (grpc-gateway's
//! `HTTPStatusFromCode`): see [`http_status`]. The call id is taken from
//! the path verbatim (no percent-decoding), and the deadline comes from
//! the `X-Timeout-Ms` header, in milliseconds, as minirpc's own frame
//! carries it (gRPC's `grpc-timeout` header does the same job).

use crate::codec::CodecId;
use crate::error::{RpcError, Status};
use crate::http::{
    HttpHandler, HttpLimits, HttpRequest, HttpResponse, HttpServer, HttpServerHandle,
};
use crate::protocol;
use crate::server::{LocalCall, LocalCaller, ServerHandle};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The path under which calls are served: `/call/<call id>`.
pub const CALL_PREFIX: &str = "/call/";

/// The header that carries a call's timeout, in milliseconds.
pub const TIMEOUT_HEADER: &str = "X-Timeout-Ms";

/// The header that names the caller (`CallContext::caller`).
pub const CALLER_HEADER: &str = "X-Caller";

/// The headers that carry a signed request's fields, named exactly as the
/// frame's metadata keys (docs/protocol.md §15). The signature covers the
/// call id and the body, so a request signed for minirpc's JSON codec is
/// signed for the gateway too.
pub const SIGNATURE_HEADERS: [&str; 4] = [
    crate::auth::META_KEY,
    crate::auth::META_TS,
    crate::auth::META_NONCE,
    crate::auth::META_SIG,
];

/// The HTTP status for a call's [`Status`], as gRPC-JSON transcoding maps
/// them (grpc-gateway's `HTTPStatusFromCode`). 499 is nginx's "client
/// closed request", the usual code for a call the caller cancelled.
pub fn http_status(status: Status) -> u16 {
    match status {
        Status::Ok => 200,
        Status::Cancelled => 499,
        Status::Unknown => 500,
        Status::InvalidArgument => 400,
        Status::DeadlineExceeded => 504,
        Status::NotFound => 404,
        Status::PermissionDenied => 403,
        Status::ResourceExhausted => 429,
        Status::Unimplemented => 501,
        Status::Internal => 500,
        Status::Unavailable => 503,
        Status::DataLoss => 500,
        Status::Unauthenticated => 401,
    }
}

/// The JSON body of a failed call: `{"code":12,"status":"UNIMPLEMENTED","message":"..."}`
/// (the shape of `google.rpc.Status`, plus the status's name).
pub fn error_body(e: &RpcError) -> String {
    let mut out = format!(
        "{{\"code\":{},\"status\":\"{}\",\"message\":",
        e.status.code(),
        e.status.name()
    );
    crate::json::write_string(&mut out, &e.message);
    out.push('}');
    out
}

/// The gateway, an [`HttpHandler`]: mount it on an [`HttpServer`] (alone,
/// or beside other handlers with a [`Router`](crate::http::Router) under
/// [`CALL_PREFIX`]).
#[derive(Clone)]
pub struct Gateway {
    caller: LocalCaller,
    default_timeout: Duration,
}

impl Gateway {
    /// A gateway to `server`'s call table, with a default timeout of 10 s
    /// for requests that send no `X-Timeout-Ms`.
    pub fn new(server: &ServerHandle) -> Gateway {
        Gateway {
            caller: server.local_caller(),
            default_timeout: Duration::from_secs(10),
        }
    }

    /// The timeout of a call that names none. Every call has one, so a
    /// handler that never returns cannot hold an HTTP connection forever.
    pub fn default_timeout(mut self, t: Duration) -> Gateway {
        self.default_timeout = t.max(Duration::from_millis(1));
        self
    }

    /// Serve this gateway alone on `addr`, with [`HttpServer`]'s defaults
    /// and a body limit equal to the server's `max_frame_bytes`.
    pub fn serve(self, addr: impl ToSocketAddrs) -> io::Result<HttpServerHandle> {
        let settings = HttpServer {
            limits: HttpLimits {
                max_body_bytes: self.caller.max_args_bytes(),
                ..HttpLimits::default()
            },
            ..HttpServer::default()
        };
        settings.serve(addr, self)
    }

    fn call(&self, req: &HttpRequest) -> Result<Vec<u8>, RpcError> {
        let call_id = req.path().strip_prefix(CALL_PREFIX).unwrap_or("");
        let timeout = match req.header(TIMEOUT_HEADER) {
            None => self.default_timeout,
            Some(v) => match v.parse::<u32>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms.into()),
                _ => {
                    return Err(RpcError::invalid_argument(format!(
                        "{TIMEOUT_HEADER} must be a whole number of milliseconds from 1 to {}, not {v:?}",
                        u32::MAX
                    )))
                }
            },
        };
        // The frame's metadata, carried as headers: the caller's name, and
        // the signature fields of docs/protocol.md §15 under their own
        // names (HTTP header names are case-insensitive).
        let mut metadata = Vec::new();
        if let Some(caller) = req.header(CALLER_HEADER) {
            metadata.push((protocol::META_CALLER, caller));
        }
        for key in SIGNATURE_HEADERS {
            if let Some(v) = req.header(key) {
                metadata.push((key, v));
            }
        }
        self.caller.call(&LocalCall {
            call_id,
            codec: CodecId::Json,
            args: &req.body,
            timeout,
            metadata: &metadata,
            peer: req.peer.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        })
    }
}

impl HttpHandler for Gateway {
    fn handle(&self, req: &HttpRequest) -> HttpResponse {
        if !req.path().starts_with(CALL_PREFIX) {
            let e = RpcError::new(
                Status::NotFound,
                format!(
                    "calls are served at {CALL_PREFIX}<call id>, not at {:?}",
                    req.path()
                ),
            );
            return HttpResponse::json(404, error_body(&e));
        }
        if req.method != "POST" {
            let e = RpcError::invalid_argument(format!(
                "a call is a POST with JSON arguments as its body, not a {}",
                req.method
            ));
            return HttpResponse::json(405, error_body(&e)).with_header("Allow", "POST");
        }
        match self.call(req) {
            Ok(result) => HttpResponse::json(200, result),
            Err(e) => {
                let reply = HttpResponse::json(http_status(e.status), error_body(&e));
                // A rate limit's "when to retry" in HTTP's own words
                // (RFC 9110 §10.2.3: whole seconds, rounded up).
                match e.retry_after() {
                    Some(d) if d != std::time::Duration::MAX => {
                        let secs = d.as_millis().div_ceil(1000).max(1);
                        reply.with_header("Retry-After", &secs.to_string())
                    }
                    _ => reply,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_the_transcoding_code_and_errors_are_json() {
        let all = [
            (Status::Ok, 200),
            (Status::Cancelled, 499),
            (Status::Unknown, 500),
            (Status::InvalidArgument, 400),
            (Status::DeadlineExceeded, 504),
            (Status::NotFound, 404),
            (Status::PermissionDenied, 403),
            (Status::ResourceExhausted, 429),
            (Status::Unimplemented, 501),
            (Status::Internal, 500),
            (Status::Unavailable, 503),
            (Status::DataLoss, 500),
            (Status::Unauthenticated, 401),
        ];
        for (s, code) in all {
            assert_eq!(http_status(s), code, "{s:?}");
        }
        let body = error_body(&RpcError::invalid_argument("bad \"x\"\n"));
        assert_eq!(
            body,
            r#"{"code":3,"status":"INVALID_ARGUMENT","message":"bad \"x\"\n"}"#
        );
        assert!(crate::json::parse(body.as_bytes(), 8).is_ok());
    }
}
