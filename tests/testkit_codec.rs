//! `minirpc::testkit::check_codec`: minirpc's own encodings pass it, and
//! each deliberately broken codec fails the property it breaks, with the
//! input that showed it.

use minirpc::codec::{JsonCx, Reader};
use minirpc::json::Json;
use minirpc::testkit::{check_codec, codec_failures, Failure};
use minirpc::{Decode, Encode, RpcError};
use std::collections::BTreeMap;

minirpc::record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order { pub id: u64, pub items: Vec<String>, pub note: Option<String> }
}

minirpc::record! {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Shape { Empty, Circle { radius: f64 } }
}

#[test]
fn minirpc_encodings_pass_check_codec() {
    check_codec(&[0u8, 1, 255]);
    check_codec(&[i64::MIN, -1, 0, i64::MAX]);
    check_codec(&[String::new(), "héllo".to_string(), "x".repeat(300)]);
    check_codec(&[vec![], vec![1u64, u64::MAX], vec![7; 100]]);
    check_codec(&[None, Some(vec![Some(1u16), None])]);
    check_codec(&[BTreeMap::from([
        (1u32, "a".to_string()),
        (2, String::new()),
    ])]);
    check_codec(&[(1i32, 2i32), (i32::MIN, i32::MAX)]);
    check_codec(&[
        Order {
            id: 1,
            items: vec![],
            note: None,
        },
        Order {
            id: 2,
            items: vec!["a".into(), "bc".into()],
            note: Some("gift".into()),
        },
    ]);
    check_codec(&[Shape::Empty, Shape::Circle { radius: 1.5 }]);
}

/// The property names of the failures, in order.
fn broken(failures: &[Failure]) -> Vec<&'static str> {
    failures.iter().map(|f| f.property).collect()
}

fn message<'a>(failures: &'a [Failure], property: &str) -> &'a str {
    &failures
        .iter()
        .find(|f| f.property == property)
        .unwrap_or_else(|| panic!("no failure of {property:?} in {failures:?}"))
        .message
}

/// A byte string whose decoder takes the rest of the input, whatever it is.
#[derive(Debug, PartialEq)]
struct Greedy(Vec<u8>);

impl Encode for Greedy {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out);
    }
}

impl Decode for Greedy {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = r.remaining();
        Ok(Greedy(r.take(n, "the rest")?.to_vec()))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        Vec::<u8>::decode_json(v, cx).map(Greedy)
    }
}

#[test]
fn a_decoder_that_takes_the_rest_of_the_input_accepts_truncations_and_trailing_bytes() {
    let f = codec_failures(&[Greedy(vec![1, 2, 3])]);
    assert_eq!(
        broken(&f),
        ["every truncation is refused", "trailing bytes are refused"],
        "{f:?}"
    );
    assert!(
        message(&f, "trailing bytes are refused").contains("[01 02 03]"),
        "{f:?}"
    );
}

/// Length-prefixed bytes whose decoder believes the length: it reserves
/// what the prefix claims before it finds out the bytes are not there.
#[derive(Debug, PartialEq)]
struct Credulous(Vec<u8>);

impl Encode for Credulous {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.0.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.0);
    }
    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out);
    }
}

impl Decode for Credulous {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        let n = u32::from_be_bytes(r.array::<4>("a length")?) as usize;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(r.array::<1>("a byte")?[0]);
        }
        Ok(Credulous(v))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        Vec::<u8>::decode_json(v, cx).map(Credulous)
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_decoder_that_reserves_what_a_hostile_length_claims_is_caught() {
    let f = codec_failures(&[Credulous(vec![9, 9])]);
    assert_eq!(
        broken(&f),
        ["a hostile length is refused without reserving it"],
        "{f:?}"
    );
    let m = message(&f, "a hostile length is refused without reserving it");
    assert!(
        m.contains("ff ff ff ff") && m.contains("Reader::len"),
        "{m}"
    );
}

/// A number whose decoder answers 0 when the bytes run out.
#[derive(Debug, PartialEq)]
struct Forgiving(u32);

impl Encode for Forgiving {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out);
    }
}

impl Decode for Forgiving {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        Ok(Forgiving(
            r.array::<4>("a u32").map_or(0, u32::from_be_bytes),
        ))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        u32::decode_json(v, cx).map(Forgiving)
    }
}

#[test]
fn a_decoder_that_forgives_missing_bytes_fails_the_truncation_property() {
    let f = codec_failures(&[Forgiving(7)]);
    // A cut-off input decodes as 0, and so does every prefix: the bytes
    // left over are refused by `from_bytes` itself.
    assert!(broken(&f).contains(&"every truncation is refused"), "{f:?}");
    assert!(
        message(&f, "every truncation is refused").contains("Forgiving(0)"),
        "{f:?}"
    );
}

/// A value whose decoder loses its top bit.
#[derive(Debug, PartialEq)]
struct Lossy(u16);

impl Encode for Lossy {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_be_bytes());
    }
    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out);
    }
}

impl Decode for Lossy {
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        Ok(Lossy(u16::from_be_bytes(r.array::<2>("a u16")?) & 0x7fff))
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        u16::decode_json(v, cx).map(Lossy)
    }
}

#[test]
fn a_decoder_that_loses_a_bit_fails_the_round_trip_on_that_sample() {
    let f = codec_failures(&[Lossy(1), Lossy(0x8001)]);
    assert_eq!(broken(&f), ["every sample decodes back to itself"], "{f:?}");
    let m = message(&f, "every sample decodes back to itself");
    assert!(m.contains("Lossy(32769)") && m.contains("Lossy(1)"), "{m}");
}

#[test]
#[should_panic(expected = "every sample decodes back to itself")]
fn check_codec_panics_naming_the_broken_property() {
    check_codec(&[Lossy(0x8000)]);
}

#[test]
fn no_samples_is_a_failure_not_a_pass() {
    let f = codec_failures::<u8>(&[]);
    assert_eq!(broken(&f), ["the check has samples"], "{f:?}");
}

/// A number whose JSON form is off by one, while its binary form is right.
#[derive(Debug, PartialEq)]
struct OffByOne(u32);

impl Encode for OffByOne {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
    fn encode_json(&self, out: &mut String) {
        (self.0 + 1).encode_json(out);
    }
}

impl Decode for OffByOne {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        u32::decode(r).map(OffByOne)
    }
    fn decode_json(v: &Json, cx: &JsonCx<'_>) -> Result<Self, RpcError> {
        u32::decode_json(v, cx).map(OffByOne)
    }
}

#[test]
fn a_json_form_that_does_not_read_back_fails_only_the_json_round_trip() {
    let f = codec_failures(&[OffByOne(41)]);
    assert_eq!(
        broken(&f),
        ["every sample decodes back to itself from JSON"],
        "{f:?}"
    );
    assert!(
        message(&f, "every sample decodes back to itself from JSON").contains("is 42 in JSON"),
        "{f:?}"
    );
}
