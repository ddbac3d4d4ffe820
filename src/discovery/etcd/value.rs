//! What is stored under an instance's key: the [`Instance`] as JSON.
//!
//! ```text
//!  key   /minirpc/services/Arith/stable/1.0.0/<ip>:<port>
//!  value {"service":"Arith","group":"stable","version":"1.0.0",
//!         "addr":"<ip>:<port>","weight":100,"metadata":{"zone":"a"},
//!         "registered_at_ms":1764633600000}
//! ```
//!
//! Every field is written, so a consumer in another language (or
//! `etcdctl get --prefix /minirpc/`) reads the whole instance from the value
//! alone. A value anyone could have written is untrusted input: one that
//! does not decode is skipped with a warning naming its key, never a panic,
//! and never the end of the consumer's list.

use super::Query;
use crate::discovery::Instance;
use crate::json::{self, Json};
use std::collections::BTreeMap;

/// `instance` as the JSON text stored in etcd.
pub fn encode(instance: &Instance) -> String {
    let mut out = String::from("{\"service\":");
    json::write_string(&mut out, &instance.service);
    out.push_str(",\"group\":");
    json::write_string(&mut out, &instance.group);
    out.push_str(",\"version\":");
    json::write_string(&mut out, &instance.version);
    out.push_str(",\"addr\":");
    json::write_string(&mut out, &instance.addr.to_string());
    out.push_str(&format!(",\"weight\":{},\"metadata\":{{", instance.weight));
    for (i, (k, v)) in instance.metadata.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_string(&mut out, k);
        out.push(':');
        json::write_string(&mut out, v);
    }
    out.push_str(&format!(
        "}},\"registered_at_ms\":{}}}",
        instance.registered_at_ms
    ));
    out
}

/// The instance in a stored value, or what is wrong with it.
pub fn decode(bytes: &[u8]) -> Result<Instance, String> {
    let v = json::parse(bytes, 8).map_err(|e| e.message)?;
    let text = |name: &str| match v.get(name) {
        Some(Json::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("\"{name}\" is {}, not a string", other.kind())),
        None => Err(format!("\"{name}\" is missing")),
    };
    let number = |name: &str| match v.get(name) {
        Some(Json::Number(n)) => n
            .parse::<u64>()
            .map_err(|_| format!("\"{name}\" is {n}, not a whole number")),
        Some(other) => Err(format!("\"{name}\" is {}, not a number", other.kind())),
        None => Err(format!("\"{name}\" is missing")),
    };
    let addr = text("addr")?;
    let mut metadata = BTreeMap::new();
    match v.get("metadata") {
        Some(Json::Object(members)) => {
            for (k, val) in members {
                let Json::String(s) = val else {
                    return Err(format!("metadata {k:?} is {}, not a string", val.kind()));
                };
                metadata.insert(k.clone(), s.clone());
            }
        }
        Some(other) => return Err(format!("\"metadata\" is {}, not an object", other.kind())),
        None => return Err("\"metadata\" is missing".into()),
    }
    Ok(Instance {
        service: text("service")?,
        group: text("group")?,
        version: text("version")?,
        addr: addr
            .parse()
            .map_err(|_| format!("\"addr\" {addr:?} is not an ip:port address"))?,
        weight: u32::try_from(number("weight")?)
            .map_err(|_| "\"weight\" is too large".to_owned())?,
        metadata,
        registered_at_ms: number("registered_at_ms")?,
    })
}

/// The instance stored as `value` under `key`, if it decodes and belongs
/// to `query`; a value that does not decode is reported on stderr (with
/// its key) and skipped.
pub fn instance_at(key: &[u8], value: &[u8], query: &Query) -> Option<Instance> {
    match decode(value) {
        Ok(i) if i.matches(&query.service, &query.group, &query.version) => Some(i),
        Ok(i) => {
            eprintln!(
                "minirpc: skipping etcd key {:?}: it holds {i}, which does not belong under it",
                String::from_utf8_lossy(key)
            );
            None
        }
        Err(why) => {
            eprintln!(
                "minirpc: skipping etcd key {:?}: its value is not a minirpc instance ({why})",
                String::from_utf8_lossy(key)
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_survives_the_round_trip() {
        let i = Instance::new("Ar\"ith", ([127, 0, 0, 1], 7001).into())
            .group("stable")
            .version("1.0.0")
            .weight(7)
            .meta("zone", "a\nb")
            .meta("host", "h1");
        let text = encode(&i);
        assert!(
            text.starts_with("{\"service\":\"Ar\\\"ith\",\"group\":\"stable\""),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes()).unwrap(), i);
        let v6 = Instance::new("A", "[::1]:80".parse().unwrap());
        assert_eq!(decode(encode(&v6).as_bytes()).unwrap(), v6);
    }

    #[test]
    fn values_that_are_not_instances_say_why() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        let ok = encode(&Instance::new("A", addr));
        for (bad, why) in [
            ("not json{".to_owned(), "line 1"),
            ("[]".to_owned(), "\"addr\" is missing"),
            (ok.replace(&addr.to_string(), "nowhere"), "not an ip:port"),
            (
                ok.replace("\"weight\":100", "\"weight\":-1"),
                "not a whole number",
            ),
            (
                ok.replace("\"weight\":100", "\"weight\":99999999999"),
                "too large",
            ),
            (
                ok.replace("\"metadata\":{}", "\"metadata\":{\"a\":1}"),
                "metadata \"a\"",
            ),
        ] {
            let e = decode(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
