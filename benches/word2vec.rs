//! Benchmark of word2vec training (skip-gram, hierarchical softmax) in words per second, against
//! gensim's `Word2Vec` on the same corpus file, settings and thread count, measured in the same
//! run.
//!
//! Spec: spec/phase1-word2vec.md (Throughput). Run: `cargo bench --bench word2vec`. The corpus
//! is `SEJE_BENCH_CORPUS` (tokenised text, one text per line) or, without it, a deterministic
//! synthetic recipe-like corpus of `SEJE_BENCH_W2V_WORDS` words (default 3,000,000) written to a
//! temporary file, so both sides read the same bytes. Settings: `SEJE_BENCH_W2V_SIZE` (300),
//! `SEJE_BENCH_W2V_ITER` (1), `SEJE_BENCH_W2V_MIN_COUNT` (5), `SEJE_BENCH_W2V_THREADS` (a
//! comma-separated list, default `1,2`); window 10, sample 1e-3, alpha 0.025 as the paper. The
//! gensim side is `benches/reference/word2vec_gensim.py`, run with `SEJE_BENCH_PYTHON` (default
//! `python3`); without gensim it is skipped and the reason printed. `SEJE_BENCH_W2V_SYNTHETIC=FILE`
//! writes the synthetic corpus to FILE and keeps it.
//!
//! Words per second = corpus words × iter / training seconds on both sides (corpus words: the
//! tokens of the file, newlines not counted). Vocabulary building is timed separately and not
//! included: for us from the start of `train` to its "vocabulary built" event (the count, sort,
//! Huffman tree and id stream), plus reading and splitting the file before; for gensim
//! `build_vocab(corpus_file=…)`, which reads the file itself. Rows for `cargo xtask bench`:
//! spec/benchmarks.md.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use seje::phase1::word2vec::{train, Word2VecConfig};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Records when `train` logs "word2vec vocabulary built" (the event with a `train_words` field).
struct VocabBuilt(Arc<Mutex<Option<Instant>>>);

impl<S: Subscriber> Layer<S> for VocabBuilt {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().fields().field("train_words").is_some() {
            *self.0.lock().expect("not poisoned") = Some(Instant::now());
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} does not parse")),
        Err(_) => default,
    }
}

/// splitmix64: the synthetic corpus generator's random numbers.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A recipe-like corpus: sentences of 5–29 words drawn from 20,000 word types with Zipf (s = 1)
/// frequencies, the most frequent being function words and cooking verbs.
fn synthetic(path: &Path, words: usize) {
    const HEAD: [&str; 24] = [
        "the", "and", "a", "with", "to", "in", "of", "until", "minutes", "add", "stir", "mix",
        "salt", "pepper", "butter", "sugar", "flour", "oil", "water", "heat", "bake", "cup",
        "chopped", "serve",
    ];
    let types = 20_000usize;
    let vocab: Vec<String> = (0..types)
        .map(|i| match HEAD.get(i) {
            Some(w) => w.to_string(),
            None => format!("ingr{i}"),
        })
        .collect();
    let mut cdf = Vec::with_capacity(types);
    let mut acc = 0f64;
    for r in 0..types {
        acc += 1.0 / (r + 1) as f64;
        cdf.push(acc);
    }
    let mut state = 2026u64;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create corpus"));
    let mut written = 0usize;
    while written < words {
        let len = 5 + (splitmix(&mut state) % 25) as usize;
        for k in 0..len.min(words - written) {
            let u = (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64 * acc;
            let i = cdf.partition_point(|&c| c < u).min(types - 1);
            if k > 0 {
                out.write_all(b" ").expect("write corpus");
            }
            out.write_all(vocab[i].as_bytes()).expect("write corpus");
        }
        out.write_all(b"\n").expect("write corpus");
        written += len;
    }
    out.flush().expect("write corpus");
}

struct Side {
    vocab_s: f64,
    train_s: f64,
}

fn ours(corpus: &Path, cfg: &Word2VecConfig, mark: &Arc<Mutex<Option<Instant>>>) -> (f64, Side) {
    let t0 = Instant::now();
    let text = std::fs::read_to_string(corpus).expect("read corpus");
    let sentences: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    drop(text);
    let read_s = t0.elapsed().as_secs_f64();
    *mark.lock().expect("not poisoned") = None;
    let t1 = Instant::now();
    let trained = train(&sentences, cfg).expect("trains");
    let t2 = Instant::now();
    let built = mark
        .lock()
        .expect("not poisoned")
        .expect("vocabulary event");
    assert!(trained.vectors.len() > 1);
    (
        read_s,
        Side {
            vocab_s: (built - t1).as_secs_f64(),
            train_s: (t2 - built).as_secs_f64(),
        },
    )
}

fn gensim(corpus: &Path, cfg: &Word2VecConfig, words: u64) -> Result<Side, String> {
    let v = common::gensim_word2vec(corpus, cfg)?;
    let counted = v["corpus_words"].as_u64().unwrap_or(0);
    if counted != words {
        return Err(format!("gensim counted {counted} words, we {words}"));
    }
    Ok(Side {
        vocab_s: v["vocab_seconds"].as_f64().ok_or("no vocab_seconds")?,
        train_s: v["train_seconds"].as_f64().ok_or("no train_seconds")?,
    })
}

fn main() {
    let mark = Arc::new(Mutex::new(None));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(VocabBuilt(mark.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");

    let size = env_or("SEJE_BENCH_W2V_SIZE", 300usize);
    let iter = env_or("SEJE_BENCH_W2V_ITER", 1usize);
    let min_count = env_or("SEJE_BENCH_W2V_MIN_COUNT", 5u64);
    let threads: Vec<usize> = env_or("SEJE_BENCH_W2V_THREADS", "1,2".to_string())
        .split(',')
        .map(|t| t.trim().parse().expect("SEJE_BENCH_W2V_THREADS: numbers"))
        .collect();
    // SEJE_BENCH_W2V_SYNTHETIC=FILE keeps the synthetic corpus there (to run other tools on it).
    let keep = std::env::var_os("SEJE_BENCH_W2V_SYNTHETIC");
    let tmp = match &keep {
        Some(p) => p.into(),
        None => std::env::temp_dir().join(format!("seje-bench-w2v-{}.txt", std::process::id())),
    };
    let corpus = match std::env::var_os("SEJE_BENCH_CORPUS") {
        Some(p) => p.into(),
        None => {
            let words = env_or("SEJE_BENCH_W2V_WORDS", 3_000_000usize);
            let t = Instant::now();
            synthetic(&tmp, words);
            println!(
                "synthetic corpus: {words} words written to {} in {:.1} s",
                tmp.display(),
                t.elapsed().as_secs_f64()
            );
            tmp.clone()
        }
    };
    let text = std::fs::read_to_string(&corpus).expect("read corpus");
    let words = text.split_whitespace().count() as u64;
    let lines = text.lines().count();
    drop(text);
    println!(
        "corpus {}: {lines} lines, {words} words; skip-gram, hs 1, negative 0, window 10, \
         size {size}, sample 1e-3, alpha 0.025, min_count {min_count}, iter {iter}",
        corpus.display()
    );
    println!(
        "words/s = corpus words x iter / training seconds (vocabulary building excluded, \
         timed separately)"
    );
    let mut rows = Vec::new();
    for &t in &threads {
        let cfg = Word2VecConfig {
            size,
            iter,
            min_count,
            threads: t,
            ..Word2VecConfig::paper()
        };
        let (read_s, o) = ours(&corpus, &cfg, &mark);
        let wps = (words * iter as u64) as f64 / o.train_s;
        println!(
            "threads {t}: ours read+split {read_s:.2} s, vocabulary {:.2} s, training {:.2} s, \
             {wps:.0} words/s",
            o.vocab_s, o.train_s
        );
        let g = gensim(&corpus, &cfg, words);
        match &g {
            Ok(g) => println!(
                "threads {t}: gensim vocabulary {:.2} s, training {:.2} s, {:.0} words/s",
                g.vocab_s,
                g.train_s,
                (words * iter as u64) as f64 / g.train_s
            ),
            Err(e) => println!("threads {t}: gensim reference skipped: {e}"),
        }
        rows.push((t, read_s, o, g.ok()));
    }
    println!();
    println!("| threads | ours words/s | gensim words/s | ratio ours/gensim | ours vocab s (read+split) | gensim vocab s |");
    println!("|---|---|---|---|---|---|");
    for (t, read_s, o, g) in rows {
        let ow = (words * iter as u64) as f64 / o.train_s;
        match g {
            Some(g) => {
                let gw = (words * iter as u64) as f64 / g.train_s;
                let what = format!(
                    "word2vec training (skip-gram, HS, size {size}, window 10, sample 1e-3, \
                     min_count {min_count}, iter {iter}), {} corpus of {words} words, {t} \
                     thread{}; vocabulary building excluded",
                    if std::env::var_os("SEJE_BENCH_CORPUS").is_some() {
                        "given"
                    } else {
                        "synthetic Zipf"
                    },
                    if t == 1 { "" } else { "s" }
                );
                common::record(&common::Row {
                    bench: "word2vec",
                    what: &what,
                    ours: ow,
                    unit: common::Unit::Rate("words/s"),
                    reference: Some((gw, "gensim 4 Word2Vec, corpus_file, same file and settings")),
                    no_reference: None,
                });
                println!(
                    "| {t} | {ow:.0} | {gw:.0} | {:.2} | {:.2} ({read_s:.2}) | {:.2} |",
                    ow / gw,
                    o.vocab_s,
                    g.vocab_s
                );
            }
            None => println!(
                "| {t} | {ow:.0} | skipped | — | {:.2} ({read_s:.2}) | — |",
                o.vocab_s
            ),
        }
    }
    if corpus == tmp && keep.is_none() {
        std::fs::remove_file(&tmp).expect("remove temp corpus");
    }
}
