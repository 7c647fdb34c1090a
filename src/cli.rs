//! The command line's modules, one per command group; each holds its commands' arguments and a
//! `run` that calls the library and prints what it returns. `main.rs` only parses and
//! dispatches; only these modules print or draw.
//!
//! Spec: spec/README.md (commands; architecture rules), spec/cli.md (one line per error).

pub mod args;
pub mod bench;
pub mod data;
pub mod eval;
pub mod features;
pub mod progress;
pub mod retrieval;
pub mod train;

/// What to do next when an error says a file of a dataset or of pretrained weights is missing:
/// where it comes from, which command places it, what runs without it (spec/cli.md). `None` for
/// other errors.
pub fn next_step(e: &anyhow::Error) -> Option<&'static str> {
    let missing = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
            || ["no such file or directory", ": not found", "holds neither"]
                .iter()
                .any(|w| c.to_string().contains(w))
    });
    if !missing {
        return None;
    }
    let line = error_line(e);
    let names = |words: &[&str]| words.iter().any(|w| line.contains(w));
    if names(&["layer1.json", "layer2.json", "det_ingrs.json", "_keys.pkl"]) {
        Some(
            "Recipe1M comes after a registration at http://im2recipe.csail.mit.edu/dataset/download; \
             `cargo xtask fetch --only recipe1m --mirror DIR` (DIR holding what you downloaded) \
             verifies it and places it in data/recipe1m. Without it, `seje synth --out DIR` \
             generates a Recipe1M-format benchmark every command reads, and `cargo xtask \
             reproduce` runs the whole pipeline on it",
        )
    } else if names(&["meta/classes.txt", "meta/train.txt", "meta/test.txt"]) {
        Some(
            "Food-101 is downloaded into data/food-101 by `cargo xtask fetch --only food101`; \
             without network, `seje synth --out DIR --food101 DIR2` generates a small \
             Food-101-format set in DIR2",
        )
    } else if names(&["config.json", "vocab.txt", "tokenizer.json", "bert"]) {
        Some(
            "BERT's files are placed in data/bert-base-uncased by `cargo xtask fetch --only \
             bert`; the default term rating (TF-IDF, `--rating tfidf`) needs no BERT",
        )
    } else if names(&[".pth", "weights/"]) {
        Some(
            "torchvision's pretrained weights are placed in data/weights by `cargo xtask fetch \
             --only weights`; `--arch tiny` (or the synthetic configuration) needs none",
        )
    } else {
        None
    }
}

/// The error and its causes joined by `: `, leaving out a cause the line already says (the
/// library's messages quote the operating system's error, which is also kept as their source).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.to_lowercase().contains(&text.to_lowercase()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
