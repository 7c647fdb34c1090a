//! `cargo xtask`: the workspace's task runner, a thin command line over the `xtask` library
//! (`lib.rs`).
//!
//! Spec: spec/README.md (toolchain and commands). Tasks:
//! - `setup`: obtain libtorch 2.11.0 from pinned, checksummed PyPI wheels (see `libtorch.rs`);
//! - `test`: setup, then fmt, clippy and the whole test suite (what `.ci/run` calls);
//! - `synth`: setup, then the synthetic benchmark generator (`seje synth`), see `synth.rs` and
//!   spec/data-synthetic-benchmark.md;
//! - `reproduce`, `tables`: spec/reproduce.md;
//! - `import`: the authors' released Phase I pickles to Phase II's feature stores (system Python 3,
//!   standard library only), see `import.rs` and spec/data-authors-release.md;
//! - `fetch`, `verify`: the files of the asset manifest `xtask/assets.toml`, downloaded, checked
//!   and recorded (`fetch.rs`, `verify.rs`), spec/data-assets.md;
//! - `fuzz`: setup, then long fuzzing runs of the readers of outside bytes (`fuzz.rs`),
//!   spec/untrusted-input.md;
//! - `bench`: setup, then the benchmarks against their references and the CPU performance table
//!   (`bench.rs`), spec/benchmarks.md.

use anyhow::Result;
use clap::{Parser, Subcommand};
use xtask::{
    bench, fetch, fuzz, import, libtorch, reproduce, synth, tables, test, verify, workspace_root,
};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Task runner of the SEJE reproducibility package"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Obtain libtorch 2.11.0 (pinned PyPI wheels, SHA-256 verified) and link it as `.libtorch`.
    Setup {
        /// Re-verify the cached wheels and lay libtorch out again even if the stamp says it is ready.
        #[arg(long)]
        force: bool,
    },
    /// Setup, then `cargo fmt --check`, `cargo clippy -D warnings` and `cargo test --workspace`.
    Test {
        /// Extra arguments passed to `cargo test` after `--` (for example a test name filter).
        #[arg(last = true)]
        test_args: Vec<String>,
    },
    /// Setup, then generate a synthetic Recipe1M-format benchmark (`seje synth` in release mode).
    Synth(synth::SynthArgs),
    /// Setup, then the whole two-phase pipeline as cached, resumable stages (Phase I features,
    /// Phase II training, evaluation, ablations) and the regenerated tables. Without Recipe1M it
    /// runs on a generated synthetic benchmark, whose numbers are not comparable with the paper.
    Reproduce(reproduce::ReproduceArgs),
    /// Render the regenerated tables again from `paper/regenerated/*/results.json`.
    Tables {
        /// Write nothing; fail when a committed table differs from its rendering.
        #[arg(long)]
        check: bool,
    },
    /// Convert the authors' released Phase I pickles into `term.safetensors` and
    /// `categories.safetensors` (needs Python 3.8 or newer, standard library only).
    Import(import::ImportArgs),
    /// Download the assets of `xtask/assets.toml` into the data directory, each verified before
    /// it lands (resumable; unpinned files are recorded in `<data>/assets.lock.toml`).
    Fetch(fetch::FetchArgs),
    /// Re-hash the present assets offline against the manifest and the lock; non-zero exit on a
    /// mismatch.
    Verify(verify::VerifyArgs),
    /// Setup, then fuzz the readers of outside bytes for a while (the targets of
    /// `tests/fuzz_readers.rs`); failing inputs are saved under `fixtures/fuzz/<target>/`.
    Fuzz(fuzz::FuzzArgs),
    /// Setup, then every CPU benchmark against its reference implementation in the same run
    /// (NumPy, PIL + torchvision, gensim), and the table of ratios with the machine (`table.md`).
    Bench(bench::BenchArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.task {
        Task::Setup { force } => {
            libtorch::setup(&root, force)?;
        }
        Task::Test { test_args } => {
            libtorch::setup(&root, false)?;
            test::run(&root, &test_args)?;
        }
        Task::Synth(args) => {
            libtorch::setup(&root, false)?;
            synth::run(&root, &args)?;
        }
        Task::Reproduce(args) => {
            libtorch::setup(&root, false)?;
            reproduce::run(&root, &args)?;
        }
        Task::Tables { check } => tables::run(&root, check)?,
        Task::Import(args) => {
            print!("{}", import::run(&root, &args)?);
        }
        Task::Fetch(args) => fetch::run(&args)?,
        Task::Verify(args) => verify::run(&args)?,
        Task::Fuzz(args) => {
            libtorch::setup(&root, false)?;
            fuzz::run(&root, &args)?;
        }
        Task::Bench(args) => {
            libtorch::setup(&root, false)?;
            bench::run(&root, &args)?;
        }
    }
    Ok(())
}
