//! The `xtask` library: the tasks behind `cargo xtask` (rust-analyzer style). It orchestrates; the
//! science lives in the `seje` library, which xtask does not link (xtask runs before libtorch
//! exists). A library target so that the `seje` package's integration tests can drive the same
//! code (`tests/xtask_reproduce.rs` runs `reproduce` with the test build of the `seje` binary).
//!
//! Spec: spec/README.md (toolchain and commands). Modules:
//! - `import`: the authors' released Phase I pickles to feature stores, spec/data-authors-release.md;
//! - `libtorch`: `setup`, libtorch 2.11.0 from pinned, checksummed PyPI wheels;
//! - `test`: setup, then fmt, clippy and the whole test suite (what `.ci/run` calls);
//! - `synth`: the synthetic benchmark generator (`seje synth`), spec/data-synthetic-benchmark.md;
//! - `reproduce`, `results`, `tables`, `ablations`, `svg`: the whole pipeline as cached stages,
//!   its results file, the regenerated tables, the ablation tables over seeds and the charts'
//!   helpers, spec/reproduce.md;
//! - `assets`, `fetch`, `verify`, `archive`, `disk`: the asset manifest, `cargo xtask fetch` and
//!   `cargo xtask verify`, safe archive extraction, digests and free space
//!   (spec/data-assets.md);
//! - `bench`: the CPU rows of the README's performance table, spec/benchmarks.md.

pub mod ablations;
pub mod archive;
pub mod assets;
pub mod bench;
pub mod disk;
pub mod fetch;
pub mod fuzz;
pub mod import;
pub mod libtorch;
pub mod reproduce;
pub mod results;
pub mod svg;
pub mod synth;
pub mod tables;
pub mod test;
pub mod verify;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (xtask/Cargo.toml sits one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

/// The checked-out commit, with `-dirty` when tracked files have uncommitted changes; `unknown`
/// outside a git checkout. Recorded with every result (reproduce, bench).
pub fn git_commit(root: &Path) -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        _ => "unknown".into(),
    }
}
