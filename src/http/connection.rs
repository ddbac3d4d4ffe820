//! [`HttpConnection`]: one kept-alive connection, many requests in turn.
//!
//! Where [`HttpClient`](super::HttpClient) opens a connection per request
//! (the HTTP/1.0 habit, `Connection: close`), this keeps one open and sends
//! the next request when the previous answer has been read whole — what
//! HTTP/1.1's persistent connections allow, and what a benchmark of HTTP
//! against RPC must use to be fair (chapter 14 measures both).
//!
//! ```text
//!  connect ─► request 1 ─► head + body 1 ─► request 2 ─► head + body 2 ─► ...
//!             (one TCP handshake in all; the server says "Connection: close" to end it)
//! ```

use super::client::Response;
use super::input::{io_error, Input};
use super::response::{read_body, read_head};
use crate::error::RpcError;
use crate::time::Deadline;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A kept-alive HTTP/1.1 connection to one server.
pub struct HttpConnection {
    input: Input<TcpStream>,
    out: TcpStream,
    host: String,
    max_response_bytes: usize,
    /// The server said it will close after the last answer.
    closed: bool,
}

impl HttpConnection {
    /// Connect to `addr` within `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<HttpConnection, RpcError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| RpcError::from_io(&format!("connecting to http://{addr}"), &e))?;
        let _ = stream.set_nodelay(true);
        let out = stream
            .try_clone()
            .map_err(|e| RpcError::from_io("cloning the socket", &e))?;
        Ok(HttpConnection {
            input: Input::new(stream),
            out,
            host: addr.to_string(),
            max_response_bytes: 4 << 20,
            closed: false,
        })
    }

    /// Whether the server has said it closes this connection (send no more).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Send `method path` with `headers` and `body`, and read the whole
    /// answer, all by `deadline`. `Content-Length` and `Host` are added.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        deadline: Deadline,
    ) -> Result<Response, RpcError> {
        if self.closed {
            return Err(RpcError::unavailable(
                "the server closed this connection after its last answer; open a new one",
            ));
        }
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.out
            .set_write_timeout(Some(deadline.remaining_capped(Duration::from_secs(60))))
            .and_then(|()| self.out.write_all(&bytes))
            .map_err(|e| io_error(&e, "request"))?;
        let head = read_head(&mut self.input, deadline)?;
        let body = read_body(
            &mut self.input,
            head.framing()?,
            self.max_response_bytes,
            deadline,
        )?;
        self.closed = head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
}
