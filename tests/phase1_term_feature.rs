//! The weighted term feature and `seje features text` on `fixtures/recipe1m-mini`: every row
//! written, byte-identical reruns, f_term recomputed from the dumped ratings and the written
//! vectors, loaded vectors, the rating's invariants on every row, Phase II reading the result
//! next to the stand-in's other files, errors, the command lines; properties of the formula.
//!
//! Spec: spec/phase1-term-feature.md.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fixtures.rs"]
mod fixtures;
use cli::seje;

use std::path::Path;

use fixtures::recipe1m_mini as mini;
use proptest::prelude::*;
use seje::data::feature_store::FeatureStore;
use seje::data::pairs;
use seje::phase1::term_feature::weighted_term_feature;
use seje::phase1::text_features::{
    write_text_features, Rating, TextFeaturesConfig, TextFeaturesSummary, CORPUS_FILE, TERM_FILE,
    VECTORS_FILE,
};
use seje::phase1::word2vec::{Word2VecConfig, WordVectors};

/// Small, fast word2vec settings for the 160-recipe fixture.
fn small(rating: Rating) -> TextFeaturesConfig {
    TextFeaturesConfig {
        rating,
        word2vec: Word2VecConfig {
            size: 16,
            iter: 2,
            min_count: 2,
            threads: 1,
            ..Word2VecConfig::paper()
        },
        ..TextFeaturesConfig::default()
    }
}

fn run(cfg: &TextFeaturesConfig) -> (tempfile::TempDir, TextFeaturesSummary) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = TextFeaturesConfig {
        dump_terms: Some(dir.path().join("terms.jsonl")),
        ..cfg.clone()
    };
    let s = write_text_features(&mini(), dir.path(), &cfg, &|_, _| {}).expect("text features");
    (dir, s)
}

fn rows(store: &FeatureStore, dim: usize) -> Vec<Vec<f32>> {
    store
        .bytes("f_term")
        .expect("f_term")
        .chunks_exact(4 * dim)
        .map(|r| {
            r.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        })
        .collect()
}

type Dumped = (String, String, Vec<(String, f64, bool)>);

fn dumped(path: &Path) -> Vec<Dumped> {
    std::fs::read_to_string(path)
        .expect("dump")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            let terms = v["terms"]
                .as_array()
                .expect("terms")
                .iter()
                .map(|t| {
                    (
                        t["term"].as_str().expect("term").to_string(),
                        t["rating"].as_f64().expect("rating"),
                        t["vector"].as_bool().expect("vector"),
                    )
                })
                .collect();
            (
                v["id"].as_str().expect("id").to_string(),
                v["partition"].as_str().expect("partition").to_string(),
                terms,
            )
        })
        .collect()
}

#[test]
fn every_recipe_with_a_pair_gets_a_row_and_reruns_give_the_same_bytes() {
    let (a, sa) = run(&small(Rating::Tfidf));
    let (b, sb) = run(&small(Rating::Tfidf));
    assert_eq!(sa.recipes, 160);
    assert_eq!(sa.per_split, [96, 32, 32]);
    assert_eq!(sa.corpus_lines, 96);
    assert_eq!(
        sa.empty_terms, 0,
        "every fixture recipe has a rated term with a vector"
    );
    for f in [TERM_FILE, CORPUS_FILE, VECTORS_FILE, "terms.jsonl"] {
        let (x, y) = (
            std::fs::read(a.path().join(f)).expect("file a"),
            std::fs::read(b.path().join(f)).expect("file b"),
        );
        assert!(x == y, "{f} differs between two runs");
    }
    assert_eq!(
        sa.render(),
        sb.render()
            .replace(b.path().to_str().unwrap(), a.path().to_str().unwrap())
    );

    let store = FeatureStore::open(&a.path().join(TERM_FILE)).expect("store");
    let (dataset, _) = pairs::open(&mini()).expect("pairs");
    let ids: Vec<String> = dataset.rows().into_iter().map(|(id, _)| id).collect();
    assert_eq!(store.ids(), ids.as_slice());
    assert_eq!(store.info("f_term").expect("f_term").shape, vec![160, 16]);
    assert_eq!(
        store.metadata().get("producer").map(String::as_str),
        Some("seje features text")
    );
    let corpus = std::fs::read_to_string(a.path().join(CORPUS_FILE)).expect("corpus");
    assert_eq!(corpus.lines().count(), 96);
    assert!(corpus.lines().all(|l| !l.contains("  ") && !l.is_empty()));
}

#[test]
fn f_term_is_the_weighted_mean_of_the_dumped_ratings_and_written_vectors() {
    for rating in [Rating::Tfidf, Rating::Textrank] {
        let (dir, s) = run(&small(rating));
        let vectors = WordVectors::read_binary(&dir.path().join(VECTORS_FILE)).expect("vectors");
        let store = FeatureStore::open(&dir.path().join(TERM_FILE)).expect("store");
        let got = rows(&store, 16);
        let dump = dumped(&dir.path().join("terms.jsonl"));
        assert_eq!(dump.len(), s.recipes);
        for (row, (id, _, terms)) in dump.iter().enumerate() {
            assert_eq!(&store.ids()[row], id);
            // The rating's invariant on every row.
            let total: f64 = match rating {
                Rating::Tfidf => terms.iter().map(|t| t.1 * t.1).sum(),
                Rating::Textrank => terms.iter().map(|t| t.1).sum(),
                Rating::Bert => unreachable!("tests/phase1_bert.rs checks the BERT rating"),
            };
            assert!((total - 1.0).abs() < 1e-9, "{rating:?} row {id}: {total}");
            // f_term recomputed independently, in f64 in dump order.
            let mut sum = vec![0f64; 16];
            let mut weight = 0f64;
            for (term, s, has) in terms {
                assert_eq!(*has, vectors.get(term).is_some(), "{term}");
                if let Some(v) = vectors.get(term) {
                    weight += s;
                    for (a, &x) in sum.iter_mut().zip(v) {
                        *a += s * f64::from(x);
                    }
                }
            }
            for (k, (&g, a)) in got[row].iter().zip(&sum).enumerate() {
                let want = if weight > 0.0 { a / weight } else { 0.0 };
                assert!(
                    (f64::from(g) - want).abs() <= 1e-6,
                    "{rating:?} row {id} dim {k}: {g} vs {want}"
                );
            }
        }
    }
}

#[test]
fn loading_the_vectors_gives_the_same_features_as_training_them() {
    let (trained, _) = run(&small(Rating::Tfidf));
    let cfg = TextFeaturesConfig {
        vectors: Some(trained.path().join(VECTORS_FILE)),
        ..small(Rating::Tfidf)
    };
    let (loaded, s) = run(&cfg);
    assert!(!loaded.path().join(VECTORS_FILE).exists());
    assert!(!s.files.iter().any(|f| f.ends_with(VECTORS_FILE)));
    let a = FeatureStore::open(&trained.path().join(TERM_FILE)).expect("a");
    let b = FeatureStore::open(&loaded.path().join(TERM_FILE)).expect("b");
    assert_eq!(a.bytes("f_term").unwrap(), b.bytes("f_term").unwrap());
    assert_ne!(a.config_sha256(), b.config_sha256(), "the settings differ");
}

#[test]
fn phase_two_reads_f_term_next_to_the_stand_in_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stand_in = seje::phase1::stand_in::StandInConfig {
        term_dim: 16,
        ..Default::default()
    };
    seje::phase1::stand_in::write_features(&mini(), dir.path(), &stand_in).expect("stand-in");
    write_text_features(&mini(), dir.path(), &small(Rating::Tfidf), &|_, _| {})
        .expect("text features");
    let cfg = seje::phase2::config::TrainConfig::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/fixture-mini.toml"),
        &["model.term=16".to_string()],
    )
    .expect("config parses");
    let inputs = seje::phase2::inputs::PhaseTwoInputs::open(dir.path(), &cfg.model)
        .expect("Phase II opens the three files");
    drop(inputs);
    let store = FeatureStore::open(&dir.path().join(TERM_FILE)).expect("store");
    assert_eq!(
        store.metadata().get("producer").map(String::as_str),
        Some("seje features text")
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let e = write_text_features(
        &dir.path().join("nope"),
        dir.path(),
        &small(Rating::Tfidf),
        &|_, _| {},
    )
    .expect_err("no root");
    assert!(e.to_string().contains("nope"), "{e}");

    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"3 2\nabc").expect("write");
    let cfg = TextFeaturesConfig {
        vectors: Some(bad.clone()),
        ..small(Rating::Tfidf)
    };
    let e = write_text_features(&mini(), &dir.path().join("out"), &cfg, &|_, _| {})
        .expect_err("a truncated vectors file");
    assert!(e.to_string().contains("bad.bin"), "{e}");

    let cfg = TextFeaturesConfig {
        word2vec: Word2VecConfig {
            min_count: 1_000_000,
            ..small(Rating::Tfidf).word2vec
        },
        ..small(Rating::Tfidf)
    };
    let e = write_text_features(&mini(), &dir.path().join("out2"), &cfg, &|_, _| {})
        .expect_err("no word reaches min_count");
    assert!(e.to_string().contains("min_count"), "{e}");
}

#[test]
fn the_commands_write_the_files_and_say_what_they_did() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = seje()
        .args(["--log", "warn", "features", "text", "--root"])
        .arg(mini())
        .arg("--out")
        .arg(dir.path())
        .args([
            "--rating",
            "textrank",
            "--size",
            "8",
            "--iter",
            "1",
            "--min-count",
            "2",
        ])
        .output()
        .expect("seje runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("recipes     160 (train 96, val 32, test 32)"),
        "{stdout}"
    );
    assert!(stdout.contains("rating textrank"), "{stdout}");
    let store = FeatureStore::open(&dir.path().join(TERM_FILE)).expect("store");
    assert_eq!(store.info("f_term").unwrap().shape, vec![160, 8]);

    let vocab = dir.path().join("again.bin");
    let out = seje()
        .args(["--log", "warn", "word2vec", "--corpus"])
        .arg(dir.path().join(CORPUS_FILE))
        .arg("--out")
        .arg(&vocab)
        .args(["--size", "8", "--iter", "1", "--min-count", "2"])
        .output()
        .expect("seje runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same corpus and settings as inside `features text`: the same file.
    assert_eq!(
        std::fs::read(&vocab).unwrap(),
        std::fs::read(dir.path().join(VECTORS_FILE)).unwrap()
    );

    let out = seje()
        .args(["features", "text", "--root"])
        .arg(mini())
        .arg("--out")
        .arg(dir.path())
        .args(["--rating", "bm25"])
        .output()
        .expect("seje runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bm25"));
}

fn vectors() -> WordVectors {
    let words = ["a", "b", "c", "d"].map(String::from).to_vec();
    let values = vec![1.0, -2.0, 0.5, 3.0, -1.5, 0.25, 2.0, 2.0];
    WordVectors::new(words, 2, values).expect("vectors")
}

proptest! {
    #[test]
    fn f_term_does_not_depend_on_the_order_of_the_terms(
        rated in prop::collection::vec((0usize..5, 0.0f64..3.0), 0..8),
        seed in any::<u64>(),
    ) {
        let names = ["a", "b", "c", "d", "oov"];
        let rated: Vec<(&str, f64)> = rated.iter().map(|&(i, s)| (names[i], s)).collect();
        let mut shuffled = rated.clone();
        // A deterministic permutation from the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
        }
        let v = vectors();
        let a = weighted_term_feature(&rated, &v).unwrap();
        let b = weighted_term_feature(&shuffled, &v).unwrap();
        prop_assert_eq!(a.vector.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        b.vector.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        prop_assert_eq!(a.used + a.skipped, rated.len());
    }

    #[test]
    fn f_term_is_a_convex_combination_of_the_used_vectors(
        rated in prop::collection::vec((0usize..5, 0.0f64..3.0), 1..8),
    ) {
        let names = ["a", "b", "c", "d", "oov"];
        let rated: Vec<(&str, f64)> = rated.iter().map(|&(i, s)| (names[i], s)).collect();
        let v = vectors();
        let f = weighted_term_feature(&rated, &v).unwrap();
        let used: Vec<&[f32]> = rated.iter().filter(|(_, s)| *s > 0.0).filter_map(|(t, _)| v.get(t)).collect();
        if used.is_empty() {
            prop_assert!(f.vector.iter().all(|&x| x == 0.0));
        } else {
            for k in 0..2 {
                let lo = used.iter().map(|u| u[k]).fold(f32::INFINITY, f32::min);
                let hi = used.iter().map(|u| u[k]).fold(f32::NEG_INFINITY, f32::max);
                prop_assert!(f.vector[k] >= lo - 1e-6 && f.vector[k] <= hi + 1e-6);
            }
        }
    }
}

#[test]
fn the_tagger_extractor_rates_what_it_tags() {
    use seje::phase1::text_features::KeyTermSource;
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/pos_tagger/model");
    let cfg = TextFeaturesConfig {
        key_terms: KeyTermSource::Tagger(model),
        ..small(Rating::Tfidf)
    };
    let (tagged, st) = run(&cfg);
    let (lexicon, sl) = run(&small(Rating::Tfidf));
    assert_eq!(st.recipes, 160);
    assert_ne!(
        st.key_terms, sl.key_terms,
        "the two extractors find different terms"
    );
    // The tagger keeps words as written: its corpus has no lexicon rewriting ("baked" stays).
    let corpus = std::fs::read_to_string(tagged.path().join(CORPUS_FILE)).unwrap();
    let lexicon_corpus = std::fs::read_to_string(lexicon.path().join(CORPUS_FILE)).unwrap();
    assert_ne!(corpus, lexicon_corpus);
    let store = FeatureStore::open(&tagged.path().join(TERM_FILE)).expect("store");
    assert!(store.metadata()["note"].contains("POS-tagger"));
    assert!(store.metadata()["text_features_config"].contains("tagger"));

    let cfg = TextFeaturesConfig {
        key_terms: KeyTermSource::Tagger(tagged.path().join("no-model")),
        ..small(Rating::Tfidf)
    };
    let e = write_text_features(&mini(), tagged.path(), &cfg, &|_, _| {}).expect_err("no model");
    assert!(e.to_string().contains("no-model"), "{e}");
}
