//! The category feature f_cat on `fixtures/recipe1m-mini` with the committed tiny classifier:
//! one vector per image of every row, equal to the vector of the predicted class name, zero rows
//! after a recipe's images, identical on a rerun; the store Phase II reads; errors.
//!
//! Spec: spec/phase1-category-feature.md.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;
use cli::seje;

use std::path::Path;

use fixtures::recipe1m_mini as mini;
use seje::data::feature_store::FeatureStore;
use seje::data::pairs::{self, MAX_IMAGES};
use seje::data::transforms::TransformConfig;
use seje::phase1::categoriser::Categoriser;
use seje::phase1::category_feature::{
    category_features, class_name_vector, write_categories_store, NameVector, CATEGORIES_FILE,
};
use seje::phase1::text_features::{write_text_features, TextFeaturesConfig, VECTORS_FILE};
use seje::phase1::word2vec::{Word2VecConfig, WordVectors};

fn vectors(dir: &Path) -> WordVectors {
    let cfg = TextFeaturesConfig {
        word2vec: Word2VecConfig {
            size: 8,
            iter: 1,
            min_count: 2,
            threads: 1,
            ..Word2VecConfig::paper()
        },
        ..TextFeaturesConfig::default()
    };
    write_text_features(&mini(), dir, &cfg, &|_, _| {}).expect("text features");
    WordVectors::read_binary(&dir.join(VECTORS_FILE)).expect("vectors")
}

/// The committed tiny classifier (5 classes) named after five Food-101-mini dishes.
fn categoriser() -> Categoriser {
    let names: Vec<String> =
        std::fs::read_to_string(fixtures::repo().join("fixtures/food101-mini/meta/classes.txt"))
            .unwrap()
            .lines()
            .take(5)
            .map(str::to_string)
            .collect();
    Categoriser::load(
        "tiny",
        &fixtures::repo().join("fixtures/golden/classify/tiny_classifier.pth"),
        Some(names),
        TransformConfig::sized(72, 64),
    )
    .expect("classifier")
}

#[test]
fn every_image_of_every_row_gets_the_vector_of_its_predicted_class() {
    let dir = tempfile::tempdir().expect("temp dir");
    let v = vectors(dir.path());
    let cat = categoriser();
    let a = category_features(
        &mini(),
        &seje::data::splits::SplitRule::ValidCount,
        &cat,
        &v,
        &|_| {},
    )
    .expect("f_cat");
    let b = category_features(
        &mini(),
        &seje::data::splits::SplitRule::ValidCount,
        &cat,
        &v,
        &|_| {},
    )
    .expect("f_cat again");
    assert_eq!(a, b, "deterministic");

    let (dataset, _) = pairs::open(&mini()).unwrap();
    let rows = dataset.rows();
    assert_eq!(a.ids.len(), rows.len());
    let mut images = 0;
    for (row, (id, p)) in rows.iter().enumerate() {
        assert_eq!(&a.ids[row], id);
        let pair = dataset
            .split(*p)
            .iter()
            .find(|q| &q.recipe_id == id)
            .unwrap();
        let n = pair.images.len().min(MAX_IMAGES);
        images += n;
        assert_eq!(a.predictions[row].len(), n, "{id}");
        for k in 0..MAX_IMAGES {
            let got = &a.f_cat[(row * MAX_IMAGES + k) * a.dim..(row * MAX_IMAGES + k + 1) * a.dim];
            if k < n {
                let (want, _) = class_name_vector(&a.predictions[row][k], &v);
                assert_eq!(got, want.as_slice(), "{id} image {k}");
            } else {
                assert!(
                    got.iter().all(|&x| x == 0.0),
                    "{id} row {k} after the images"
                );
            }
        }
    }
    assert_eq!(a.images, images);
    assert_eq!(a.names.len(), 5);
    // The fixture's corpus knows `salmon` and `caesar`-style words: at least one name found.
    assert!(
        a.names.values().any(|h| *h != NameVector::None),
        "{:?}",
        a.names
    );
}

#[test]
fn the_store_holds_f_cat_and_the_labels_and_phase_two_reads_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let v = vectors(&dir.path().join("text"));
    let feats = category_features(
        &mini(),
        &seje::data::splits::SplitRule::ValidCount,
        &categoriser(),
        &v,
        &|_| {},
    )
    .expect("f_cat");
    let n = feats.ids.len();
    let names: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    let classes: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();

    let out = dir.path().join("features");
    let stand_in = seje::phase1::stand_in::StandInConfig {
        category_dim: 8,
        ..Default::default()
    };
    seje::phase1::stand_in::write_features(&mini(), &out, &stand_in).expect("stand-in");
    let path = write_categories_store(&out, &feats, &classes, &names, "{}").expect("store");
    let again = write_categories_store(&dir.path().join("again"), &feats, &classes, &names, "{}")
        .expect("store");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
    let store = FeatureStore::open(&out.join(CATEGORIES_FILE)).expect("store");
    assert_eq!(store.info("f_cat").unwrap().shape, vec![n, MAX_IMAGES, 8]);
    assert_eq!(store.metadata()["class_names"], r#"["a","b","c"]"#);

    let cfg = seje::phase2::config::TrainConfig::load(
        &fixtures::repo().join("paper/configs/fixture-mini.toml"),
        &["model.category_feature=8".into(), "model.classes=3".into()],
    )
    .expect("config");
    seje::phase2::inputs::PhaseTwoInputs::open(&out, &cfg.model).expect("Phase II opens it");

    let bad = write_categories_store(dir.path(), &feats, &vec![3; n], &names, "{}")
        .expect_err("label outside the classes");
    assert!(bad.to_string().contains(&feats.ids[0]), "{bad}");
    let short = write_categories_store(dir.path(), &feats, &classes[..1], &names, "{}")
        .expect_err("one label per row");
    assert!(short.to_string().contains("1 labels"), "{short}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn a_missing_image_is_named_with_its_recipe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let v = vectors(&dir.path().join("text"));
    let root = dir.path().join("root");
    copy_dir(&mini(), &root);
    let (dataset, _) = pairs::open(&root).unwrap();
    let (id, p) = dataset.rows()[3].clone();
    let pair = dataset.split(p).iter().find(|q| q.recipe_id == id).unwrap();
    let rel = seje::data::images::resolve(&root, p, &id, &pair.images[0]).unwrap();
    std::fs::remove_file(root.join(rel)).unwrap();
    let e = category_features(
        &root,
        &seje::data::splits::SplitRule::ValidCount,
        &categoriser(),
        &v,
        &|_| {},
    )
    .expect_err("missing image");
    assert!(e.to_string().contains(&id), "{e}");
    assert!(e.to_string().contains(&pair.images[0]), "{e}");
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The three commands of the image side on the fixtures, end to end: categoriser training,
/// text features (f_term and the word vectors), then f_cat and the labels; a second run of the
/// last command gives the same bytes.
#[test]
fn the_three_commands_run_end_to_end_on_the_fixtures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cat = dir.path().join("categoriser");
    ok(seje()
        .args(["--log", "warn", "features", "categoriser", "--food101"])
        .arg(fixtures::food101_mini())
        .arg("--out")
        .arg(&cat)
        .args([
            "--arch",
            "tiny",
            "--image-size",
            "36",
            "--crop",
            "32",
            "--epochs",
            "1",
        ])
        .args(["--batch", "8", "--threads", "1"])
        .output()
        .expect("seje runs"));
    let feats = dir.path().join("features");
    ok(seje()
        .args(["--log", "warn", "features", "text", "--root"])
        .arg(mini())
        .arg("--out")
        .arg(&feats)
        .args(["--size", "8", "--iter", "1", "--min-count", "2"])
        .output()
        .expect("seje runs"));
    let run = |out: &Path| {
        ok(seje()
            .args(["--log", "warn", "features", "categories", "--root"])
            .arg(mini())
            .arg("--categoriser")
            .arg(&cat)
            .arg("--w2v")
            .arg(feats.join(VECTORS_FILE))
            .arg("--food101")
            .arg(fixtures::food101_mini())
            .arg("--features")
            .arg(&feats)
            .arg("--out")
            .arg(out)
            .args(["--min-train", "0"])
            .output()
            .expect("seje runs"))
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let stdout = run(&a);
    run(&b);
    assert!(
        stdout.contains("images      160 classified over 160 recipes"),
        "{stdout}"
    );
    for f in [CATEGORIES_FILE, "labels.json", "predictions.jsonl"] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two runs"
        );
    }
    let store = FeatureStore::open(&a.join(CATEGORIES_FILE)).expect("store");
    assert_eq!(store.info("f_cat").unwrap().shape, vec![160, MAX_IMAGES, 8]);
    let c: usize = store.metadata()["classes"].parse().unwrap();
    let classes: Vec<i64> = store
        .bytes("classes")
        .unwrap()
        .chunks_exact(8)
        .map(|x| i64::from_le_bytes(x.try_into().unwrap()))
        .collect();
    assert_eq!(classes.len(), 160);
    assert!(
        classes.iter().all(|&k| k >= 0 && (k as usize) < c),
        "{classes:?}"
    );
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("labels.json")).unwrap()).unwrap();
    assert_eq!(labels["labels"].as_object().unwrap().len(), 160);
    assert_eq!(labels["num_classes"].as_u64().unwrap() as usize, c);
    // predictions.jsonl: one line per row, in row order, a class per classified image.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(a.join("predictions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 160);
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "rows not in id order");
    assert!(lines.iter().all(|l| {
        let p = l["predictions"].as_array().unwrap();
        (1..=MAX_IMAGES).contains(&p.len())
            && ["train", "val", "test"].contains(&l["partition"].as_str().unwrap())
    }));
}
