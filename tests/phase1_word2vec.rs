//! word2vec against gensim goldens (`fixtures/golden/word2vec/`): a `-binary 1` file gensim wrote
//! is read bit for bit, a file we wrote is read by gensim as we meant it; the vocabulary and
//! Huffman tree as word2vec.c builds them; training is deterministic with one thread and learns
//! co-occurrence groups; errors name their input.
//!
//! Spec: spec/phase1-word2vec.md.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use seje::phase1::word2vec::{huffman, train, Vocab, Word2VecConfig, WordVectors};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/word2vec")
}

fn golden() -> Value {
    let text = std::fs::read_to_string(dir().join("golden.json")).expect("golden.json exists");
    serde_json::from_str(&text).expect("golden.json parses")
}

/// Checks `got` against a golden table (words, dim, float32 values stored as float64) bit for bit.
fn assert_table(got: &WordVectors, want: &Value) {
    let words: Vec<&str> = want["words"]
        .as_array()
        .expect("words")
        .iter()
        .map(|w| w.as_str().expect("a word"))
        .collect();
    assert_eq!(got.words(), words.as_slice());
    assert_eq!(got.dim() as u64, want["dim"].as_u64().expect("dim"));
    for (w, row) in words
        .iter()
        .zip(want["vectors"].as_array().expect("vectors"))
    {
        let want_row: Vec<u32> = row
            .as_array()
            .expect("a row")
            .iter()
            .map(|x| (x.as_f64().expect("a number") as f32).to_bits())
            .collect();
        let got_row: Vec<u32> = got
            .get(w)
            .expect("word")
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(got_row, want_row, "vector of {w:?}");
    }
}

/// The vectors of `ours_small.bin` (generate.py reads that file with gensim).
fn ours() -> WordVectors {
    WordVectors::new(
        ["</s>", "pepper", "red_velvet_cake", "jalapeño"]
            .map(String::from)
            .to_vec(),
        3,
        vec![
            0.5,
            -0.25,
            0.125, //
            1.0e-3,
            -3.0e7,
            0.0, //
            -0.0,
            f32::MIN_POSITIVE,
            1.0 / 3.0, //
            f32::MAX,
            -1.0,
            42.0,
        ],
    )
    .expect("valid vectors")
}

#[test]
fn reads_a_file_gensim_wrote_bit_for_bit() {
    let kv = WordVectors::read_binary(&dir().join("gensim_small.bin")).expect("reads");
    assert_table(&kv, &golden()["gensim_written"]);
}

#[test]
fn gensim_reads_the_file_we_write() {
    // The committed file must be what we write today; regenerate it (then run generate.py) with
    // SEJE_UPDATE_GOLDEN=1.
    let path = dir().join("ours_small.bin");
    let bytes = ours().to_binary();
    if std::env::var_os("SEJE_UPDATE_GOLDEN").is_some() {
        ours().write_binary(&path).expect("writes");
    }
    assert_eq!(std::fs::read(&path).expect("ours_small.bin exists"), bytes);
    assert_table(&ours(), &golden()["gensim_read_ours"]);
    assert_eq!(
        WordVectors::from_binary(&bytes).expect("reads back"),
        ours()
    );
}

#[test]
fn a_truncated_file_names_the_word_and_the_offset() {
    let bytes = ours().to_binary();
    let err = WordVectors::from_binary(&bytes[..bytes.len() - 5]).expect_err("truncated");
    assert!(err.contains("word 3 (\"jalapeño\") at byte"), "{err}");
    let tmp = std::env::temp_dir().join(format!("seje-w2v-trunc-{}.bin", std::process::id()));
    std::fs::write(&tmp, &bytes[..bytes.len() - 5]).expect("writes");
    let err = WordVectors::read_binary(&tmp)
        .expect_err("truncated")
        .to_string();
    std::fs::remove_file(&tmp).ok();
    assert!(
        err.contains("seje-w2v-trunc") && err.contains("jalapeño"),
        "{err}"
    );
    let err = WordVectors::read_binary(Path::new("/nonexistent/vocab.bin")).expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/vocab.bin"), "{err}");
}

#[test]
fn text_format_reads_what_the_c_tool_writes() {
    let tmp = std::env::temp_dir().join(format!("seje-w2v-text-{}.txt", std::process::id()));
    std::fs::write(&tmp, "2 3\n</s> 0.1 0.2 0.3 \nsalt -1 0 2.5 \n").expect("writes");
    let kv = WordVectors::read_text(&tmp).expect("reads");
    std::fs::remove_file(&tmp).ok();
    assert_eq!(kv.words(), ["</s>", "salt"]);
    assert_eq!(kv.get("salt").expect("salt"), [-1.0, 0.0, 2.5]);
}

/// Counts 10, 6, 3, 1 (hand-computed in spec/phase1-word2vec.md): codes 1, 01, 001, 000.
#[test]
fn huffman_codes_of_a_hand_computed_tree() {
    let tree = huffman(&[10, 6, 3, 1]).expect("tree");
    let codes: Vec<Vec<u8>> = tree.iter().map(|(c, _)| c.clone()).collect();
    assert_eq!(codes, [vec![1], vec![0, 1], vec![0, 0, 1], vec![0, 0, 0]]);
    let points: Vec<Vec<u32>> = tree.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(points, [vec![2], vec![2, 1], vec![2, 1, 0], vec![2, 1, 0]]);
    assert!(huffman(&[5]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Codes are prefix-free, paths start at the root, and the expected code length is that of
    /// a Huffman code (no longer than the fixed-length code of ceil(log2 n) bits per word).
    #[test]
    fn huffman_codes_are_prefix_free(mut counts in prop::collection::vec(1u64..1000, 2..40)) {
        counts.sort_by(|a, b| b.cmp(a));
        let n = counts.len();
        let tree = huffman(&counts).expect("tree");
        for (i, (ci, pi)) in tree.iter().enumerate() {
            prop_assert_eq!(ci.len(), pi.len());
            prop_assert_eq!(pi[0] as usize, n - 2);
            prop_assert!(pi.iter().all(|&p| (p as usize) < n - 1));
            for (j, (cj, _)) in tree.iter().enumerate() {
                if i != j {
                    prop_assert!(!cj.starts_with(ci), "{:?} is a prefix of {:?}", ci, cj);
                }
            }
        }
        let bits: u64 = tree.iter().zip(&counts).map(|((c, _), k)| c.len() as u64 * k).sum();
        let fixed = (usize::BITS - (n - 1).leading_zeros()) as u64;
        prop_assert!(bits <= fixed * counts.iter().sum::<u64>());
    }
}

#[test]
fn vocabulary_is_sorted_like_word2vec_c() {
    let words = [("b", 2), ("a", 5), ("rare", 1), ("c", 2)].map(|(w, c)| (w.to_string(), c));
    let vocab = Vocab::from_counts(&words, 3, 2).expect("vocab");
    let got: Vec<(&str, u64)> = vocab
        .words
        .iter()
        .map(|w| (w.word.as_str(), w.count))
        .collect();
    assert_eq!(got, [("</s>", 3), ("a", 5), ("b", 2), ("c", 2)]);
    assert_eq!(vocab.train_words, 12);
    let err = Vocab::from_counts(&words, 3, 6).expect_err("nothing kept");
    assert!(err.to_string().contains("min_count"), "{err}");
}

/// Sentences of two groups that never meet: "a b c" and "x y z" in shuffled orders.
fn groups(sentences: usize) -> Vec<Vec<String>> {
    let mut r = 7u64;
    (0..sentences)
        .map(|i| {
            let mut s: Vec<&str> = if i % 2 == 0 {
                vec!["a", "b", "c"]
            } else {
                vec!["x", "y", "z"]
            };
            for k in (1..s.len()).rev() {
                r = r
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.swap(k, (r >> 33) as usize % (k + 1));
            }
            s.into_iter().map(String::from).collect()
        })
        .collect()
}

fn small() -> Word2VecConfig {
    Word2VecConfig {
        size: 16,
        window: 3,
        iter: 5,
        min_count: 1,
        sample: 0.0,
        threads: 1,
        ..Word2VecConfig::paper()
    }
}

#[test]
fn one_thread_is_deterministic() {
    let corpus = groups(400);
    let cfg = Word2VecConfig {
        sample: 1e-3,
        ..small()
    };
    let a = train(&corpus, &cfg).expect("trains");
    let b = train(&corpus, &cfg).expect("trains");
    assert_eq!(a.vectors.to_binary(), b.vectors.to_binary());
    let c = train(&corpus, &Word2VecConfig { seed: 2, ..cfg }).expect("trains");
    assert_ne!(a.vectors.to_binary(), c.vectors.to_binary());
    assert_eq!(a.vectors.words()[0], "</s>");
    assert_eq!(a.vocab.train_words, 400 * 3 + 400);
}

#[test]
fn learns_which_words_co_occur() {
    // One thread: the two nearest neighbours of a word are exactly its group-mates. Two threads
    // (Hogwild, not deterministic: updates of the six shared inner nodes race, and about one run
    // in four puts a word of the other group second): the nearest neighbour is a group-mate and
    // a word is on average clearly closer to its group-mates than to the other group's words.
    for threads in [1, 2] {
        let trained = train(groups(2000), &Word2VecConfig { threads, ..small() }).expect("trains");
        let kv = &trained.vectors;
        assert!(kv.as_slice().iter().all(|x| x.is_finite()));
        let cos = |a: &str, b: &str| {
            let (x, y) = (kv.get(a).expect("known"), kv.get(b).expect("known"));
            let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            let n = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
            dot / (n(x) * n(y))
        };
        for (word, friends, others) in [
            ("a", ["b", "c"], ["x", "y", "z"]),
            ("y", ["x", "z"], ["a", "b", "c"]),
        ] {
            let near = kv.most_similar(word, 2).expect("known word");
            let mut near: Vec<&str> = near.iter().map(|(w, _)| w.as_str()).collect();
            if threads == 1 {
                near.sort();
                assert_eq!(near, friends, "neighbours of {word}");
            } else {
                assert!(
                    friends.contains(&near[0]),
                    "threads 2: nearest to {word}: {near:?}"
                );
            }
            let within = friends.iter().map(|f| cos(word, f)).sum::<f32>() / 2.0;
            let across = others.iter().map(|o| cos(word, o)).sum::<f32>() / 3.0;
            assert!(
                within > across + if threads == 1 { 0.2 } else { 0.1 },
                "threads {threads}: {word} within {within} across {across}"
            );
        }
    }
}

#[test]
fn refuses_bad_input() {
    let err = train(Vec::<Vec<String>>::new(), &small()).expect_err("empty corpus");
    assert!(err.to_string().contains("min_count"), "{err}");
    let bad = vec![vec!["olive oil".to_string()]];
    let err = train(&bad, &small()).expect_err("whitespace");
    assert!(err.to_string().contains("\"olive oil\""), "{err}");
    let err = train(
        groups(4),
        &Word2VecConfig {
            window: 0,
            ..small()
        },
    )
    .expect_err("window");
    assert!(err.to_string().contains("window"), "{err}");
}

/// The corpus of 16 noisy topics and gensim's vectors of it
/// (`fixtures/golden/word2vec_threads/`, made by its `generate.py`).
fn threads_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/word2vec_threads")
}

/// Cosine similarities of `words` (rows of `kv`), all pairs.
fn cosines(kv: &WordVectors, words: &[String]) -> Vec<Vec<f64>> {
    let unit: Vec<Vec<f64>> = words
        .iter()
        .map(|w| {
            let v: Vec<f64> = kv
                .get(w)
                .expect("a topic word")
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| x / n).collect()
        })
        .collect();
    unit.iter()
        .map(|a| {
            unit.iter()
                .map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum())
                .collect()
        })
        .collect()
}

/// For each word, the share of its `k` nearest neighbours (by cosine) of its own topic (its first
/// letter), averaged over the words: generate.py's `precision`.
fn topic_precision(c: &[Vec<f64>], words: &[String], k: usize) -> f64 {
    let mut total = 0.0;
    for (i, w) in words.iter().enumerate() {
        let mut order: Vec<usize> = (0..words.len()).filter(|&j| j != i).collect();
        order.sort_by(|&a, &b| c[i][b].total_cmp(&c[i][a]));
        let same = order[..k]
            .iter()
            .filter(|&&j| words[j].as_bytes()[0] == w.as_bytes()[0]);
        total += same.count() as f64 / k as f64;
    }
    total / words.len() as f64
}

/// Pearson correlation of two models' cosine similarities over all pairs of words: generate.py's
/// `agreement`.
fn agreement(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            x.push(a[i][j]);
            y.push(b[i][j]);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mx, my) = (mean(&x), mean(&y));
    let cov: f64 = x.iter().zip(&y).map(|(p, q)| (p - mx) * (q - my)).sum();
    let var = |v: &[f64], m: f64| v.iter().map(|p| (p - m) * (p - m)).sum::<f64>();
    cov / (var(&x, mx) * var(&y, my)).sqrt()
}

#[test]
fn threads_learn_the_topics_as_gensim_workers_do() {
    // On a corpus of 16 noisy topics, our one thread (the C tool's numbers) and our Hogwild
    // threads find a word's topic-mates among its nearest neighbours at least as often as
    // gensim with as many workers does (less 0.05: Hogwild runs are not reproducible; 20 runs of
    // this test gave 0.797 to 0.863 with two threads, against a bar of about 0.70), and two threads leave our
    // similarities no further from gensim's two workers' than our one thread's are from gensim's
    // one worker's (less 0.1). spec/phase1-word2vec.md, "What two threads learn".
    let dir = threads_dir();
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("golden.json")).expect("golden.json exists"),
    )
    .expect("golden.json parses");
    let text = std::fs::read_to_string(dir.join("corpus.txt")).expect("corpus.txt exists");
    let sentences: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let per_topic = golden["per_topic"].as_u64().expect("per_topic") as usize;
    let words: Vec<String> = ('a'..='p')
        .flat_map(|t| (0..per_topic).map(move |k| format!("{t}{k}")))
        .collect();
    assert_eq!(
        words.len() as u64,
        golden["topics"].as_u64().expect("topics") * per_topic as u64
    );
    let s = &golden["settings"];
    let num = |k: &str| s[k].as_f64().unwrap_or_else(|| panic!("settings.{k}"));
    let mut agreements = Vec::new();
    for threads in [1, 2] {
        let want = &golden[format!("workers{threads}")];
        let gensim = WordVectors::read_binary(&dir.join(format!("gensim_workers{threads}.bin")))
            .expect("gensim's vectors");
        let gensim_cos = cosines(&gensim, &words);
        let gensim_precision = ["seed1", "seed2"]
            .map(|k| want["precision"][k].as_f64().expect("precision"))
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        assert!(
            (topic_precision(&gensim_cos, &words, per_topic - 1)
                - want["precision"]["seed1"].as_f64().expect("precision"))
            .abs()
                < 1e-9,
            "the metric here is generate.py's"
        );
        let cfg = Word2VecConfig {
            size: num("size") as usize,
            window: num("window") as usize,
            iter: num("iter") as usize,
            min_count: num("min_count") as u64,
            sample: num("sample") as f32,
            alpha: num("alpha") as f32,
            threads,
            ..Word2VecConfig::paper()
        };
        let ours = train(&sentences, &cfg).expect("trains").vectors;
        let c = cosines(&ours, &words);
        let (p, a) = (
            topic_precision(&c, &words, per_topic - 1),
            agreement(&c, &gensim_cos),
        );
        eprintln!(
            "threads {threads}: precision {p:.3} (gensim's {threads} worker(s), two seeds: at \
             least {gensim_precision:.3}); agreement with gensim {a:.3} (gensim's two seeds: \
             {:.3})",
            want["agreement_seed1_seed2"].as_f64().expect("agreement")
        );
        assert!(
            p >= gensim_precision - 0.05,
            "threads {threads}: precision {p}"
        );
        agreements.push(a);
    }
    assert!(
        agreements[1] >= agreements[0] - 0.1,
        "agreement with gensim: one thread {}, two {}",
        agreements[0],
        agreements[1]
    );
}
