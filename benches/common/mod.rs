//! What every benchmark shares: the Python interpreter of the references and the machine-readable
//! rows that `cargo xtask bench` gathers into the README's performance table.
//!
//! Spec: spec/benchmarks.md. A bench calls [`record`] once per figure; with `SEJE_BENCH_OUT=DIR`
//! set, each row is appended as one JSON line to `DIR/<bench>.jsonl`, otherwise nothing is
//! written (the printed lines are the output).

#![allow(dead_code)] // each bench uses a part

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// The Python that runs the references: `SEJE_BENCH_PYTHON`, or `python3`.
pub fn python() -> String {
    std::env::var("SEJE_BENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs the reference script `benches/reference/<script>` with `args` under [`python`] and
/// returns the JSON object it prints (from its first `{`), or why it could not: the Python not
/// found, the script failing (the last lines of its error output), or output that is not JSON.
pub fn run_reference<S: AsRef<std::ffi::OsStr>>(
    script: &str,
    args: &[S],
) -> Result<serde_json::Value, String> {
    let python = python();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/reference")
        .join(script);
    let out = Command::new(&python)
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        return Err(format!("{python} {script} failed: {}", tail.join(" | ")));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text
        .find('{')
        .map(|at| &text[at..])
        .ok_or_else(|| format!("{script} printed no JSON"))?;
    serde_json::from_str(json).map_err(|e| format!("{script} output is not JSON: {e}"))
}

/// gensim's `Word2Vec` on `corpus` with `cfg`'s settings (`word2vec_gensim.py`): the JSON it
/// prints (corpus size, vocabulary and training seconds).
pub fn gensim_word2vec(
    corpus: &Path,
    cfg: &seje::phase1::word2vec::Word2VecConfig,
) -> Result<serde_json::Value, String> {
    let corpus = corpus.display().to_string();
    run_reference(
        "word2vec_gensim.py",
        &[
            "--corpus",
            &corpus,
            "--size",
            &cfg.size.to_string(),
            "--window",
            &cfg.window.to_string(),
            "--iter",
            &cfg.iter.to_string(),
            "--min-count",
            &cfg.min_count.to_string(),
            "--sample",
            &cfg.sample.to_string(),
            "--alpha",
            &cfg.alpha.to_string(),
            "--threads",
            &cfg.threads.to_string(),
        ],
    )
}

/// Which way a figure is better.
#[derive(Clone, Copy)]
pub enum Unit {
    /// A rate (images/s, words/s): higher is better; ratio = ours / reference.
    Rate(&'static str),
    /// A duration in seconds: lower is better; ratio = reference / ours, so that a ratio above 1
    /// always means we are faster.
    Seconds,
}

/// One measured figure of a bench, with its reference when there is one.
pub struct Row<'a> {
    /// The bench's name (the `cargo bench --bench` name).
    pub bench: &'a str,
    /// What was measured, for the table's first column.
    pub what: &'a str,
    /// Our figure.
    pub ours: f64,
    pub unit: Unit,
    /// The reference's figure in the same run, and what the reference is.
    pub reference: Option<(f64, &'a str)>,
    /// Why there is no reference, when there is none.
    pub no_reference: Option<&'a str>,
}

impl Row<'_> {
    /// Speed ours / speed reference (see [`Unit`]).
    pub fn ratio(&self) -> Option<f64> {
        self.reference.map(|(r, _)| match self.unit {
            Unit::Rate(_) => self.ours / r,
            Unit::Seconds => r / self.ours,
        })
    }
}

/// Appends `row` to `$SEJE_BENCH_OUT/<bench>.jsonl` when the variable is set.
pub fn record(row: &Row<'_>) {
    let Some(dir) = std::env::var_os("SEJE_BENCH_OUT") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create SEJE_BENCH_OUT");
    let unit = match row.unit {
        Unit::Rate(u) => u,
        Unit::Seconds => "s",
    };
    let value = serde_json::json!({
        "bench": row.bench,
        "what": row.what,
        "ours": row.ours,
        "unit": unit,
        "reference": row.reference.map(|(v, _)| v),
        "reference_name": row.reference.map(|(_, n)| n),
        "no_reference": row.no_reference,
        "ratio": row.ratio(),
        "load_average": load_average(),
    });
    let path = dir.join(format!("{}.jsonl", row.bench));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    writeln!(f, "{value}").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The 1-minute load average when the row is recorded (`/proc/loadavg`), to show how quiet the
/// machine was.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
