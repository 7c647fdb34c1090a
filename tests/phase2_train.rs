//! `seje train` and `seje embed` end to end on the committed fixture with the Phase I stand-in
//! features: every file of a run, learning, exact resume after a kill, refused resumes, the NaN
//! guard, and embeddings that `seje eval` reads.
//!
//! Spec: spec/phase2-training-loop.md.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use fixtures::repo;
use seje::data::feature_store::{FeatureStore, FeatureWriter};
use seje::phase1::stand_in::{write_features, StandInConfig};
use serde_json::Value;

fn config() -> PathBuf {
    repo().join("paper/configs/fixture-mini.toml")
}

/// Stand-in features of `fixtures/recipe1m-mini`, written once per test binary.
fn features() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        write_features(
            &repo().join("fixtures/recipe1m-mini"),
            dir.path(),
            &StandInConfig::default(),
        )
        .unwrap();
        dir
    })
    .path()
}

fn seje() -> assert_cmd::Command {
    let mut cmd = cli::seje_logging("warn");
    cmd.env_remove(seje::phase2::train::ABORT_ENV);
    cmd
}

fn train(run: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let feat = format!("data.features=\"{}\"", features().display());
    let mut c = seje();
    c.args(["train", "--no-progress", "--run-dir"])
        .arg(run)
        .args(["--config"])
        .arg(config())
        .args(["--set", &feat])
        .args(extra);
    c.assert()
}

fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A metrics line without its wall-clock fields.
fn timeless(mut v: Value) -> Value {
    for k in ["train_seconds", "val_seconds", "images_per_second"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

#[test]
fn a_fixture_run_writes_every_file_and_learns() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = train(&run, &[]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("epochs     6 (max_epochs reached)"),
        "{stdout}"
    );
    assert!(stdout.contains("image->recipe"), "{stdout}");

    for f in [
        "config.toml",
        "manifest.json",
        "metrics.jsonl",
        "test.json",
        "curves.svg",
        "report.html",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    assert!(stdout.contains("report.html"), "{stdout}");
    for c in ["best", "last"] {
        for f in [
            "model.safetensors",
            "disc.safetensors",
            "optim.safetensors",
            "optim_disc.safetensors",
            "state.json",
        ] {
            assert!(
                run.join("checkpoints").join(c).join(f).is_file(),
                "{c}/{f} missing"
            );
        }
    }
    let m = metrics(&run);
    assert_eq!(m.len(), 6);
    for (i, line) in m.iter().enumerate() {
        assert_eq!(line["epoch"], i + 1);
        assert_eq!(line["pairs"], 96);
        for term in [
            "total",
            "triplet",
            "category_image",
            "category_recipe",
            "alignment",
            "discriminator",
            "gradient_penalty",
        ] {
            assert!(line["loss"][term].as_f64().unwrap().is_finite(), "{term}");
        }
        assert_eq!(line["val"]["size"], 32);
        assert!(line["images_per_second"].as_f64().unwrap() > 0.0);
    }
    let first = m[0]["loss"]["total"].as_f64().unwrap();
    let last = m[5]["loss"]["total"].as_f64().unwrap();
    assert!(last < 0.8 * first, "total loss {first} -> {last}");

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    let inputs = manifest["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 3);
    for pair in inputs {
        let file = PathBuf::from(pair[0].as_str().unwrap());
        assert_eq!(
            pair[1].as_str().unwrap(),
            seje::files::sha256_file(&file).unwrap()
        );
    }
    assert_eq!(manifest["seed"], 1234);
    assert_eq!(manifest["libtorch_version"], "2.11.0");
    // What defined the splits (spec/data-recipe1m.md): the fixture has no key files.
    assert_eq!(manifest["splits"]["kind"], "rule");
    assert_eq!(manifest["splits"]["rule"], "valid-count");

    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    let best: Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("checkpoints/best/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(test["checkpoint_epoch"], best["best"][1]);
    assert_eq!(test["report"]["sizes"][0]["size"], 32);

    // The embeddings of the best checkpoint, evaluated by `seje eval`, are the run's test numbers.
    let emb = tmp.path().join("test.safetensors");
    seje()
        .args(["embed", "--split", "test", "--run-dir"])
        .arg(&run)
        .arg("--out")
        .arg(&emb)
        .assert()
        .success();
    let out = seje()
        .args(["eval", "--sizes", "32", "--json", "--embeddings"])
        .arg(&emb)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["sizes"], test["report"]["sizes"]);
}

#[test]
fn a_run_killed_mid_epoch_and_resumed_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    train(&whole, &["--set", "schedule.max_epochs=3"]).success();

    // 96 pairs in batches of 16: 6 iterations per epoch; abort after iteration 9 (epoch 2).
    let feat = format!("data.features=\"{}\"", features().display());
    let mut c = seje();
    c.env(seje::phase2::train::ABORT_ENV, "9")
        .args(["train", "--no-progress", "--run-dir"])
        .arg(&cut)
        .arg("--config")
        .arg(config())
        .args(["--set", &feat, "--set", "schedule.max_epochs=3"]);
    let killed = c.assert().failure();
    assert!(
        killed.get_output().status.code().is_none(),
        "aborted by a signal"
    );
    assert_eq!(metrics(&cut).len(), 1, "epoch 1 finished before the kill");
    assert!(!cut.join("test.json").exists());

    // Resume from the run's own config (no --config).
    seje()
        .args(["train", "--no-progress", "--resume", "--run-dir"])
        .arg(&cut)
        .assert()
        .success();
    let (a, b) = (metrics(&whole), metrics(&cut));
    assert_eq!(a.len(), 3);
    assert_eq!(
        a.into_iter().map(timeless).collect::<Vec<_>>(),
        b.into_iter().map(timeless).collect::<Vec<_>>()
    );
    for c in ["best", "last"] {
        for f in ["model.safetensors", "optim.safetensors", "disc.safetensors"] {
            let p = Path::new("checkpoints").join(c).join(f);
            assert!(
                std::fs::read(whole.join(&p)).unwrap() == std::fs::read(cut.join(&p)).unwrap(),
                "{} differs",
                p.display()
            );
        }
    }
    let test = |r: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(r.join("test.json")).unwrap()).unwrap()
    };
    assert_eq!(test(&whole)["report"], test(&cut)["report"]);

    // A finished run resumed again does nothing new.
    seje()
        .args(["train", "--no-progress", "--resume", "--run-dir"])
        .arg(&cut)
        .assert()
        .success();
    assert_eq!(metrics(&cut).len(), 3);
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

#[test]
fn resumes_and_inputs_that_do_not_fit_are_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, &["--set", "schedule.max_epochs=1"]).success();

    let again = train(&run, &[]).failure();
    assert!(
        stderr(&again).contains("already holds a run"),
        "{}",
        stderr(&again)
    );

    let other = train(&run, &["--resume", "--set", "optim.lr=0.5"]).failure();
    assert!(
        stderr(&other).contains("was started with another configuration"),
        "{}",
        stderr(&other)
    );

    let none = seje()
        .args(["train", "--resume", "--run-dir"])
        .arg(tmp.path().join("nothing"))
        .assert()
        .failure();
    assert!(
        stderr(&none).contains("holds no run to resume"),
        "{}",
        stderr(&none)
    );

    let width = train(&tmp.path().join("w"), &["--set", "model.term=32"]).failure();
    assert!(
        stderr(&width).contains("term.safetensors")
            && stderr(&width).contains("tensor `f_term`: expected F32"),
        "{}",
        stderr(&width)
    );

    let cuda = train(&tmp.path().join("c"), &["--device", "cuda:7"]).failure();
    assert!(
        stderr(&cuda).contains("device `cuda:7`"),
        "{}",
        stderr(&cuda)
    );

    // A feature file missing one recipe: the error names the recipe and the file.
    let feat = tmp.path().join("feat");
    copy_features(&feat, |name, ids| {
        if name == "categories.safetensors" {
            ids.iter().skip(1).cloned().collect()
        } else {
            ids.to_vec()
        }
    });
    let first = FeatureStore::open(&features().join("categories.safetensors"))
        .unwrap()
        .ids()[0]
        .clone();
    let missing = train(
        &tmp.path().join("m"),
        &["--set", &format!("data.features=\"{}\"", feat.display())],
    )
    .failure();
    assert!(
        stderr(&missing).contains(&format!("no row for recipe {first}"))
            && stderr(&missing).contains("categories.safetensors"),
        "{}",
        stderr(&missing)
    );
}

/// Copies the stand-in features to `dir`, keeping per file the ids `keep` returns and, in
/// `poison`, setting the f_term row of one recipe to NaN.
fn copy_features(dir: &Path, keep: impl Fn(&str, &[String]) -> Vec<String>) {
    copy_features_with(dir, keep, None)
}

fn copy_features_with(
    dir: &Path,
    keep: impl Fn(&str, &[String]) -> Vec<String>,
    poison: Option<&str>,
) {
    std::fs::create_dir_all(dir).unwrap();
    for name in seje::phase2::inputs::FILES {
        let src = FeatureStore::open(&features().join(name)).unwrap();
        let ids = keep(name, src.ids());
        let mut w = FeatureWriter::new(ids.clone(), src.config_sha256()).unwrap();
        for (tensor, info) in src.tensors() {
            let per: usize = info.shape[1..].iter().product();
            let size = info.dtype.size();
            let bytes = src.bytes(tensor).unwrap();
            let mut data = Vec::new();
            for id in &ids {
                let r = src.row_of(id).unwrap();
                let mut row = bytes[r * per * size..(r + 1) * per * size].to_vec();
                if poison == Some(id.as_str()) && tensor == "f_term" {
                    for c in row.chunks_exact_mut(4) {
                        c.copy_from_slice(&f32::NAN.to_le_bytes());
                    }
                }
                data.extend(row);
            }
            let mut shape = info.shape.clone();
            shape[0] = ids.len();
            w.add_bytes(tensor, info.dtype, &shape, data).unwrap();
        }
        w.write(&dir.join(name)).unwrap();
    }
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, &["--set", "schedule.max_epochs=1"]).success();
    let before = std::fs::read(run.join("checkpoints/last/model.safetensors")).unwrap();

    // The same features but one training recipe's f_term is NaN.
    let layer1: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/recipe1m-mini/layer1.json")).unwrap(),
    )
    .unwrap();
    let victim = layer1
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partition"] == "train")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let feat = tmp.path().join("poisoned");
    copy_features_with(&feat, |_, ids| ids.to_vec(), Some(&victim));
    let failed = train(
        &run,
        &[
            "--resume",
            "--force",
            "--set",
            &format!("data.features=\"{}\"", feat.display()),
            "--set",
            "schedule.max_epochs=2",
        ],
    )
    .failure();
    let e = stderr(&failed);
    assert!(e.contains("non-finite"), "{e}");
    assert!(e.contains("epoch 2, iteration"), "{e}");
    assert!(e.contains("checkpoints/last keeps epoch 1"), "{e}");
    assert_eq!(
        std::fs::read(run.join("checkpoints/last/model.safetensors")).unwrap(),
        before
    );
    assert_eq!(metrics(&run).len(), 1);
}

#[test]
fn with_no_epoch_the_untrained_model_is_tested() {
    // max_epochs = 0: the model as initialised is tested (checkpoint epoch 0), so the learning
    // checks can be run against a model that learned nothing.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, &["--set", "schedule.max_epochs=0"]).success();
    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["checkpoint_epoch"], 0, "{test}");
    assert!(!run.join("checkpoints/best").exists());
    assert!(!run.join("metrics.jsonl").exists() || metrics(&run).is_empty());
}

#[test]
fn features_built_for_other_splits_are_refused() {
    // Stand-in features of the fixture whose rows were chosen by the im2recipe rule (with the
    // hand-made set's vocabulary); the fixture layer's rule is valid-count.
    use seje::data::splits::{IngredientVocab, SplitRule};
    let dir = tempfile::tempdir().unwrap();
    let vocab = repo().join("fixtures/recipe1m-splits/vocab.txt");
    let rule = SplitRule::Im2recipe(IngredientVocab::read_txt(&vocab).unwrap());
    seje::phase1::stand_in::write_features_with_progress(
        &repo().join("fixtures/recipe1m-mini"),
        &rule,
        dir.path(),
        &StandInConfig::default(),
        &|_| {},
    )
    .unwrap();
    let step = |extra: &[String]| {
        let out = tempfile::tempdir().unwrap();
        let mut c = seje();
        c.args(["step", "--iterations", "1", "--config"])
            .arg(config())
            .arg("--set")
            .arg(format!("data.features=\"{}\"", dir.path().display()))
            .arg("--out")
            .arg(out.path());
        for s in extra {
            c.args(["--set", s]);
        }
        c.assert()
    };
    let e = step(&[]).failure().get_output().stderr.clone();
    let e = String::from_utf8_lossy(&e);
    assert!(
        e.contains("term.safetensors") && e.contains("built for other splits"),
        "{e}"
    );
    assert!(
        e.contains("rule im2recipe with the vocabulary of")
            && e.contains("against rule valid-count"),
        "{e}"
    );
    // Told the same rule and vocabulary, the run starts.
    step(&[
        "data.split_rule=\"im2recipe\"".to_string(),
        format!("data.split_vocab=\"{}\"", vocab.display()),
    ])
    .success();
}
