//! `seje eval` end to end: help and table snapshots, JSON equal to the authors'-loop golden, and
//! clear errors for bad inputs.
//!
//! Spec: spec/eval-protocol.md (output, inputs).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden/eval")
        .join(name)
}

fn seje() -> Command {
    let mut cmd = Command::cargo_bin("seje").expect("the seje binary is built");
    cmd.env_remove("SEJE_LOG");
    cmd
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = seje().args(args).output().expect("seje runs");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

fn npy_args(extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "eval".to_string(),
        "--image-emb".into(),
        fixture("image.npy").display().to_string(),
        "--recipe-emb".into(),
        fixture("recipe.npy").display().to_string(),
        "--log".into(),
        "warn".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn eval_help_snapshot() {
    let (ok, out, _) = run(&["eval", "--help"]);
    assert!(ok);
    insta::assert_snapshot!("eval_help", out);
}

#[test]
fn eval_table_snapshot_of_the_fixture() {
    let args = npy_args(&["--sizes", "1000,1500"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = run(&args);
    assert!(ok, "{err}");
    insta::assert_snapshot!("eval_table_fixture_seje", out);
}

#[test]
fn eval_json_equals_the_authors_loop_golden() {
    let args = npy_args(&["--sizes", "1000", "--json"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out, err) = run(&args);
    assert!(ok, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).expect("json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("golden.json")).unwrap()).unwrap();
    assert_eq!(got["protocol"], "seje");
    assert!(got["note"].as_str().unwrap().contains("not comparable"));
    for dir in ["image_to_recipe", "recipe_to_image"] {
        for k in ["medr", "r1", "r5", "r10"] {
            let g = got["sizes"][0][dir][k].as_f64().unwrap();
            let w = golden["seje_1000"][dir][k].as_f64().unwrap();
            assert!((g - w).abs() <= 1e-9, "{dir} {k}: {g} vs {w}");
        }
        assert_eq!(
            got["sizes"][0][dir]["per_subset"].as_array().unwrap().len(),
            10
        );
    }
}

#[test]
fn eval_reads_the_safetensors_file_with_ids() {
    let path = fixture("tiny.safetensors").display().to_string();
    let (ok, out, err) = run(&[
        "eval",
        "--embeddings",
        &path,
        "--protocol",
        "ht",
        "--sizes",
        "3",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["protocol"], "ht");
    assert_eq!(v["test_size"], 3);
    assert_eq!(v["dimension"], 16);
    // the ids are known, so nothing is remarked about the row order
    assert_eq!(v["remarks"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        v["sizes"][0]["image_to_recipe"]["per_subset"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn eval_errors_name_the_input() {
    let args = npy_args(&["--sizes", "2000"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, _, err) = run(&args);
    assert!(!ok);
    assert!(
        err.contains("subset size 2000 is larger than the test set (1500 pairs)"),
        "{err}"
    );

    let (ok, _, err) = run(&[
        "eval",
        "--image-emb",
        &fixture("image.npy").display().to_string(),
        "--recipe-emb",
        &fixture("golden.json").display().to_string(),
    ]);
    assert!(!ok);
    assert!(err.contains("golden.json: not a .npy file"), "{err}");

    if !tch::Cuda::is_available() {
        let args = npy_args(&["--sizes", "10", "--device", "cuda"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, _, err) = run(&args);
        assert!(!ok);
        assert!(
            err.contains("device cuda: libtorch sees no CUDA device"),
            "{err}"
        );
    }

    let (ok, _, err) = run(&["eval", "--sizes", "10"]);
    assert!(!ok);
    assert!(err.contains("--embeddings"), "{err}");
}
