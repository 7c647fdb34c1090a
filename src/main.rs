//! The `seje` command line: parses arguments and calls the library. No science lives here.
//!
//! Spec: spec/README.md (commands). Subcommands are added with the components they expose; the
//! README's status table lists what exists.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

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
    /// Evaluate paired embeddings: MedR and R@1/5/10, image->recipe and recipe->image, over 10
    /// random subsets per size (spec/eval-protocol.md).
    #[command(group(clap::ArgGroup::new("input").required(true).args(["embeddings", "image_emb"])))]
    Eval {
        /// The project's embeddings file (safetensors: `image` and `recipe` [N, D] float32, ids
        /// in the metadata).
        #[arg(long, value_name = "FILE")]
        embeddings: Option<PathBuf>,
        /// Image embeddings as a NumPy .npy file (float32 or float64, C order, [N, D]).
        #[arg(long, value_name = "FILE", requires = "recipe_emb")]
        image_emb: Option<PathBuf>,
        /// Recipe embeddings as a NumPy .npy file; row i pairs with row i of --image-emb.
        #[arg(long, value_name = "FILE", requires = "image_emb")]
        recipe_emb: Option<PathBuf>,
        /// Evaluation protocol; numbers of different protocols are not comparable.
        #[arg(long, value_enum, default_value = "seje")]
        protocol: ProtocolArg,
        /// Subset sizes (the paper: 1000,10000; the scaling sweep: 10000,20000,30000,40000,50000).
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        sizes: Vec<usize>,
        /// Subsets per size.
        #[arg(long, default_value_t = 10)]
        subsets: usize,
        /// Seed of the Python-compatible sampler.
        #[arg(long, default_value_t = seje::runtime::PAPER_SEED)]
        seed: u64,
        /// Where the scores are computed.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceArg,
        /// Largest block of scores computed at once, in elements (memory is about 12 bytes each).
        #[arg(long, default_value_t = 1 << 24)]
        block_elems: usize,
        /// CPU threads for libtorch (default: libtorch's choice).
        #[arg(long)]
        threads: Option<usize>,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    /// SEJE/ACME test.py: random.sample subsets (seed 1234), Euclidean distance.
    Seje,
    /// image-to-recipe-transformers: rows sorted by recipe id, same sampling, cosine.
    Ht,
    /// AdaMine: disjoint bags of a seeded order, dot product, 0-based MedR.
    Adamine,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
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
        Command::Eval {
            embeddings,
            image_emb,
            recipe_emb,
            protocol,
            sizes,
            subsets,
            seed,
            device,
            block_elems,
            threads,
            json,
        } => {
            seje::runtime::seed_everything(seed, threads);
            let emb = match (embeddings, image_emb, recipe_emb) {
                (Some(path), _, _) => seje::eval::Embeddings::read_safetensors(&path)?,
                (None, Some(a), Some(b)) => seje::eval::Embeddings::read_npy_pair(&a, &b)?,
                _ => anyhow::bail!("give --embeddings FILE or --image-emb A --recipe-emb B"),
            };
            let cfg = seje::eval::EvalConfig {
                protocol: match protocol {
                    ProtocolArg::Seje => seje::eval::Protocol::Seje,
                    ProtocolArg::Ht => seje::eval::Protocol::Ht,
                    ProtocolArg::Adamine => seje::eval::Protocol::Adamine,
                },
                sizes,
                subsets,
                seed,
                rank: seje::eval::ranking::RankOptions {
                    device: match device {
                        DeviceArg::Cpu => tch::Device::Cpu,
                        DeviceArg::Cuda => tch::Device::Cuda(0),
                    },
                    block_elems: block_elems.max(1),
                },
            };
            let report = seje::eval::evaluate(&emb, &cfg).context("evaluation failed")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", seje::eval::report::render_table(&report));
            }
        }
    }
    Ok(())
}
