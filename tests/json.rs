//! The JSON codec, as a specification.
//!
//! Two halves. First, RFC 8259 conformance: each rule of the grammar is
//! checked through the parser (`minirpc::json::parse`) and, where it makes a
//! difference, through typed decoding (`codec::from_json`), which is what a
//! server runs on a request's arguments. Second, round trips: every built-in
//! type is written and read back in *both* formats (binary and JSON), edge
//! values included, and the exact JSON text of a record and of an enum
//! variant is pinned down, because other languages read that text.
//!
//! None of these tests needs a network: the codec is plain functions.

use minirpc::codec::{from_bytes, from_json, to_bytes, to_json, Decode, Encode, JsonCx, Limits};
use minirpc::json::{self, Json};
use minirpc::{record, Status};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::time::Duration;

// ---- the types of the round trips -------------------------------------------

record! {
    #[derive(Debug, Clone, PartialEq)]
    pub struct Item { pub sku: String, pub qty: u32 }
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
    pub struct Order {
        pub id: u64,
        pub items: Vec<Item>,
        pub note: Option<String>,
        pub shape: Shape,
    }
}

// ---- helpers ------------------------------------------------------------------

/// The parser's nesting limit in these tests: the default one.
fn max_depth() -> u32 {
    Limits::default().max_depth
}

/// Parse `text`, failing the test with the parser's message if it refuses.
fn parse_ok(text: &str) -> Json {
    json::parse(text.as_bytes(), max_depth()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// Decode `text` as a `T` (no whitelist: these are codec tests, not server
/// tests), failing the test with the decoder's message if it refuses.
fn decode<T: Decode>(text: &str) -> T {
    from_json(text.as_bytes(), Limits::default(), &JsonCx::unchecked())
        .unwrap_or_else(|e| panic!("{text:?} did not decode: {e}"))
}

/// Decode `text` as a `T`, expecting an `InvalidArgument`; its message.
fn refuse<T: Decode + Debug>(text: &[u8]) -> String {
    let e = from_json::<T>(text, Limits::default(), &JsonCx::unchecked())
        .expect_err("the text must be refused");
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    e.message
}

/// Assert that `text` is refused by the parser *and* by typed decoding into
/// `T`, both times as `InvalidArgument` with a message containing `needle`.
/// Returns the parser's message.
fn refused_by_both<T: Decode + Debug>(text: &[u8], needle: &str) -> String {
    let shown = String::from_utf8_lossy(text);
    let e = json::parse(text, max_depth()).expect_err("the parser must refuse it");
    assert_eq!(e.status, Status::InvalidArgument, "{e}");
    assert!(
        e.message.contains(needle),
        "parse({shown:?}) said {:?}, which does not mention {needle:?}",
        e.message
    );
    let typed = refuse::<T>(text);
    assert!(
        typed.contains(needle),
        "from_json({shown:?}) said {typed:?}, which does not mention {needle:?}"
    );
    e.message
}

/// Write `v` in both formats and read it back; both must give `v`.
fn round_trip<T: Encode + Decode + PartialEq + Debug>(v: T) {
    let bytes = to_bytes(&v);
    let back: T = from_bytes(&bytes, Limits::default())
        .unwrap_or_else(|e| panic!("{v:?} did not decode from binary {bytes:02x?}: {e}"));
    assert_eq!(back, v, "binary round trip via {bytes:02x?}");
    let text = to_json(&v);
    let back: T = from_json(text.as_bytes(), Limits::default(), &JsonCx::unchecked())
        .unwrap_or_else(|e| panic!("{v:?} did not decode from JSON {text}: {e}"));
    assert_eq!(back, v, "JSON round trip via {text}");
}

/// Like [`round_trip`], for floats: compares bits, since `NaN != NaN` and
/// `0.0 == -0.0`.
fn round_trip_bits<T: Encode + Decode + Copy + Debug>(v: T, bits: fn(T) -> u64) {
    let back: T = from_bytes(&to_bytes(&v), Limits::default()).unwrap();
    assert_eq!(bits(back), bits(v), "binary round trip of {v:?}");
    let text = to_json(&v);
    let back: T = decode(&text);
    assert_eq!(bits(back), bits(v), "JSON round trip of {v:?} via {text}");
}

// ---- strings: escapes and Unicode (RFC 8259 section 7) -------------------------

#[test]
fn every_rfc_escape_parses_to_its_character() {
    assert_eq!(
        parse_ok(r#""\" \\ \/ \b \f \n \r \t \u0041""#),
        Json::String("\" \\ / \u{8} \u{c} \n \r \t A".into())
    );
}

#[test]
fn every_rfc_escape_decodes_into_a_typed_string() {
    let s: String = decode(r#""\" \\ \/ \b \f \n \r \t \u0041""#);
    assert_eq!(s, "\" \\ / \u{8} \u{c} \n \r \t A");
}

#[test]
fn unicode_escapes_accept_upper_and_lower_case_hex() {
    let s: String = decode(r#""\u00e9\u00E9\u4E2d\u0000""#);
    assert_eq!(s, "éé中\0");
}

#[test]
fn a_surrogate_pair_escape_decodes_to_one_non_bmp_character() {
    assert_eq!(parse_ok(r#""\ud83d\ude00""#), Json::String("😀".into()));
    let c: char = decode(r#""\ud83d\ude00""#);
    assert_eq!(c, '😀');
    let s: String = decode(r#""a\uD83D\uDE00b""#);
    assert_eq!(s, "a😀b");
}

#[test]
fn a_lone_high_surrogate_is_refused() {
    refused_by_both::<String>(br#""\ud83d""#, "lone high surrogate");
    refused_by_both::<String>(br#""\ud83dx""#, "lone high surrogate");
    // Two high surrogates in a row: the first is still alone.
    refused_by_both::<String>(br#""\ud83d\ud83d""#, "other than a low surrogate");
    refused_by_both::<String>(br#""\ud83d\u0041""#, "other than a low surrogate");
}

#[test]
fn a_lone_low_surrogate_is_refused() {
    refused_by_both::<String>(br#""\ude00""#, "lone low surrogate");
    refused_by_both::<String>(br#""x\udfff""#, "lone low surrogate");
}

#[test]
fn an_unknown_or_short_escape_is_refused() {
    refused_by_both::<String>(br#""\x41""#, "unknown escape");
    refused_by_both::<String>(br#""\U0041""#, "unknown escape");
    refused_by_both::<String>(br#""\u004""#, "four hex digits");
    refused_by_both::<String>(br#""\u00g1""#, "four hex digits");
}

#[test]
fn raw_non_ascii_text_passes_through_unescaped() {
    let s: String = decode("\"héllo 世界 😀\"");
    assert_eq!(s, "héllo 世界 😀");
}

#[test]
fn raw_control_characters_in_strings_are_refused() {
    for b in 0u8..0x20 {
        let text = [b'"', b'a', b, b'"'];
        refused_by_both::<String>(&text, "control character");
    }
}

#[test]
fn delete_is_not_a_control_character_to_json() {
    // RFC 8259 requires escaping only U+0000 to U+001F.
    let s: String = decode("\"a\u{7f}b\"");
    assert_eq!(s, "a\u{7f}b");
}

#[test]
fn invalid_utf8_is_refused_naming_the_byte() {
    let m = refused_by_both::<Vec<String>>(b"[\"ok\", \"\xff\"]", "not valid UTF-8");
    assert!(m.contains("byte 8"), "{m}");
    // An overlong encoding of '/', and a surrogate encoded as UTF-8 (CESU-8).
    refused_by_both::<String>(b"\"\xc0\xaf\"", "not valid UTF-8");
    refused_by_both::<String>(b"\"\xed\xa0\x80\"", "not valid UTF-8");
}

#[test]
fn an_unterminated_string_is_refused() {
    refused_by_both::<String>(b"\"abc", "unterminated string");
    refused_by_both::<String>(b"\"abc\\", "unterminated escape");
}

// ---- numbers (RFC 8259 section 6) ---------------------------------------------

#[test]
fn numbers_stay_exact_text_in_the_tree() {
    assert_eq!(
        parse_ok("18446744073709551615"),
        Json::Number("18446744073709551615".into())
    );
    assert_eq!(parse_ok("-0.5e-7"), Json::Number("-0.5e-7".into()));
}

#[test]
fn i64_min_and_u64_max_decode_exactly() {
    assert_eq!(decode::<i64>("-9223372036854775808"), i64::MIN);
    assert_eq!(decode::<i64>("9223372036854775807"), i64::MAX);
    assert_eq!(decode::<u64>("18446744073709551615"), u64::MAX);
}

#[test]
fn i128_and_u128_extremes_decode_exactly() {
    assert_eq!(
        decode::<i128>("-170141183460469231731687303715884105728"),
        i128::MIN
    );
    assert_eq!(
        decode::<i128>("170141183460469231731687303715884105727"),
        i128::MAX
    );
    assert_eq!(
        decode::<u128>("340282366920938463463374607431768211455"),
        u128::MAX
    );
}

#[test]
fn a_fraction_or_exponent_is_refused_for_an_integer_type() {
    for text in ["1.0", "1e3", "1E0", "-2.5", "0.0"] {
        let m = refuse::<i32>(text.as_bytes());
        assert!(m.contains(&format!("{text} is not a valid i32")), "{m}");
        assert!(m.contains("no fraction or exponent"), "{m}");
    }
    let m = refuse::<u64>(b"1.5e10");
    assert!(m.contains("1.5e10 is not a valid u64"), "{m}");
}

#[test]
fn an_out_of_range_integer_is_refused() {
    /// Assert that `text` is refused as a `T` named `ty`, as out of range.
    fn out_of_range<T: Decode + Debug>(text: &str, ty: &str) {
        let m = refuse::<T>(text.as_bytes());
        assert!(m.contains(&format!("{text} is not a valid {ty}")), "{m}");
        assert!(m.contains("in range"), "{m}");
    }
    out_of_range::<u8>("256", "u8");
    out_of_range::<i8>("-129", "i8");
    out_of_range::<u32>("-1", "u32");
    out_of_range::<u64>("18446744073709551616", "u64");
    out_of_range::<i64>("-9223372036854775809", "i64");
    out_of_range::<u128>("340282366920938463463374607431768211456", "u128");
    out_of_range::<i128>("-170141183460469231731687303715884105729", "i128");
}

#[test]
fn a_json_integer_decodes_into_a_float() {
    assert_eq!(decode::<f64>("2"), 2.0);
    assert_eq!(decode::<f64>("-1.5e2"), -150.0);
    assert_eq!(decode::<f32>("0.25"), 0.25);
}

#[test]
fn leading_zeros_are_refused() {
    for text in ["01", "-01", "00", "007.5"] {
        refused_by_both::<f64>(text.as_bytes(), "leading zeros");
    }
    refused_by_both::<Vec<u32>>(b"[1, 02]", "leading zeros");
}

#[test]
fn a_single_zero_is_not_a_leading_zero() {
    assert_eq!(decode::<u32>("0"), 0);
    assert_eq!(decode::<i32>("-0"), 0);
    assert_eq!(decode::<f64>("0.5"), 0.5);
    assert_eq!(decode::<f64>("0e1"), 0.0);
}

#[test]
fn numbers_outside_the_rfc_grammar_are_refused() {
    refused_by_both::<f64>(b"1.", "after '.'");
    refused_by_both::<f64>(b"1.e5", "after '.'");
    refused_by_both::<f64>(b"1e", "exponent");
    refused_by_both::<f64>(b"1e+", "exponent");
    refused_by_both::<f64>(b"-", "expected a digit");
    refused_by_both::<f64>(b"-x", "expected a digit");
    refused_by_both::<f64>(b".5", "expected a value");
    refused_by_both::<f64>(b"+1", "expected a value");
    refused_by_both::<f64>(b"NaN", "expected a value");
    refused_by_both::<f64>(b"Infinity", "expected a value");
    // "0x10" is 0 followed by text.
    refused_by_both::<f64>(b"0x10", "after the JSON value");
}

// ---- structure: nesting, keys, what may surround a value ----------------------

#[test]
fn nesting_exactly_at_max_depth_is_accepted() {
    let d = max_depth() as usize;
    parse_ok(&("[".repeat(d) + &"]".repeat(d)));
    parse_ok(&(r#"{"a":"#.repeat(d) + "1" + &"}".repeat(d)));
}

#[test]
fn nesting_one_level_past_max_depth_is_refused() {
    let d = max_depth() as usize + 1;
    let arrays = "[".repeat(d) + &"]".repeat(d);
    let m = refused_by_both::<Vec<u8>>(arrays.as_bytes(), "nested deeper than 64 levels");
    assert!(m.contains("Limits::max_depth"), "{m}");
    let objects = r#"{"a":"#.repeat(d) + "1" + &"}".repeat(d);
    refused_by_both::<Vec<u8>>(objects.as_bytes(), "nested deeper than 64 levels");
}

#[test]
fn typed_decoding_uses_the_max_depth_of_its_limits() {
    let at = |max_depth| Limits {
        max_depth,
        ..Limits::default()
    };
    let cx = JsonCx::unchecked();
    let v: Vec<Vec<Vec<u32>>> = from_json(b"[[[1]]]", at(3), &cx).unwrap();
    assert_eq!(v, vec![vec![vec![1]]]);
    let e = from_json::<Vec<Vec<Vec<u32>>>>(b"[[[1]]]", at(2), &cx).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(e.message.contains("nested deeper than 2 levels"), "{e}");
}

#[test]
fn a_hundred_thousand_open_brackets_are_refused_without_overflowing_the_stack() {
    let hostile = "[".repeat(100_000);
    let m = refused_by_both::<Vec<u8>>(hostile.as_bytes(), "nested deeper than");
    assert!(
        m.contains("column 65"),
        "refused at the first level too deep: {m}"
    );
}

#[test]
fn text_after_the_value_is_refused() {
    for text in ["[1] x", "1 2", "{}{}", "true false", "null,", "\"a\"\"b\""] {
        refused_by_both::<Option<u8>>(text.as_bytes(), "after the JSON value");
    }
}

#[test]
fn whitespace_around_the_value_is_allowed() {
    let v: Vec<u32> = decode(" \t\r\n[ 1 ,\n\t2 ] \r\n\t ");
    assert_eq!(v, [1, 2]);
}

#[test]
fn any_value_may_be_the_whole_text() {
    // RFC 8259 dropped RFC 4627's "only an object or array at the top".
    assert_eq!(parse_ok("null"), Json::Null);
    assert_eq!(parse_ok("false"), Json::Bool(false));
    assert_eq!(parse_ok("\"s\""), Json::String("s".into()));
    assert_eq!(parse_ok("7"), Json::Number("7".into()));
}

#[test]
fn empty_input_is_refused() {
    refused_by_both::<()>(b"", "end of input");
    refused_by_both::<()>(b"  \n ", "end of input");
}

#[test]
fn words_json_does_not_have_are_refused() {
    for text in ["'x'", "nul", "True", "undefined", "None"] {
        refused_by_both::<Option<bool>>(text.as_bytes(), "expected a value");
    }
}

#[test]
fn unclosed_or_trailing_comma_containers_are_refused() {
    refused_by_both::<Vec<u8>>(b"[1, 2", "expected ',' or ']'");
    refused_by_both::<Vec<u8>>(b"[1, 2,]", "expected a value");
    refused_by_both::<HashMap<String, u8>>(b"{\"a\": 1", "expected ',' or '}'");
    refused_by_both::<HashMap<String, u8>>(b"{\"a\": 1,}", "expected a string key");
    refused_by_both::<HashMap<String, u8>>(b"{\"a\" 1}", "expected ':'");
    refused_by_both::<HashMap<String, u8>>(b"{a: 1}", "expected a string key");
}

#[test]
fn duplicate_keys_are_refused() {
    let m = refused_by_both::<HashMap<String, u8>>(br#"{"a":1,"a":2}"#, "duplicate key \"a\"");
    assert!(m.contains("column 8"), "points at the second key: {m}");
    // Keys are compared after escapes are resolved: "\u0061" is "a".
    refused_by_both::<HashMap<String, u8>>(br#"{"a":1,"\u0061":2}"#, "duplicate key \"a\"");
    // Duplicates are refused at any depth, and in records too.
    refused_by_both::<Vec<HashMap<String, u8>>>(br#"[{}, {"k":1,"k":1}]"#, "duplicate key");
    refused_by_both::<Item>(
        br#"{"@type":"Item","sku":"A-1","qty":2,"sku":"B-2"}"#,
        "duplicate key \"sku\"",
    );
}

#[test]
fn errors_name_the_line_and_column() {
    let m = refused_by_both::<Vec<u32>>(b"[1, x]", "line 1 column 5");
    assert!(m.contains("expected a value"), "{m}");
    refused_by_both::<Vec<u32>>(b"[1,\n 2,\n x]", "line 3 column 2");
    refused_by_both::<HashMap<String, u8>>(b"{\"a\": 1,\n  \"a\": 2}", "line 2 column 3");
    refused_by_both::<String>(b"\"ab\x01\"", "line 1 column 4");
    refused_by_both::<Item>(
        b"{\n  \"sku\": \"A-1\",\n  \"qty\": 2,\n}",
        "line 4 column 1",
    );
}

// ---- round trips in both formats ------------------------------------------------

#[test]
fn booleans_round_trip_in_both_formats() {
    round_trip(true);
    round_trip(false);
    assert_eq!(to_json(&true), "true");
}

#[test]
fn every_integer_width_round_trips_at_min_and_max_in_both_formats() {
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
fn integers_are_written_as_plain_json_numbers() {
    assert_eq!(to_json(&u64::MAX), "18446744073709551615");
    assert_eq!(to_json(&i64::MIN), "-9223372036854775808");
    assert_eq!(
        to_json(&i128::MIN),
        "-170141183460469231731687303715884105728"
    );
    assert_eq!(to_json(&0u8), "0");
}

#[test]
fn floats_round_trip_bit_for_bit_in_both_formats() {
    let f64_bits = |f: f64| f.to_bits();
    for f in [
        0.0f64,
        -0.0,
        1.5,
        0.1,
        -1e300,
        f64::MIN,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::EPSILON,
        f64::from_bits(1), // the smallest subnormal
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        round_trip_bits(f, f64_bits);
    }
    let f32_bits = |f: f32| u64::from(f.to_bits());
    for f in [
        0.0f32,
        -0.0,
        1.5,
        0.1,
        f32::MIN,
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::EPSILON,
        f32::from_bits(1),
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        round_trip_bits(f, f32_bits);
    }
}

#[test]
fn non_finite_floats_are_written_as_strings_and_signed_zero_keeps_its_sign() {
    assert_eq!(to_json(&f64::NAN), "\"NaN\"");
    assert_eq!(to_json(&f64::INFINITY), "\"Infinity\"");
    assert_eq!(to_json(&f32::NEG_INFINITY), "\"-Infinity\"");
    assert_eq!(to_json(&-0.0f64), "-0.0");
    assert_eq!(to_json(&1.5f64), "1.5");
}

#[test]
fn a_nan_payload_survives_binary_and_stays_a_nan_in_json() {
    // JSON can only say "NaN"; binary carries the exact bits.
    let payload = f64::from_bits(0x7ff8_0000_dead_beef);
    let back: f64 = from_bytes(&to_bytes(&payload), Limits::default()).unwrap();
    assert_eq!(back.to_bits(), payload.to_bits());
    let back: f64 = decode(&to_json(&payload));
    assert!(back.is_nan());
}

#[test]
fn chars_round_trip_in_both_formats() {
    for c in [
        'a',
        '\0',
        '"',
        '\\',
        '\n',
        '\u{1f}',
        '\u{7f}',
        'é',
        '中',
        '\u{2028}',
        '😀',
        '\u{10ffff}',
    ] {
        round_trip(c);
    }
    assert_eq!(to_json(&'😀'), "\"😀\"");
}

#[test]
fn strings_round_trip_in_both_formats() {
    let every_control: String = (0u8..0x20).map(char::from).collect();
    for s in [
        String::new(),
        "Multiply".to_string(),
        "héllo 世界 😀 \u{10ffff}".to_string(),
        "quote \" backslash \\ slash / tab \t".to_string(),
        every_control,
        "\u{7f}\u{fffd}\u{2028}".to_string(),
        "\\u0041 is not an escape here".to_string(),
    ] {
        round_trip(s);
    }
}

#[test]
fn strings_are_written_with_json_escapes() {
    assert_eq!(
        to_json("a\"b\\c\nd\re\tf\u{1}g/😀"),
        r#""a\"b\\c\nd\re\tf\u0001g/😀""#
    );
}

#[test]
fn vecs_round_trip_in_both_formats() {
    round_trip(Vec::<u8>::new());
    round_trip(vec![1u8, 2, 3]);
    round_trip(vec![String::new(), "x".into()]);
    round_trip(vec![vec![1i64], vec![], vec![i64::MIN, i64::MAX]]);
    round_trip(vec![(), ()]);
    assert_eq!(to_json(&vec![1u8, 2]), "[1,2]");
}

#[test]
fn options_round_trip_in_both_formats() {
    round_trip(None::<u32>);
    round_trip(Some(0u32));
    round_trip(Some(String::new()));
    round_trip(Some(Item {
        sku: "A-1".into(),
        qty: 2,
    }));
    round_trip(Some(Some(3u8)));
    assert_eq!(to_json(&None::<u32>), "null");
    assert_eq!(to_json(&Some(5u32)), "5");
}

#[test]
fn some_none_keeps_its_meaning_in_binary() {
    let v: Option<Option<u8>> = Some(None);
    let back: Option<Option<u8>> = from_bytes(&to_bytes(&v), Limits::default()).unwrap();
    assert_eq!(back, Some(None));
}

#[test]
fn some_none_is_read_back_as_none_in_json() {
    // Documented: JSON writes Some(v) as v, so Some(None) and None are both
    // `null`, as in every JSON library.
    let v: Option<Option<u8>> = Some(None);
    let text = to_json(&v);
    assert_eq!(text, "null");
    let back: Option<Option<u8>> = decode(&text);
    assert_eq!(back, None);
}

#[test]
fn results_round_trip_in_both_formats() {
    round_trip(Ok::<i32, String>(7));
    round_trip(Err::<i32, String>("no".into()));
    round_trip(Ok::<(), Shape>(()));
    round_trip(Err::<(), Shape>(Shape::Empty));
    assert_eq!(to_json(&Ok::<u8, String>(1)), r#"{"Ok":1}"#);
    assert_eq!(to_json(&Err::<u8, String>("no".into())), r#"{"Err":"no"}"#);
}

#[test]
fn tuples_of_one_to_six_round_trip_in_both_formats() {
    round_trip((1u8,));
    round_trip((1u8, -2i16));
    round_trip((u32::MAX, "three".to_string(), 3.5f64));
    round_trip((true, 'x', vec![1u8], None::<i64>));
    round_trip((1u8, 2u16, 3u32, 4u64, 5u128));
    round_trip((
        false,
        '😀',
        String::from("s"),
        vec![Item {
            sku: "A-1".into(),
            qty: 1,
        }],
        Some(-1i32),
        (),
    ));
    assert_eq!(to_json(&(10i32, 20i32)), "[10,20]");
    assert_eq!(to_json(&(10i32,)), "[10]");
}

#[test]
fn unit_round_trips_as_null() {
    round_trip(());
    assert_eq!(to_json(&()), "null");
    assert!(to_bytes(&()).is_empty());
}

#[test]
fn string_keyed_maps_are_json_objects() {
    let mut m = HashMap::new();
    m.insert("a".to_string(), vec![1u32, 2]);
    m.insert(String::new(), vec![]);
    m.insert("quote \" key".to_string(), vec![u32::MAX]);
    round_trip(m);
    round_trip(HashMap::<String, u8>::new());
    let one: HashMap<String, u8> = [("k".to_string(), 1)].into();
    assert_eq!(to_json(&one), r#"{"k":1}"#);
    assert_eq!(to_json(&HashMap::<String, u8>::new()), "{}");
}

#[test]
fn non_string_keyed_maps_are_arrays_of_pairs() {
    let m: HashMap<u32, String> = [(7, "seven".to_string()), (0, String::new())].into();
    round_trip(m);
    let b: BTreeMap<i64, bool> = [(i64::MIN, true), (0, false), (i64::MAX, true)].into();
    round_trip(b);
    let one: HashMap<u32, String> = [(7, "seven".to_string())].into();
    assert_eq!(to_json(&one), r#"[[7,"seven"]]"#);
    let two: BTreeMap<i64, bool> = [(2, false), (-1, true)].into();
    assert_eq!(to_json(&two), "[[-1,true],[2,false]]");
    assert_eq!(to_json(&BTreeMap::<i64, bool>::new()), "[]");
}

#[test]
fn a_map_with_a_key_repeated_in_its_pairs_is_refused() {
    let m = refuse::<BTreeMap<i64, bool>>(b"[[1,true],[1,false]]");
    assert!(m.contains("duplicate key"), "{m}");
}

#[test]
fn durations_round_trip_in_both_formats() {
    for d in [
        Duration::ZERO,
        Duration::from_millis(1500),
        Duration::new(1, 999_999_999),
        Duration::MAX,
    ] {
        round_trip(d);
    }
    assert_eq!(
        to_json(&Duration::new(1, 500)),
        r#"{"@type":"Duration","secs":1,"nanos":500}"#
    );
}

#[test]
fn a_duration_with_a_billion_nanos_is_refused() {
    let m = refuse::<Duration>(br#"{"@type":"Duration","secs":1,"nanos":1000000000}"#);
    assert!(m.contains("nanos must be below 1000000000"), "{m}");
}

#[test]
fn boxes_round_trip_in_both_formats() {
    round_trip(Box::new(5u32));
    round_trip(Box::new(String::from("boxed")));
    round_trip(Box::new(Item {
        sku: "A-1".into(),
        qty: 2,
    }));
    // A box is invisible on the wire.
    assert_eq!(to_json(&Box::new(5u32)), "5");
    assert_eq!(to_bytes(&Box::new(5u32)), to_bytes(&5u32));
}

#[test]
fn a_nested_record_round_trips_in_both_formats() {
    let item = |sku: &str, qty| Item {
        sku: sku.into(),
        qty,
    };
    for shape in [
        Shape::Empty,
        Shape::Circle { radius: 1.5 },
        Shape::Rect { w: 3, h: u32::MAX },
    ] {
        round_trip(Order {
            id: u64::MAX,
            items: vec![item("A-1", 2), item("中文", 0)],
            note: Some("leave \"at\" the door\n".into()),
            shape: shape.clone(),
        });
        round_trip(Order {
            id: 0,
            items: vec![],
            note: None,
            shape,
        });
    }
}

#[test]
fn a_record_is_written_with_its_type_name_then_its_fields_in_order() {
    let item = Item {
        sku: "A-1".into(),
        qty: 2,
    };
    assert_eq!(to_json(&item), r#"{"@type":"Item","sku":"A-1","qty":2}"#);
}

#[test]
fn an_enum_variant_is_written_with_type_and_variant_names() {
    assert_eq!(
        to_json(&Shape::Circle { radius: 1.5 }),
        r#"{"@type":"Shape","@variant":"Circle","radius":1.5}"#
    );
    assert_eq!(
        to_json(&Shape::Empty),
        r#"{"@type":"Shape","@variant":"Empty"}"#
    );
}

#[test]
fn a_nested_record_is_written_as_nested_objects() {
    let order = Order {
        id: 7,
        items: vec![Item {
            sku: "A-1".into(),
            qty: 2,
        }],
        note: None,
        shape: Shape::Rect { w: 1, h: 2 },
    };
    assert_eq!(
        to_json(&order),
        concat!(
            r#"{"@type":"Order","id":7,"#,
            r#""items":[{"@type":"Item","sku":"A-1","qty":2}],"#,
            r#""note":null,"#,
            r#""shape":{"@type":"Shape","@variant":"Rect","w":1,"h":2}}"#
        )
    );
}

#[test]
fn record_fields_may_come_in_any_order_and_type_name_is_optional() {
    let item: Item = decode(r#"{"qty":2,"@type":"Item","sku":"A-1"}"#);
    assert_eq!(
        item,
        Item {
            sku: "A-1".into(),
            qty: 2
        }
    );
    let item: Item = decode(r#"{"sku":"A-1","qty":2}"#);
    assert_eq!(item.qty, 2);
}

#[test]
fn a_missing_option_field_decodes_as_none() {
    let order: Order =
        decode(r#"{"@type":"Order","id":1,"items":[],"shape":{"@variant":"Empty"}}"#);
    assert_eq!(order.note, None);
}

#[test]
fn a_missing_required_field_is_refused_naming_it() {
    let m = refuse::<Item>(br#"{"@type":"Item","sku":"A-1"}"#);
    assert!(m.contains("Item is missing its field \"qty\""), "{m}");
    let m = refuse::<Shape>(br#"{"@type":"Shape","@variant":"Rect","w":1}"#);
    assert!(m.contains("Shape is missing its field \"h\""), "{m}");
}

#[test]
fn a_field_of_the_wrong_kind_is_refused_naming_it() {
    let m = refuse::<Item>(br#"{"@type":"Item","sku":"A-1","qty":"2"}"#);
    assert!(m.contains("Item.qty"), "{m}");
    assert!(m.contains("expected u32, found a string"), "{m}");
}

#[test]
fn an_unknown_enum_variant_is_refused_naming_it() {
    let m = refuse::<Shape>(br#"{"@type":"Shape","@variant":"Triangle"}"#);
    assert!(m.contains("Shape has no variant \"Triangle\""), "{m}");
    let m = refuse::<Shape>(br#"{"@type":"Shape"}"#);
    assert!(m.contains("\"@variant\""), "{m}");
}

#[test]
fn a_record_named_as_another_type_is_refused_even_without_a_whitelist() {
    let m = refuse::<Item>(br#"{"@type":"Order","sku":"A-1","qty":2}"#);
    assert!(m.contains("\"@type\": \"Order\""), "{m}");
    assert!(m.contains("Item"), "{m}");
}

#[test]
fn a_float_too_large_for_its_type_is_refused_not_made_infinite() {
    use minirpc::codec::{from_json, JsonCx};
    let e = from_json::<f64>(b"1e400", Default::default(), &JsonCx::unchecked()).unwrap_err();
    assert!(e.message.contains("1e400 is not a valid f64"), "{e}");
    let e = from_json::<f32>(b"1e39", Default::default(), &JsonCx::unchecked()).unwrap_err();
    assert!(e.message.contains("not a valid f32"), "{e}");
    // The spelled-out infinity is still accepted.
    let inf: f64 = from_json(b"\"Infinity\"", Default::default(), &JsonCx::unchecked()).unwrap();
    assert!(inf.is_infinite());
}
