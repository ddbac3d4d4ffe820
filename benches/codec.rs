//! How fast is the binary codec on a realistic message?
//!
//! Article: 原理 › 序列化. An `Order` with a nested `Vec` of records, strings
//! and an `Option` is a typical business message: big enough that the codec
//! matters, small enough that it is one RPC. `order/encode` writes it into a
//! `Vec` reused across iterations (as the client does for its frame),
//! `order/encode_fresh` into a new `Vec` each time (one allocation, of the
//! encoded size), and `order/decode` reads it back with the default [`Limits`] (so within the
//! decode budget, whose cost this measures too). `order_json/decode` reads
//! the JSON form: the parse into a tree, then the decode out of it.
//! `bytes_1k` is a 1 KiB `Vec<u8>` both ways, copied at once.
//!
//! `crc32c/1MiB` prices the optional frame checksum (网络传输; see
//! `minirpc::checksum`): the CRC-32C of one MiB, so criterion reports it
//! as bytes per second. A sealed frame pays it once on each side, over its
//! header and body.
//!
//! Run with `cargo bench --bench codec` (`-- --quick` for a short run;
//! `-- crc32c --quick` for the checksum alone).

#[path = "support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use minirpc::checksum::crc32c;
use minirpc::codec::{self, Encode, JsonCx};
use minirpc::Limits;
use std::hint::black_box;
use std::time::Duration;
use support::{sample_order, Order};

fn order(c: &mut Criterion) {
    let order = sample_order();
    let bytes = codec::to_bytes(&order);
    let back: Order = codec::from_bytes(&bytes, Limits::default()).expect("round trip");
    assert_eq!(back, order);
    println!("Order encodes to {} bytes (binary codec)", bytes.len());

    let mut group = c.benchmark_group("order");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(bytes.len() as u64));

    let mut out = Vec::with_capacity(bytes.len());
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&order).encode(&mut out);
            black_box(&out);
        })
    });
    // Into a fresh `Vec` each time, as the peer benchmarks measure it: one
    // allocation of the encoded size (`Encode::encoded_len`).
    group.bench_function("encode_fresh", |b| {
        b.iter(|| {
            let mut v = Vec::new();
            black_box(&order).encode(&mut v);
            black_box(v)
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            let o: Order = codec::from_bytes(black_box(&bytes), Limits::default()).unwrap();
            black_box(o)
        })
    });
    group.finish();

    // Bytes as bytes: a 1 KiB `Vec<u8>` (the echo payload) is one copy
    // each way (`Encode::encode_slice`, `Decode::decode_vec`).
    let payload: Vec<u8> = (0..1024u32).map(|i| (i * 37) as u8).collect();
    let wire = codec::to_bytes(&payload);
    let mut group = c.benchmark_group("bytes_1k");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(&payload).encode(&mut out);
            black_box(&out);
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            let v: Vec<u8> = codec::from_bytes(black_box(&wire), Limits::default()).unwrap();
            black_box(v)
        })
    });
    group.finish();

    let text = codec::to_json(&order);
    let cx = JsonCx::unchecked();
    let mut group = c.benchmark_group("order_json");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let o: Order =
                codec::from_json(black_box(text.as_bytes()), Limits::default(), &cx).unwrap();
            black_box(o)
        })
    });
    group.finish();
}

fn checksum(c: &mut Criterion) {
    // Not all zeros: any pattern costs the same to a table-driven CRC, but
    // a reader should not have to know that to trust the number.
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut group = c.benchmark_group("crc32c");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("1MiB", |b| b.iter(|| crc32c(black_box(&data))));
    group.finish();
}

criterion_group!(benches, order, checksum);
criterion_main!(benches);
