//! What a server handler replies: [`HttpResponse`], and how it is written.
//!
//! ```text
//!  HTTP/1.1 200 OK\r\n
//!  Content-Type: application/json\r\n      the handler's headers
//!  Content-Length: 3\r\n                   always: the server frames every body
//!  Connection: keep-alive\r\n              or close, decided by the server
//!  \r\n
//!  200
//! ```

/// A response from an [`HttpHandler`](super::HttpHandler). The server adds
/// `Content-Length` and `Connection`; a handler sets the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Headers other than `Content-Length` and `Connection`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status`, `Content-Type: content_type` and `body`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// A JSON body (`application/json`).
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse::new(status, "application/json", body)
    }

    /// A plain-text body, for the server's own refusals.
    pub fn text(status: u16, body: impl Into<String>) -> HttpResponse {
        let mut text = body.into();
        text.push('\n');
        HttpResponse::new(status, "text/plain; charset=utf-8", text)
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The response as bytes on the wire; `close` says whether the
    /// connection ends after it.
    pub fn to_bytes(&self, close: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        let head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        out.extend_from_slice(head.as_bytes());
        for (n, v) in &self.headers {
            // A handler's header that would break the framing is dropped:
            // the server alone frames the body and decides the connection.
            let framing = n.eq_ignore_ascii_case("content-length")
                || n.eq_ignore_ascii_case("transfer-encoding")
                || n.eq_ignore_ascii_case("connection");
            let unsafe_text = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
            if framing || unsafe_text(n) || unsafe_text(v) {
                continue;
            }
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        let connection = if close { "close" } else { "keep-alive" };
        let tail = format!(
            "Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
            self.body.len()
        );
        out.extend_from_slice(tail.as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

/// The reason phrase for the codes this crate sends (informational only).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_frames_the_body_and_drops_headers_that_would_reframe_it() {
        let r = HttpResponse::json(200, "200")
            .with_header("Content-Length", "999")
            .with_header("X-Evil", "a\r\nSet-Cookie: x")
            .with_header("X-Ok", "yes");
        let text = String::from_utf8(r.to_bytes(false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Ok: yes\r\n\
             Content-Length: 3\r\nConnection: keep-alive\r\n\r\n200"
        );
        assert!(String::from_utf8(r.to_bytes(true))
            .unwrap()
            .contains("Connection: close\r\n"));
    }
}
