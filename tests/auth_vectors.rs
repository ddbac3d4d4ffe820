//! SHA-256 and HMAC-SHA256, checked against the published test vectors:
//! the FIPS 180-4 examples (as NIST lists them, with the empty string and a
//! million `a`s from the NESSIE/NIST set) and every test case of RFC 4231
//! §4. A hash that is wrong in one bit of one round fails all of them.
//!
//! The expected values are copied from the standards, digit for digit,
//! and were checked against a second implementation (Python's `hashlib`
//! and `hmac`).
//!
//! The last test checks the worked example of `docs/protocol.md` §15:
//! the signature printed there is the one `Signer` computes.

use minirpc::auth::hex;
use minirpc::auth::hmac::hmac_sha256;
use minirpc::auth::sha256::Sha256;
use minirpc::auth::{Signed, Signer};

fn sha(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data))
}

#[test]
fn sha256_of_the_empty_string() {
    assert_eq!(
        sha(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn sha256_of_abc_one_block() {
    assert_eq!(
        sha(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn sha256_of_the_448_bit_message_two_blocks() {
    // 56 bytes: the length no longer fits in the first block.
    assert_eq!(
        sha(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

#[test]
fn sha256_of_the_896_bit_message() {
    assert_eq!(
        sha(b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
    );
}

#[test]
fn sha256_of_a_million_a_in_one_call_and_in_uneven_pieces() {
    const WANT: &str = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    let million = vec![b'a'; 1_000_000];
    assert_eq!(sha(&million), WANT);
    // Pieces of 7 bytes never line up with the 64-byte blocks.
    let mut h = Sha256::new();
    for piece in million.chunks(7) {
        h.update(piece);
    }
    assert_eq!(hex::encode(&h.finalize()), WANT);
}

/// RFC 4231 §4: (key, data, HMAC-SHA-256), each case as the RFC gives it.
fn rfc4231_case(n: u8) -> (Vec<u8>, Vec<u8>, &'static str) {
    match n {
        1 => (
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        // A key shorter than the output.
        2 => (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        // Combined length of key and data larger than 64 bytes.
        3 => (
            vec![0xaa; 20],
            vec![0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        4 => (
            (0x01..=0x19).collect(),
            vec![0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        // Truncated to 128 bits (see the test below).
        5 => (
            vec![0x0c; 20],
            b"Test With Truncation".to_vec(),
            "a3b6167473100ee06e0c796c2955552b",
        ),
        // A key larger than the 64-byte block: hashed first.
        6 => (
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        // A large key and large data.
        7 => (
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
        _ => unreachable!("RFC 4231 has test cases 1 to 7"),
    }
}

fn check_rfc4231(n: u8) {
    let (key, data, want) = rfc4231_case(n);
    let mac = hex::encode(&hmac_sha256(&key, &data));
    // Case 5 gives only the first 128 bits (32 hex digits) of the output.
    assert_eq!(&mac[..want.len()], want, "RFC 4231 test case {n}");
    assert_eq!(mac.len(), 64);
}

#[test]
fn hmac_sha256_rfc4231_case_1() {
    check_rfc4231(1);
}

#[test]
fn hmac_sha256_rfc4231_case_2_short_key() {
    check_rfc4231(2);
}

#[test]
fn hmac_sha256_rfc4231_case_3() {
    check_rfc4231(3);
}

#[test]
fn hmac_sha256_rfc4231_case_4() {
    check_rfc4231(4);
}

#[test]
fn hmac_sha256_rfc4231_case_5_truncated_to_128_bits() {
    let (_, _, want) = rfc4231_case(5);
    assert_eq!(want.len(), 32, "the RFC gives 128 bits for case 5");
    check_rfc4231(5);
}

#[test]
fn hmac_sha256_rfc4231_case_6_key_longer_than_a_block() {
    check_rfc4231(6);
}

#[test]
fn hmac_sha256_rfc4231_case_7_long_key_and_long_data() {
    check_rfc4231(7);
}

/// The worked example of `docs/protocol.md` §15.
#[test]
fn the_worked_example_in_protocol_md_is_the_signature_the_code_computes() {
    let args = minirpc::codec::to_bytes(&(10i32, 20i32));
    let fields = Signed {
        key_id: "billing-1",
        timestamp: "1700000000",
        nonce: "00112233445566778899aabbccddeeff",
        call_id: "Multiply",
        args: &args,
    };
    let secret = b"correct horse battery staple";
    let sig = hex::encode(&fields.signature(secret));
    let by_signer = Signer::new("billing-1", secret).sign_with(
        "Multiply",
        &args,
        1_700_000_000,
        "00112233445566778899aabbccddeeff",
    );
    assert_eq!(by_signer.signature, sig);
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md"))
        .expect("read docs/protocol.md");
    let canonical = hex::encode(&fields.canonical_bytes());
    let digest = sha(&args);
    for (what, hexed) in [("the signature", &sig), ("the argument digest", &digest)] {
        assert!(
            page.contains(hexed.as_str()),
            "docs/protocol.md §15 should show {what}: {hexed}"
        );
    }
    // The page shows the canonical bytes as hex, 16 bytes to a line.
    let lines: Vec<String> = fields
        .canonical_bytes()
        .chunks(16)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let block = lines.join("\n");
    assert!(
        page.contains(&block),
        "docs/protocol.md §15 should show the canonical bytes ({canonical}) as:\n{block}\nsignature {sig}\ndigest {digest}"
    );
}
