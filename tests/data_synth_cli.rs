//! `seje synth` on the command line: its help text is a snapshot, it writes what it reports, and
//! a refused output directory is an error that names it.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Generating a benchmark").

#[path = "support/cli.rs"]
mod cli;
use cli::seje;

#[test]
fn synth_help_snapshot() {
    let out = seje()
        .args(["synth", "--help"])
        .output()
        .expect("seje runs");
    assert!(out.status.success());
    insta::assert_snapshot!(
        "synth_cli_help",
        String::from_utf8(out.stdout).expect("utf-8")
    );
}

#[test]
fn synth_writes_both_sets_and_reports_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (r, f) = (dir.path().join("r"), dir.path().join("f"));
    let out = seje()
        .args([
            "synth",
            "--preset",
            "fixture-mini",
            "--recipes",
            "12",
            "--seed",
            "5",
        ])
        .arg("--out")
        .arg(&r)
        .arg("--food101")
        .arg(&f)
        .output()
        .expect("seje runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("12 recipes (train 8, val 2, test 2), 12 images"),
        "{stdout}"
    );
    assert!(
        stdout.contains("42 classes, 84 train + 42 test images"),
        "{stdout}"
    );
    let synth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.join("synth.json")).expect("synth.json"))
            .expect("json");
    assert_eq!(synth["config"]["seed"], 5);
    assert!(f.join("meta/classes.txt").is_file());
}

#[test]
fn synth_into_a_non_empty_directory_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("old.json"), "[]").expect("write");
    let out = seje()
        .args(["synth", "--recipes", "3", "--out"])
        .arg(dir.path())
        .output()
        .expect("seje runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
}
