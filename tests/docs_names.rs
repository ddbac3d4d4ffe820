//! Every name a chapter gives in backticks must exist in the repository.
//!
//! The docs point at the code all the time: "`read_frame` in
//! `src/transport.rs`", "the test
//! `unknown_call_id_gets_unimplemented_naming_it_and_connection_keeps_working`",
//! "run `cargo test --test protocol_doc`". When a test is renamed or a file
//! moves, such a pointer silently goes stale. This test reads every page in
//! `docs/` and the top-level `README.md` and checks each pointer:
//!
//! - **Files.** A code span that starts with a top-level folder (`src/`,
//!   `tests/`, `examples/`, `benches/`, `docs/`, `.ci/`) or ends in `.rs`,
//!   `.md`, `.py` or `.toml` is a path. It must exist, relative to the
//!   repository root or to the page. So does the target of every relative
//!   Markdown link.
//! - **Commands.** In `cargo test --test NAME`, `cargo run --example NAME`
//!   and `cargo bench --bench NAME`, the target must exist
//!   (`tests/NAME.rs`, `examples/NAME.rs`, `benches/NAME.rs`). An example
//!   may also be a folder, `examples/NAME/main.rs` (Cargo finds both).
//! - **Functions and tests.** In a code span without spaces, every
//!   `snake_case` word is checked against the `.rs` files under `src/`,
//!   `tests/`, `examples/` and `benches/`:
//!   - a word with three or more underscores is a test's sentence or a
//!     function (`a_slow_call_does_not_hold_up_fast_calls_on_the_same_connection`):
//!     it must be defined there, `fn name`;
//!   - a word cut short with `…` (`rr_call_to_a_silent_peer_…`) must start
//!     the name of such a function;
//!   - a word written as a call, `name()`, must be a function defined there
//!     or called there (`is_finished()` is a method of a standard type);
//!   - any other word with an underscore (`read_frame`, `max_frame_bytes`)
//!     must appear there as a whole word.
//!
//!   Names under `std::` (or `core::`, `alloc::`) and macros (`name!`) are
//!   skipped: they belong to Rust. So are words without an underscore
//!   (`start`, `wait`): too common to prove anything.
//!
//! Two parts of a page are skipped on purpose, because they name what does
//! not exist yet: fenced code blocks (the quoted ones are checked by
//! `tests/docs_quotes.rs`; the rest are sketches and other systems' code),
//! and sections whose heading says "Exercises" or "Planned" (an exercise
//! asks the reader to create `tests/arith.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Folders whose `.rs` files hold the names the docs may cite.
const CODE_DIRS: &[&str] = &["src", "tests", "examples", "benches", "exercises"];
const CODE_SHOWN: &str = "src/, tests/, examples/, benches/ or exercises/";
/// Top-level folders: a code span starting with one of these is a path.
const TOP_DIRS: &[&str] = &[
    "src/",
    "tests/",
    "examples/",
    "benches/",
    "docs/",
    ".ci/",
    "exercises/",
];
/// A code span ending with one of these is a path.
const FILE_ENDINGS: &[&str] = &[".rs", ".md", ".py", ".toml"];
/// Path roots that are Rust's own, not the project's.
const RUST_ROOTS: &[&str] = &["std", "core", "alloc"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The pages to check: every `.md` in `docs/`, and `README.md`.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("read docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages.push(root().join("README.md"));
    pages
}

// ---- reading a page -------------------------------------------------------------

/// The text of a page that makes claims about the repository: without fenced
/// blocks and without Exercises / Planned sections. Skipped lines are kept
/// as empty lines, so line numbers stay right.
fn checked_text(page: &str) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    // While skipping a section: the level of its heading.
    let mut skipping: Option<usize> = None;
    for line in page.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            out.push('\n');
            continue;
        }
        if !in_fence && line.starts_with('#') {
            let level = line.len() - line.trim_start_matches('#').len();
            if skipping.is_some_and(|l| level <= l) {
                skipping = None;
            }
            let title = line.to_lowercase();
            if skipping.is_none() && (title.contains("exercises") || title.contains("planned")) {
                skipping = Some(level);
            }
        }
        if !in_fence && skipping.is_none() {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Every inline code span of `text` (which may run across a line break),
/// with the line it starts on.
fn code_spans(text: &str) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    let mut rest = text;
    let mut line = 1;
    while let Some(open) = rest.find('`') {
        line += rest[..open].matches('\n').count();
        let after = &rest[open + 1..];
        // A run of backticks opens a span closed by the same run; the docs
        // use single backticks, so a double one is skipped as a whole.
        if after.starts_with('`') {
            rest = after.trim_start_matches('`');
            continue;
        }
        let Some(close) = after.find('`') else { break };
        let span = &after[..close];
        // A span never crosses a blank line (a paragraph break).
        if !span.contains("\n\n") {
            spans.push((line, span.split_whitespace().collect::<Vec<_>>().join(" ")));
            line += span.matches('\n').count();
            rest = &after[close + 1..];
        } else {
            rest = after;
        }
    }
    spans
}

/// The relative targets of Markdown links `[text](target)`, with their line.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split('#').next().unwrap_or("");
            let external = target.contains("://") || target.starts_with("mailto:");
            if !target.is_empty() && !external {
                out.push((i + 1, target.to_owned()));
            }
            rest = &after[end..];
        }
    }
    out
}

// ---- what a span names ---------------------------------------------------------------

/// What one code span claims exists.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    /// A file or folder.
    Path(String),
    /// An example run by name: `examples/NAME.rs` or `examples/NAME/main.rs`.
    Example(String),
    /// A word that must appear in the code.
    Word(String),
    /// A function that must be defined: `fn name`.
    Function(String),
    /// A function written as `name()`: defined here, or called in the code
    /// (a method of a standard type, such as `is_finished()`).
    Called(String),
    /// The start of a function's name, cut short with `…`.
    Prefix(String),
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_snake(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn claims(span: &str) -> Vec<Claim> {
    let words: Vec<&str> = span.split(' ').collect();
    if words.first() == Some(&"cargo") {
        let mut out = Vec::new();
        for pair in words.windows(2) {
            let name = pair[1];
            out.push(match pair[0] {
                "--test" => Claim::Path(format!("tests/{name}.rs")),
                "--example" => Claim::Example(name.to_owned()),
                "--bench" => Claim::Path(format!("benches/{name}.rs")),
                _ => continue,
            });
        }
        return out;
    }
    if span.contains(' ') {
        return Vec::new();
    }
    let is_path = TOP_DIRS.iter().any(|d| span.starts_with(d))
        || FILE_ENDINGS.iter().any(|e| span.ends_with(e));
    if is_path {
        return vec![Claim::Path(span.to_owned())];
    }
    let first = span.split(|c: char| !is_ident_char(c)).next().unwrap_or("");
    if RUST_ROOTS.contains(&first) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = span;
    while let Some(start) = rest.find(is_ident_char) {
        let word = &rest[start..];
        let end = word.find(|c: char| !is_ident_char(c)).unwrap_or(word.len());
        let (piece, after) = word.split_at(end);
        rest = after;
        // A macro (`concat_idents!`) is skipped: the docs name Rust's own.
        if !is_snake(piece) || after.starts_with('!') {
            continue;
        }
        let underscores = piece.matches('_').count();
        if after.starts_with('…') {
            out.push(Claim::Prefix(piece.to_owned()));
        } else if underscores >= 3 {
            out.push(Claim::Function(piece.to_owned()));
        } else if after.starts_with("()") {
            out.push(Claim::Called(piece.to_owned()));
        } else if underscores >= 1 {
            out.push(Claim::Word(piece.to_owned()));
        }
    }
    out
}

#[test]
fn the_extraction_is_strict_but_not_silly() {
    use Claim::*;
    assert_eq!(claims("src/server.rs"), [Path("src/server.rs".into())]);
    assert_eq!(claims("STYLE.md"), [Path("STYLE.md".into())]);
    assert_eq!(
        claims("cargo test --test protocol_doc -- --nocapture"),
        [Path("tests/protocol_doc.rs".into())]
    );
    assert_eq!(
        claims("cargo run --example discovery -- --group canary"),
        [Example("discovery".into())]
    );
    assert_eq!(claims("read_frame"), [Word("read_frame".into())]);
    assert_eq!(claims("observe()"), [Called("observe".into())]);
    assert_eq!(claims("with_capacity(n)"), [Word("with_capacity".into())]);
    assert_eq!(claims("rr_call_…"), [Prefix("rr_call_".into())]);
    assert!(claims("concat_idents!").is_empty());
    assert!(claims("ord(c)").is_empty());
    assert_eq!(
        claims("Server::register_with_context"),
        [Word("register_with_context".into())]
    );
    assert_eq!(
        claims("a_slow_call_does_not_hold_up"),
        [Function("a_slow_call_does_not_hold_up".into())]
    );
    // Rust's own names, type names, constants and prose are not claims.
    assert!(claims("std::hint::spin_loop()").is_empty());
    assert!(claims("HashMap<String, Arc<Handler>>").is_empty());
    assert!(claims("INVALID_ARGUMENT").is_empty());
    assert!(claims("Multiply").is_empty());
    // Spans and sections that name what does not exist yet are skipped.
    let page = "`a_b`\n```rust\nlet `c_d`;\n```\n## Exercises\n`e_f`\n## Next\n`g_h`\n";
    let names: Vec<String> = code_spans(&checked_text(page))
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(names, ["a_b", "g_h"]);
    // A span across a line break is one span, reported on its first line.
    assert_eq!(
        code_spans("x\n`cargo\ntest --doc service` y"),
        [(2, "cargo test --doc service".to_owned())]
    );
}

// ---- what the repository has ---------------------------------------------------------

/// Every `.rs` file under the code folders, as text.
fn sources() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    let mut out = Vec::new();
    for d in CODE_DIRS {
        walk(&root().join(d), &mut out);
    }
    out
}

/// What the code has: its whole words, the functions it defines (`fn
/// name`), and the words it calls (`name(`).
#[derive(Default)]
struct Known {
    words: BTreeSet<String>,
    functions: BTreeSet<String>,
    called: BTreeSet<String>,
}

fn known_names() -> Known {
    let mut k = Known::default();
    for src in sources() {
        let mut previous = "";
        let mut rest = src.as_str();
        while let Some(start) = rest.find(is_ident_char) {
            let word = &rest[start..];
            let end = word.find(|c: char| !is_ident_char(c)).unwrap_or(word.len());
            let (w, after) = word.split_at(end);
            if previous == "fn" {
                k.functions.insert(w.to_owned());
            }
            if after.starts_with('(') {
                k.called.insert(w.to_owned());
            }
            k.words.insert(w.to_owned());
            previous = w;
            rest = after;
        }
    }
    k
}

#[test]
fn every_file_and_name_the_docs_mention_exists() {
    let known = known_names();
    assert!(
        known.functions.contains("read_frame") && known.words.contains("max_frame_bytes"),
        "the scan of the sources found nothing: it would check nothing"
    );
    let mut missing = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page)
            .unwrap()
            .replace("\r\n", "\n");
        let text = checked_text(&text);
        let here = page.parent().unwrap();
        let shown = page.strip_prefix(root()).unwrap_or(&page).display();
        let mut found = Vec::new();
        for (line, span) in code_spans(&text) {
            for claim in claims(&span) {
                found.push((line, claim));
            }
        }
        for (line, target) in link_targets(&text) {
            found.push((line, Claim::Path(target)));
        }
        for (line, claim) in found {
            checked += 1;
            let problem = match &claim {
                Claim::Path(p) => {
                    let p = p.trim_end_matches('/');
                    (!root().join(p).exists() && !here.join(p).exists())
                        .then(|| format!("no file or folder `{p}`"))
                }
                Claim::Example(name) => {
                    let file = format!("examples/{name}.rs");
                    let folder = format!("examples/{name}/main.rs");
                    (!root().join(&file).is_file() && !root().join(&folder).is_file())
                        .then(|| format!("no example `{name}`: neither `{file}` nor `{folder}`"))
                }
                Claim::Word(w) => (!known.words.contains(w))
                    .then(|| format!("`{w}` appears nowhere in {CODE_SHOWN}")),
                Claim::Function(f) => {
                    (!known.functions.contains(f)).then(|| format!("no `fn {f}` in {CODE_SHOWN}"))
                }
                Claim::Called(f) => (!known.functions.contains(f) && !known.called.contains(f))
                    .then(|| format!("`{f}()` is neither defined nor called in {CODE_SHOWN}")),
                Claim::Prefix(p) => (!known.functions.iter().any(|f| f.starts_with(p.as_str())))
                    .then(|| format!("no `fn {p}…` in {CODE_SHOWN}")),
            };
            if let Some(p) = problem {
                missing.push(format!("{shown}:{line}: {p}"));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} names found: the extraction is broken"
    );
    assert!(
        missing.is_empty(),
        "the docs name {} things the repository does not have:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
