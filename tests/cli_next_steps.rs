//! Errors that say what to do next (issue 28): a command that misses Recipe1M, Food-101,
//! pretrained weights or BERT's files says, after the error, where they come from, which command
//! places them and what runs without them.
//!
//! Spec: spec/cli.md (errors that say what to do next).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;

use cli::seje;

/// Runs `seje args…`, which must fail; returns its standard error.
fn failing(args: &[&str]) -> String {
    let o = seje().arg("--log").arg("warn").args(args).output().unwrap();
    assert!(!o.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_assets_come_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let mini = fixtures::recipe1m_mini();
    let mini = mini.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec!["data", "check", "--root", "/no/recipe1m"],
            &[
                "im2recipe.csail.mit.edu/dataset/download",
                "`cargo xtask fetch --only recipe1m --mirror DIR`",
                "`seje synth --out DIR`",
            ],
        ),
        (
            vec![
                "features",
                "categoriser",
                "--food101",
                "/no/food-101",
                "--out",
                out,
                "--arch",
                "tiny",
            ],
            &["`cargo xtask fetch --only food101`", "--food101 DIR2"],
        ),
        (
            vec![
                "classify",
                "--arch",
                "resnet50",
                "--weights",
                "/no/weights/resnet50.pth",
                "x.jpg",
            ],
            &["`cargo xtask fetch --only weights`", "`--arch tiny`"],
        ),
        (
            vec![
                "features", "text", "--root", mini, "--out", out, "--rating", "bert", "--bert",
                "/no/bert",
            ],
            &["`cargo xtask fetch --only bert`", "`--rating tfidf`"],
        ),
    ];
    for (args, words) in cases {
        let err = failing(&args);
        let next = err
            .lines()
            .find_map(|l| l.strip_prefix("what to do: "))
            .unwrap_or_else(|| panic!("{args:?}: no `what to do:` line in {err}"));
        for w in words {
            assert!(next.contains(w), "{args:?}: says `{w}`: {next}");
        }
    }
    // Other errors get no such line.
    let err = failing(&["eval", "--embeddings", "Cargo.toml"]);
    assert!(!err.contains("what to do"), "{err}");
}
