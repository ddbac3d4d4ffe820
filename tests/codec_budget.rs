//! The decode budget, as a specification (原理 › 序列化; chapter 03, "The
//! decode budget"): decoding a message may build at most
//! `Limits::max_decoded_factor` bytes of memory per byte received (at least
//! `Limits::min_decode_budget`), in both formats; past that it is refused
//! with `ResourceExhausted` and a message naming the setting. Ordinary
//! messages, large ones included, never come near it.
//!
//! The hostile inputs here all decoded before the budget existed: a length
//! check against the bytes left let each of them through.

use minirpc::codec::{
    decode_as, from_bytes, from_json, to_bytes, to_json, CodecId, JsonCx, Limits,
};
use minirpc::json::{self, Json};
use minirpc::{record, RpcError, Status};
use std::collections::HashMap;

record! {
    /// 48 `u64`s: 384 bytes in memory, like a `[u64; 48]`. As an
    /// `Option<Wide>`, `None` is one byte on the wire and 392 in a `Vec`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Wide {
        a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64, a6: u64, a7: u64,
        b0: u64, b1: u64, b2: u64, b3: u64, b4: u64, b5: u64, b6: u64, b7: u64,
        c0: u64, c1: u64, c2: u64, c3: u64, c4: u64, c5: u64, c6: u64, c7: u64,
        d0: u64, d1: u64, d2: u64, d3: u64, d4: u64, d5: u64, d6: u64, d7: u64,
        e0: u64, e1: u64, e2: u64, e3: u64, e4: u64, e5: u64, e6: u64, e7: u64,
        f0: u64, f1: u64, f2: u64, f3: u64, f4: u64, f5: u64, f6: u64, f7: u64,
    }
}

/// `count` as a u32 length prefix, then `count` bytes of `00` (each a
/// `None`): the wide-element attack in binary.
fn nones(count: usize) -> Vec<u8> {
    let mut bytes = (count as u32).to_be_bytes().to_vec();
    bytes.resize(4 + count, 0);
    bytes
}

/// `[null,null,...]` of `count` elements: the same attack in JSON.
fn json_nulls(count: usize) -> Vec<u8> {
    let mut text = b"[".to_vec();
    for i in 0..count {
        text.extend_from_slice(if i == 0 { b"null" } else { b",null" });
    }
    text.push(b']');
    text
}

/// The refusal every test here expects: the status, and a message that
/// names the setting to change.
fn assert_over_budget<T>(r: Result<T, RpcError>) -> String {
    let e = match r {
        Ok(_) => panic!("decoded a {} past the budget", std::any::type_name::<T>()),
        Err(e) => e,
    };
    assert_eq!(e.status, Status::ResourceExhausted, "{e}");
    assert!(e.message.contains("Limits::max_decoded_factor"), "{e}");
    e.message
}

#[test]
fn a_quarter_mebibyte_of_wide_nones_is_refused_instead_of_building_a_hundred_mebibytes() {
    // 262,140 Nones: 256 KiB on the wire, 98 MiB as a Vec<Option<Wide>>.
    let bytes = nones(256 * 1024 - 4);
    let m = assert_over_budget(from_bytes::<Vec<Option<Wide>>>(&bytes, Limits::default()));
    assert!(m.contains("decoding a Vec needs 102758880 bytes"), "{m}");
}

#[test]
fn a_map_of_wide_nones_is_refused_too() {
    // Five bytes an entry on the wire (a u32 key and a None), hundreds in
    // the table.
    let mut bytes = 50_000u32.to_be_bytes().to_vec();
    for key in 0..50_000u32 {
        bytes.extend_from_slice(&key.to_be_bytes());
        bytes.push(0);
    }
    assert_over_budget(from_bytes::<HashMap<u32, Option<Wide>>>(
        &bytes,
        Limits::default(),
    ));
}

#[test]
fn twelve_bytes_claiming_millions_of_empty_vectors_are_refused() {
    // Two inner Vec<()>, each claiming 4,194,304 elements: zero bytes each
    // on the wire, but a loop turn each in the decoder.
    let bytes = [0, 0, 0, 2, 0, 0x40, 0, 0, 0, 0x40, 0, 0];
    assert_over_budget(from_bytes::<Vec<Vec<()>>>(&bytes, Limits::default()));
    assert_over_budget(from_bytes::<Vec<()>>(&bytes[4..8], Limits::default()));
}

#[test]
fn json_nulls_read_as_wide_nones_are_refused() {
    // 52,428 nulls, 256 KiB of text, 20 MiB as a Vec<Option<Wide>>.
    let text = json_nulls(256 * 1024 / 5);
    let cx = JsonCx::unchecked();
    assert_over_budget(from_json::<Vec<Option<Wide>>>(
        &text,
        Limits::default(),
        &cx,
    ));
}

#[test]
fn both_codecs_refuse_through_decode_as() {
    let cx = JsonCx::unchecked();
    let binary = nones(100_000);
    assert_over_budget(decode_as::<Vec<Option<Wide>>>(
        CodecId::Binary,
        &binary,
        Limits::default(),
        &cx,
    ));
    let text = json_nulls(100_000);
    assert_over_budget(decode_as::<Vec<Option<Wide>>>(
        CodecId::Json,
        &text,
        Limits::default(),
        &cx,
    ));
}

/// The bytes a parsed tree holds, counted by walking it: each node where it
/// lives (its parent's buffer), plus every string's and buffer's capacity.
fn tree_bytes(v: &Json) -> usize {
    let node = std::mem::size_of::<Json>();
    node + match v {
        Json::Null | Json::Bool(_) | Json::Number(_) => 0,
        Json::String(s) => s.capacity(),
        Json::Array(items) => {
            (items.capacity() - items.len()) * node + items.iter().map(tree_bytes).sum::<usize>()
        }
        Json::Object(members) => {
            let member = std::mem::size_of::<(String, Json)>();
            members.capacity() * member
                + members
                    .iter()
                    .map(|(k, v)| k.capacity() + tree_bytes(v) - node)
                    .sum::<usize>()
        }
    }
}

/// `[e,e,...]`, just under 4 MiB (the default `max_len`).
fn four_mebibytes_of(element: &str) -> Vec<u8> {
    let count = (4 * 1024 * 1024 - 2) / (element.len() + 1);
    let mut text = b"[".to_vec();
    for i in 0..count {
        if i > 0 {
            text.push(b',');
        }
        text.extend_from_slice(element.as_bytes());
    }
    text.push(b']');
    text
}

#[test]
fn a_tree_of_nested_one_element_arrays_holds_one_node_per_pair_of_brackets() {
    // Each `[...]` is two bytes of text and one 32-byte node: 16 bytes of
    // tree per byte of text. A `Vec` that reserves four slots on its first
    // push made this 59.
    let text = four_mebibytes_of("[[[[[[[[7]]]]]]]]");
    let tree = json::parse(&text, Limits::default().max_depth).unwrap();
    let per_byte = tree_bytes(&tree) as f64 / text.len() as f64;
    assert!(
        per_byte <= 16.5,
        "the tree holds {per_byte:.1} bytes per byte of text"
    );
}

#[test]
fn four_mebibytes_of_nested_one_element_arrays_decode_within_the_default_budget() {
    type Deep = Vec<Vec<Vec<Vec<Vec<Vec<Vec<Vec<Vec<u8>>>>>>>>>;
    let text = four_mebibytes_of("[[[[[[[[7]]]]]]]]");
    let v: Deep = from_json(&text, Limits::default(), &JsonCx::unchecked()).unwrap();
    assert_eq!(v.len(), (4 * 1024 * 1024 - 2) / 18);
}

#[test]
fn ordinary_large_binary_messages_decode_under_the_default_limits() {
    let bytes = vec![7u8; 1024 * 1024];
    assert_eq!(
        from_bytes::<Vec<u8>>(&to_bytes(&bytes), Limits::default()).unwrap(),
        bytes
    );
    let text = "x".repeat(1024 * 1024);
    assert_eq!(
        from_bytes::<String>(&to_bytes(&text), Limits::default()).unwrap(),
        text
    );
    let numbers: Vec<u64> = (0..100_000).collect();
    assert_eq!(
        from_bytes::<Vec<u64>>(&to_bytes(&numbers), Limits::default()).unwrap(),
        numbers
    );
    // The costliest ordinary shape: a None is 1 byte on the wire and 24 in
    // memory, under the default factor of 32.
    let empty: Vec<Option<String>> = vec![None; 100_000];
    assert_eq!(
        from_bytes::<Vec<Option<String>>>(&to_bytes(&empty), Limits::default()).unwrap(),
        empty
    );
}

#[test]
fn ordinary_large_json_messages_decode_under_the_default_limits() {
    let cx = JsonCx::unchecked();
    let numbers: Vec<u64> = (0..100_000).collect();
    let back: Vec<u64> = from_json(to_json(&numbers).as_bytes(), Limits::default(), &cx).unwrap();
    assert_eq!(back, numbers);
    let digits = vec![7u8; 1_000_000];
    let back: Vec<u8> = from_json(to_json(&digits).as_bytes(), Limits::default(), &cx).unwrap();
    assert_eq!(back, digits);
    let words: Vec<String> = (0..100_000).map(|i| format!("SKU-{i:04}")).collect();
    let back: Vec<String> = from_json(to_json(&words).as_bytes(), Limits::default(), &cx).unwrap();
    assert_eq!(back, words);
}

#[test]
fn a_small_message_of_wide_nones_fits_in_the_floor() {
    // 100 Nones: 104 bytes, 39,200 in memory, 377 times the input but
    // under min_decode_budget.
    let v: Vec<Option<Wide>> = from_bytes(&nones(100), Limits::default()).unwrap();
    assert_eq!(v.len(), 100);
}

#[test]
fn raising_max_decoded_factor_lets_a_wide_message_through() {
    let bytes = nones(10_000);
    assert_over_budget(from_bytes::<Vec<Option<Wide>>>(&bytes, Limits::default()));
    let generous = Limits {
        max_decoded_factor: 512,
        ..Limits::default()
    };
    let v: Vec<Option<Wide>> = from_bytes(&bytes, generous).unwrap();
    assert_eq!(v.len(), 10_000);
}

#[test]
fn a_budget_refusal_inside_a_record_keeps_its_status() {
    record! {
        #[derive(Debug)]
        pub struct Holder { pub label: String, pub slots: Vec<Option<Wide>> }
    }
    let text = format!(
        r#"{{"@type":"Holder","label":"x","slots":{}}}"#,
        String::from_utf8(json_nulls(20_000)).unwrap()
    );
    let m = assert_over_budget(from_json::<Holder>(
        text.as_bytes(),
        Limits::default(),
        &JsonCx::unchecked(),
    ));
    assert!(m.starts_with("Holder.slots: "), "{m}");
    let mut bytes = to_bytes("x");
    bytes.extend_from_slice(&nones(20_000));
    assert_over_budget(from_bytes::<Holder>(&bytes, Limits::default()));
}
