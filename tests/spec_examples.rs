//! Literate spec harness: every ```` ```toml example ```` block in `spec/*.md` is one trial, named
//! `page.md - heading - heading`, run through the single operation registry.
//!
//! Spec: spec/README.md (how to write examples). A failure prints `spec/page.md:line`, expected and
//! got, and the command that reruns only that example. `SEJE_SPEC_UPDATE=1` rewrites `expected`
//! from the result; it is refused when `CI` is set.

#[path = "spec/compare.rs"]
mod compare;
#[path = "spec/inputs.rs"]
mod inputs;
#[path = "spec/markdown.rs"]
mod markdown;
#[path = "spec/ops/mod.rs"]
mod ops;
#[path = "spec/registry.rs"]
mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use toml::{Table, Value};

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("spec")
}

fn update_requested() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    std::env::var("SEJE_SPEC_UPDATE").is_ok_and(|v| v == "1") && !ci
}

fn run_example(ex: &markdown::Example) -> Result<(), Failed> {
    let at = format!("spec/{}:{}", ex.page, ex.line);
    let rerun = format!(
        "cargo test --test spec_examples -- --exact '{}'",
        ex.name.replace('\'', "'\\''")
    );
    let fail = |msg: String| -> Failed {
        format!("{at}: {msg}\n  rerun: {rerun}\n  update expected: SEJE_SPEC_UPDATE=1 {rerun}")
            .into()
    };
    let table: Table = ex
        .body
        .parse()
        .map_err(|e| fail(format!("the example is not valid TOML: {e}")))?;
    let op = table
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("the example has no `op = \"…\"`".into()))?;
    let tol = match table.get("tolerance") {
        None => 0.0,
        Some(&Value::Float(f)) => f,
        Some(&Value::Integer(i)) => i as f64,
        Some(v) => return Err(fail(format!("`tolerance` must be a number, found {v}"))),
    };
    let result = registry::run(op, &table);
    match (table.get("expected"), table.get("expected_error"), result) {
        (Some(expected), None, Ok(got)) => {
            if let Err(why) = compare::compare(expected, &got, tol, "") {
                if update_requested() {
                    compare::rewrite_expected(&spec_dir().join(&ex.page), &ex.body, &got)
                        .map_err(|e| fail(format!("update failed: {e}")))?;
                    eprintln!("{at}: expected updated");
                    return Ok(());
                }
                return Err(fail(format!(
                    "{why}\n  expected: {}\n  got:      {}",
                    compare::format(expected),
                    compare::format(&got)
                )));
            }
            Ok(())
        }
        (Some(_), None, Err(e)) => Err(fail(format!("`{op}` failed: {e}"))),
        (None, Some(Value::String(want)), Err(e)) if e.contains(want.as_str()) => Ok(()),
        (None, Some(Value::String(want)), Err(e)) => Err(fail(format!(
            "error expected to contain {want:?}, got {e:?}"
        ))),
        (None, Some(Value::String(want)), Ok(got)) => Err(fail(format!(
            "error expected to contain {want:?}, but `{op}` succeeded with {}",
            compare::format(&got)
        ))),
        _ => Err(fail(
            "the example needs exactly one of `expected` or `expected_error` (a string)".into(),
        )),
    }
}

/// The operations each page's examples call, by page file.
fn used_ops(examples: &[markdown::Example]) -> BTreeMap<String, BTreeSet<String>> {
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ex in examples {
        if let Some(op) = ex
            .body
            .parse::<Table>()
            .ok()
            .and_then(|t| t.get("op").and_then(Value::as_str).map(str::to_string))
        {
            used.entry(ex.page.clone()).or_default().insert(op);
        }
    }
    used
}

/// One more trial: every operation is filed under a page that uses it, once, and is used.
fn registry_trial(examples: &[markdown::Example]) -> Trial {
    let used = used_ops(examples);
    Trial::test(
        "registry - every operation is filed under a page that uses it",
        move || {
            let problems = registry::problems(registry::OPS, &used);
            if problems.is_empty() {
                Ok(())
            } else {
                Err(format!("tests/spec/registry.rs:\n  {}", problems.join("\n  ")).into())
            }
        },
    )
}

fn main() {
    let mut args = Arguments::from_args();
    // libtorch's generator is process-global and ops seed it: run examples one at a time unless
    // the caller asks otherwise.
    args.test_threads.get_or_insert(1);
    let examples = markdown::collect(&spec_dir());
    let registry_check = registry_trial(&examples);
    let trials = examples
        .into_iter()
        .map(|ex| Trial::test(ex.name.clone(), move || run_example(&ex)))
        .chain([registry_check])
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
