//! The HTTP server against malformed and hostile input, over real sockets.
//!
//! Each bad-input case sends raw bytes, asserts the status line of the
//! answer and that the server then closed the connection, and finally that
//! the minirpc port of the same process still answers a call. No timing
//! is asserted: a timeout case only checks that its answer comes at all,
//! within a generous bound.

mod common;

use common::{assert_serves, PATIENCE};
use minirpc::gateway::Gateway;
use minirpc::http::{HttpLimits, HttpRequest, HttpResponse, HttpServer, HttpServerHandle, Router};
use minirpc::{Server, ServerHandle};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A minirpc server with Multiply, and an HTTP server in front of it whose
/// timeouts are short enough for a test to wait them out.
fn servers(settings: HttpServer) -> (ServerHandle, HttpServerHandle) {
    let mut server = Server::new();
    server.register("Multiply", |(l, r): (i32, i32)| Ok(l * r));
    let rpc = server.serve(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let router = Router::new()
        .mount("/call/", Gateway::new(&rpc))
        .mount("/panic", |_: &HttpRequest| -> HttpResponse {
            panic!("a handler bug")
        });
    let http = settings
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)), router)
        .unwrap();
    (rpc, http)
}

fn short_timeouts() -> HttpServer {
    HttpServer {
        limits: HttpLimits {
            header_timeout: Duration::from_millis(300),
            body_timeout: Duration::from_millis(300),
            max_body_bytes: 1024,
            ..HttpLimits::default()
        },
        idle_timeout: PATIENCE,
        ..HttpServer::default()
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Everything the server sends until it closes; panics if it does not
/// close within PATIENCE.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let give_up = Instant::now() + PATIENCE * 2;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&all).into_owned(),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&all).into_owned()
            }
            Err(e) => panic!(
                "the server did not close the connection ({e}); it sent {:?}",
                String::from_utf8_lossy(&all)
            ),
        }
        assert!(Instant::now() < give_up, "the server kept sending");
    }
}

/// Send `bytes`, and expect one answer starting with `status_line`, then
/// the close.
fn refused_with(http: &HttpServerHandle, bytes: &[u8], status_line: &str) -> String {
    let mut s = connect(http.local_addr());
    s.write_all(bytes).unwrap();
    let answer = read_to_close(&mut s);
    assert!(
        answer.starts_with(status_line),
        "expected {status_line:?}, got {answer:?}"
    );
    assert!(answer.contains("Connection: close\r\n"), "{answer:?}");
    answer
}

const MULTIPLY: &[u8] =
    b"POST /call/Multiply HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n[10,20]";

#[test]
fn a_bad_request_line_gets_400_and_a_close() {
    let (rpc, http) = servers(short_timeouts());
    for bad in [
        &b"HELLO\r\n\r\n"[..],
        b"POST /call/Multiply\r\n\r\n",
        b"POST call/Multiply HTTP/1.1\r\n\r\n",
        b"POST /call/Multiply HTTP/1.1 x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        refused_with(&http, bad, "HTTP/1.1 400 ");
    }
    assert_serves(rpc.local_addr());
}

#[test]
fn sixty_four_kib_of_headers_get_431_and_a_close() {
    let (rpc, http) = servers(short_timeouts());
    let mut req = b"GET /call/Multiply HTTP/1.1\r\n".to_vec();
    while req.len() < 64 * 1024 {
        req.extend_from_slice(b"X-Filler: 0123456789abcdef0123456789abcdef\r\n");
    }
    req.extend_from_slice(b"\r\n");
    refused_with(&http, &req, "HTTP/1.1 431 ");
    assert_serves(rpc.local_addr());
}

#[test]
fn a_request_line_longer_than_the_limit_gets_414() {
    let (rpc, http) = servers(short_timeouts());
    let mut req = b"GET /".to_vec();
    req.resize(20 * 1024, b'a');
    req.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    refused_with(&http, &req, "HTTP/1.1 414 ");
    assert_serves(rpc.local_addr());
}

#[test]
fn headers_that_never_finish_get_408_and_a_close() {
    let (rpc, http) = servers(short_timeouts());
    let answer = refused_with(
        &http,
        b"POST /call/Multiply HTTP/1.1\r\nHost: t\r\nX-Slow: ",
        "HTTP/1.1 408 ",
    );
    assert!(answer.contains("header_timeout"), "{answer}");
    assert_serves(rpc.local_addr());
}

#[test]
fn a_body_on_get_gets_400_and_a_close() {
    let (rpc, http) = servers(short_timeouts());
    refused_with(
        &http,
        b"GET /call/Multiply HTTP/1.1\r\nContent-Length: 7\r\n\r\n[10,20]",
        "HTTP/1.1 400 ",
    );
    assert_serves(rpc.local_addr());
}

#[test]
fn a_content_length_longer_than_the_body_sent_then_close_gets_400() {
    let (rpc, http) = servers(short_timeouts());
    let mut s = connect(http.local_addr());
    s.write_all(b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 100\r\n\r\n[10,20]")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let answer = read_to_close(&mut s);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer:?}");
    assert!(
        answer.contains("after 7 of the 100 body bytes"),
        "{answer:?}"
    );
    assert_serves(rpc.local_addr());
}

#[test]
fn a_content_length_longer_than_the_body_that_never_comes_gets_408() {
    let (rpc, http) = servers(short_timeouts());
    let answer = refused_with(
        &http,
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 100\r\n\r\n[10,20]",
        "HTTP/1.1 408 ",
    );
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_serves(rpc.local_addr());
}

#[test]
fn a_content_length_shorter_than_the_body_leaves_garbage_that_gets_400() {
    let (rpc, http) = servers(short_timeouts());
    // Content-Length 3 takes "[10"; ",20]" is then read as the next request.
    let mut s = connect(http.local_addr());
    s.write_all(b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 3\r\n\r\n[10,20]\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut s);
    assert!(
        answer.starts_with("HTTP/1.1 400 "),
        "first: bad args {answer:?}"
    );
    assert!(answer.contains("INVALID_ARGUMENT"), "{answer:?}");
    let second = answer.find("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain");
    assert!(second.is_some(), "then the garbage is refused: {answer:?}");
    assert_serves(rpc.local_addr());
}

#[test]
fn pipelined_requests_are_answered_in_order_and_pipelined_garbage_closes() {
    let (rpc, http) = servers(short_timeouts());
    let mut s = connect(http.local_addr());
    let mut bytes = MULTIPLY.to_vec();
    bytes.extend_from_slice(MULTIPLY);
    bytes.extend_from_slice(b"\x00\x01garbage that is no request\r\n\r\n");
    bytes.extend_from_slice(MULTIPLY); // never read: the connection is closed first
    s.write_all(&bytes).unwrap();
    let answer = read_to_close(&mut s);
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &answer[i..i + 12])
        .collect();
    assert_eq!(
        statuses,
        ["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 400"],
        "{answer:?}"
    );
    assert_serves(rpc.local_addr());
}

#[test]
fn garbage_sent_a_byte_at_a_time_gets_400() {
    let (rpc, http) = servers(short_timeouts());
    let mut s = connect(http.local_addr());
    for b in b"NOT HTTP AT ALL\r\n\r\n" {
        // The server may answer (and close) before the last bytes.
        if s.write_all(&[*b]).is_err() {
            break;
        }
    }
    let answer = read_to_close(&mut s);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer:?}");
    assert_serves(rpc.local_addr());
}

#[test]
fn a_slow_request_a_byte_at_a_time_completes_within_the_timeout() {
    let patient = HttpServer {
        limits: HttpLimits {
            header_timeout: PATIENCE * 4,
            body_timeout: PATIENCE * 4,
            ..HttpLimits::default()
        },
        ..HttpServer::default()
    };
    let (rpc, http) = servers(patient);
    let mut s = connect(http.local_addr());
    let req = b"POST /call/Multiply HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 7\r\n\r\n[10,20]";
    for b in req {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let answer = read_to_close(&mut s);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.ends_with("\r\n\r\n200"), "{answer:?}");
    assert_eq!(http.stats().refused, 0);
    assert_serves(rpc.local_addr());
}

#[test]
fn chunked_bodies_are_refused_with_411_and_oversized_ones_with_413() {
    let (rpc, http) = servers(short_timeouts());
    refused_with(
        &http,
        b"POST /call/Multiply HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n[10,20]\r\n0\r\n\r\n",
        "HTTP/1.1 411 ",
    );
    refused_with(
        &http,
        b"POST /call/Multiply HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n[10,20]",
        "HTTP/1.1 400 ",
    );
    let answer = refused_with(
        &http,
        b"POST /call/Multiply HTTP/1.1\r\nContent-Length: 5000\r\n\r\n",
        "HTTP/1.1 413 ",
    );
    assert!(answer.contains("max_body_bytes"), "{answer}");
    refused_with(&http, b"GET / HTTP/2.0\r\n\r\n", "HTTP/1.1 505 ");
    assert_serves(rpc.local_addr());
}

#[test]
fn http_1_0_and_connection_close_get_one_answer_then_a_close() {
    let (rpc, http) = servers(short_timeouts());
    for req in [
        &b"POST /call/Multiply HTTP/1.0\r\nContent-Length: 7\r\n\r\n[10,20]"[..],
        b"POST /call/Multiply HTTP/1.1\r\nConnection: close\r\nContent-Length: 7\r\n\r\n[10,20]",
    ] {
        let answer = refused_with(&http, req, "HTTP/1.1 200 OK\r\n");
        assert!(answer.ends_with("\r\n\r\n200"), "{answer:?}");
    }
    assert_serves(rpc.local_addr());
}

#[test]
fn an_idle_keep_alive_connection_is_closed_quietly() {
    let settings = HttpServer {
        idle_timeout: Duration::from_millis(200),
        ..HttpServer::default()
    };
    let (rpc, http) = servers(settings);
    let mut s = connect(http.local_addr());
    s.write_all(MULTIPLY).unwrap();
    let answer = read_to_close(&mut s);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.contains("Connection: keep-alive\r\n"), "{answer:?}");
    assert_eq!(
        answer.matches("HTTP/1.1").count(),
        1,
        "no answer to idleness"
    );
    assert_serves(rpc.local_addr());
}

#[test]
fn a_panicking_handler_gets_500_and_the_server_goes_on() {
    let (rpc, http) = servers(short_timeouts());
    refused_with(&http, b"GET /panic HTTP/1.1\r\n\r\n", "HTTP/1.1 500 ");
    let mut s = connect(http.local_addr());
    s.write_all(b"POST /call/Multiply HTTP/1.0\r\nContent-Length: 7\r\n\r\n[10,20]")
        .unwrap();
    assert!(read_to_close(&mut s).ends_with("200"));
    assert_serves(rpc.local_addr());
}

#[test]
fn a_connection_flood_past_the_cap_gets_503_and_the_server_recovers() {
    let settings = HttpServer {
        max_connections: 4,
        ..short_timeouts()
    };
    let (rpc, http) = servers(settings);
    let held: Vec<TcpStream> = (0..4).map(|_| connect(http.local_addr())).collect();
    // Each held connection answers, so all four are being served.
    for mut s in held.iter() {
        s.write_all(MULTIPLY).unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
    }
    for _ in 0..8 {
        let mut extra = connect(http.local_addr());
        let answer = read_to_close(&mut extra);
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
        assert!(answer.contains("max_connections"), "{answer:?}");
    }
    assert_eq!(http.stats().over_capacity, 8);
    assert_serves(rpc.local_addr());
    drop(held);
    // Once the flood leaves, a newcomer is served again.
    let give_up = Instant::now() + PATIENCE;
    while http.stats().connections > 0 {
        assert!(Instant::now() < give_up, "connections were not released");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut s = connect(http.local_addr());
    s.write_all(b"POST /call/Multiply HTTP/1.0\r\nContent-Length: 7\r\n\r\n[10,20]")
        .unwrap();
    assert!(read_to_close(&mut s).ends_with("200"));
}
