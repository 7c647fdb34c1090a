//! The synthetic benchmark's output read back with serde_json and checked against the format
//! contract (Recipe1M `layer1.json`, `layer2.json`, `det_ingrs.json`, the four-level image tree;
//! Food-101 `images/` and `meta/`): on the committed fixtures and on a freshly generated set with
//! several images per recipe.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Files").

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use seje::data::synth::{self, SynthConfig};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer1 {
    id: String,
    title: String,
    ingredients: Vec<Text>,
    instructions: Vec<Text>,
    partition: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageRef {
    id: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer2 {
    id: String,
    images: Vec<ImageRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetIngrs {
    id: String,
    ingredients: Vec<Text>,
    valid: Vec<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Truth {
    id: String,
    category: String,
    entities: Vec<Option<String>>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_hex10(s: &str) -> bool {
    s.len() == 10
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a Recipe1M-format root holds, after every contract check passed.
struct Checked {
    recipes: usize,
    per_split: BTreeMap<String, usize>,
    images: usize,
    max_images: usize,
    mislabelled: usize,
}

/// Checks every rule of the format contract on `root`; images must have shorter side `size`.
fn check_recipe1m(root: &Path, size: u32) -> Checked {
    let l1: Vec<Layer1> = read(&root.join("layer1.json"));
    let l2: Vec<Layer2> = read(&root.join("layer2.json"));
    let det: Vec<DetIngrs> = read(&root.join("det_ingrs.json"));
    let truth: Vec<Truth> = read(&root.join("synth_truth.json"));
    assert!(!l1.is_empty());
    let ids: HashSet<&str> = l1.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), l1.len(), "recipe ids are unique");
    let mut per_split = BTreeMap::new();
    let (mut images, mut max_images, mut mislabelled) = (0, 0, 0);
    let mut image_ids = HashSet::new();
    let world = synth::World::standard();
    assert_eq!(det.len(), l1.len());
    assert_eq!(truth.len(), l1.len());
    for (r, (d, t)) in l1.iter().zip(det.iter().zip(&truth)) {
        assert!(is_hex10(&r.id), "recipe id {:?}", r.id);
        assert_eq!(r.url, format!("synthetic://recipe/{}", r.id));
        assert!(!r.title.trim().is_empty(), "{}: empty title", r.id);
        assert!(
            ["train", "val", "test"].contains(&r.partition.as_str()),
            "{}: partition {:?}",
            r.id,
            r.partition
        );
        *per_split.entry(r.partition.clone()).or_insert(0) += 1;
        assert!(
            (2..=19).contains(&r.instructions.len()),
            "{}: {} instructions",
            r.id,
            r.instructions.len()
        );
        assert!(r.instructions.iter().all(|s| !s.text.trim().is_empty()));
        // det_ingrs is aligned with the raw lines: same id, one detection and one verdict per line.
        assert_eq!(d.id, r.id);
        assert_eq!(d.ingredients.len(), r.ingredients.len(), "{}", r.id);
        assert_eq!(d.valid.len(), r.ingredients.len(), "{}", r.id);
        let valid = d.valid.iter().filter(|v| **v).count();
        assert!(
            (1..20).contains(&valid),
            "{}: {valid} valid detections",
            r.id
        );
        assert_eq!(t.id, r.id);
        assert!(world.category(&t.category).is_some(), "{}", t.category);
        assert_eq!(t.entities.len(), r.ingredients.len());
        for (i, ent) in t.entities.iter().enumerate() {
            let (line, det_text) = (&r.ingredients[i].text, &d.ingredients[i].text);
            match ent {
                // A valid detection is exactly the entity; every true entity is named on its line.
                Some(e) if d.valid[i] => assert_eq!(det_text, e, "{}: line {i}", r.id),
                Some(e) => {
                    mislabelled += 1;
                    assert!(det_text.contains(e.as_str()), "{}: line {i}", r.id);
                    assert!(
                        line.to_lowercase().contains(e.as_str()),
                        "{}: line {i}",
                        r.id
                    );
                }
                None => assert!(!d.valid[i], "{}: a header line is never valid", r.id),
            }
        }
    }
    assert_eq!(l2.len(), l1.len(), "every synthetic recipe has images");
    for (r, x) in l1.iter().zip(&l2) {
        assert_eq!(x.id, r.id, "layer2 follows layer1's order");
        assert!(ids.contains(x.id.as_str()));
        assert!((1..=5).contains(&x.images.len()), "{}", x.id);
        max_images = max_images.max(x.images.len());
        for im in &x.images {
            let (stem, ext) = im.id.split_at(im.id.len() - 4);
            assert!(is_hex10(stem) && ext == ".jpg", "image id {:?}", im.id);
            assert!(
                image_ids.insert(im.id.clone()),
                "duplicate image id {}",
                im.id
            );
            assert_eq!(im.url, format!("synthetic://image/{}", im.id));
            let c: Vec<String> = im.id.chars().take(4).map(String::from).collect();
            let path = root
                .join("images")
                .join(&r.partition)
                .join(&c[0])
                .join(&c[1])
                .join(&c[2])
                .join(&c[3])
                .join(&im.id);
            let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(img.width().min(img.height()), size, "{}", path.display());
            images += 1;
        }
    }
    Checked {
        recipes: l1.len(),
        per_split,
        images,
        max_images,
        mislabelled,
    }
}

/// Checks the Food-101 layout whose first readable label is `first_label`; returns (classes,
/// train, test).
fn check_food101(root: &Path, size: u32, first_label: &str) -> (usize, usize, usize) {
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(root.join("meta").join(name))
            .unwrap_or_else(|e| panic!("meta/{name}: {e}"))
            .lines()
            .map(String::from)
            .collect()
    };
    let classes = lines("classes.txt");
    let mut sorted = classes.clone();
    sorted.sort();
    assert_eq!(classes, sorted, "classes.txt is sorted");
    assert!(classes.len() >= 30);
    assert!(classes
        .iter()
        .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_')));
    let labels = lines("labels.txt");
    assert_eq!(labels.len(), classes.len());
    assert_eq!(labels[0], first_label);
    let mut seen = HashSet::new();
    let mut count = |list: &[String]| {
        for l in list {
            let (class, id) = l.split_once('/').unwrap_or_else(|| panic!("line {l:?}"));
            assert!(classes.iter().any(|c| c == class), "{l}");
            assert!(id.bytes().all(|b| b.is_ascii_digit()), "{l}");
            assert!(seen.insert(l.clone()), "{l} listed twice");
            let img = image::open(root.join("images").join(format!("{l}.jpg")))
                .unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(img.width().min(img.height()), size);
        }
        list.len()
    };
    let train = count(&lines("train.txt"));
    let test = count(&lines("test.txt"));
    (classes.len(), train, test)
}

#[test]
fn fixture_recipe1m_mini_keeps_the_format_contract() {
    let cfg = SynthConfig::fixture_mini();
    let c = check_recipe1m(&fixtures().join("recipe1m-mini"), cfg.image_size);
    let (train, val, test) = cfg.split_counts();
    assert_eq!(c.recipes, cfg.recipes);
    assert_eq!(
        c.per_split.into_iter().collect::<Vec<_>>(),
        [
            ("test".into(), test),
            ("train".into(), train),
            ("val".into(), val)
        ]
    );
    assert_eq!(c.images, cfg.recipes);
    assert!(
        c.mislabelled > 0,
        "some true ingredients are labelled invalid"
    );
}

#[test]
fn fixture_food101_mini_keeps_the_format_contract() {
    let cfg = SynthConfig::fixture_mini();
    let world = synth::World::standard();
    let (classes, train, test) = check_food101(
        &fixtures().join("food101-mini"),
        cfg.image_size,
        "Apple pie",
    );
    assert_eq!(classes, world.categories.len());
    assert_eq!(train, classes * cfg.food101_train);
    assert_eq!(test, classes * cfg.food101_test);
}

#[test]
fn a_generated_benchmark_with_several_images_per_recipe_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SynthConfig::benchmark(60);
    cfg.image_size = 24;
    cfg.food101_train = 2;
    cfg.food101_test = 1;
    let s = synth::generate(&cfg, &dir.path().join("r")).expect("generate");
    let c = check_recipe1m(&dir.path().join("r"), 24);
    assert_eq!((c.recipes, c.images), (s.recipes, s.images));
    assert!(c.max_images > 1, "several images per recipe occur");
    assert_eq!(c.mislabelled, s.mislabelled_lines);
    let f = synth::generate_food101(&cfg, &dir.path().join("f")).expect("food101");
    assert_eq!(
        check_food101(&dir.path().join("f"), 24, "Apple pie"),
        (f.classes, f.train, f.test)
    );
}

#[test]
fn the_pretraining_set_keeps_the_food101_contract_with_one_class_per_visible_ingredient() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SynthConfig::benchmark(10);
    cfg.image_size = 24;
    let p = synth::generate_pretrain(&cfg, &dir.path().join("p"), 2, 1).expect("pretrain");
    let world = synth::World::standard();
    let visible = synth::pretrain::pretrain_classes(&world);
    assert_eq!(p.classes, visible.len());
    assert_eq!(
        check_food101(&dir.path().join("p"), 24, "anchovies"),
        (visible.len(), 2 * visible.len(), visible.len())
    );
    let classes = std::fs::read_to_string(dir.path().join("p/meta/classes.txt")).unwrap();
    assert!(classes.lines().any(|c| c == "cherry_tomatoes"), "{classes}");
    // Its own RNG purpose: the same seed, another set of photographs than the Food-101 one.
    let again = tempfile::tempdir().expect("tempdir");
    synth::generate_pretrain(&cfg, again.path(), 2, 1).expect("pretrain");
    let a = std::fs::read(dir.path().join("p/meta/train.txt")).unwrap();
    assert_eq!(
        a,
        std::fs::read(again.path().join("meta/train.txt")).unwrap()
    );
    let first = String::from_utf8(a)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let bytes = |root: &Path| std::fs::read(root.join("images").join(format!("{first}.jpg")));
    assert_eq!(
        bytes(&dir.path().join("p")).unwrap(),
        bytes(again.path()).unwrap()
    );
}

#[test]
fn generation_refuses_a_non_empty_directory_and_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("stale.txt"), "x").expect("write");
    let err = synth::generate(&SynthConfig::benchmark(2), dir.path()).expect_err("refused");
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("is not empty"), "{msg}");
}

#[test]
fn an_invalid_config_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("never");
    let mut cfg = SynthConfig::benchmark(2);
    cfg.max_images = 6;
    let msg = synth::generate(&cfg, &out)
        .expect_err("invalid")
        .to_string();
    assert_eq!(
        msg,
        "synth config `min_images/max_images`: 1..=6 must lie within 1..=5 and be non-empty"
    );
    assert!(!out.exists());
}
