//! The `seje` command line: parses arguments and calls the library. No science lives here.
//!
//! Spec: spec/README.md (commands). Subcommands are added with the components they expose; the
//! README's status table lists what exists.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use seje::data::synth::{self, SynthConfig};

/// SEJE reproducibility package: text-image joint embedding for cross-modal recipe retrieval
/// (Xie et al., ACM TOIS 2021).
#[derive(Parser)]
#[command(name = "seje", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, for example `debug` or `seje=trace`); `SEJE_LOG`
    /// sets the default.
    #[arg(long, global = true, env = "SEJE_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the libtorch this binary runs on: version, CPU threads, CUDA devices.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Generate the synthetic Recipe1M-format benchmark (layer1/layer2/det_ingrs JSON and the
    /// image tree) and, with --food101, a Food-101-format set from the same world.
    Synth {
        /// Output directory for the Recipe1M-format files (created; must be empty or absent).
        #[arg(long)]
        out: PathBuf,
        /// Also write a Food-101-format set into this directory.
        #[arg(long)]
        food101: Option<PathBuf>,
        /// Starting point for every setting below.
        #[arg(long, value_enum, default_value_t = Preset::Benchmark)]
        preset: Preset,
        /// Number of recipes (= image-recipe pairs) [preset: benchmark 10000, fixture-mini 160].
        #[arg(long)]
        recipes: Option<usize>,
        /// Seed of every RNG stream [preset: 1234].
        #[arg(long)]
        seed: Option<u64>,
        /// Shorter image side in pixels [preset: benchmark 128, fixture-mini 32].
        #[arg(long)]
        image_size: Option<u32>,
        /// Most images per recipe, 1 to 5 [preset: benchmark 5, fixture-mini 1].
        #[arg(long)]
        max_images: Option<usize>,
        /// Food-101-format training images per class [preset: benchmark 30, fixture-mini 2].
        #[arg(long)]
        food101_train: Option<usize>,
        /// Food-101-format test images per class [preset: benchmark 10, fixture-mini 1].
        #[arg(long)]
        food101_test: Option<usize>,
    },
}

/// Named generator configurations.
#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    /// `SynthConfig::benchmark`: the on-demand benchmark.
    Benchmark,
    /// `SynthConfig::fixture_mini`: the committed fixtures recipe1m-mini and food101-mini.
    FixtureMini,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Info { json } => {
            let info = seje::runtime::runtime_info();
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("seje            {}", info.seje_version);
                println!("libtorch        {}", info.libtorch_version);
                println!("cpu threads     {}", info.cpu_threads);
                println!("openmp / mkl    {} / {}", info.openmp, info.mkl);
                println!(
                    "cuda            {} ({} devices)",
                    info.cuda_available, info.cuda_devices
                );
            }
        }
        Command::Synth {
            out,
            food101,
            preset,
            recipes,
            seed,
            image_size,
            max_images,
            food101_train,
            food101_test,
        } => {
            let mut cfg = match preset {
                Preset::Benchmark => SynthConfig::benchmark(recipes.unwrap_or(10_000)),
                Preset::FixtureMini => SynthConfig::fixture_mini(),
            };
            cfg.recipes = recipes.unwrap_or(cfg.recipes);
            cfg.seed = seed.unwrap_or(cfg.seed);
            cfg.image_size = image_size.unwrap_or(cfg.image_size);
            cfg.max_images = max_images.unwrap_or(cfg.max_images);
            cfg.min_images = cfg.min_images.min(cfg.max_images);
            cfg.food101_train = food101_train.unwrap_or(cfg.food101_train);
            cfg.food101_test = food101_test.unwrap_or(cfg.food101_test);
            let start = Instant::now();
            let s = synth::generate(&cfg, &out)
                .with_context(|| format!("generating {}", out.display()))?;
            println!(
                "recipe1m-format  {}: {} recipes (train {}, val {}, test {}), {} images ({:.1} MB), {} mislabelled lines, {:.1} s",
                out.display(),
                s.recipes,
                s.per_split[0],
                s.per_split[1],
                s.per_split[2],
                s.images,
                s.image_bytes as f64 / 1e6,
                s.mislabelled_lines,
                start.elapsed().as_secs_f64()
            );
            if let Some(dir) = food101 {
                let start = Instant::now();
                let f = synth::generate_food101(&cfg, &dir)
                    .with_context(|| format!("generating {}", dir.display()))?;
                println!(
                    "food101-format   {}: {} classes, {} train + {} test images ({:.1} MB), {:.1} s",
                    dir.display(),
                    f.classes,
                    f.train,
                    f.test,
                    f.image_bytes as f64 / 1e6,
                    start.elapsed().as_secs_f64()
                );
            }
        }
    }
    Ok(())
}
