//! Every error code a user can meet is listed in docs/errors.md: the codes are the lines'
//! stable names, so one that the docs do not explain is a defect (and so is a doc entry that
//! no code produces any more).

use std::collections::BTreeSet;
use std::path::Path;

/// `E-...` codes written as string literals (or at a line's start in assembly) in `dir`.
fn codes_in(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            codes_in(&path, found);
            continue;
        }
        let Some("rs" | "s") = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("E-") {
            let before = text[..at].chars().last();
            if !matches!(before, Some('"') | Some(' ') | Some('`')) {
                continue;
            }
            let code: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-')
                .collect();
            if code.ends_with('-') || text[at + code.len()..].starts_with('*') {
                continue; // a family, `E-XZ-*`, or a prefix a test matches
            }
            // A code has a family and a name (E-TFTP-NOTFOUND); `E-CODE` is the docs' placeholder.
            if code.len() > 3 && code != "E-CODE" {
                found.insert(code);
            }
        }
    }
}

#[test]
fn every_error_code_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut codes = BTreeSet::new();
    for dir in ["runtime/src", "proto/src", "stage1", "image-builder/src"] {
        codes_in(&root.join(dir), &mut codes);
    }
    assert!(codes.len() > 40, "found only {codes:?}");
    let docs = std::fs::read_to_string(root.join("docs/errors.md")).unwrap();
    let missing: Vec<&String> = codes
        .iter()
        .filter(|code| !docs.contains(&format!("`{code}`")))
        .collect();
    assert!(missing.is_empty(), "not in docs/errors.md: {missing:?}");
}
