//! The Phase I stand-in (hashed bag-of-words features, NOT the paper's Phase I) on
//! `fixtures/recipe1m-mini`: the three files, their shapes, dtypes, ids and metadata, agreement
//! with the pure functions, byte-identical reruns, seed dependence, errors, the command line, and
//! properties of the tokeniser, the word vectors and the classes.
//!
//! Spec: spec/phase1-stand-in.md.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;
use cli::seje;

use std::collections::HashMap;
use std::path::Path;

use fixtures::recipe1m_mini as mini;
use proptest::prelude::*;
use seje::data::feature_store::{self, Dtype, FeatureStore};
use seje::data::{pairs, recipe1m};
use seje::phase1::stand_in::{
    self, ClassTable, StandInConfig, WordVectors, CATEGORIES_FILE, SENTENCES_FILE, STOPWORDS,
    TERM_FILE,
};

fn write(cfg: &StandInConfig) -> (tempfile::TempDir, stand_in::StandInSummary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = stand_in::write_features(&mini(), dir.path(), cfg).expect("stand-in writes");
    (dir, summary)
}

fn open(dir: &Path, file: &str) -> FeatureStore {
    FeatureStore::open(&dir.join(file)).expect("a valid feature store")
}

fn i64s(store: &FeatureStore, name: &str) -> Vec<i64> {
    store
        .bytes(name)
        .expect("tensor")
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Title, instructions and detected ingredient texts of every recipe of the fixture.
struct Texts {
    title: String,
    instructions: Vec<String>,
    ingredients: Vec<String>,
}

fn texts() -> HashMap<String, Texts> {
    let mut out = HashMap::new();
    recipe1m::read_layer1(&mini(), |r| {
        out.insert(
            r.id,
            Texts {
                title: r.title,
                instructions: r.instructions,
                ingredients: Vec::new(),
            },
        );
        Ok(())
    })
    .expect("layer1");
    recipe1m::read_det_ingrs(&mini(), |d| {
        out.get_mut(&d.id).expect("known recipe").ingredients = d.ingredients;
        Ok(())
    })
    .expect("det_ingrs");
    out
}

#[test]
fn writes_three_stores_with_the_phase_ii_shapes_for_every_pair() {
    let cfg = StandInConfig::default();
    let (dir, summary) = write(&cfg);
    let (ds, _) = pairs::open(&mini()).expect("fixture opens");
    let mut pair_ids: Vec<String> = seje::data::splits::Partition::ALL
        .iter()
        .flat_map(|&p| ds.split(p).iter().map(|q| q.recipe_id.clone()))
        .collect();
    pair_ids.sort();
    assert_eq!(summary.recipes, 160);
    assert_eq!(summary.per_split, [96, 32, 32]);
    assert_eq!(
        summary.files,
        [TERM_FILE, SENTENCES_FILE, CATEGORIES_FILE].map(|f| dir.path().join(f))
    );

    let term = open(dir.path(), TERM_FILE);
    let sent = open(dir.path(), SENTENCES_FILE);
    let cat = open(dir.path(), CATEGORIES_FILE);
    for store in [&term, &sent, &cat] {
        assert_eq!(
            store.ids(),
            pair_ids.as_slice(),
            "sorted pair ids, same order"
        );
        assert_eq!(
            store.config_sha256(),
            feature_store::config_sha256(cfg.to_json().as_bytes())
        );
        assert_eq!(store.metadata()["producer"], "stand-in");
        // What defined the splits of the rows (spec/data-recipe1m.md): no key files here.
        let splits: serde_json::Value =
            serde_json::from_str(&store.metadata()["splits"]).expect("json splits");
        assert_eq!(
            (splits["kind"].as_str(), splits["rule"].as_str()),
            (Some("rule"), Some("valid-count"))
        );
        assert!(store.metadata()["note"].contains("not the paper's Phase I"));
    }
    term.expect("f_term", Dtype::F32, &[300]).expect("f_term");
    sent.expect("f_sent", Dtype::F32, &[20, 1024])
        .expect("f_sent");
    sent.expect("lengths", Dtype::I64, &[]).expect("lengths");
    cat.expect("f_cat", Dtype::F32, &[5, 300]).expect("f_cat");
    cat.expect("classes", Dtype::I64, &[]).expect("classes");
    assert_eq!(term.tensors().len(), 1);
    assert_eq!(sent.tensors().len(), 2);
    assert_eq!(cat.tensors().len(), 2);

    // f_cat is absent and says so.
    assert_eq!(cat.metadata()["f_cat"], "absent (stand-in: zeros)");
    assert!(cat.bytes("f_cat").expect("f_cat").iter().all(|&b| b == 0));

    // Classes: total, within 0..C, names as metadata, the share of class 0 as reported.
    let names: Vec<String> =
        serde_json::from_str(&cat.metadata()["class_names"]).expect("json names");
    assert_eq!(names[0], "other");
    assert_eq!(names.len(), summary.classes);
    assert!(summary.classes <= cfg.classes);
    assert_eq!(cat.metadata()["classes"], summary.classes.to_string());
    let classes = i64s(&cat, "classes");
    assert!(classes
        .iter()
        .all(|&c| (0..summary.classes as i64).contains(&c)));
    let zeros = classes.iter().filter(|&&c| c == 0).count();
    assert_eq!(zeros as f64 / 160.0, summary.class0_share);

    // Rows agree with the pure functions; lengths are min(#instructions, 20).
    let texts = texts();
    let lengths = i64s(&sent, "lengths");
    let mut terms = WordVectors::new(300, cfg.seed);
    let mut sentences = WordVectors::new(1024, cfg.seed);
    let table_names: Vec<&str> = names.iter().map(String::as_str).collect();
    for (row, id) in pair_ids.iter().enumerate() {
        let t = &texts[id];
        assert!((1..=20).contains(&lengths[row]), "{id}: {}", lengths[row]);
        assert_eq!(lengths[row], t.instructions.len().min(20) as i64, "{id}");
        let want = stand_in::term_feature(&t.title, &t.ingredients, &mut terms);
        assert_eq!(term.row_f32("f_term", id).expect("row"), want, "{id}");
        let (want, _) = stand_in::sentence_features(&t.instructions, 20, &mut sentences);
        assert_eq!(sent.row_f32("f_sent", id).expect("row"), want, "{id}");
        let key = stand_in::class_key(&t.title);
        let c = classes[row] as usize;
        if c > 0 {
            assert_eq!(key.as_deref(), Some(table_names[c]), "{id}");
        } else {
            assert!(key.is_none_or(|k| !table_names[1..].contains(&k.as_str())));
        }
    }
}

#[test]
fn the_same_seed_gives_byte_identical_files() {
    let cfg = StandInConfig::default();
    let (a, _) = write(&cfg);
    let (b, _) = write(&cfg);
    for f in [TERM_FILE, SENTENCES_FILE, CATEGORIES_FILE] {
        let x = std::fs::read(a.path().join(f)).expect("read");
        let y = std::fs::read(b.path().join(f)).expect("read");
        assert!(x == y, "{f} differs between two runs");
    }
}

#[test]
fn another_seed_gives_another_f_term_and_config_hash() {
    let small = StandInConfig {
        term_dim: 16,
        sentence_dim: 8,
        ..StandInConfig::default()
    };
    let (a, _) = write(&small);
    let (b, _) = write(&StandInConfig { seed: 7, ..small });
    let (x, y) = (open(a.path(), TERM_FILE), open(b.path(), TERM_FILE));
    assert_ne!(
        x.bytes("f_term").expect("f_term"),
        y.bytes("f_term").expect("f_term")
    );
    assert_ne!(x.config_sha256(), y.config_sha256());
    // Classes depend on the titles only.
    let (x, y) = (
        open(a.path(), CATEGORIES_FILE),
        open(b.path(), CATEGORIES_FILE),
    );
    assert_eq!(i64s(&x, "classes"), i64s(&y, "classes"));
}

#[test]
fn fewer_classes_put_more_pairs_in_class_zero() {
    let small = StandInConfig {
        term_dim: 4,
        sentence_dim: 4,
        ..StandInConfig::default()
    };
    let (_, many) = write(&small);
    let (dir, few) = write(&StandInConfig {
        classes: 5,
        ..small
    });
    assert_eq!(few.classes, 5);
    assert!(few.class0_share > many.class0_share);
    let classes = i64s(&open(dir.path(), CATEGORIES_FILE), "classes");
    assert!(classes.iter().all(|&c| (0..5).contains(&c)));
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("no-such-root");
    let e = stand_in::write_features(&root, &dir.path().join("out"), &StandInConfig::default())
        .expect_err("no root");
    assert_eq!(
        e.to_string(),
        format!("{}: dataset root is not a directory", root.display())
    );
    assert!(!dir.path().join("out").exists(), "nothing is written");
}

#[test]
fn a_zero_width_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = StandInConfig {
        sentence_dim: 0,
        ..StandInConfig::default()
    };
    let e = stand_in::write_features(&mini(), dir.path(), &cfg).expect_err("zero width");
    assert_eq!(
        e.to_string(),
        "stand-in config `sentence_dim`: must be at least 1, got 0"
    );
}

#[test]
fn a_root_without_layer1_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = stand_in::write_features(dir.path(), &dir.path().join("out"), &Default::default())
        .expect_err("empty root");
    assert!(e.to_string().starts_with("layer1.json: "), "{e}");
}

#[test]
fn stand_in_cli_help_snapshot() {
    let out = seje()
        .args(["features", "stand-in", "--help"])
        .output()
        .expect("seje runs");
    assert!(out.status.success());
    insta::assert_snapshot!(
        "stand_in_cli_help",
        String::from_utf8(out.stdout).expect("utf-8")
    );
}

#[test]
fn the_command_writes_the_files_and_says_what_they_are() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = seje()
        .args(["--log", "warn", "features", "stand-in", "--root"])
        .arg(mini())
        .arg("--out")
        .arg(dir.path())
        .args(["--classes", "10", "--seed", "7", "--term-dim", "32"])
        .args(["--sentence-dim", "64", "--category-dim", "24"])
        .output()
        .expect("seje runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("NOT the paper's Phase I"), "{stdout}");
    assert!(stdout.contains("recipes     160 (train 96, val 32, test 32)"));
    let cat = open(dir.path(), CATEGORIES_FILE);
    assert_eq!(cat.metadata()["classes"], "10");
    cat.expect("f_cat", Dtype::F32, &[5, 24]).expect("f_cat");
    open(dir.path(), TERM_FILE)
        .expect("f_term", Dtype::F32, &[32])
        .expect("f_term");
    open(dir.path(), SENTENCES_FILE)
        .expect("f_sent", Dtype::F32, &[20, 64])
        .expect("f_sent");
    let cfg = StandInConfig {
        classes: 10,
        seed: 7,
        term_dim: 32,
        sentence_dim: 64,
        category_dim: 24,
        ..StandInConfig::default()
    };
    assert_eq!(
        cat.config_sha256(),
        feature_store::config_sha256(cfg.to_json().as_bytes())
    );
}

#[test]
fn the_command_fails_on_a_missing_root_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = seje()
        .args(["features", "stand-in", "--root", "/no/such/root", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .expect("seje runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/no/such/root: dataset root is not a directory"),
        "{stderr}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Tokens are lower-case ASCII letters only, at least 2 long, never a stopword, and
    /// tokenising the tokens again changes nothing.
    #[test]
    fn tokens_are_clean(text in any::<String>(), words in proptest::collection::vec("[A-Za-z0-9 ,./½é-]{0,12}", 0..8)) {
        for t in [text, words.join(" ")] {
            let tokens = stand_in::tokenize(&t);
            for tok in &tokens {
                prop_assert!(tok.len() >= 2, "{tok:?}");
                prop_assert!(tok.bytes().all(|b| b.is_ascii_lowercase()), "{tok:?}");
                prop_assert!(!STOPWORDS.contains(&tok.as_str()), "{tok:?}");
            }
            prop_assert_eq!(stand_in::tokenize(&tokens.join(" ")), tokens);
        }
    }

    /// Class assignment is total: every title gets a class in 0..C, at most C names with
    /// `other` first and no name twice, and a training title whose word is ranked gets its class.
    #[test]
    fn classes_are_total(
        train in proptest::collection::vec("[a-e]{1,3}( [a-e]{1,3}){0,2}", 0..40),
        queries in proptest::collection::vec("[a-f0-9 ]{0,10}", 0..20),
        c in 1usize..8,
    ) {
        let table = ClassTable::from_titles(train.iter().map(String::as_str), c).expect("c >= 1");
        let names = table.names();
        prop_assert!(!names.is_empty() && names.len() <= c);
        prop_assert_eq!(names[0].as_str(), "other");
        let mut unique = names.to_vec();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), names.len());
        for t in train.iter().chain(&queries) {
            let k = table.class_of(t);
            prop_assert!((0..names.len() as i64).contains(&k), "{t:?} -> {k}");
            if let Some(key) = stand_in::class_key(t) {
                if let Some(i) = names.iter().skip(1).position(|n| *n == key) {
                    prop_assert_eq!(k, i as i64 + 1);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A word vector depends on the token, width and seed only, and at d = 1024 its norm is near
    /// 1 (the norm's spread is about 0.02).
    #[test]
    fn word_vectors_are_deterministic_and_near_unit(token in "[a-z]{2,12}", seed in any::<u64>()) {
        let v = stand_in::word_vector(&token, 1024, seed);
        prop_assert_eq!(v.len(), 1024);
        prop_assert_eq!(&v, &stand_in::word_vector(&token, 1024, seed));
        let norm = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        prop_assert!((norm - 1.0).abs() < 0.15, "{token:?}, seed {seed}: norm {norm}");
        prop_assert_ne!(&v, &stand_in::word_vector(&token, 1024, seed.wrapping_add(1)));
        let mut w = WordVectors::new(1024, seed);
        prop_assert_eq!(w.get(&token), v.as_slice());
    }

    /// Odd widths work, and a width's vector is not the prefix of another's.
    #[test]
    fn every_width_has_its_own_vector(token in "[a-z]{2,8}", d in 1usize..40) {
        let v = stand_in::word_vector(&token, d, 1234);
        prop_assert_eq!(v.len(), d);
        prop_assert!(v.iter().all(|x| x.is_finite()));
        let longer = stand_in::word_vector(&token, d + 1, 1234);
        prop_assert_ne!(&v[..], &longer[..d]);
    }
}
