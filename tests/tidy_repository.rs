//! Tidy checks, as ordinary tests: every source file opens with a `//!` header naming an existing
//! spec page, every spec page is implemented by some module and listed in the index.
//!
//! Spec: spec/README.md (traceability rules).

use std::collections::{BTreeMap, BTreeSet};
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

/// Committed text files: sources, tests, spec pages, configs, measurements, fixtures' READMEs and
/// generators, CI. Large data files (over 1 MiB) are left out.
fn committed_text_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| {
                [
                    "rs", "md", "toml", "py", "sh", "txt", "json", "jsonl", "snap", "csv", "svg",
                ]
                .iter()
                .any(|x| e == *x)
            }) && std::fs::metadata(&path).is_ok_and(|m| m.len() <= 1 << 20)
            {
                out.push(path);
            }
        }
    }
    let mut files = vec![root().join("README.md"), root().join("Cargo.toml")];
    for dir in [
        "src", "tests", "spec", "xtask", "paper", "benches", "fixtures", ".ci",
    ] {
        walk(&root().join(dir), &mut files);
    }
    files.retain(|f| !f.starts_with(root().join("xtask/target")));
    files.sort();
    files
}

/// Each committed text file that reads as UTF-8, with its path relative to the root.
fn committed_texts() -> Vec<(String, String)> {
    committed_text_files()
        .into_iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(&f).ok()?;
            let rel = f
                .strip_prefix(root())
                .expect("under root")
                .display()
                .to_string();
            Some((rel, text))
        })
        .collect()
}

/// What a committed file must not name: documents that live beside the repository but not in
/// it, and the absolute paths of the machines the package was built on. Spelled in pieces so
/// this file does not match itself.
fn outside_citations() -> Vec<String> {
    vec![
        ["..", "/shared/"].concat(),
        ["SEJE", "-SPEC"].concat(),
        ["/wo", "rk/"].concat(),
    ]
}

/// The lines of `text` that cite something outside the repository.
fn citations_outside(text: &str) -> Vec<(usize, String)> {
    let needles = outside_citations();
    text.lines()
        .enumerate()
        .filter(|(_, l)| needles.iter().any(|n| l.contains(n.as_str())))
        .map(|(i, l)| (i + 1, l.trim().chars().take(120).collect()))
        .collect()
}

#[test]
fn nothing_committed_cites_a_path_outside_the_repository() {
    let mut problems = Vec::new();
    for (rel, text) in committed_texts() {
        for (line, excerpt) in citations_outside(&text) {
            problems.push(format!("{rel}:{line}: {excerpt}"));
        }
    }
    assert!(
        problems.is_empty(),
        "tidy: write what is needed into the repository (spec/, a fixture's README) instead of \
         citing a path outside it:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_outside_citation_check_finds_each_kind() {
    for planted in [
        format!("see {}notes.md §9", ["..", "/shared/"].concat()),
        format!("digest {}", ["SEJE", "-SPEC"].concat()),
        format!("python at {}venv/bin/python", ["/wo", "rk/"].concat()),
    ] {
        let text = format!("first line\n{planted}\n");
        assert_eq!(citations_outside(&text).len(), 1, "{planted}");
        assert_eq!(citations_outside(&text)[0].0, 2);
    }
    assert!(citations_outside("../configs/synthetic.toml and /home/someone/x\n").is_empty());
}

/// `file:line` of every line of `files` that `find` reports.
fn lines_where(files: &[PathBuf], find: fn(&str) -> Vec<usize>) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).expect("readable source");
        let rel = f.strip_prefix(root()).expect("under root").display();
        out.extend(find(&text).into_iter().map(|line| format!("{rel}:{line}")));
    }
    out
}

/// Test files of the workspace: `tests/`, `xtask/tests/` and the unit tests inside the sources.
fn test_sources() -> Vec<PathBuf> {
    let mut files = sources();
    rust_files(&root().join("tests"), &mut files);
    rust_files(&root().join("xtask/tests"), &mut files);
    rust_files(&root().join("benches"), &mut files);
    files.sort();
    files
}

/// The lines of `text` that switch a test off for CI (`#[ignore]`, with or without a reason).
fn ignored_tests(text: &str) -> Vec<usize> {
    let attribute = ["#[", "ignore"].concat();
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            l.starts_with(&attribute)
                && l[attribute.len()..].starts_with([']', ' ', '='].as_slice())
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn no_test_is_switched_off() {
    let problems = lines_where(&test_sources(), ignored_tests);
    assert!(
        problems.is_empty(),
        "tidy: an ignored test is a figure CI never checks; make it fast enough to run, or move \
         it to a command that regenerates what it checks:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_ignore_check_finds_the_attribute_in_each_spelling() {
    let attribute = ["#[", "ignore"].concat();
    let text = format!(
        "#[test]\n{attribute}]\nfn a() {{}}\n    {attribute} = \"slow\"]\nfn b() {{}}\n// ignored here\n"
    );
    assert_eq!(ignored_tests(&text), [2, 4]);
}

/// The areas a test file's name starts with: the pipeline's layers (`data`, `phase1`, `phase2`,
/// `eval`, `retrieval`), the building blocks (`nn`, `checkpoint`, `runtime`), the authors' code
/// (`authors`), the surfaces (`cli`, `bench`, `xtask`) and the checks of the repository itself
/// (`spec`, `tidy`).
const TEST_AREAS: &[&str] = &[
    "data",
    "phase1",
    "phase2",
    "eval",
    "retrieval",
    "nn",
    "checkpoint",
    "fuzz",
    "runtime",
    "authors",
    "cli",
    "bench",
    "xtask",
    "spec",
    "tidy",
];

/// Test binaries (file stems under `tests/`) not named `<area>_<component>`.
fn misnamed_tests(stems: &[String]) -> Vec<String> {
    stems
        .iter()
        .filter(|s| {
            !s.split_once('_').is_some_and(|(area, component)| {
                TEST_AREAS.contains(&area) && !component.is_empty()
            })
        })
        .cloned()
        .collect()
}

#[test]
fn every_test_file_is_named_area_then_component() {
    let mut stems: Vec<String> = std::fs::read_dir(root().join("tests"))
        .expect("tests/")
        .filter_map(|e| e.ok()?.path().file_name()?.to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
        .collect();
    stems.sort();
    let problems = misnamed_tests(&stems);
    assert!(
        problems.is_empty(),
        "tidy: name test files `<area>_<component>.rs`, area one of {TEST_AREAS:?}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_test_name_check_finds_files_without_an_area() {
    let stems = ["phase2_adam", "retrieval", "classify_cli", "eval_"].map(str::to_string);
    assert_eq!(
        misnamed_tests(&stems),
        ["retrieval", "classify_cli", "eval_"].map(str::to_string)
    );
}

/// The lines of a library file that print or draw (`println!`, `eprintln!`, `print!`, `eprint!`,
/// `indicatif`): only the command line and xtask talk to the terminal.
fn terminal_output(text: &str) -> Vec<usize> {
    let needles = [
        ["print", "ln!"].concat(),
        ["eprint", "ln!"].concat(),
        ["print", "!("].concat(),
        ["eprint", "!("].concat(),
        ["indi", "catif"].concat(),
    ];
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let code = l.split("//").next().unwrap_or("");
            needles.iter().any(|n| code.contains(n.as_str()))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn the_library_never_prints_nor_draws_a_bar() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.retain(|f| !f.ends_with("src/main.rs") && !f.starts_with(root().join("src/cli")));
    let problems = lines_where(&files, terminal_output);
    assert!(
        problems.is_empty(),
        "tidy: the library logs through `tracing` and reports progress through callbacks; the \
         command line prints and draws:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_terminal_check_finds_prints_and_bars_but_not_comments() {
    let text = format!(
        "fn a() {{ {}(\"x\"); }}\nlet pb = {}::ProgressBar::new(3);\n// {}(\"in a comment\")\n",
        ["print", "ln!"].concat(),
        ["indi", "catif"].concat(),
        ["print", "ln!"].concat(),
    );
    assert_eq!(terminal_output(&text), [1, 2]);
}

/// The ids of spec/deviations.md's tables (`| D6 | …`) with the page each row links to.
fn deviation_ids(page: &str) -> BTreeMap<String, Vec<String>> {
    page.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let id = cells.get(1)?;
            let well_formed = id.len() >= 2
                && id.starts_with(|c: char| c.is_ascii_uppercase())
                && id[1..].chars().all(|c| c.is_ascii_digit());
            well_formed.then(|| (id.to_string(), named_links(l)))
        })
        .collect()
}

/// The `](page.md)` links of a line.
fn named_links(line: &str) -> Vec<String> {
    line.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &line[at + 2..];
            let end = rest.find(')')?;
            rest[..end]
                .ends_with(".md")
                .then(|| rest[..end].to_string())
        })
        .collect()
}

/// Every `deviations.md X9` (or `deviations.md) X9`, `… D7 and M2`) a text cites.
fn cited_deviations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("deviations.md") {
        let rest = text[at + "deviations.md".len()..].trim_start_matches(')');
        let words = rest.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ')' | '.'));
        for w in words.filter(|w| !w.is_empty()).take(4) {
            let is_id = w.len() >= 2
                && w.starts_with(|c: char| c.is_ascii_uppercase())
                && w[1..].chars().all(|c| c.is_ascii_digit());
            if is_id {
                out.push(w.to_string());
            } else if w != "and" {
                break;
            }
        }
    }
    out
}

#[test]
fn every_cited_deviation_exists_and_every_entry_links_its_page() {
    let page = std::fs::read_to_string(root().join("spec/deviations.md")).expect("the page");
    let ids = deviation_ids(&page);
    assert!(
        ids.len() >= 40,
        "spec/deviations.md lists {} entries",
        ids.len()
    );
    let pages = spec_pages();
    let mut problems = Vec::new();
    for (id, links) in &ids {
        if links.is_empty() {
            problems.push(format!("spec/deviations.md {id}: links no spec page"));
        }
        for l in links.iter().filter(|l| !pages.contains(*l)) {
            problems.push(format!(
                "spec/deviations.md {id}: links {l}, which does not exist"
            ));
        }
    }
    let mut cited = 0;
    for (rel, text) in committed_texts() {
        for id in cited_deviations(&text) {
            cited += 1;
            if !ids.contains_key(&id) {
                problems.push(format!(
                    "{rel}: cites spec/deviations.md {id}, which it does not list"
                ));
            }
        }
    }
    assert!(
        cited >= 10,
        "only {cited} citations of spec/deviations.md found"
    );
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn the_deviation_citation_reader_finds_ids_in_each_spelling() {
    assert_eq!(
        cited_deviations("see spec/deviations.md D6. And ([deviations.md](deviations.md) D7 and M2): x; (spec/deviations.md L2 and L3)"),
        ["D6", "D7", "M2", "L2", "L3"]
    );
    let ids = deviation_ids(
        "| id | kind |\n|---|---|\n| D6 | deviation | x | [data-images.md](data-images.md) |\n",
    );
    assert_eq!(ids.keys().collect::<Vec<_>>(), ["D6"]);
    assert_eq!(ids["D6"], ["data-images.md"]);
}

/// What makes `src/main.rs` more than a parser and a dispatcher: more than `MAIN_LINES` lines,
/// or a function other than `main` and `run` (a command's work belongs in its `src/cli/`
/// module, the pipeline's in the library).
fn main_problems(text: &str) -> Vec<String> {
    const MAIN_LINES: usize = 150;
    let mut problems = Vec::new();
    let lines = text.lines().count();
    if lines > MAIN_LINES {
        problems.push(format!("{lines} lines (at most {MAIN_LINES})"));
    }
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("").trim_start();
        let code = code.strip_prefix("pub ").unwrap_or(code);
        if let Some(rest) = code.strip_prefix("fn ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != "main" && name != "run" {
                problems.push(format!("line {}: fn {name}", i + 1));
            }
        }
    }
    problems
}

#[test]
fn the_binary_entry_point_only_parses_and_dispatches() {
    let path = root().join("src/main.rs");
    let text = std::fs::read_to_string(&path).expect("src/main.rs");
    let problems = main_problems(&text);
    assert!(
        problems.is_empty(),
        "tidy: src/main.rs parses the command line and hands each command to src/cli/ \
         (spec/README.md, \"Architecture rules\"):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_entry_point_check_finds_long_files_and_helpers() {
    let ok = "fn main() {}\nfn run() -> Result<()> { Ok(()) }\n";
    assert!(main_problems(ok).is_empty());
    let helper = "fn main() {}\n    fn categories(root: &Path) {}\n// fn in_a_comment()\n";
    assert_eq!(main_problems(helper), ["line 2: fn categories"]);
    let long = "\n".repeat(151);
    assert_eq!(main_problems(&long), ["151 lines (at most 150)"]);
}
