//! JSON versus binary, measured: one `Order`, encoded both ways.
//!
//! ```text
//! cargo run --release --example codecs     # the numbers worth quoting
//! cargo run --example codecs               # works too, but debug timings mean little
//! ```
//!
//! Article: 原理 › 序列化. The article says JSON is cross-language and
//! human-readable, but bigger and slower than a binary format, and the 性能
//! row of 对比 › RPC与HTTP says serialization is where the difference lies.
//! This example puts numbers on both claims for minirpc's two codecs, which
//! are written from one description of the type (`record!`):
//!
//! 1. **Bigger**: it prints the same value as binary bytes (a hex dump) and
//!    as JSON text, with the size of each. The binary bytes are only the
//!    values; the JSON also carries every field name and a `"@type"` per
//!    record, and writes numbers as decimal digits.
//! 2. **Slower**: it times encoding and decoding in each codec (the same
//!    buffers reused every time, so the allocator is not what we measure)
//!    and prints nanoseconds per operation and the ratios.
//!
//! Decoding JSON is checked against a deserialization whitelist, as a
//! server does (see `src/whitelist.rs`), so the timing includes that check.
//! Every loop runs a fixed number of times. Timings vary from machine to
//! machine and run to run; the ratios are what to look at.

use minirpc::codec::{self, DeclaredTypes, Decode, Encode, JsonCx, Limits};
use minirpc::trace::hex;
use minirpc::{record, Whitelist};
use std::hint::black_box;
use std::time::Instant;

record! {
    /// One line of an order.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item {
        pub sku: String,
        pub qty: u32,
        pub price_cents: u64,
    }
}

record! {
    /// A shop order: a typical RPC argument, with numbers, strings, a list
    /// of records and an optional field.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub user: String,
        pub items: Vec<Item>,
        pub note: Option<String>,
    }
}

/// Timed iterations per measurement. A debug build is many times slower,
/// so it does a tenth of the work (its timings are only a smoke test).
const ITERATIONS: u32 = if cfg!(debug_assertions) {
    20_000
} else {
    200_000
};

/// Untimed iterations first, so caches, branch predictors and the CPU's
/// clock speed have settled before the clock starts.
const WARMUP: u32 = ITERATIONS / 10;

/// The timed iterations are split into this many rounds, and the fastest
/// round counts: anything else running on the machine can only make a round
/// slower, so the fastest one is the least disturbed.
const ROUNDS: u32 = 5;

/// The order used throughout: a 12-character user, five items with
/// 8-character SKUs, and a 17-character note.
fn sample_order() -> Order {
    let items = (1..=5u32)
        .map(|i| Item {
            sku: format!("SKU-{i:04}"),
            qty: i,
            price_cents: 1_999 * u64::from(i),
        })
        .collect();
    Order {
        id: 1_000_001,
        user: "ada.lovelace".to_owned(),
        items,
        note: Some("leave at the door".to_owned()),
    }
}

/// Run `op` `WARMUP` times, then `ITERATIONS` times against the clock in
/// `ROUNDS` rounds, and return nanoseconds per call in the fastest round.
fn ns_per_op(mut op: impl FnMut()) -> f64 {
    for _ in 0..WARMUP {
        op();
    }
    let per_round = ITERATIONS / ROUNDS;
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..per_round {
            op();
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(per_round);
        best = best.min(ns);
    }
    best
}

fn main() {
    let order = sample_order();
    let limits = Limits::default();

    // The whitelist a server would build for a method taking an Order:
    // layer 1, the record types its signature declares.
    let mut declared = DeclaredTypes::new();
    Order::declared_types(&mut declared);
    let mut whitelist = Whitelist::new();
    for name in declared.names() {
        whitelist.declare(name);
    }
    let cx = JsonCx::checked(&whitelist);

    // ---- 1. the same value, both ways ---------------------------------------

    let bytes = codec::to_bytes(&order);
    let json = codec::to_json(&order);

    // Both encodings must read back as the value we started from, or the
    // timings below would measure the wrong thing.
    let from_binary: Order = codec::from_bytes(&bytes, limits).expect("binary round trip");
    let from_json: Order = codec::from_json(json.as_bytes(), limits, &cx).expect("JSON round trip");
    assert_eq!(from_binary, order);
    assert_eq!(from_json, order);

    println!("JSON versus binary (原理 › 序列化): one Order, both codecs\n");
    println!(
        "The value: Order {{ id, user ({} chars), {} items (sku {} chars, qty, price_cents), note ({} chars) }}\n",
        order.user.chars().count(),
        order.items.len(),
        order.items[0].sku.chars().count(),
        order.note.as_deref().map_or(0, |n| n.chars().count()),
    );
    println!(
        "binary (codec 0): {} bytes, only the values, in declaration order",
        bytes.len()
    );
    print!("{}", hex(&bytes, "  "));
    println!();
    println!(
        "JSON (codec 1): {} bytes, the values plus every field name and \"@type\"",
        json.len()
    );
    println!("  {json}");
    println!();

    // ---- 2. the time each takes ---------------------------------------------

    // One buffer per codec, cleared and refilled: after the first call it
    // has the capacity it needs, so encoding allocates nothing.
    let mut out = Vec::with_capacity(bytes.len());
    let binary_encode = ns_per_op(|| {
        out.clear();
        black_box(&order).encode(&mut out);
        black_box(&out);
    });
    let mut text = String::with_capacity(json.len());
    let json_encode = ns_per_op(|| {
        text.clear();
        black_box(&order).encode_json(&mut text);
        black_box(&text);
    });
    // Decoding builds a new Order each time (its Strings and Vec must be
    // allocated in either codec); JSON first parses the text into a tree.
    let binary_decode = ns_per_op(|| {
        let o: Result<Order, _> = codec::from_bytes(black_box(&bytes), limits);
        black_box(o).expect("binary decode");
    });
    let json_decode = ns_per_op(|| {
        let o: Result<Order, _> = codec::from_json(black_box(json.as_bytes()), limits, &cx);
        black_box(o).expect("JSON decode");
    });

    let build = if cfg!(debug_assertions) {
        "debug build: these timings are not meaningful, run with --release"
    } else {
        "release build"
    };
    println!(
        "time per operation ({ITERATIONS} iterations each after {WARMUP} warm-up, fastest of {ROUNDS} rounds; {build}):"
    );
    println!(
        "  {:<8} {:>12} {:>12} {:>13}",
        "", "binary", "JSON", "JSON/binary"
    );
    for (what, b, j) in [
        ("encode", binary_encode, json_encode),
        ("decode", binary_decode, json_decode),
    ] {
        println!("  {what:<8} {:>9.0} ns {:>9.0} ns {:>12.1}x", b, j, j / b);
    }
    println!();
    println!("ratios, JSON / binary:");
    println!(
        "  size   {:.2}x  ({} / {} bytes)",
        json.len() as f64 / bytes.len() as f64,
        json.len(),
        bytes.len()
    );
    println!("  encode {:.1}x", json_encode / binary_encode);
    println!("  decode {:.1}x", json_decode / binary_decode);
    println!(
        "  round trip (encode + decode) {:.1}x",
        (json_encode + json_decode) / (binary_encode + binary_decode)
    );
}
