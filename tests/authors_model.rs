//! The authors' release evaluated with the package's own commands, on a miniature of it made by
//! PyTorch for the recipes of the fixture (`fixtures/authors-model/generate.py`): their Phase I
//! pickles (`cargo xtask import`), im2recipe's `.t7` sentence vectors (`seje features sentences
//! --from-t7`), their checkpoint (`seje import-checkpoint`), then `seje embed` of the test split;
//! the embeddings are compared with what their model computes in PyTorch.
//!
//! Spec: spec/reproduce.md ("The authors' released model").

#[path = "support/cli.rs"]
mod cli;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::Tensor;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn release() -> PathBuf {
    root().join("fixtures/authors-model")
}

fn seje() -> assert_cmd::Command {
    cli::seje_logging("warn")
}

/// The largest |a − b| of two equally shaped float32 buffers.
fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

/// Features, run directory and test embeddings from the miniature release, in `dir`.
fn evaluate(dir: &Path) -> seje::eval::Embeddings {
    let features = dir.join("features");
    xtask::import::run(
        &root(),
        &xtask::import::ImportArgs {
            from: release().join("authors"),
            out: features.clone(),
            python: "python3".into(),
            dim: 8,
            num_classes: 5,
        },
    )
    .unwrap_or_else(|e| panic!("cargo xtask import: {e:#}"));
    seje()
        .args(["features", "sentences", "--from-t7"])
        .arg(release().join("im2recipe"))
        .arg("--root")
        .arg(root().join("fixtures/recipe1m-mini"))
        .arg("--out")
        .arg(&features)
        .assert()
        .success();
    let run = dir.join("run");
    seje()
        .args(["import-checkpoint", "--checkpoint"])
        .arg(release().join("seje_fixture.pth.tar"))
        .arg("--config")
        .arg(root().join("paper/configs/fixture-mini.toml"))
        .args(["--preset", "authors-code", "--set"])
        .arg(format!("data.features=\"{}\"", features.display()))
        .arg("--run-dir")
        .arg(&run)
        .assert()
        .success();
    let out = dir.join("test.safetensors");
    seje()
        .args(["embed", "--split", "test", "--run-dir"])
        .arg(&run)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    seje::eval::Embeddings::read_safetensors(&out).unwrap()
}

#[test]
fn the_miniature_release_embeds_as_the_authors_model_does() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = evaluate(tmp.path());
    let g: HashMap<String, Tensor> = Tensor::read_npz(release().join("golden.npz"))
        .unwrap()
        .into_iter()
        .collect();

    // The same pairs in the same order (the valid-count rule's test split, layer1.json order).
    let ids = &g["ids"];
    let bytes = Vec::<u8>::try_from(ids.flatten(0, -1)).unwrap();
    let theirs: Vec<String> = bytes
        .chunks(10)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    assert_eq!(ours.ids.as_deref(), Some(theirs.as_slice()));
    assert_eq!((ours.n, ours.d), (32, 8));

    // Recipes: their f_term, the LSTM over the .t7 vectors, their checkpoint: equal to PyTorch.
    let d_r = max_abs(&ours.recipe, &floats(&g["e_r"]));
    assert!(
        d_r <= 1e-5,
        "recipe embeddings: max |ours - theirs| = {d_r:e}"
    );
    // Images: the decoded JPEG differs from Pillow's (libjpeg-turbo) by up to 2 of 255 levels on
    // some pixels (spec/data-images.md, "Decoding"), so the image embeddings agree to 1e-3, not
    // 1e-5; everything after decoding (resize, crop, normalisation, the network, their f_cat) is
    // exact (tests/data_transforms.rs, tests/authors_checkpoint.rs).
    let d_v = max_abs(&ours.image, &floats(&g["e_v"]));
    assert!(
        d_v <= 1e-3,
        "image embeddings: max |ours - theirs| = {d_v:e}"
    );
    eprintln!("max |ours - PyTorch|: recipes {d_r:e}, images {d_v:e}");

    // The metrics: test.py's ranking (the literal loop, run by the generator) on their
    // embeddings equals `seje eval` on the same embeddings; on ours, at these sizes, too.
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(release().join("metrics.json")).unwrap())
            .unwrap();
    let dir = tmp.path();
    let theirs_eval = eval_npy(dir, "theirs", &g["e_v"], &g["e_r"]);
    let ours_v = Tensor::from_slice(&ours.image).view([32, 8]);
    let ours_r = Tensor::from_slice(&ours.recipe).view([32, 8]);
    let ours_eval = eval_npy(dir, "ours", &ours_v, &ours_r);
    for (who, report) in [("their embeddings", &theirs_eval), ("ours", &ours_eval)] {
        for (i, size) in ["16", "32"].iter().enumerate() {
            let got = &report["sizes"][i];
            assert_eq!(got["size"].as_u64().unwrap().to_string(), *size);
            for dir in ["image_to_recipe", "recipe_to_image"] {
                for k in ["medr", "r1", "r5", "r10"] {
                    let (a, b) = (
                        got[dir][k].as_f64().unwrap(),
                        expected[size][dir][k].as_f64().unwrap(),
                    );
                    assert!(
                        (a - b).abs() <= 1e-9,
                        "{who}, {size} {dir} {k}: {a} vs test.py {b}"
                    );
                }
            }
        }
    }
}

/// `seje eval --json` of two [n, d] float32 embeddings written as `.npy` files into `dir`.
fn eval_npy(dir: &Path, name: &str, image: &Tensor, recipe: &Tensor) -> serde_json::Value {
    let (i, r) = (
        dir.join(format!("{name}_image.npy")),
        dir.join(format!("{name}_recipe.npy")),
    );
    image.write_npy(&i).unwrap();
    recipe.write_npy(&r).unwrap();
    let out = seje()
        .args(["eval", "--sizes", "16,32", "--json", "--image-emb"])
        .arg(&i)
        .arg("--recipe-emb")
        .arg(&r)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn only_the_test_split_is_converted_when_asked() {
    // `--only-split test`: rows for the test pairs only, so .t7 files that hold im2recipe's
    // pairs need not cover splits made by another rule.
    let out = tempfile::tempdir().unwrap();
    seje()
        .args(["features", "sentences", "--only-split", "test", "--from-t7"])
        .arg(release().join("im2recipe"))
        .arg("--root")
        .arg(root().join("fixtures/recipe1m-mini"))
        .arg("--out")
        .arg(out.path())
        .assert()
        .success();
    let store =
        seje::data::feature_store::FeatureStore::open(&out.path().join("sentences.safetensors"))
            .unwrap();
    let (ds, _) = seje::data::pairs::open(&root().join("fixtures/recipe1m-mini")).unwrap();
    let mut test: Vec<String> = ds
        .split(seje::data::splits::Partition::Test)
        .iter()
        .map(|p| p.recipe_id.clone())
        .collect();
    test.sort();
    let mut rows = store.ids().to_vec();
    rows.sort();
    assert_eq!(rows, test);
}
