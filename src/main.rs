//! The `seje` command line: parses arguments and hands each command to its module under
//! `src/cli/`, which calls the library and prints. No science and no pipeline logic live here.
//!
//! Spec: spec/README.md (commands). Subcommands are added with the components they expose; the
//! README's status table lists what exists.

mod cli;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use cli::{bench, data, eval, features, retrieval, train};

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
    /// Classify photos with a ResNet-family classifier (torchvision `.pth` or `.safetensors`
    /// weights with torchvision's names): top-k classes with probabilities, on the evaluation
    /// transform (resize, centre crop, ImageNet normalisation).
    Classify(features::ClassifyCommand),
    /// Phase I features as feature-store files: f_term (`text`), f_sent (`sentences`), the image
    /// categoriser (`categoriser`) and from it f_cat with the pairs' category labels
    /// (`categories`); `stand-in`, hashed bag-of-words vectors for all three inputs (NOT the
    /// paper's Phase I; spec/phase1-stand-in.md).
    Features {
        #[command(subcommand)]
        command: features::Command,
    },
    /// Train word2vec (skip-gram, hierarchical softmax, as the C tool `word2vec.c`) on a
    /// tokenised corpus, one text per line, and write the `-binary 1` vectors file.
    Word2vec(features::Word2vecCommand),
    /// Datasets in Recipe1M format: `check` what a root holds (pairs per split, images found,
    /// missing or corrupt, why recipes were excluded).
    Data {
        #[command(subcommand)]
        command: data::Command,
    },
    /// Generate the synthetic Recipe1M-format benchmark (layer1/layer2/det_ingrs JSON and the
    /// image tree) and, with --food101, a Food-101-format set from the same world.
    Synth(data::SynthArgs),
    /// Train the Phase II joint embedding (spec/phase2-training-loop.md): per iteration a
    /// discriminator step then the main step; validation every epoch; the authors' two-stage
    /// schedule; best and last checkpoints; at the end the best checkpoint is tested and the
    /// run's report written (curves.svg, report.html).
    Train(train::TrainCommand),
    /// Run N training iterations as `seje train` does and write what they read and produced
    /// (spec/phase2-training-step.md): init.safetensors, final.safetensors (weights under the
    /// authors' names), batches.safetensors (every input and α), steps.jsonl (every loss term).
    Step(train::StepCommand),
    /// The authors' released checkpoint as a run directory for `seje embed`, `index` and `query`
    /// (spec/phase2-encoders.md).
    ///
    /// Reads `train.py`'s `{'epoch', 'state_dict'}` of the DataParallel model, finds the
    /// architecture (backbone, widths, classes) from the tensors' names and shapes, and writes a
    /// run directory whose `best` checkpoint holds the weights. A checkpoint no model fits is
    /// refused naming its tensors.
    ImportCheckpoint(train::ImportCommand),
    /// Embed a split with a trained run's checkpoint into an embeddings file for `seje eval`.
    Embed(train::EmbedCommand),
    /// Write a run's curves.svg (losses, learning rate, validation MedR and R@K per epoch) and
    /// report.html (self-contained) again from its files; `seje train` writes both at its end.
    Report(train::ReportCommand),
    /// Build a retrieval index (spec/retrieval.md): embed every pair of a split with a trained
    /// run (image 0 of each pair) into one file with the recipe ids, titles, photo paths, the
    /// run's identity and the Phase I artefacts queries need.
    Index(retrieval::IndexCommand),
    /// Query a retrieval index (spec/retrieval.md): a photo finds recipes, a recipe (layer1 JSON
    /// or free text) finds photos, by exact Euclidean search in the joint space; or, with
    /// --each-gallery-photo, query every gallery photo and report how often its own recipe is in
    /// the top 1/5/10.
    #[command(group(clap::ArgGroup::new("query").required(true).args(["image", "recipe", "text", "each_gallery_photo"])))]
    Query(retrieval::QueryCommand),
    /// Benchmarks: `step`, the training step's throughput on synthetic tensors
    /// (spec/phase2-training-loop.md, "Throughput benchmark").
    Bench {
        #[command(subcommand)]
        command: bench::Command,
    },
    /// Evaluate paired embeddings: MedR and R@1/5/10, image->recipe and recipe->image, over 10
    /// random subsets per size (spec/eval-protocol.md).
    #[command(group(clap::ArgGroup::new("input").required(true).args(["embeddings", "image_emb"])))]
    Eval(eval::EvalCommand),
    /// Measure Phase I's outputs on a synthetic benchmark against the generator's truth: key terms
    /// against each recipe's ingredients, actions and utensils, the categoriser's top-1 (f_cat's
    /// class) against each photograph's dish, the categories against the dishes
    /// (spec/eval-phase1-truth.md). Give any of the outputs.
    Truth(eval::TruthCommand),
}

/// Errors are printed as one `error: …` line (no backtrace) and give exit status 1.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::error_line(&e));
            if let Some(next) = cli::next_step(&e) {
                eprintln!("what to do: {next}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let allocator = seje::runtime::keep_freed_memory();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log)?)
        .with_writer(std::io::stderr)
        .init();
    tracing::debug!(?allocator, "C allocator");
    match cli.command {
        Command::Info { json } => bench::info(json),
        Command::Classify(a) => features::classify(a),
        Command::Features { command } => features::run(command),
        Command::Word2vec(a) => features::word2vec(a),
        Command::Data { command } => data::run(command),
        Command::Synth(a) => data::synth(a),
        Command::Train(a) => train::train(a),
        Command::Step(a) => train::step(a),
        Command::ImportCheckpoint(a) => train::import_checkpoint(a),
        Command::Embed(a) => train::embed(a),
        Command::Report(a) => train::report(a),
        Command::Index(a) => retrieval::index(a),
        Command::Query(a) => retrieval::query(a),
        Command::Bench { command } => bench::run(command),
        Command::Eval(a) => eval::eval(a),
        Command::Truth(a) => eval::truth(a),
    }
}
