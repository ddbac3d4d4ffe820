//! The codec's fast paths change no byte on the wire: bytes as bytes
//! (`Vec<u8>` and `&[u8]` copied at once), and the encoded size that lets
//! encoding allocate once. Each fast path is pinned here to the layout of
//! docs/protocol.md §10 (a u32 count, then one byte per element), and the
//! decode limits still apply to it.

use minirpc::codec::{from_bytes, to_bytes, Decode, Encode, Limits, Reader};
use minirpc::json::Json;
use minirpc::{record, RpcError, Status};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

record! {
    /// One byte, encoded the slow way: a record's fields one by one, with
    /// no slice fast path. A `Vec<Byte>` therefore shows the bytes a
    /// `Vec<u8>` had before it was copied at once.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Byte { pub b: u8 }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item { pub sku: String, pub qty: u32, pub price_cents: u64 }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub user: String,
        pub items: Vec<Item>,
        pub note: Option<String>,
    }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Shape { Empty, Circle { radius: f64 }, Label { text: String, size: u16 } }
}

fn order() -> Order {
    Order {
        id: 1_234_567_890,
        user: "alice.smith1".into(),
        items: (0..5)
            .map(|i| Item {
                sku: format!("SKU-{:04}", 1000 + i),
                qty: i + 1,
                price_cents: 1999 + 100 * i as u64,
            })
            .collect(),
        note: Some("leave at the door".into()),
    }
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 37 % 256) as u8).collect()
}

#[test]
fn a_vec_of_bytes_encodes_exactly_as_its_elements_one_by_one() {
    for n in [0, 1, 3, 1024] {
        let bytes = payload(n);
        let slow: Vec<Byte> = bytes.iter().map(|&b| Byte { b }).collect();
        let fast = to_bytes(&bytes);
        assert_eq!(fast, to_bytes(&slow), "Vec<u8> of {n}");
        assert_eq!(to_bytes(bytes.as_slice()), fast, "&[u8] of {n}");
        // The documented layout: a big-endian u32 count, then the bytes.
        assert_eq!(fast[..4], (n as u32).to_be_bytes());
        assert_eq!(fast[4..], bytes[..]);
    }
    assert_eq!(to_bytes(&vec![1u8, 2, 0xff]), [0, 0, 0, 3, 1, 2, 0xff]);
}

#[test]
fn a_vec_of_bytes_decodes_from_the_one_by_one_layout() {
    let bytes = payload(300);
    let slow: Vec<Byte> = bytes.iter().map(|&b| Byte { b }).collect();
    let wire = to_bytes(&slow);
    let back: Vec<u8> = from_bytes(&wire, Limits::default()).unwrap();
    assert_eq!(back, bytes);
    // Inside a record and a tuple too (the copy ends where the count says).
    let wire = to_bytes(&(bytes.clone(), 7u8));
    let back: (Vec<u8>, u8) = from_bytes(&wire, Limits::default()).unwrap();
    assert_eq!(back, (bytes, 7));
}

#[test]
fn a_vec_of_bytes_claiming_more_than_arrived_is_refused() {
    let e = from_bytes::<Vec<u8>>(&[0, 0, 0, 5, 1, 2], Limits::default()).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    assert!(e.message.contains("claims 5"), "{e}");
    let small = Limits {
        max_len: 2,
        ..Limits::default()
    };
    let e = from_bytes::<Vec<u8>>(&[0, 0, 0, 3, 1, 2, 3], small).unwrap_err();
    assert!(e.message.contains("Limits::max_len"), "{e}");
}

#[test]
fn a_vec_of_bytes_is_still_charged_to_the_decode_budget() {
    // 100 bytes in, 104 bytes of input: a factor of 0 with no floor leaves
    // no budget at all, so even bytes copied at once are refused.
    let wire = to_bytes(&payload(100));
    let none = Limits {
        max_decoded_factor: 0,
        min_decode_budget: 0,
        ..Limits::default()
    };
    let e = from_bytes::<Vec<u8>>(&wire, none).unwrap_err();
    assert_eq!(e.status, Status::ResourceExhausted, "{e}");
    assert!(e.message.contains("Limits::max_decoded_factor"), "{e}");
    let mut r = Reader::new(&wire, Limits::default());
    let v = Vec::<u8>::decode(&mut r).unwrap();
    assert_eq!(r.budget().used(), v.len());
}

#[test]
fn the_encoded_length_is_exact_for_every_built_in_shape() {
    fn exact<T: Encode + ?Sized>(v: &T) {
        let bytes = to_bytes(v);
        assert_eq!(
            v.encoded_len(),
            bytes.len(),
            "{}",
            std::any::type_name::<T>()
        );
    }
    exact(&order());
    exact(&Shape::Empty);
    exact(&Shape::Circle { radius: 1.5 });
    exact(&Shape::Label {
        text: "hi".into(),
        size: 3,
    });
    exact(&(1u8, -2i16, 3u32, 4i64, 5u128, 6usize));
    exact(&(-7isize, -8i8));
    exact(&(1.5f32, 2.5f64, true, 'é', ()));
    exact("ünïcode");
    exact(&String::from("abc"));
    exact(&payload(77));
    exact(&vec![1u64, 2, 3]);
    exact(&vec![Some(1u32), None]);
    exact(&Ok::<u8, String>(1));
    exact(&Err::<u8, String>("no".into()));
    exact(&Box::new(9u16));
    exact(&Duration::new(5, 6));
    exact(&HashMap::from([
        (1u8, "a".to_string()),
        (2, "bc".to_string()),
    ]));
    exact(&BTreeMap::from([("k".to_string(), vec![1u8, 2])]));
}

#[test]
fn encoding_into_a_fresh_vec_allocates_once() {
    // One allocation of exactly the encoded size: the capacity is the
    // length (a buffer that grew by doubling would have room to spare).
    let o = order();
    let bytes = to_bytes(&o);
    assert_eq!(bytes.capacity(), bytes.len());

    let mut fresh = Vec::new();
    o.encode(&mut fresh);
    assert_eq!(fresh, bytes);
    assert_eq!(fresh.capacity(), fresh.len(), "a record into Vec::new()");

    let mut fresh = Vec::new();
    payload(1024).encode(&mut fresh);
    assert_eq!(fresh.capacity(), fresh.len(), "a Vec<u8> into Vec::new()");

    let mut fresh = Vec::new();
    Shape::Label {
        text: "abc".into(),
        size: 1,
    }
    .encode(&mut fresh);
    assert_eq!(fresh.capacity(), fresh.len(), "an enum into Vec::new()");
}

/// A hand-written impl that knows nothing of the new methods.
#[derive(Debug, PartialEq)]
struct Celsius(i32);
impl Encode for Celsius {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out)
    }
    fn encode_json(&self, out: &mut String) {
        self.0.encode_json(out)
    }
}
impl Decode for Celsius {
    const MIN_BYTES: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self, RpcError> {
        i32::decode(r).map(Celsius)
    }
    fn decode_json(v: &Json, cx: &minirpc::codec::JsonCx<'_>) -> Result<Self, RpcError> {
        i32::decode_json(v, cx).map(Celsius)
    }
}

#[test]
fn a_hand_written_impl_keeps_working_with_the_defaults() {
    let c = Celsius(-5);
    // Its size is "not known", and encoding still writes the right bytes.
    assert_eq!(c.encoded_len(), 0);
    assert_eq!(to_bytes(&c), [0xff, 0xff, 0xff, 0xfb]);
    let v = vec![Celsius(1), Celsius(2)];
    let wire = to_bytes(&v);
    assert_eq!(wire, [0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
    let back: Vec<Celsius> = from_bytes(&wire, Limits::default()).unwrap();
    assert_eq!(back, v);
}
