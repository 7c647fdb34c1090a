//! The `seje` command line: parses arguments and calls the library. No science lives here.
//!
//! Spec: spec/README.md (commands). Subcommands are added with the components they expose; the
//! README's status table lists what exists.

use std::path::PathBuf;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// Datasets in Recipe1M format: check what a root holds.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Read layer1/layer2/det_ingrs, join the image-recipe pairs, find and decode every kept
    /// image, and print pairs per split, images found/missing/corrupt and why recipes were
    /// excluded. Exits non-zero on a fatal problem.
    Check {
        /// Dataset root (holds layer1.json, layer2.json, det_ingrs.json and images/).
        #[arg(long)]
        root: PathBuf,
        /// What to do with a missing or undecodable image: stop (`fail`) or count it and go on
        /// (`skip`).
        #[arg(long, default_value = "fail", value_parser = ["fail", "skip"])]
        images: String,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Errors are printed as one `error: …` line (no backtrace) and give exit status 1.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
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
        Command::Data {
            command: DataCommand::Check { root, images, json },
        } => data_check(&root, &images, json)?,
    }
    Ok(())
}

fn data_check(root: &std::path::Path, images: &str, json: bool) -> Result<()> {
    let policy: seje::data::images::ImagePolicy = images.parse().map_err(anyhow::Error::msg)?;
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} checking images: {pos} ({per_sec})",
    )?);
    let result = seje::data::check::check(root, policy, &|_| bar.inc(1));
    bar.finish_and_clear();
    let (report, _) = result?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}
