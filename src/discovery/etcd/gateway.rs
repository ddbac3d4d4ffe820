//! [`Gateway`]: the handful of etcd v3 calls the registry makes, as typed
//! Rust functions over the JSON gateway.
//!
//! Each call is one `POST /v3/<service>/<method>` with a JSON body and a
//! JSON answer (the gRPC API, mapped to JSON by grpc-gateway). The mapping
//! has three habits that every function here deals with:
//!
//! - `bytes` fields (keys, values) are base64 text;
//! - `int64` fields (revisions, lease ids, TTLs) are JSON *strings*, since
//!   a JSON number may not hold 64 bits exactly in every language;
//! - a field at its default value (0, "", false, empty list) is left out,
//!   so "no `kvs`" means an empty range, and "no `TTL`" means TTL 0.

use super::EtcdSettings;
use crate::codec::{Budget, Limits};
use crate::error::{RpcError, Status};
use crate::http::{base64, HttpClient, HttpSettings, Response, Stream, Url};
use crate::json::{self, Json};
use crate::time::Deadline;

/// One key and its value, decoded from base64.
pub struct Kv {
    /// The key.
    pub key: Vec<u8>,
    /// The value (empty when etcd left it out).
    pub value: Vec<u8>,
}

/// The answer to a range: the store's revision when it was read, and
/// every key in the range.
pub struct Range {
    /// The revision the range was read at; a watch from `revision + 1`
    /// sees every change after it.
    pub revision: i64,
    /// The keys and values, in key order.
    pub kvs: Vec<Kv>,
}

/// One message of a watch stream.
pub enum WatchMessage {
    /// The watch is set up (the first message).
    Created,
    /// Changes, in order (a revision's changes come together).
    Events(Vec<Event>),
    /// The revision asked for was compacted away: list again.
    Compacted(i64),
    /// etcd cancelled the watch, for this reason.
    Canceled(String),
    /// The stream failed (e.g. etcd shutting down: "transport is closing").
    Error(String),
    /// A message with nothing to act on (a progress notification).
    Nothing,
}

/// One change to one key.
pub struct Event {
    /// `"type":"DELETE"` (an explicit delete, a revoke or a lease expiry);
    /// otherwise a PUT, whose `type` is left out as the default.
    pub delete: bool,
    /// The key and (for a PUT) its new value.
    pub kv: Kv,
}

/// An etcd cluster's JSON gateway at one URL.
#[derive(Clone, Debug)]
pub struct Gateway {
    http: HttpClient,
}

impl Gateway {
    /// A gateway at `url`; nothing is sent yet.
    pub fn new(url: &str, settings: &EtcdSettings) -> Result<Gateway, RpcError> {
        let http = HttpClient::with_settings(
            url,
            HttpSettings {
                connect_timeout: settings.connect_timeout,
                request_timeout: settings.request_timeout,
                max_response_bytes: settings.max_response_bytes,
            },
        )?;
        Ok(Gateway { http })
    }

    /// The gateway's URL.
    pub fn url(&self) -> &Url {
        self.http.url()
    }

    /// The request timeout every unary call uses.
    pub fn request_timeout(&self) -> std::time::Duration {
        self.http.settings().request_timeout
    }

    /// `/v3/maintenance/status`: etcd's version, proving the URL is an etcd
    /// gateway that answers.
    pub fn status(&self) -> Result<String, RpcError> {
        let path = "/v3/maintenance/status";
        let v = self.call(path, "{}", None)?;
        if header_revision(&v).is_none() {
            return Err(self.odd(path, "no header.revision"));
        }
        match v.get("version") {
            Some(Json::String(s)) => Ok(s.clone()),
            _ => Ok("unknown".into()),
        }
    }

    /// `/v3/lease/grant`: a new lease of `ttl` seconds; returns its id and
    /// the TTL etcd granted (it raises TTLs below its minimum, 2 s by default).
    pub fn grant(&self, ttl: i64) -> Result<(i64, i64), RpcError> {
        let v = self.call("/v3/lease/grant", &format!("{{\"TTL\":{ttl}}}"), None)?;
        let id = int64(&v, "ID")?.ok_or_else(|| self.odd("/v3/lease/grant", "no ID"))?;
        Ok((id, int64(&v, "TTL")?.unwrap_or(ttl)))
    }

    /// `/v3/kv/put` of `key` = `value`, attached to `lease` (0: none). An
    /// unknown lease is `NotFound` (etcd answers HTTP 404).
    pub fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<(), RpcError> {
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\",\"lease\":\"{lease}\"}}",
            base64::encode(key.as_bytes()),
            base64::encode(value)
        );
        self.call("/v3/kv/put", &body, None).map(drop)
    }

    /// `/v3/lease/keepalive`: renew `lease`, by `deadline`. `Some(ttl)` if
    /// it is alive; `None` if it has expired (etcd still answers 200, but
    /// leaves the TTL out).
    pub fn keepalive(&self, lease: i64, deadline: Deadline) -> Result<Option<i64>, RpcError> {
        let body = format!("{{\"ID\":\"{lease}\"}}");
        let v = self.call("/v3/lease/keepalive", &body, Some(deadline))?;
        // A streaming call: each answer is wrapped in "result".
        let r = v
            .get("result")
            .ok_or_else(|| self.odd("/v3/lease/keepalive", "no result"))?;
        Ok(int64(r, "TTL")?.filter(|&t| t > 0))
    }

    /// `/v3/lease/revoke`: end `lease` now, deleting its keys. A lease that
    /// is already gone (404) counts as revoked.
    pub fn revoke(&self, lease: i64) -> Result<(), RpcError> {
        match self.call("/v3/lease/revoke", &format!("{{\"ID\":\"{lease}\"}}"), None) {
            Err(e) if e.status == Status::NotFound => Ok(()),
            r => r.map(drop),
        }
    }

    /// `/v3/kv/range` over every key that starts with `prefix`.
    pub fn range(&self, prefix: &str) -> Result<Range, RpcError> {
        let path = "/v3/kv/range";
        let body = format!(
            "{{\"key\":\"{}\",\"range_end\":\"{}\"}}",
            base64::encode(prefix.as_bytes()),
            base64::encode(&prefix_end(prefix.as_bytes()))
        );
        let v = self.call(path, &body, None)?;
        let revision = header_revision(&v).ok_or_else(|| self.odd(path, "no header.revision"))?;
        let kvs = match v.get("kvs") {
            None => Vec::new(),
            Some(Json::Array(items)) => items
                .iter()
                .map(kv)
                .collect::<Result<_, _>>()
                .map_err(|why| self.odd(path, &why))?,
            Some(_) => return Err(self.odd(path, "kvs is not a list")),
        };
        // Never take part of a list for all of it (see the module docs).
        let count = int64(&v, "count")?.unwrap_or(0);
        if count != kvs.len() as i64 || matches!(v.get("more"), Some(Json::Bool(true))) {
            return Err(self.odd(path, &format!("count {count} but {} kvs", kvs.len())));
        }
        Ok(Range { revision, kvs })
    }

    /// `/v3/watch` of every key under `prefix`, from `start_revision` on;
    /// the stream's head must arrive by `deadline`.
    pub fn watch(
        &self,
        prefix: &str,
        start_revision: i64,
        deadline: Deadline,
    ) -> Result<Stream, RpcError> {
        let body = format!(
            "{{\"create_request\":{{\"key\":\"{}\",\"range_end\":\"{}\",\"start_revision\":\"{start_revision}\"}}}}",
            base64::encode(prefix.as_bytes()),
            base64::encode(&prefix_end(prefix.as_bytes()))
        );
        let stream = self
            .http
            .post_stream("/v3/watch", body.as_bytes(), deadline)?;
        if stream.status() != 200 {
            return Err(RpcError::unavailable(format!(
                "etcd at {} refused the watch with HTTP {}",
                self.url(),
                stream.status()
            )));
        }
        Ok(stream)
    }

    /// POST `body` to `path` and parse the JSON answer; a non-2xx status
    /// becomes an error carrying etcd's own message.
    fn call(&self, path: &str, body: &str, deadline: Option<Deadline>) -> Result<Json, RpcError> {
        let deadline = deadline.unwrap_or_else(|| Deadline::after(self.request_timeout()));
        let r = self.http.post(path, body.as_bytes(), deadline)?;
        let v = parse(&r.body).map_err(|e| self.odd(path, &format!("not JSON: {}", e.message)));
        if !r.is_success() {
            return Err(self.refused(path, &r, v.ok()));
        }
        v
    }

    fn refused(&self, path: &str, r: &Response, v: Option<Json>) -> RpcError {
        let msg = v.as_ref().map_or_else(|| r.text(), error_text);
        let status = match r.status {
            404 => Status::NotFound,
            429 | 500..=599 => Status::Unavailable,
            _ => Status::Internal,
        };
        RpcError::new(
            status,
            format!(
                "etcd at {} answered HTTP {} to {path}: {msg}",
                self.url(),
                r.status
            ),
        )
    }

    /// An answer that is not what etcd sends: say so, and what to check.
    fn odd(&self, path: &str, why: &str) -> RpcError {
        RpcError::internal(format!(
            "the answer of {} to {path} is not etcd's ({why}); is this the client URL of an \
             etcd v3.4+ server?",
            self.url()
        ))
    }
}

/// Parse one message of a watch stream.
pub fn watch_message(bytes: &[u8]) -> Result<WatchMessage, String> {
    let v = parse(bytes).map_err(|e| format!("a watch message is not JSON: {}", e.message))?;
    if let Some(e) = v.get("error") {
        return Ok(WatchMessage::Error(error_text(e)));
    }
    let r = v
        .get("result")
        .ok_or("a watch message has neither result nor error")?;
    if let Some(rev) = int64(r, "compact_revision")
        .map_err(|e| e.message)?
        .filter(|&c| c > 0)
    {
        return Ok(WatchMessage::Compacted(rev));
    }
    if matches!(r.get("canceled"), Some(Json::Bool(true))) {
        let why = match r.get("cancel_reason") {
            Some(Json::String(s)) => s.clone(),
            _ => "no reason given".into(),
        };
        return Ok(WatchMessage::Canceled(why));
    }
    if matches!(r.get("created"), Some(Json::Bool(true))) {
        return Ok(WatchMessage::Created);
    }
    match r.get("events") {
        None => Ok(WatchMessage::Nothing),
        Some(Json::Array(events)) => events
            .iter()
            .map(|e| {
                let delete = matches!(e.get("type"), Some(Json::String(t)) if t == "DELETE");
                Ok(Event {
                    delete,
                    kv: kv(e.get("kv").ok_or("an event has no kv")?)?,
                })
            })
            .collect::<Result<_, String>>()
            .map(WatchMessage::Events),
        Some(_) => Err("events is not a list".into()),
    }
}

/// The keys after every key that starts with `prefix`: the prefix with its
/// last byte plus one (bytes of 0xff carried away). No such key (all 0xff,
/// or empty): `"\0"`, which etcd reads as "to the end".
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn parse(bytes: &[u8]) -> Result<Json, RpcError> {
    let limits = Limits::default();
    json::parse_within(bytes, 16, &Budget::for_input(bytes.len(), &limits))
}

/// A proto3 `int64`: a JSON string (or, leniently, a number); `None` when
/// left out.
fn int64(v: &Json, name: &str) -> Result<Option<i64>, RpcError> {
    let text = match v.get(name) {
        None => return Ok(None),
        Some(Json::String(s)) => s.as_str(),
        Some(Json::Number(n)) => n.as_str(),
        Some(other) => {
            return Err(RpcError::internal(format!(
                "etcd's {name} is {}, not an int64",
                other.kind()
            )))
        }
    };
    text.parse()
        .map(Some)
        .map_err(|_| RpcError::internal(format!("etcd's {name} {text:?} is not an int64")))
}

fn header_revision(v: &Json) -> Option<i64> {
    int64(v.get("header")?, "revision").ok()?
}

fn kv(v: &Json) -> Result<Kv, String> {
    let bytes = |name: &str| match v.get(name) {
        None => Ok(Vec::new()),
        Some(Json::String(s)) => base64::decode(s).map_err(|e| format!("{name}: {}", e.message)),
        Some(other) => Err(format!("{name} is {}, not base64 text", other.kind())),
    };
    let key = bytes("key")?;
    if key.is_empty() {
        return Err("a kv has no key".into());
    }
    Ok(Kv {
        key,
        value: bytes("value")?,
    })
}

/// etcd's error text: `{"error":"...","message":"...","code":5}` from a
/// unary call, `{"error":{"message":"...",...}}` at the end of a stream.
fn error_text(v: &Json) -> String {
    for candidate in [
        v.get("message"),
        v.get("error"),
        v.get("error").and_then(|e| e.get("message")),
        Some(v),
    ] {
        if let Some(Json::String(s)) = candidate {
            return s.clone();
        }
    }
    "no message".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_byte_plus_one() {
        assert_eq!(prefix_end(b"/minirpc/"), b"/minirpc0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), b"\0");
        assert_eq!(prefix_end(b""), b"\0");
    }

    #[test]
    fn watch_messages_as_etcd_3_4_sends_them() {
        let put = br#"{"result":{"header":{"revision":"2"},"events":[{"kv":{"key":"L21pbmlycGMveA==","create_revision":"2","mod_revision":"2","version":"1","value":"eyJhIjoxfQ==","lease":"41"}}]}}"#;
        let WatchMessage::Events(ev) = watch_message(put).unwrap() else {
            panic!("not events")
        };
        assert!(!ev[0].delete);
        assert_eq!(
            (ev[0].kv.key.as_slice(), ev[0].kv.value.as_slice()),
            (&b"/minirpc/x"[..], &b"{\"a\":1}"[..])
        );
        let del = br#"{"result":{"header":{"revision":"3"},"events":[{"type":"DELETE","kv":{"key":"L21pbmlycGMveA==","mod_revision":"3"}}]}}"#;
        let WatchMessage::Events(ev) = watch_message(del).unwrap() else {
            panic!("not events")
        };
        assert!(ev[0].delete && ev[0].kv.value.is_empty());
        let compacted =
            br#"{"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"5"}}"#;
        assert!(matches!(
            watch_message(compacted),
            Ok(WatchMessage::Compacted(5))
        ));
        let created = br#"{"result":{"header":{"revision":"6"},"created":true}}"#;
        assert!(matches!(watch_message(created), Ok(WatchMessage::Created)));
        let closing = br#"{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}}"#;
        assert!(
            matches!(watch_message(closing), Ok(WatchMessage::Error(m)) if m == "transport is closing")
        );
        for bad in [
            &b"{}"[..],
            b"garbage",
            br#"{"result":{"events":[{"kv":{"key":"!!"}}]}}"#,
        ] {
            assert!(
                watch_message(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
