//! Tidy checks, as ordinary tests: every source file opens with a `//!` header naming an existing
//! spec page, every spec page is implemented by some module and listed in the index.
//!
//! Spec: spec/README.md (traceability rules).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source files the rules apply to: the library, the binary, the build script and xtask.
fn sources() -> Vec<PathBuf> {
    let mut files = vec![root().join("build.rs")];
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("xtask/src"), &mut files);
    files.sort();
    files
}

fn spec_pages() -> BTreeSet<String> {
    std::fs::read_dir(root().join("spec"))
        .expect("spec/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect()
}

/// The pages a file's `//!` header names (`spec/<page>.md`).
fn named_pages(text: &str) -> Vec<String> {
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    header
        .match_indices("spec/")
        .filter_map(|(at, _)| {
            let rest = &header[at + "spec/".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
                .unwrap_or(rest.len());
            let name = rest[..end].trim_end_matches('.');
            name.ends_with(".md").then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_source_file_has_a_header_naming_an_existing_spec_page() {
    let pages = spec_pages();
    let mut problems = Vec::new();
    for f in sources() {
        let text = std::fs::read_to_string(&f).expect("readable source");
        let rel = f
            .strip_prefix(root())
            .expect("under root")
            .display()
            .to_string();
        if !text.starts_with("//!") {
            problems.push(format!("{rel}: does not start with a `//!` header"));
            continue;
        }
        let named = named_pages(&text);
        if named.is_empty() {
            problems.push(format!(
                "{rel}: its `//!` header names no spec page (`Spec: spec/<page>.md`)"
            ));
        }
        for p in named {
            if !pages.contains(&p) {
                problems.push(format!("{rel}: names spec/{p}, which does not exist"));
            }
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn every_spec_page_has_an_implementing_module_and_an_index_entry() {
    let mut named = BTreeSet::new();
    for f in sources() {
        named.extend(named_pages(
            &std::fs::read_to_string(&f).expect("readable source"),
        ));
    }
    let index = std::fs::read_to_string(root().join("spec/README.md")).expect("spec/README.md");
    let mut problems = Vec::new();
    for page in spec_pages().into_iter().filter(|p| p != "README.md") {
        if !named.contains(&page) {
            problems.push(format!("spec/{page}: no module's `//!` header names it"));
        }
        if !index.contains(&format!("({page})")) {
            problems.push(format!("spec/{page}: not linked from spec/README.md"));
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn the_header_parser_finds_pages() {
    let text = "//! A module.\n//!\n//! Spec: spec/phase2-embedding-space.md (see also spec/runtime.md).\nfn x() {}\n// spec/ignored.md\n";
    assert_eq!(
        named_pages(text),
        ["phase2-embedding-space.md", "runtime.md"]
    );
}

#[test]
fn every_paper_table_says_where_its_numbers_come_from() {
    let dir = root().join("paper/tables");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("paper/tables exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path
            .file_name()
            .expect("file")
            .to_string_lossy()
            .into_owned();
        let table: toml::Table = match std::fs::read_to_string(&path).expect("readable").parse() {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("paper/tables/{name}: invalid TOML: {e}"));
                continue;
            }
        };
        let source = table
            .get("source")
            .and_then(toml::Value::as_str)
            .unwrap_or("");
        if source.trim().is_empty() {
            problems.push(format!("paper/tables/{name}: no `source`"));
        }
        if !table.get("verified").is_some_and(toml::Value::is_bool) {
            problems.push(format!("paper/tables/{name}: no `verified = true|false`"));
        }
        let readme =
            std::fs::read_to_string(root().join("paper/README.md")).expect("paper/README.md");
        if !readme.contains(&format!("(tables/{name})")) {
            problems.push(format!(
                "paper/tables/{name}: not listed in paper/README.md"
            ));
        }
    }
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}
