//! The docs quote the real code, and this test keeps them honest.
//!
//! A chapter marks each quoted block with `<!-- quote: src/file.rs -->` on
//! the line before its code fence. Every line of the block must appear in
//! that file, in order and contiguously, allowing only a uniform change of
//! indentation (so a quote may sit indented inside a list item); a line that is just `// ...` marks a gap (the segments on
//! either side must both appear, in order). When code changes, this test
//! names the chapter and the line that no longer matches.

use std::path::Path;

fn indent(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// Find `seg` in `src` at or after `from`, allowing one uniform indentation
/// shift. Returns the line after the match.
fn find(src: &[&str], seg: &[&str], from: usize) -> Option<usize> {
    let first = seg[0].trim();
    (from..src.len().saturating_sub(seg.len() - 1)).find_map(|s| {
        if src[s].trim() != first {
            return None;
        }
        let shift = indent(src[s]) as isize - indent(seg[0]) as isize;
        let same = seg.iter().zip(&src[s..s + seg.len()]).all(|(a, b)| {
            if a.trim().is_empty() && b.trim().is_empty() {
                return true;
            }
            indent(b) as isize - indent(a) as isize == shift && a.trim() == b.trim()
        });
        same.then_some(s + seg.len())
    })
}

/// Check one chapter; return a message per block that does not match.
fn check(chapter: &Path, root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(chapter).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(path) = lines[i]
            .trim()
            .strip_prefix("<!-- quote: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            i += 1;
            continue;
        };
        // A fence may be indented (a code block inside a list item).
        let fence = |j: &usize| lines[*j].trim_start().starts_with("```");
        let open = (i + 1..lines.len()).find(fence);
        let Some(open) = open else {
            problems.push(format!(
                "{}:{}: quote marker without a code block",
                chapter.display(),
                i + 1
            ));
            break;
        };
        let close = (open + 1..lines.len()).find(fence).unwrap_or(lines.len());
        let Ok(source) = std::fs::read_to_string(root.join(path)) else {
            problems.push(format!(
                "{}:{}: quotes {path}, which does not exist",
                chapter.display(),
                i + 1
            ));
            i = close + 1;
            continue;
        };
        let src: Vec<&str> = source.lines().collect();
        let mut segments: Vec<Vec<&str>> = vec![Vec::new()];
        for l in &lines[open + 1..close] {
            if matches!(l.trim(), "// ..." | "//! ..." | "...") {
                segments.push(Vec::new());
            } else {
                segments.last_mut().unwrap().push(*l);
            }
        }
        let mut at = 0;
        for seg in segments.iter().filter(|s| !s.is_empty()) {
            match find(&src, seg, at) {
                Some(next) => at = next,
                None => {
                    problems.push(format!(
                        "{}:{}: this part of the quote is no longer in {path}:\n    {}",
                        chapter.display(),
                        open + 1,
                        seg.iter()
                            .take(3)
                            .copied()
                            .collect::<Vec<_>>()
                            .join("\n    ")
                    ));
                    break;
                }
            }
        }
        i = close + 1;
    }
    problems
}

#[test]
fn every_quoted_block_in_the_docs_matches_the_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut chapters: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    chapters.sort();
    let mut quoted = 0;
    let mut problems = Vec::new();
    for c in &chapters {
        quoted += std::fs::read_to_string(c)
            .unwrap()
            .matches("<!-- quote: ")
            .count();
        problems.extend(check(c, root));
    }
    assert!(
        quoted > 0,
        "no quote markers found: the check would check nothing"
    );
    assert!(
        problems.is_empty(),
        "docs out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_changed_line_is_caught() {
    // The checker itself: a quote that does not match must be reported.
    let dir = std::env::temp_dir().join(format!("minirpc-quotes-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("code.rs"), "fn a() {\n    let x = 1;\n}\n").unwrap();
    let chapter = dir.join("docs/c.md");
    std::fs::write(
        &chapter,
        "<!-- quote: code.rs -->\n```rust\nlet x = 1;\n```\n",
    )
    .unwrap();
    assert!(check(&chapter, &dir).is_empty());
    std::fs::write(
        &chapter,
        "<!-- quote: code.rs -->\n```rust\nlet x = 2;\n```\n",
    )
    .unwrap();
    assert_eq!(check(&chapter, &dir).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
