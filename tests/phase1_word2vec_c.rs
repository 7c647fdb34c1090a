//! word2vec against the original C tool: `word2vec.c` (as bundled in the PyPI `word2vec` 0.11.1
//! sdist, compiled with `gcc -O2`, see `fixtures/golden/word2vec_c/generate.sh`) trained on
//! `fixtures/golden/word2vec_c/corpus.txt` with one thread; ours trained on the same lines must
//! give the same vocabulary, counts and `-binary 1` file, bit for bit.
//!
//! Spec: spec/phase1-word2vec.md ("Against the C tool").

use std::path::{Path, PathBuf};

use seje::phase1::word2vec::{train, Word2VecConfig, WordVectors};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/word2vec_c")
}

/// The corpus as the C tool reads it: one sentence per line, tokens split at spaces.
fn corpus() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir().join("corpus.txt")).expect("corpus.txt exists");
    assert!(text.ends_with('\n'), "every line ends with a newline");
    text.lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// The command of generate.sh: `-cbow 0 -hs 1 -negative 0 -window 10 -size 24 -iter 3
/// -min-count 10 -sample 1e-3 -alpha 0.025 -threads 1`.
fn cfg() -> Word2VecConfig {
    Word2VecConfig {
        size: 24,
        window: 10,
        iter: 3,
        min_count: 10,
        sample: 1e-3,
        alpha: 0.025,
        threads: 1,
        seed: 1,
    }
}

#[test]
fn vocabulary_and_counts_match_the_c_tool() {
    let trained = train(corpus(), &cfg()).expect("trains");
    let vocab = std::fs::read_to_string(dir().join("vocab.txt")).expect("vocab.txt exists");
    let want: Vec<(String, u64)> = vocab
        .lines()
        .map(|l| {
            let (w, c) = l.split_once(' ').expect("word count");
            (w.to_string(), c.parse().expect("a count"))
        })
        .collect();
    let got: Vec<(String, u64)> = trained
        .vocab
        .words
        .iter()
        .map(|w| (w.word.clone(), w.count))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn vectors_match_the_c_tool_bit_for_bit() {
    let trained = train(corpus(), &cfg()).expect("trains");
    let c = WordVectors::read_binary(&dir().join("c_tool.bin")).expect("reads the C tool's file");
    assert_eq!(trained.vectors.words(), c.words());
    assert_eq!(trained.vectors.dim(), c.dim());
    let (ours, theirs) = (trained.vectors.as_slice(), c.as_slice());
    if let Some(i) = (0..ours.len()).find(|&i| ours[i].to_bits() != theirs[i].to_bits()) {
        let max = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        panic!(
            "first difference at word {} ({:?}) dim {}: ours {:e}, C {:e}; max abs diff {max:e}",
            i / c.dim(),
            c.words()[i / c.dim()],
            i % c.dim(),
            ours[i],
            theirs[i]
        );
    }
    // The whole file, byte for byte (the C tool writes a newline after each vector, as we do).
    let bytes = std::fs::read(dir().join("c_tool.bin")).expect("c_tool.bin");
    assert_eq!(trained.vectors.to_binary(), bytes);
}
