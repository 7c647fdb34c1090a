//! Tidy checks of the module graph: dependencies follow the pipeline (data → Phase I → Phase II →
//! evaluation → retrieval, shared building blocks below them all) and no two files of `src/` or
//! `xtask/src/` depend on each other, directly or around a loop.
//!
//! Spec: spec/README.md (section "Architecture rules").
//!
//! The graph is read from the sources, not from the compiler: every `use crate::…`, `use super::…`
//! and inline `crate::…` path outside `#[cfg(test)]` modules and comments, resolved to the longest
//! prefix that names a file's module. A file's references to its own ancestors (a parent module's
//! items) are not edges: the parent is the child's facade.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module path of every `.rs` file under `base` (`phase2::train` for `phase2/train.rs`, `phase2`
/// for `phase2.rs`), without the crate roots `lib.rs` and `main.rs`.
fn modules(base: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(base)
                    .expect("under base")
                    .with_extension("");
                let module = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("::");
                let module = module.strip_suffix("::mod").unwrap_or(&module).to_string();
                if module != "lib" && module != "main" {
                    out.insert(module, path);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(base, base, &mut out);
    out
}

/// `text` without `#[cfg(test)] mod … { … }` blocks and without `//` comments.
fn code_only(text: &str) -> String {
    let mut text = text.to_string();
    while let Some(at) = text.find("#[cfg(test)]") {
        let rest = &text[at..];
        let Some(open) = rest.find('{') else { break };
        if !rest[..open].contains("mod ") {
            // A test-only item that is not a module: drop the attribute line only.
            text.replace_range(at..at + "#[cfg(test)]".len(), "");
            continue;
        }
        let mut depth = 0usize;
        let mut end = text.len();
        for (i, c) in text[at + open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        text.replace_range(at..end, "");
    }
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (spaces removed beforehand).
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let (prefix, body) = (
        &tree[..open],
        &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())],
    );
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// Every `crate::`/`super::`/`self::` path the code names.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let after = &rest[at + 4..];
        let boundary = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if boundary
            && ["crate::", "super::", "self::"]
                .iter()
                .any(|p| after.starts_with(p))
        {
            let end = after.find(';').unwrap_or(after.len());
            // Drop renames (`X as Y`), then every space: a tree like `a::{b,c::{d,e}}` is left.
            let mut words = after[..end].split_whitespace();
            let mut tree = String::new();
            while let Some(w) = words.next() {
                if w == "as" {
                    let renamed = words.next().unwrap_or("");
                    // Keep what follows the new name (`Y,` or `Y}`).
                    tree.push_str(
                        renamed.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'),
                    );
                } else {
                    tree.push_str(w);
                }
            }
            out.extend(expand(&tree));
        }
        rest = after;
    }
    for prefix in ["crate::", "super::"] {
        for (at, _) in code.match_indices(prefix) {
            if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            out.push(code[at..end].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module a path names: the longest prefix that is a file's module.
fn resolve(path: &str, current: &str, modules: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<&str> = Vec::new();
    match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
        }
        Some(&"super") | Some(&"self") => {
            base = current.split("::").collect();
            while let Some(&s) = segments.first() {
                match s {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segments.remove(0);
            }
        }
        _ => return None,
    }
    base.extend(segments);
    (1..=base.len())
        .rev()
        .map(|k| base[..k].join("::"))
        .find(|m| modules.contains_key(m))
}

/// File-level edges: module → the modules it names (not itself, not its ancestors).
fn graph(base: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(base);
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_only(&std::fs::read_to_string(file).expect("readable source"));
        let targets: BTreeSet<String> = paths(&code)
            .iter()
            .filter_map(|p| resolve(p, module, &modules))
            .filter(|t| t != module && !module.starts_with(&format!("{t}::")))
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// One cycle of the graph, as a path `a → b → … → a`, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|s| s == node).expect("on the stack");
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if let Some(c) = visit(node, edges, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// Every top-level module of the library with the top-level modules it must not import. A new
/// top-level module has to be placed here, so the rule is a decision, not an accident.
const LAYERS: &[(&str, &[&str])] = &[
    // Shared building blocks: below every stage of the pipeline.
    ("error", PIPELINE),
    ("runtime", PIPELINE),
    ("files", PIPELINE),
    ("html", PIPELINE),
    ("checkpoint", PIPELINE),
    ("cpython_random", PIPELINE),
    ("nn", PIPELINE),
    // The pipeline.
    ("data", &["phase1", "phase2", "eval", "retrieval"]),
    ("phase1", &["phase2", "eval", "retrieval"]),
    // Evaluation measures embeddings and Phase I outputs by their files; training validates with
    // evaluation's metrics, so Phase II may import `eval`, but `eval` imports no phase.
    ("eval", &["phase1", "phase2", "retrieval"]),
    ("phase2", &["retrieval"]),
    ("retrieval", &[]),
    // The command line's modules (`src/cli/`, part of the `seje` binary, not of the library):
    // above everything; nothing else may import them (checked in `layering_problems`).
    ("cli", &[]),
];

const PIPELINE: &[&str] = &["data", "phase1", "phase2", "eval", "retrieval"];

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// What breaks the layering rules in `edges`.
fn layering_problems(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for (from, targets) in edges {
        let Some((_, forbidden)) = LAYERS.iter().find(|(m, _)| *m == top(from)) else {
            problems.push(format!(
                "src/{}: top-level module `{}` has no place in tests/tidy_imports.rs LAYERS",
                from.replace("::", "/"),
                top(from)
            ));
            continue;
        };
        for to in targets {
            if top(to) == "cli" && top(from) != "cli" {
                problems.push(format!(
                    "{from} imports {to}: the library must not depend on the command line \
                     (spec/README.md, \"Architecture rules\")"
                ));
            }
            if forbidden.contains(&top(to)) {
                problems.push(format!(
                    "{from} imports {to}: `{}` must not depend on `{}` (spec/README.md, \
                     \"Architecture rules\")",
                    top(from),
                    top(to)
                ));
            }
        }
    }
    problems
}

#[test]
fn the_library_imports_follow_the_pipeline() {
    let problems = layering_problems(&graph(&root().join("src")));
    assert!(problems.is_empty(), "tidy:\n{}", problems.join("\n"));
}

#[test]
fn no_two_files_of_the_library_depend_on_each_other() {
    let cycle = find_cycle(&graph(&root().join("src")));
    assert!(
        cycle.is_none(),
        "tidy: a dependency cycle between files of src/: {}",
        cycle.unwrap_or_default().join(" → ")
    );
}

#[test]
fn no_two_files_of_xtask_depend_on_each_other() {
    let cycle = find_cycle(&graph(&root().join("xtask/src")));
    assert!(
        cycle.is_none(),
        "tidy: a dependency cycle between files of xtask/src/: {}",
        cycle.unwrap_or_default().join(" → ")
    );
}

#[test]
fn the_graph_reader_sees_nested_uses_inline_paths_and_skips_tests_and_comments() {
    let code = code_only(
        "use crate::data::{pairs::{self, Pair}, splits::Partition as P};\n\
         use super::step::Trainer; // crate::eval::ranking in a comment\n\
         fn f() { crate::files::write_atomic(a, b); }\n\
         #[cfg(test)]\nmod tests { use crate::retrieval::Index; }\n",
    );
    let found = paths(&code);
    for p in [
        "crate::data::pairs::self",
        "crate::data::pairs::Pair",
        "crate::data::splits::Partition",
        "super::step::Trainer",
        "crate::files::write_atomic",
    ] {
        assert!(found.iter().any(|f| f == p), "{p} not in {found:?}");
    }
    assert!(!found
        .iter()
        .any(|f| f.contains("retrieval") || f.contains("ranking")));
    let modules: BTreeMap<String, PathBuf> =
        ["data::pairs", "phase2::step", "phase2::train", "files"]
            .iter()
            .map(|m| (m.to_string(), PathBuf::new()))
            .collect();
    assert_eq!(
        resolve("super::step::Trainer", "phase2::train", &modules).as_deref(),
        Some("phase2::step")
    );
    assert_eq!(
        resolve("crate::data::pairs::self", "x", &modules).as_deref(),
        Some("data::pairs")
    );
}

#[test]
fn a_planted_cycle_and_a_planted_upward_import_are_found() {
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("phase1::a", vec!["phase2::b"]),
        ("phase2::b", vec!["phase2::c"]),
        ("phase2::c", vec!["phase2::b"]),
        ("eval::d", vec!["data::e"]),
        ("retrieval::f", vec!["cli::args"]),
        ("cli::features", vec!["cli::args", "phase1::a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    let cycle = find_cycle(&edges).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"phase2::b".to_string()) && cycle.contains(&"phase2::c".to_string()));
    let problems = layering_problems(&edges);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("phase1::a imports phase2::b"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("retrieval::f imports cli::args: the library must not"),
        "{problems:?}"
    );
}
