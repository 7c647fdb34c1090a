//! `seje eval` end to end: help and table snapshots, JSON equal to the authors'-loop golden, and
//! clear errors for bad inputs.
//!
//! Spec: spec/eval-protocol.md (output, inputs).

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;
use cli::seje;

use fixtures::recipe1m_mini as mini;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden/eval")
        .join(name)
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

fn truth_json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("truth.json");
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.extend(["--out".into(), out.display().to_string()]);
    let (ok, stdout, stderr) = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{stdout}\n{stderr}");
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

#[test]
fn phase_one_is_measured_against_the_fixture_truth_and_a_scrambled_dump_scores_low() {
    // spec/eval-phase1-truth.md: the key terms of the fixture benchmark against its truth.
    let dir = tempfile::tempdir().unwrap();
    let terms = dir.path().join("terms.jsonl");
    let root = mini();
    let (root_s, terms_s) = (root.display().to_string(), terms.display().to_string());
    let (ok, _, stderr) = run(&[
        "features",
        "text",
        "--root",
        &root_s,
        "--out",
        &dir.path().display().to_string(),
        "--dump-terms",
        &terms_s,
        "--size",
        "16",
        "--iter",
        "1",
        "--log",
        "warn",
    ]);
    assert!(ok, "{stderr}");
    let t = truth_json(&["truth", "--root", &root_s, "--terms", &terms_s]);
    let k = &t["key_terms"];
    let (p, r) = (
        k["precision"].as_f64().unwrap(),
        k["recall"].as_f64().unwrap(),
    );
    // Measured on the fixture (2026-12-03): precision 0.916, recall 0.992.
    assert!(p > 0.85 && r > 0.95, "precision {p}, recall {r}");
    assert_eq!(k["recipes"], 160);

    // The same terms given to the next recipe: most are no longer true of their recipe.
    let lines: Vec<String> = std::fs::read_to_string(&terms)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let ids: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].clone())
        .collect();
    let shifted: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"] = ids[(i + 1) % ids.len()].clone();
            v.to_string() + "\n"
        })
        .collect();
    let scrambled = dir.path().join("scrambled.jsonl");
    std::fs::write(&scrambled, shifted).unwrap();
    let s = truth_json(&[
        "truth",
        "--root",
        &root_s,
        "--terms",
        &scrambled.display().to_string(),
    ]);
    let q = s["key_terms"]["precision"].as_f64().unwrap();
    assert!(q < p - 0.2, "scrambled precision {q} against {p}");
}

#[test]
fn predictions_and_categories_equal_to_the_truth_score_one_and_other_ids_are_named() {
    let root = mini();
    let truth: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("synth_truth.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cats = dir.path();
    // Every photograph predicted as its dish (two each), every pair's category its dish's index.
    let dishes: std::collections::BTreeSet<&str> = truth
        .iter()
        .map(|t| t["category"].as_str().unwrap())
        .collect();
    let index = |d: &str| dishes.iter().position(|x| *x == d).unwrap();
    let mut predictions = String::new();
    let mut labels = serde_json::Map::new();
    for t in &truth {
        let (id, dish) = (t["id"].as_str().unwrap(), t["category"].as_str().unwrap());
        predictions +=
            &serde_json::json!({"id": id, "partition": "test", "predictions": [dish, dish]})
                .to_string();
        predictions.push('\n');
        labels.insert(id.into(), serde_json::json!({"class": index(dish)}));
    }
    std::fs::write(cats.join("predictions.jsonl"), &predictions).unwrap();
    std::fs::write(
        cats.join("labels.json"),
        serde_json::json!({"labels": labels}).to_string(),
    )
    .unwrap();
    let (root_s, cats_s) = (root.display().to_string(), cats.display().to_string());
    let t = truth_json(&["truth", "--root", &root_s, "--categories", &cats_s]);
    assert_eq!(t["predictions"]["top1"], 1.0);
    assert_eq!(t["predictions"]["images"], 2 * truth.len());
    assert_eq!(t["categories"]["nmi"], 1.0);
    assert_eq!(t["categories"]["purity"], 1.0);

    // A recipe the benchmark lacks: the file and the id are named.
    std::fs::write(
        cats.join("predictions.jsonl"),
        "{\"id\": \"not-a-recipe\", \"partition\": \"test\", \"predictions\": [\"pizza\"]}\n",
    )
    .unwrap();
    let (ok, _, stderr) = run(&["truth", "--root", &root_s, "--categories", &cats_s]);
    assert!(!ok && stderr.contains("recipe not-a-recipe"), "{stderr}");
    // Not a synthetic benchmark: said so.
    let (ok, _, stderr) = run(&["truth", "--root", &cats_s, "--categories", &cats_s]);
    assert!(!ok && stderr.contains("synth.json"), "{stderr}");
}

#[test]
fn an_embeddings_file_whose_sizes_overflow_is_refused_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A header length of 2^64 - 1: `8 + len` overflowed before it was checked.
    let huge_header = dir.path().join("huge_header.safetensors");
    std::fs::write(&huge_header, [0xffu8; 16]).unwrap();
    // A [2^62, 4] F32 matrix: `rows × cols × 4` overflowed.
    let header = br#"{"image":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]},"recipe":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 4]);
    let huge_shape = dir.path().join("huge_shape.safetensors");
    std::fs::write(&huge_shape, bytes).unwrap();
    for (path, words) in [
        (
            &huge_header,
            "declares a header of 18446744073709551615 bytes",
        ),
        (
            &huge_shape,
            "do not hold a [4611686018427387904, 4] F32 matrix",
        ),
    ] {
        let err = seje::eval::embeddings::Embeddings::read_safetensors(path)
            .map(drop)
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains(&*path.display().to_string()) && err.contains(words),
            "{err}"
        );
    }
}
