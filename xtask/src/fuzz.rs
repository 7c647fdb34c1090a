//! `cargo xtask fuzz [--target T] [--seconds N] [--seed S]`: long fuzzing runs of the readers of
//! outside bytes. It runs the fuzz targets of `tests/fuzz_readers.rs` (the same ones `cargo xtask
//! test` runs for a short, fixed budget) in a release build that keeps overflow checks and debug
//! assertions, each for `N` seconds, two at a time. Every input that fails is saved under
//! `fixtures/fuzz/<target>/` and replayed by every later test run; the run's executions and
//! findings per target are printed and written to `target/fuzz/report.md`.
//!
//! Spec: spec/untrusted-input.md (section "Fuzzing").

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;

/// The fuzz targets, as `tests/fuzz_readers.rs` names its tests (`fuzz_<target>`).
pub const TARGETS: &[&str] = &[
    "torch_zip",
    "torch_legacy",
    "string_list_pickle",
    "t7",
    "npy",
    "word2vec_bin",
    "feature_store",
    "recipe1m_layer1",
    "recipe1m_layer2",
    "det_ingrs",
    "eval_embeddings",
    "image",
    "safetensors",
];

/// Arguments of `cargo xtask fuzz`.
#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// One target (default: all of them).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    pub target: Option<String>,
    /// Seconds of fuzzing per target.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seed of the mutations (a run is repeatable for a seed, up to how many executions fit).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Targets fuzzed at the same time.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

/// One target's line of the report (`fuzz <target>: executions N, accepted M, …`).
fn report_line(line: &str) -> Option<&str> {
    let at = line.find("fuzz ")?;
    let rest = &line[at..];
    (rest.contains("executions") || rest.contains("finding") || rest.contains("failed"))
        .then_some(rest)
}

pub fn run(root: &Path, args: &FuzzArgs) -> Result<()> {
    let targets: Vec<&str> = match &args.target {
        Some(t) => vec![t.as_str()],
        None => TARGETS.to_vec(),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "test",
            "--release",
            "--target-dir",
            "target/fuzz",
            "--test",
            "fuzz_readers",
            "--",
            "--nocapture",
            "--test-threads",
        ])
        .arg(args.jobs.max(1).to_string());
    if args.target.is_some() {
        cmd.arg("--exact");
    }
    for t in &targets {
        cmd.arg(format!("fuzz_{t}"));
    }
    // A release build that still checks arithmetic overflow and debug assertions: an overflow
    // is a finding, not a wrapped number.
    cmd.env("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "true")
        .env("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "true")
        .env("SEJE_FUZZ_SECONDS", args.seconds.to_string())
        .env("SEJE_FUZZ_SEED", args.seed.to_string())
        .env_remove("SEJE_FUZZ_RUNS")
        .stderr(Stdio::piped());
    eprintln!(
        "xtask fuzz: {} target(s), {} s each, seed {}, {} at a time (release build with overflow \
         checks in target/fuzz)",
        targets.len(),
        args.seconds,
        args.seed,
        args.jobs
    );
    // The commit the run tests, taken before it starts (the tree may change while it runs).
    let tested = crate::git_commit(root);
    let start = Instant::now();
    let mut child = cmd.spawn().context("cannot run cargo test")?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.context("reading cargo's output")?;
        eprintln!("{line}");
        if let Some(l) = report_line(&line) {
            lines.push(l.to_string());
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    let mut report = format!(
        "# Fuzzing run\n\n`cargo xtask fuzz --seconds {} --seed {}{}`, {:.0} s in all, at commit \
         {}.\n\n",
        args.seconds,
        args.seed,
        args.target
            .as_ref()
            .map(|t| format!(" --target {t}"))
            .unwrap_or_default(),
        start.elapsed().as_secs_f64(),
        tested
    );
    for l in &lines {
        report.push_str(&format!("- {l}\n"));
    }
    let out = root.join("target/fuzz/report.md");
    std::fs::create_dir_all(out.parent().expect("a parent"))?;
    std::fs::write(&out, &report).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("\n{report}\nxtask fuzz: report written to target/fuzz/report.md");
    if !status.success() {
        bail!(
            "xtask fuzz: a target failed ({status}); its input is saved under fixtures/fuzz/ and \
             every test run replays it"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_are_the_workers_summaries_and_failures() {
        assert_eq!(
            report_line("fuzz t7: executions 10, accepted 2, replayed 0, corpus 3, seed 1, 1.0 s"),
            Some("fuzz t7: executions 10, accepted 2, replayed 0, corpus 3, seed 1, 1.0 s")
        );
        assert_eq!(
            report_line("thread 'x' panicked: fuzz target `npy` failed (exit None)"),
            Some("fuzz target `npy` failed (exit None)")
        );
        assert_eq!(report_line("running 6 tests"), None);
    }

    #[test]
    fn every_target_has_a_test_in_the_fuzz_binary() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz_readers.rs"),
        )
        .expect("tests/fuzz_readers.rs");
        for t in TARGETS {
            assert!(
                text.contains(&format!("fn fuzz_{t}()")),
                "tests/fuzz_readers.rs has no fn fuzz_{t}()"
            );
        }
        let tests = text.matches("\nfn fuzz_").count();
        assert_eq!(tests, TARGETS.len(), "a fuzz test missing from TARGETS");
    }
}
