//! `cargo xtask synth`: generate the synthetic Recipe1M-format benchmark on demand. xtask does not
//! link the `seje` library (it runs before libtorch exists), so it sets libtorch up and then runs
//! `cargo run --release --bin seje -- synth …`; the generator lives in the library.
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Generating a benchmark").

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// What `cargo xtask synth` was asked for; every option is passed on to `seje synth`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct SynthArgs {
    /// Number of recipes (= image-recipe pairs).
    #[arg(long, default_value_t = 10_000)]
    pub recipes: usize,
    /// Output directory (created; must be empty or absent).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write a Food-101-format set into this directory.
    #[arg(long)]
    pub food101: Option<PathBuf>,
    /// Seed of every RNG stream (default: the preset's, 1234).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Shorter image side in pixels (default: the preset's).
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Generator preset: `benchmark` or `fixture-mini`.
    #[arg(long, default_value = "benchmark")]
    pub preset: String,
}

/// The arguments of `cargo` that run the generator for `args`.
pub fn cargo_args(args: &SynthArgs) -> Vec<String> {
    let mut v: Vec<String> = [
        "run",
        "--release",
        "--quiet",
        "--bin",
        "seje",
        "--",
        "synth",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut push = |k: &str, val: String| {
        v.push(k.to_string());
        v.push(val);
    };
    push("--preset", args.preset.clone());
    push("--recipes", args.recipes.to_string());
    push("--out", args.out.display().to_string());
    if let Some(f) = &args.food101 {
        push("--food101", f.display().to_string());
    }
    if let Some(s) = args.seed {
        push("--seed", s.to_string());
    }
    if let Some(px) = args.image_size {
        push("--image-size", px.to_string());
    }
    v
}

/// Runs the generator from the workspace root `root` (after `libtorch::setup`; `LIBTORCH` comes
/// from the environment or `.cargo/config.toml`, as for `cargo xtask test`).
pub fn run(root: &Path, args: &SynthArgs) -> Result<()> {
    let cargo_args = cargo_args(args);
    eprintln!("xtask synth: cargo {}", cargo_args.join(" "));
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(&cargo_args)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("xtask synth: `seje synth` failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_passed_on_to_seje_synth() {
        let args = SynthArgs {
            recipes: 500,
            out: PathBuf::from("/tmp/s"),
            food101: Some(PathBuf::from("/tmp/f")),
            seed: Some(7),
            image_size: None,
            preset: "benchmark".into(),
        };
        assert_eq!(
            cargo_args(&args).join(" "),
            "run --release --quiet --bin seje -- synth --preset benchmark --recipes 500 --out /tmp/s --food101 /tmp/f --seed 7"
        );
    }
}
