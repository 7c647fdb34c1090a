//! `cargo xtask test`: the project's one test command (README, `.ci/run`).
//!
//! Spec: spec/README.md (toolchain). Runs, in order and stopping at the first failure:
//! `cargo fmt --all -- --check`, `cargo clippy --workspace --all-targets -- -D warnings`,
//! `cargo test --workspace`. Under `CI=true` nothing may rewrite expected values: insta is told
//! never to write snapshots and the spec harness's update variable is removed.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

pub fn run(root: &Path, test_args: &[String]) -> Result<()> {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let steps: [(&str, Vec<&str>); 3] = [
        ("fmt", vec!["fmt", "--all", "--", "--check"]),
        (
            "clippy",
            vec![
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("test", vec!["test", "--workspace"]),
    ];
    for (name, args) in steps {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(root).args(&args);
        if name == "test" && !test_args.is_empty() {
            cmd.arg("--").args(test_args);
        }
        if ci {
            cmd.env("INSTA_UPDATE", "no")
                .env_remove("INSTA_FORCE_PASS")
                .env_remove("SEJE_SPEC_UPDATE");
        }
        eprintln!("xtask test: cargo {}", args.join(" "));
        let start = Instant::now();
        let status = cmd
            .status()
            .with_context(|| format!("cannot run cargo {name}"))?;
        if !status.success() {
            let hint = match name {
                "fmt" => " (run `cargo fmt --all` and commit)",
                "clippy" => " (fix the warnings above)",
                _ => "",
            };
            bail!("xtask test: step `{name}` failed ({status}){hint}");
        }
        eprintln!(
            "xtask test: {name} ok in {:.0} s",
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
