//! Time of `seje features text` per 100,000 recipes, stage by stage, with gensim's word2vec on
//! the same corpus file as the reference of the word2vec stage, measured in the same run.
//!
//! Spec: spec/benchmarks.md (features text), spec/phase1-term-feature.md. Run:
//! `cargo bench --bench features_text`. The dataset is `SEJE_BENCH_TEXT_ROOT` when it holds a
//! `layer1.json` (any Recipe1M-format root); otherwise a synthetic benchmark of
//! `SEJE_BENCH_TEXT_RECIPES` recipes (default 100,000; one 16-pixel image each, the images play no
//! part) is generated there, or in a temporary directory when the variable is unset. The
//! settings are `seje features text`'s defaults: lexicon key terms, TF-IDF, word2vec 300-d,
//! window 10, iter 10, min_count 10, one thread.
//!
//! Stages are timed from the library's progress callback: key terms (reading `layer1.json`,
//! entities, key terms, the corpus file, TF-IDF counts) until word2vec starts; word2vec (reading
//! the corpus, vocabulary, training, writing `vocab.bin`) until the first f_term row; f_term
//! (TF-IDF weights, weighted sums, the store) to the end. The authors released no Phase I code,
//! so only the word2vec stage has a reference: `benches/reference/word2vec_gensim.py` with the
//! same settings on the `corpus.txt` our run wrote, its vocabulary building and training added
//! (it reads the file itself), run with `SEJE_BENCH_PYTHON` (default `python3`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use seje::data::synth::{self, SynthConfig};
use seje::phase1::text_features::{write_text_features, Stage, TextFeaturesConfig};
use seje::phase1::word2vec::Word2VecConfig;

/// When the word2vec and f_term stages first reported progress (the key-term stage runs before).
#[derive(Default)]
struct Marks {
    word2vec_start: Option<Instant>,
    feature_start: Option<Instant>,
}

fn dataset(recipes: usize) -> (PathBuf, Option<tempfile::TempDir>) {
    let (root, tmp) = match std::env::var_os("SEJE_BENCH_TEXT_ROOT") {
        Some(p) => (PathBuf::from(p), None),
        None => {
            let t = tempfile::tempdir().expect("tempdir");
            (t.path().join("recipe1m"), Some(t))
        }
    };
    if root.join("layer1.json").is_file() {
        println!("dataset {} (reused)", root.display());
        return (root, tmp);
    }
    let cfg = SynthConfig {
        recipes,
        image_size: 16,
        max_images: 1,
        food101_train: 1,
        food101_test: 1,
        ..SynthConfig::benchmark(recipes)
    };
    let t = Instant::now();
    let s = synth::generate(&cfg, &root).expect("synthetic benchmark");
    println!(
        "dataset {}: {} synthetic recipes generated in {:.1} s",
        root.display(),
        s.recipes,
        t.elapsed().as_secs_f64()
    );
    (root, tmp)
}

/// gensim's vocabulary + training seconds on `corpus` with `cfg`, or why it could not run.
fn gensim(corpus: &Path, cfg: &Word2VecConfig) -> Result<f64, String> {
    let v = common::gensim_word2vec(corpus, cfg)?;
    let vocab = v["vocab_seconds"].as_f64().ok_or("no vocab_seconds")?;
    let train = v["train_seconds"].as_f64().ok_or("no train_seconds")?;
    println!(
        "gensim on the same corpus.txt: vocabulary {vocab:.1} s + training {train:.1} s ({} words, {} in vocabulary)",
        v["corpus_words"], v["vocab"]
    );
    Ok(vocab + train)
}

fn main() {
    let recipes: usize = std::env::var("SEJE_BENCH_TEXT_RECIPES")
        .map(|v| v.parse().expect("SEJE_BENCH_TEXT_RECIPES: a number"))
        .unwrap_or(100_000);
    let (root, _keep) = dataset(recipes);
    let out = tempfile::tempdir().expect("tempdir");
    let cfg = TextFeaturesConfig::default();

    let marks = Mutex::new(Marks::default());
    let progress = |stage: Stage, _: u64| {
        let mut m = marks.lock().expect("not poisoned");
        match stage {
            Stage::Word2vec if m.word2vec_start.is_none() => {
                m.word2vec_start = Some(Instant::now())
            }
            Stage::Feature if m.feature_start.is_none() => m.feature_start = Some(Instant::now()),
            _ => {}
        }
    };
    let t0 = Instant::now();
    let summary = write_text_features(&root, out.path(), &cfg, &progress).expect("features text");
    let end = Instant::now();
    let m = marks.into_inner().expect("not poisoned");
    let (w0, f0) = (
        m.word2vec_start.expect("word2vec ran"),
        m.feature_start.expect("f_term rows written"),
    );
    let total = (end - t0).as_secs_f64();
    let key_terms = (w0 - t0).as_secs_f64();
    let word2vec = (f0 - w0).as_secs_f64();
    let feature = (end - f0).as_secs_f64();
    let n = summary.recipes;
    println!(
        "seje features text: {n} rows, corpus {} lines / {} words, vocabulary {}: {total:.1} s \
         (key terms {key_terms:.1} s, word2vec {word2vec:.1} s, f_term {feature:.1} s)",
        summary.corpus_lines, summary.corpus_words, summary.vocabulary
    );
    let per_100k = |s: f64| s * 100_000.0 / n as f64;
    println!(
        "per 100,000 recipes: {:.1} s (key terms {:.1} s, word2vec {:.1} s, f_term {:.1} s)",
        per_100k(total),
        per_100k(key_terms),
        per_100k(word2vec),
        per_100k(feature)
    );

    let data = if std::env::var_os("SEJE_BENCH_TEXT_ROOT").is_some() {
        format!("{n} recipes of {}", root.display())
    } else {
        format!("{n} generated recipes")
    };
    let no_ref = "no reference: the authors released no Phase I code";
    let w = &cfg.word2vec;
    let rows = [
        (
            format!(
                "`seje features text`, {data}, whole command (lexicon key terms, TF-IDF, word2vec \
                 {}-d, iter {}, min_count {}, one thread)",
                w.size, w.iter, w.min_count
            ),
            total,
        ),
        (
            format!(
                "`seje features text`, key-term stage (entities, key terms, corpus file, TF-IDF \
                 counts), {data}"
            ),
            key_terms,
        ),
        (
            format!(
                "`seje features text`, f_term stage (TF-IDF weights, weighted sums, store), {data}"
            ),
            feature,
        ),
    ];
    for (what, secs) in &rows {
        common::record(&common::Row {
            bench: "features_text",
            what,
            ours: *secs,
            unit: common::Unit::Seconds,
            reference: None,
            no_reference: Some(no_ref),
        });
    }
    let what = format!(
        "`seje features text`, word2vec stage ({} corpus words: reading, vocabulary, training), {data}",
        summary.corpus_words
    );
    match gensim(&out.path().join("corpus.txt"), w) {
        Ok(g) => {
            println!(
                "word2vec stage: ours {word2vec:.1} s, gensim {g:.1} s, speed ours / gensim = {:.2}",
                g / word2vec
            );
            common::record(&common::Row {
                bench: "features_text",
                what: &what,
                ours: word2vec,
                unit: common::Unit::Seconds,
                reference: Some((
                    g,
                    "gensim 4 Word2Vec on the same corpus.txt, same settings, vocabulary + training",
                )),
                no_reference: None,
            });
        }
        Err(e) => println!("gensim reference skipped: {e}"),
    }
}
