//! [`HttpClient`]: `POST` a JSON body, read the answer, all by a deadline.
//!
//! One request per connection (`Connection: close`): connect, write the
//! request, read the head, read the body, close. Reusing connections
//! (keep-alive) would save a TCP handshake per request — a real cost on a
//! long network path, a small one on loopback — at the price of a pool and
//! of telling a stale pooled socket from a dead server. A registry makes a
//! request every few seconds, so the simple form wins here; chapter 14
//! measures what long connections buy RPC.
//!
//! ```text
//!  connect ─► write "POST /v3/kv/range HTTP/1.1 ..." + body ─► read head ─┬─► read body (Length or chunked)
//!     every step gives up at the same Deadline                            └─► or hand out chunks (Stream)
//! ```

use super::chunked::ChunkedReader;
use super::input::{io_error, Input};
use super::response::{read_body, read_head, Framing, Head};
use super::url::Url;
use crate::error::RpcError;
use crate::time::Deadline;
use std::io::{ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// Limits of an [`HttpClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// The longest a TCP connect may take (default 2 s), within the
    /// request's own deadline.
    pub connect_timeout: Duration,
    /// The deadline of a whole request made with [`HttpClient::post_json`]
    /// (default 5 s).
    pub request_timeout: Duration,
    /// The largest response body, or single chunk of a stream, accepted
    /// (default 4 MiB); past it the response is refused with
    /// `ResourceExhausted` before its bytes are read.
    pub max_response_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_response_bytes: 4 << 20,
        }
    }
}

/// A whole response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP/1.1 client for one server (see the module docs).
#[derive(Clone, Debug)]
pub struct HttpClient {
    url: Url,
    settings: HttpSettings,
}

impl HttpClient {
    /// A client for the server at `url` (e.g. `http://127.0.0.1:2379`),
    /// with default settings. Only parses the URL; nothing is sent yet.
    pub fn new(url: &str) -> Result<HttpClient, RpcError> {
        HttpClient::with_settings(url, HttpSettings::default())
    }

    /// The same, with `settings`.
    pub fn with_settings(url: &str, settings: HttpSettings) -> Result<HttpClient, RpcError> {
        Ok(HttpClient {
            url: Url::parse(url)?,
            settings,
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The client's limits.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// `POST` `json` to `path` (e.g. `/v3/kv/range`) and read the whole
    /// answer, within [`HttpSettings::request_timeout`]. Any status comes
    /// back as a [`Response`]; an error means no well-formed answer came.
    pub fn post_json(&self, path: &str, json: &str) -> Result<Response, RpcError> {
        self.post(
            path,
            json.as_bytes(),
            Deadline::after(self.settings.request_timeout),
        )
    }

    /// `POST` `body` to `path` and read the whole answer by `deadline`.
    pub fn post(&self, path: &str, body: &[u8], deadline: Deadline) -> Result<Response, RpcError> {
        let at = |e| self.context(path, e);
        let (mut input, head) = self.send(path, body, deadline).map_err(at)?;
        let framing = head.framing().map_err(at)?;
        let body = read_body(
            &mut input,
            framing,
            self.settings.max_response_bytes,
            deadline,
        )
        .map_err(at)?;
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body,
        })
    }

    /// `POST` `body` to `path`, read the head by `deadline`, and hand the
    /// body out chunk by chunk (for streams that never end, like etcd's
    /// watch). A body that is not chunked comes out as one chunk.
    pub fn post_stream(
        &self,
        path: &str,
        body: &[u8],
        deadline: Deadline,
    ) -> Result<Stream, RpcError> {
        let at = |e| self.context(path, e);
        let (mut input, head) = self.send(path, body, deadline).map_err(at)?;
        let max = self.settings.max_response_bytes;
        let closer = input.source().try_clone().ok().map(Closer);
        let body = match head.framing().map_err(at)? {
            Framing::Chunked => StreamBody::Chunked(ChunkedReader::new(input, max)),
            f => StreamBody::Whole(Some(read_body(&mut input, f, max, deadline).map_err(at)?)),
        };
        Ok(Stream {
            status: head.status,
            body,
            closer,
            what: format!("POST {}{}", self.url, path),
        })
    }

    /// Connect, write the request, read the head.
    fn send(
        &self,
        path: &str,
        body: &[u8],
        deadline: Deadline,
    ) -> Result<(Input<TcpStream>, Head), RpcError> {
        if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
            // Spaces or line ends in a path would let it write its own headers.
            return Err(RpcError::invalid_argument(format!(
                "request path {path:?} must start with '/' and hold no spaces or control characters"
            )));
        }
        let mut stream = self.connect(deadline)?;
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.url.path_for(path),
            self.url.authority(),
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        write_by(&mut stream, &request, deadline)?;
        let mut input = Input::new(stream);
        let head = read_head(&mut input, deadline)?;
        Ok((input, head))
    }

    fn connect(&self, deadline: Deadline) -> Result<TcpStream, RpcError> {
        let mut last = None;
        for addr in self.url.resolve()? {
            if deadline.has_passed() {
                break;
            }
            let limit = deadline.remaining_capped(self.settings.connect_timeout);
            match TcpStream::connect_timeout(&addr, limit) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if e.kind() == ErrorKind::TimedOut => RpcError::deadline_exceeded(format!(
                "connecting timed out ({e}); is the host up and the port open?"
            )),
            Some(e) => RpcError::unavailable(format!(
                "cannot connect ({e}); is the server running and listening on this address?"
            )),
            None => RpcError::deadline_exceeded("the deadline passed before connecting"),
        })
    }

    /// Put the method and URL in front of an error, so it names what failed.
    fn context(&self, path: &str, e: RpcError) -> RpcError {
        RpcError::new(
            e.status,
            format!("POST {}{}: {}", self.url, path, e.message),
        )
    }
}

/// Write all of `bytes` by `deadline` (a socket write timeout applies to
/// one write call, so it is set again before each).
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Deadline) -> Result<(), RpcError> {
    while !bytes.is_empty() {
        if deadline.has_passed() {
            return Err(RpcError::deadline_exceeded(
                "the deadline passed while writing the request",
            ));
        }
        let cap = deadline.remaining_capped(Duration::from_secs(60));
        stream
            .set_write_timeout(Some(cap))
            .map_err(|e| io_error(&e, "request"))?;
        match stream.write(bytes) {
            Ok(0) => return Err(RpcError::unavailable("the server closed the connection")),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => {
                return Err(RpcError::unavailable(format!(
                    "writing the request failed: {e}"
                )))
            }
        }
    }
    Ok(())
}

/// A response whose body is read one chunk at a time.
pub struct Stream {
    status: u16,
    body: StreamBody,
    closer: Option<Closer>,
    what: String,
}

enum StreamBody {
    Chunked(ChunkedReader<TcpStream>),
    Whole(Option<Vec<u8>>),
}

impl Stream {
    /// The response's status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The next chunk, waiting at most until `deadline`; `None` once the
    /// body has ended. A deadline that passes is `DeadlineExceeded`, and
    /// after any error the stream is done (open a new one).
    pub fn next_chunk(&mut self, deadline: Deadline) -> Result<Option<Vec<u8>>, RpcError> {
        match &mut self.body {
            StreamBody::Whole(body) => Ok(body.take()),
            StreamBody::Chunked(r) => r
                .next_chunk(deadline)
                .map_err(|e| RpcError::new(e.status, format!("{}: {}", self.what, e.message))),
        }
    }

    /// A handle another thread can use to close this stream's connection,
    /// which wakes a `next_chunk` blocked on it at once.
    pub fn closer(&self) -> Option<Closer> {
        self.closer.as_ref()?.0.try_clone().ok().map(Closer)
    }
}

/// Closes one stream's connection from anywhere (see [`Stream::closer`]).
pub struct Closer(TcpStream);

impl Closer {
    /// Shut the connection down both ways.
    pub fn close(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use std::io::Read;
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// A one-connection server on loopback that reads the request head and
    /// answers `reply` (then closes), or, with `None`, never answers.
    fn serve_once(reply: Option<&'static [u8]>) -> (String, JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            match reply {
                Some(r) => {
                    let _ = s.write_all(r);
                }
                // Hold the connection, silent, until the client gives up.
                None => while matches!(s.read(&mut buf), Ok(n) if n > 0) {},
            }
            got
        });
        (url, t)
    }

    #[test]
    fn a_post_sends_a_well_formed_request_and_reads_the_answer() {
        let (url, server) = serve_once(Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
        let r = HttpClient::new(&url)
            .unwrap()
            .post_json("/v3/kv/range", "{\"k\":1}")
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(
            request.starts_with("POST /v3/kv/range HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nContent-Length: 7\r\n"), "{request}");
        assert!(
            request.contains(&format!("\r\nHost: {}\r\n", &url[7..])),
            "{request}"
        );
    }

    #[test]
    fn errors_name_the_url_and_what_was_wrong() {
        let (url, _server) = serve_once(Some(b"SSH-2.0-OpenSSH_9.2\r\n"));
        let e = HttpClient::new(&url)
            .unwrap()
            .post_json("/v3/x", "{}")
            .unwrap_err();
        assert_eq!(e.status, Status::Internal);
        assert!(
            e.message
                .starts_with(&format!("POST {url}/v3/x: malformed status line")),
            "{e}"
        );
    }

    #[test]
    fn a_silent_server_costs_one_deadline_not_forever() {
        let (url, server) = serve_once(None);
        let settings = HttpSettings {
            request_timeout: Duration::from_millis(200),
            ..HttpSettings::default()
        };
        let client = HttpClient::with_settings(&url, settings).unwrap();
        let e = client.post_json("/v3/x", "{}").unwrap_err();
        assert_eq!(e.status, Status::DeadlineExceeded, "{e}");
        assert!(e.message.contains("reading the status line"), "{e}");
        drop(client);
        server.join().unwrap();
    }

    #[test]
    fn nobody_listening_is_unavailable_and_says_what_to_check() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = HttpClient::new(&format!("http://127.0.0.1:{port}"))
            .unwrap()
            .post_json("/v3/x", "{}")
            .unwrap_err();
        assert_eq!(e.status, Status::Unavailable);
        assert!(e.message.contains("is the server running"), "{e}");
    }

    #[test]
    fn a_stream_hands_out_chunks_one_by_one() {
        let (url, _server) = serve_once(Some(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n3\r\n[1]\r\n0\r\n\r\n",
        ));
        let client = HttpClient::new(&url).unwrap();
        let d = Deadline::after(Duration::from_secs(5));
        let mut s = client.post_stream("/v3/watch", b"{}", d).unwrap();
        assert_eq!(s.status(), 200);
        assert_eq!(s.next_chunk(d).unwrap().unwrap(), b"{}");
        assert_eq!(s.next_chunk(d).unwrap().unwrap(), b"[1]");
        assert_eq!(s.next_chunk(d).unwrap(), None);
    }

    #[test]
    fn a_path_that_could_inject_headers_is_refused() {
        let client = HttpClient::new("http://127.0.0.1:9").unwrap();
        let e = client
            .post_json("/a HTTP/1.1\r\nX-Evil: 1", "{}")
            .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument, "{e}");
    }
}
