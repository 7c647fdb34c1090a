//! `seje bench step` (the training step's throughput) and `seje info` (the libtorch this binary
//! runs on).
//!
//! Spec: spec/phase2-training-loop.md ("Throughput benchmark"), spec/README.md (commands).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Time training steps (discriminator step, then the main step with every loss of the
    /// configuration) on one synthetic batch kept on the device, after warm-up steps; report
    /// images/s. The model starts from random weights (model.pretrained is ignored).
    Step {
        /// Training configuration (TOML; `paper/configs/*.toml`).
        #[arg(long)]
        config: PathBuf,
        /// Override a config value, e.g. --set run.precision="bf16" (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Device: cpu, cuda or cuda:N (default: the config's run.device).
        #[arg(long)]
        device: Option<String>,
        /// Untimed steps before the clock starts.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Timed steps.
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `seje bench …`.
pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Step {
            config,
            set,
            device,
            warmup,
            iterations,
            json,
        } => {
            let cfg = seje::phase2::config::TrainConfig::load(&config, &set)?;
            let opts = seje::phase2::throughput::BenchOptions {
                device,
                warmup,
                iterations,
            };
            let report =
                seje::phase2::throughput::bench_step(&cfg, &config, &opts).with_context(|| {
                    format!("benchmarking the training step of {}", config.display())
                })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render());
            }
        }
    }
    Ok(())
}

/// Runs `seje info`.
pub fn info(json: bool) -> Result<()> {
    let info = seje::runtime::runtime_info();
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("seje            {}", info.seje_version);
    println!("libtorch        {}", info.libtorch_version);
    println!("cpu threads     {}", info.cpu_threads);
    println!("openmp / mkl    {} / {}", info.openmp, info.mkl);
    println!(
        "cuda            {} ({} devices)",
        info.cuda_available, info.cuda_devices
    );
    println!(
        "allocator       {}",
        match info.allocator {
            seje::runtime::AllocatorMode::KeepFreed =>
                "keep freed memory (glibc: no mmap per block, no trim)",
            seje::runtime::AllocatorMode::Default => "the C library's default",
        }
    );
    Ok(())
}
