//! `seje data check` on every malformed dataset under `fixtures/bad/` (one case each: the message
//! is a snapshot and names the file and the id) and on a valid generated dataset.
//!
//! Spec: spec/data-recipe1m.md (errors, the check).

#[path = "support/cli.rs"]
mod cli;

#[path = "support/dataset.rs"]
mod dataset;

fn seje() -> assert_cmd::Command {
    let mut cmd = cli::seje_logging("off");
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// Runs the check on `fixtures/bad/<case>`, asserts a clean failure (status 1, not a panic) and
/// returns stderr.
fn failing(case: &str, must_name: &[&str]) -> String {
    let out = seje()
        .args(["data", "check", "--root", &format!("fixtures/bad/{case}")])
        .output()
        .expect("seje runs");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(out.status.code(), Some(1), "{case}: {stderr}");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    for s in must_name {
        assert!(stderr.contains(s), "{case}: {stderr:?} does not name {s:?}");
    }
    stderr
}

#[test]
fn bad_malformed_json() {
    insta::assert_snapshot!(
        "data_check_bad_malformed_json",
        failing("malformed_json", &["layer1.json:27:3"])
    );
}

#[test]
fn bad_missing_field() {
    insta::assert_snapshot!(
        "data_check_bad_missing_field",
        failing("missing_field", &["layer1.json", "00003a70b1", "partition"])
    );
}

#[test]
fn bad_duplicate_id() {
    insta::assert_snapshot!(
        "data_check_bad_duplicate_id",
        failing("duplicate_id", &["layer1.json", "000018c8a5"])
    );
}

#[test]
fn bad_id_escapes_root() {
    insta::assert_snapshot!(
        "data_check_bad_id_escapes_root",
        failing("id_escapes_root", &["layer1.json", "../../00003a70b1"])
    );
}

#[test]
fn bad_non_hex_image_id() {
    insta::assert_snapshot!(
        "data_check_bad_non_hex_image_id",
        failing(
            "non_hex_image_id",
            &["layer2.json", "000018c8a5", "3e23zz01e2.jpg"]
        )
    );
}

#[test]
fn bad_unknown_partition() {
    insta::assert_snapshot!(
        "data_check_bad_unknown_partition",
        failing(
            "unknown_partition",
            &["layer1.json", "000018c8a5", "training"]
        )
    );
}

#[test]
fn bad_det_ingrs_missing_recipe() {
    insta::assert_snapshot!(
        "data_check_bad_det_ingrs_missing_recipe",
        failing(
            "det_ingrs_missing_recipe",
            &["det_ingrs.json", "0000631d90"]
        )
    );
}

#[test]
fn bad_missing_image() {
    insta::assert_snapshot!(
        "data_check_bad_missing_image",
        failing(
            "missing_image",
            &["00003a70b1", "images/val/7/f/0/0/7f00aa10c4.jpg"]
        )
    );
}

#[test]
fn bad_corrupt_image() {
    insta::assert_snapshot!(
        "data_check_bad_corrupt_image",
        failing(
            "corrupt_image",
            &["images/test/b/1/c/2/b1c2d3e4f5.jpg", "0000631d90"]
        )
    );
}

#[test]
fn every_bad_case_has_a_test() {
    let mut cases: Vec<String> = std::fs::read_dir("fixtures/bad")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    let this = std::fs::read_to_string("tests/data_check.rs").unwrap();
    for c in cases {
        assert!(
            this.contains(&format!("fn bad_{c}()")),
            "fixtures/bad/{c} has no test in tests/data_check.rs"
        );
    }
}

#[test]
fn skip_policy_counts_the_corrupt_image_and_succeeds() {
    let out = seje()
        .args([
            "data",
            "check",
            "--root",
            "fixtures/bad/corrupt_image",
            "--images",
            "skip",
        ])
        .output()
        .expect("seje runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(
        "data_check_skip_corrupt_image",
        String::from_utf8(out.stdout).unwrap()
    );
}

#[test]
fn the_json_report_carries_the_counts() {
    let out = seje()
        .args([
            "data",
            "check",
            "--root",
            "fixtures/bad/corrupt_image",
            "--images",
            "skip",
            "--json",
        ])
        .output()
        .expect("seje runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["policy"], "skip");
    assert_eq!(v["test"]["corrupt"], 1);
    assert_eq!(v["test"]["pairs_usable"], 0);
    assert_eq!(v["train"]["found"], 1);
    assert_eq!(v["join"]["val"]["pairs"], 1);
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_valid_dataset_passes_with_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut recipes = vec![
        dataset::recipe("a0", "train", 7),
        dataset::recipe("a1", "train", 1),
        dataset::recipe("b0", "val", 2),
        dataset::recipe("c0", "test", 1),
        dataset::recipe("c1", "test", 0),
    ];
    recipes[1].n_instructions = 20;
    let root = dir.path();
    dataset::write(root, &recipes, 12, 9, false);
    std::fs::write(root.join("remove1M.txt"), "c0\n").unwrap();
    let out = seje()
        .args(["data", "check", "--root"])
        .arg(root)
        .output()
        .expect("seje runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(
        "data_check_valid_generated",
        String::from_utf8(out.stdout).unwrap()
    );
}

#[test]
fn check_help_snapshot() {
    let out = seje()
        .args(["data", "check", "--help"])
        .output()
        .expect("seje runs");
    insta::assert_snapshot!("data_check_help", String::from_utf8(out.stdout).unwrap());
}
