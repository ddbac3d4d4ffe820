//! How much memory does decoding a message take, per byte of the message?
//!
//! ```text
//! cargo run --release --example decode_memory
//! ```
//!
//! Article: 原理 › 序列化. A length check says how many bytes a message
//! *has*; it says nothing about how much memory decoding it *builds*. This
//! example measures that factor for JSON, whose decoder first builds a whole
//! tree ([`minirpc::json::Json`]) and only then reads the value out of it.
//!
//! For each shape of input (about 4 MiB of text, the default frame limit)
//! it runs a fresh copy of itself, so each measurement starts from a clean
//! process, and reports two numbers per byte of text:
//!
//! - **tree**: the bytes the parsed tree holds, counted by walking it (every
//!   node, plus the capacity of every `String` and `Vec` in it). This is
//!   what the allocator was asked for; it adds its own bookkeeping on top.
//! - **peak**: how far the process's peak resident memory (`VmHWM` in
//!   `/proc/self/status`, Linux only) rose while parsing, which includes
//!   the allocator's overhead: what the machine really paid.
//!
//! Then it decodes the same text into a matching Rust type, and reports
//! - **charged**: how much of a decode budget the tree and the value took
//!   together, per byte of text (decoded once with no bound, to see it);
//! - whether `codec::from_json` with the default [`Limits`], as a server
//!   decodes, lets it through.
//!
//! The numbers are quoted in docs/03-serialization.md ("What the tree
//! costs, measured").

use minirpc::codec::{self, Budget, Decode, JsonCx, Limits};
use minirpc::json::{self, Json};
use minirpc::record;
use std::process::Command;

record! {
    /// One line of an order, as in `examples/codecs.rs`.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item {
        pub sku: String,
        pub qty: u32,
        pub price_cents: u64,
    }
}

/// About how much text each shape is made of: the default frame limit.
const TEXT_BYTES: usize = 4 * 1024 * 1024;

/// What a text of `[[[[[[[[7]]]]]]]]` elements decodes as: eight levels of
/// nesting in each element, nine with the outer array.
type Deep = Vec<Vec<Vec<Vec<Vec<Vec<Vec<Vec<Vec<u8>>>>>>>>>;

/// The shapes measured: a name, one element of the outer array, and what
/// the decode step reads the text as.
const SHAPES: &[(&str, &str)] = &[
    ("small numbers", "7"),
    ("u64 numbers", "1234567890123"),
    ("short strings", "\"SKU-0001\""),
    (
        "records (Item)",
        r#"{"@type":"Item","sku":"SKU-0001","qty":1,"price_cents":1999}"#,
    ),
    ("empty arrays", "[]"),
    ("one-element arrays", "[7]"),
    ("nested one-element arrays", "[[[[[[[[7]]]]]]]]"),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--shape") {
        let index: usize = args[i + 1].parse().expect("shape index");
        measure(index);
        return;
    }
    println!("Decoding JSON: memory per byte of text (原理 › 序列化)\n");
    println!(
        "{:<26} {:>10} {:>8} {:>8} {:>9}   from_json, Limits::default()",
        "shape", "text", "tree", "peak", "charged"
    );
    let me = std::env::current_exe().expect("current_exe");
    for index in 0..SHAPES.len() {
        // A fresh process per shape: VmHWM only ever goes up.
        let out = Command::new(&me)
            .args(["--shape", &index.to_string()])
            .output()
            .expect("run the measurement");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    println!("\ntree:    bytes the parsed tree holds / bytes of text");
    println!("peak:    rise in peak resident memory while parsing / bytes of text");
    println!("charged: decode budget used by the tree and the value / bytes of text");
    println!(
        "         (the default budget allows {}x)",
        Limits::default().max_decoded_factor
    );
}

/// `[e,e,e,...]` of at most [`TEXT_BYTES`], built in a buffer of its final
/// size so that building it leaves no peak of its own behind.
fn text_of(element: &str) -> Vec<u8> {
    let count = (TEXT_BYTES - 1) / (element.len() + 1);
    let mut text = Vec::with_capacity(count * (element.len() + 1) + 1);
    text.push(b'[');
    for i in 0..count {
        if i > 0 {
            text.push(b',');
        }
        text.extend_from_slice(element.as_bytes());
    }
    text.push(b']');
    text
}

fn measure(index: usize) {
    let (name, element) = SHAPES[index];
    let text = text_of(element);
    let before = status_kib("VmRSS:");
    let tree = json::parse(&text, Limits::default().max_depth).expect("valid JSON");
    let peak = status_kib("VmHWM:");
    let held = std::mem::size_of::<Json>() + heap_bytes(&tree);
    let rise = match (before, peak) {
        (Some(b), Some(p)) => format!(
            "{:.1}x",
            (p.saturating_sub(b) * 1024) as f64 / text.len() as f64
        ),
        _ => "n/a".to_owned(),
    };
    drop(tree);
    let (charged, verdict) = match index {
        0 | 1 => decode::<Vec<u64>>(&text),
        2 => decode::<Vec<String>>(&text),
        3 => decode::<Vec<Item>>(&text),
        4 | 5 => decode::<Vec<Vec<u8>>>(&text),
        _ => decode::<Deep>(&text),
    };
    println!(
        "{:<26} {:>6} KiB {:>7.1}x {:>8} {:>8.1}x   {}",
        name,
        text.len() / 1024,
        held as f64 / text.len() as f64,
        rise,
        charged,
        verdict
    );
}

/// Decode `text` as a `T` twice: once with no bound, to see how much of a
/// budget it uses per byte of text (tree and value together), and once as
/// a server would, with `Limits::default()`.
fn decode<T: Decode>(text: &[u8]) -> (f64, String) {
    let unbounded = Limits {
        max_decoded_factor: usize::MAX,
        ..Limits::default()
    };
    let budget = Budget::for_input(text.len(), &unbounded);
    let tree = json::parse_within(text, unbounded.max_depth, &budget).expect("valid JSON");
    T::decode_json(&tree, &JsonCx::unchecked().with_budget(&budget)).expect("decodes");
    let charged = budget.used() as f64 / text.len() as f64;
    let verdict = match codec::from_json::<T>(text, Limits::default(), &JsonCx::unchecked()) {
        Ok(_) => "decoded".to_owned(),
        Err(e) => format!("refused: {}", e.status.name()),
    };
    (charged, verdict)
}

/// The heap bytes a node owns (not counting the node itself, which lives
/// in its parent's buffer).
fn heap_bytes(v: &Json) -> usize {
    match v {
        Json::Null | Json::Bool(_) => 0,
        Json::Number(n) => n.heap_bytes(),
        Json::String(s) => s.capacity(),
        Json::Array(items) => {
            items.capacity() * std::mem::size_of::<Json>()
                + items.iter().map(heap_bytes).sum::<usize>()
        }
        Json::Object(members) => {
            members.capacity() * std::mem::size_of::<(String, Json)>()
                + members
                    .iter()
                    .map(|(k, v)| k.capacity() + heap_bytes(v))
                    .sum::<usize>()
        }
    }
}

/// A `kB` line of `/proc/self/status`, or `None` where there is none.
fn status_kib(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
