//! The binary codec, as a specification: every built-in type round-trips,
//! edge values included, and hostile bytes get a clear InvalidArgument.

use minirpc::codec::{from_bytes, to_bytes, Decode, Encode, Limits};
use minirpc::{record, Status};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

fn round_trip<T: Encode + Decode + PartialEq + Debug>(v: T) {
    let bytes = to_bytes(&v);
    let back: T = from_bytes(&bytes, Limits::default())
        .unwrap_or_else(|e| panic!("{v:?} did not decode from {bytes:02x?}: {e}"));
    assert_eq!(back, v);
}

fn refuse<T: Decode + Debug>(bytes: &[u8]) -> String {
    let e = from_bytes::<T>(bytes, Limits::default()).expect_err("hostile input must be refused");
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    e.message
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
    pub enum Shape {
        Empty,
        Circle { radius: f64 },
        Rect { w: u32, h: u32 },
    }
}

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Tree { pub value: i32, pub children: Vec<Tree> }
}

#[test]
fn booleans_and_chars_round_trip() {
    round_trip(true);
    round_trip(false);
    for c in ['a', '\0', 'é', '中', '😀', char::MAX] {
        round_trip(c);
    }
}

#[test]
fn every_integer_width_round_trips_at_min_zero_and_max() {
    macro_rules! edges {
        ($($t:ty),*) => {$(
            round_trip(<$t>::MIN);
            round_trip(0 as $t);
            round_trip(<$t>::MAX);
        )*};
    }
    edges!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);
}

#[test]
fn integers_are_big_endian_twos_complement() {
    assert_eq!(to_bytes(&258u16), [1, 2]);
    assert_eq!(to_bytes(&-2i32), [0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(to_bytes(&1u64), [0, 0, 0, 0, 0, 0, 0, 1]);
}

#[test]
fn floats_round_trip_including_infinities_and_signed_zero() {
    for f in [
        0.0f64,
        -0.0,
        1.5,
        f64::MIN,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let back: f64 = from_bytes(&to_bytes(&f), Limits::default()).unwrap();
        assert_eq!(back.to_bits(), f.to_bits());
    }
    for f in [
        0.0f32,
        -0.0,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        f32::INFINITY,
    ] {
        let back: f32 = from_bytes(&to_bytes(&f), Limits::default()).unwrap();
        assert_eq!(back.to_bits(), f.to_bits());
    }
}

#[test]
fn nan_keeps_its_exact_bits() {
    // NaN != NaN, so compare bits: the codec must not canonicalise it.
    let quiet = f64::NAN;
    let payload = f64::from_bits(0x7ff8_0000_dead_beef);
    for f in [quiet, -quiet, payload] {
        let back: f64 = from_bytes(&to_bytes(&f), Limits::default()).unwrap();
        assert!(back.is_nan());
        assert_eq!(back.to_bits(), f.to_bits());
    }
    let back: f32 = from_bytes(&to_bytes(&f32::NAN), Limits::default()).unwrap();
    assert_eq!(back.to_bits(), f32::NAN.to_bits());
}

#[test]
fn strings_round_trip_empty_ascii_and_unicode() {
    round_trip(String::new());
    round_trip("Multiply".to_string());
    round_trip("中文 with emoji 😀 and \0 nul".to_string());
    assert_eq!(to_bytes("hi"), [0, 0, 0, 2, b'h', b'i']);
    assert_eq!(to_bytes(&"é".to_string()), [0, 0, 0, 2, 0xc3, 0xa9]);
}

#[test]
fn sequences_options_results_and_unit_round_trip() {
    round_trip(Vec::<u8>::new());
    round_trip(vec![1u8, 2, 3]);
    round_trip(vec![String::new(), "x".into()]);
    round_trip(vec![vec![1i64], vec![], vec![i64::MIN, i64::MAX]]);
    round_trip(None::<u32>);
    round_trip(Some(0u32));
    round_trip(Some(Some(String::from("nested"))));
    round_trip(Ok::<i32, String>(7));
    round_trip(Err::<i32, String>("no".into()));
    round_trip(());
    round_trip(vec![(), ()]);
    round_trip(Box::new(5u8));
}

#[test]
fn tuples_up_to_six_round_trip() {
    round_trip((1u8,));
    round_trip((1u8, -2i16));
    round_trip((1u8, -2i16, 3u32));
    round_trip((1u8, -2i16, 3u32, "four".to_string()));
    round_trip((1u8, -2i16, 3u32, "four".to_string(), 5.5f64));
    round_trip((1u8, -2i16, 3u32, "four".to_string(), 5.5f64, Some('6')));
}

#[test]
fn maps_round_trip_empty_and_full() {
    round_trip(HashMap::<String, u32>::new());
    round_trip(BTreeMap::<u8, Vec<String>>::new());
    let h: HashMap<String, u32> = [("a".into(), 1), ("中".into(), 2)].into_iter().collect();
    round_trip(h);
    let b: BTreeMap<i32, Option<bool>> = [(-1, None), (0, Some(true)), (9, Some(false))]
        .into_iter()
        .collect();
    round_trip(b);
}

#[test]
fn records_round_trip_structs_enums_and_recursion() {
    let order = Order {
        id: 42,
        user: "alice@wonder".into(),
        items: (0..5)
            .map(|i| Item {
                sku: format!("SKU-000{i}"),
                qty: i,
                price_cents: 1999,
            })
            .collect(),
        note: Some("leave at the door".into()),
    };
    round_trip(order.clone());
    round_trip(Order {
        note: None,
        items: vec![],
        ..order
    });
    round_trip(Shape::Empty);
    round_trip(Shape::Circle { radius: 1.5 });
    round_trip(Shape::Rect { w: 3, h: 4 });
    round_trip(Tree {
        value: 1,
        children: vec![Tree {
            value: 2,
            children: vec![],
        }],
    });
}

#[test]
fn enum_variant_index_is_declaration_order() {
    assert_eq!(to_bytes(&Shape::Empty), [0, 0, 0, 0]);
    assert_eq!(to_bytes(&Shape::Rect { w: 1, h: 2 })[..4], [0, 0, 0, 2]);
    let msg = refuse::<Shape>(&[0, 0, 0, 9]);
    assert!(msg.contains("Shape has no variant number 9"), "{msg}");
}

#[test]
fn the_order_record_fits_in_the_documented_size() {
    let order = Order {
        id: 1,
        user: "a".repeat(12),
        items: (0..5)
            .map(|_| Item {
                sku: "b".repeat(8),
                qty: 1,
                price_cents: 1,
            })
            .collect(),
        note: Some("c".repeat(17)),
    };
    // 8 + (4+12) + 4 + 5*(4+8+4+8) + (1+4+17)
    assert_eq!(to_bytes(&order).len(), 170);
}

#[test]
fn hostile_lengths_are_refused_before_allocating() {
    // A Vec<u64> claiming 4 billion elements, with 3 bytes behind it.
    let msg = refuse::<Vec<u64>>(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    assert!(msg.contains("claims 4294967295"), "{msg}");
    // 100 u64s need 800 bytes; 100 bytes are not enough.
    let mut short = vec![0, 0, 0, 100];
    short.extend_from_slice(&[0u8; 100]);
    let msg = refuse::<Vec<u64>>(&short);
    assert!(msg.contains("at least 800 bytes"), "{msg}");
    // Over the configured limit even though the bytes exist.
    let mut bytes = to_bytes(&vec![0u8; 100]);
    let small = Limits {
        max_len: 10,
        ..Limits::default()
    };
    let e = from_bytes::<Vec<u8>>(&bytes, small).unwrap_err();
    assert!(e.message.contains("over the limit of 10"), "{e}");
    // A map claiming more entries than bytes.
    bytes = vec![0, 0, 1, 0];
    refuse::<HashMap<u8, u8>>(&bytes);
}

#[test]
fn truncated_input_names_what_was_missing() {
    let msg = refuse::<(i32, i32)>(&[0, 0, 0, 10, 0, 0]);
    assert!(msg.contains("truncated input: i32"), "{msg}");
    refuse::<String>(&[0, 0, 0, 5, b'a']);
    refuse::<Option<u8>>(&[]);
}

#[test]
fn invalid_values_are_refused() {
    assert!(refuse::<bool>(&[2]).contains("bool must be 0 or 1"));
    assert!(refuse::<Option<u8>>(&[7, 0]).contains("Option tag"));
    assert!(refuse::<Result<u8, u8>>(&[3, 0]).contains("Result tag"));
    assert!(refuse::<char>(&[0, 0, 0xd8, 0]).contains("not a Unicode scalar value"));
    assert!(refuse::<String>(&[0, 0, 0, 2, 0xff, 0xfe]).contains("not valid UTF-8"));
    assert!(refuse::<HashMap<u8, u8>>(&[0, 0, 0, 2, 1, 1, 1, 2]).contains("duplicate key"));
    assert!(refuse::<u8>(&[1, 2]).contains("unexpected bytes"));
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    // A Tree nested 100 deep; the default depth limit is 64.
    let mut t = Tree {
        value: 0,
        children: vec![],
    };
    for i in 1..100 {
        t = Tree {
            value: i,
            children: vec![t],
        };
    }
    let bytes = to_bytes(&t);
    let e = from_bytes::<Tree>(&bytes, Limits::default()).unwrap_err();
    assert!(e.message.contains("nested deeper than 64"), "{e}");
    let deep = Limits {
        max_depth: 1000,
        ..Limits::default()
    };
    assert_eq!(from_bytes::<Tree>(&bytes, deep).unwrap(), t);
}
