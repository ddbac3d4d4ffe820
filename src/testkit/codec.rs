//! The conformance checks of a hand-written [`Encode`]/[`Decode`] pair:
//! what every binary encoding in minirpc must do.
//!
//! Article: 原理 › 序列化 (反序列化安全问题: the bytes come from a peer we do
//! not control). The one idea to take away: **a decoder is an attack
//! surface**. It must give back exactly what was encoded, and for every
//! other input it must say no, cheaply: a cut-off message, a message with
//! bytes left over, a length prefix that claims four gigabytes.
//!
//! ```text
//!  your test ── check_codec(&[YourType(0), YourType(300), ...]) ──►
//!     for each sample: encode, then decode the bytes (and the JSON text),
//!     every prefix of them, the bytes plus extra, the bytes with a huge
//!     length spliced in
//!     ◄── a panic naming every property that broke, and on what input
//! ```
//!
//! The hostile-length property splices `ff ff ff ff` (a `u32` length of
//! four billion) at every offset of each sample's encoding. A decoder that
//! checks the claim first ([`Reader::len`](crate::codec::Reader::len),
//! [`Reader::seq_len`](crate::codec::Reader::seq_len)) and charges what it
//! builds ([`Reader::charge`](crate::codec::Reader::charge)) refuses it at
//! once. One that believes it reserves the memory before it finds out:
//! on Linux the check sees that in the process's peak virtual memory
//! (`VmPeak` in `/proc/self/status`), which such a reservation raises by
//! gigabytes; elsewhere that part is skipped and the rest still runs.
//! The peak is one number for the whole process, so the checks of this
//! file take turns at it (one lock), and a process that has already
//! reserved more than such a claim once (an earlier broken decoder) hides
//! the next: run the check of a new decoder in a test binary of its own
//! when you want to be sure.

use super::Failure;
use crate::codec::{from_bytes, from_json, to_bytes, to_json, JsonCx, Limits};
use crate::{Decode, Encode};
use std::fmt::Debug;
use std::sync::Mutex;

/// Taken around each measured decode, so that two checks in one process
/// do not see each other's reservations.
static MEASURING: Mutex<()> = Mutex::new(());

/// Growth of the peak virtual memory during one hostile decode that counts
/// as "reserved what the length claimed". The claim is 4 GiB; threads and
/// allocator arenas of other tests running at the same time stay far below.
const RESERVED_TOO_MUCH: u64 = 2 << 30;

type Property<T> = fn(&[T]) -> Result<(), String>;

/// Check that `T`'s binary encoding round-trips every sample (and its
/// JSON form too), refuses every truncation and any trailing bytes, and refuses a hostile length without
/// reserving it; panic with the list of broken properties. Give samples
/// that cover your type's cases (small and large numbers, empty and long
/// sequences, every enum variant):
///
/// ```
/// use minirpc::testkit::check_codec;
///
/// check_codec(&[String::new(), "héllo".to_string(), "x".repeat(300)]);
/// check_codec(&[vec![0u64; 0], vec![1, u64::MAX]]);
/// ```
pub fn check_codec<T: Encode + Decode + PartialEq + Debug>(samples: &[T]) {
    let title = format!("the codec of {}", std::any::type_name::<T>());
    super::panic_on(title, &codec_failures(samples));
}

/// The same checks, returning the broken properties instead of panicking.
pub fn codec_failures<T: Encode + Decode + PartialEq + Debug>(samples: &[T]) -> Vec<Failure> {
    let properties: [(&'static str, Property<T>); 5] = [
        ("every sample decodes back to itself", round_trip),
        (
            "every sample decodes back to itself from JSON",
            json_round_trip,
        ),
        ("every truncation is refused", truncation),
        ("trailing bytes are refused", trailing),
        (
            "a hostile length is refused without reserving it",
            hostile_length,
        ),
    ];
    let mut failures = Vec::new();
    if samples.is_empty() {
        failures.push(Failure {
            property: "the check has samples",
            message: "check_codec was given no samples; give a few values of each kind".into(),
        });
    }
    for (property, check) in properties {
        failures.extend(super::run_property(property, || check(samples)));
    }
    failures
}

// ---- the properties ------------------------------------------------------------

fn round_trip<T: Encode + Decode + PartialEq + Debug>(samples: &[T]) -> Result<(), String> {
    for s in samples {
        let bytes = to_bytes(s);
        if to_bytes(s) != bytes {
            return Err(format!("{s:?} encodes differently each time"));
        }
        match from_bytes::<T>(&bytes, Limits::default()) {
            Ok(back) if back == *s => {}
            Ok(back) => {
                return Err(format!(
                    "{s:?} encodes to {} but that decodes to {back:?}",
                    hex(&bytes)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{s:?} encodes to {} but decoding it fails: {e}",
                    hex(&bytes)
                ))
            }
        }
    }
    Ok(())
}

fn json_round_trip<T: Encode + Decode + PartialEq + Debug>(samples: &[T]) -> Result<(), String> {
    for s in samples {
        let text = to_json(s);
        // Unchecked: the whitelist is the server's business, not the codec's.
        match from_json::<T>(text.as_bytes(), Limits::default(), &JsonCx::unchecked()) {
            Ok(back) if back == *s => {}
            Ok(back) => {
                return Err(format!(
                    "{s:?} is {text} in JSON, but that decodes to {back:?}"
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{s:?} is {text} in JSON, but decoding it fails: {e}"
                ))
            }
        }
    }
    Ok(())
}

fn truncation<T: Encode + Decode + Debug>(samples: &[T]) -> Result<(), String> {
    for s in samples {
        let bytes = to_bytes(s);
        for cut in 0..bytes.len() {
            if let Ok(v) = from_bytes::<T>(&bytes[..cut], Limits::default()) {
                return Err(format!(
                    "{s:?} encodes to {}; its first {cut} bytes {} should be refused as truncated, \
                     but decoded as {v:?}",
                    hex(&bytes),
                    hex(&bytes[..cut])
                ));
            }
        }
    }
    Ok(())
}

fn trailing<T: Encode + Decode + Debug>(samples: &[T]) -> Result<(), String> {
    for s in samples {
        let bytes = to_bytes(s);
        for extra in [&[0x00][..], &[0xff], &[0x01, 0x02, 0x03, 0x04]] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(extra);
            if let Ok(v) = from_bytes::<T>(&longer, Limits::default()) {
                return Err(format!(
                    "{s:?} encodes to {}; with {} after it the input should be refused, \
                     but decoded as {v:?} (does the decoder read \"the rest of the input\"?)",
                    hex(&bytes),
                    hex(extra)
                ));
            }
        }
    }
    Ok(())
}

fn hostile_length<T: Encode + Decode + Debug>(samples: &[T]) -> Result<(), String> {
    for s in samples {
        let bytes = to_bytes(s);
        for at in 0..=bytes.len() {
            // The claim, with the sample's bytes after it (overwritten) and
            // with nothing after it at all.
            let mut spliced = bytes.clone();
            let end = (at + 4).min(spliced.len());
            spliced.splice(at..end, [0xff; 4]);
            let mut cut = bytes[..at].to_vec();
            cut.extend_from_slice(&[0xff; 4]);
            for input in [spliced, cut] {
                let turn = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
                let before = peak_virtual_memory();
                let outcome = from_bytes::<T>(&input, Limits::default());
                let after = peak_virtual_memory();
                drop(turn);
                if let (Some(b), Some(a)) = (before, after) {
                    if a.saturating_sub(b) >= RESERVED_TOO_MUCH {
                        return Err(format!(
                            "decoding the {}-byte input {} ({s:?} with ff ff ff ff at offset {at}) \
                             reserved about {} MiB before it answered {}; check a length against \
                             the bytes left (Reader::len, Reader::seq_len) and charge what you \
                             build (Reader::charge) before allocating",
                            input.len(),
                            hex(&input),
                            a.saturating_sub(b) >> 20,
                            match &outcome {
                                Ok(v) => format!("{v:?}"),
                                Err(e) => e.to_string(),
                            }
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

// ---- helpers ----------------------------------------------------------------------

/// The process's peak virtual memory in bytes, where the system says
/// (Linux); `None` elsewhere.
fn peak_virtual_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPeak:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes as `[01 02 ff]`, the first 32 of them.
fn hex(bytes: &[u8]) -> String {
    let mut s: Vec<String> = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 32 {
        s.push(format!("... ({} bytes)", bytes.len()));
    }
    format!("[{}]", s.join(" "))
}
