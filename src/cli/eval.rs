//! The evaluation commands: `seje eval` (MedR and R@K of paired embeddings) and `seje truth`
//! (Phase I's outputs against the synthetic benchmark's truth).
//!
//! Spec: spec/eval-protocol.md (`eval`), spec/eval-phase1-truth.md (`truth`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    /// SEJE/ACME test.py: random.sample subsets (seed 1234), Euclidean distance.
    Seje,
    /// image-to-recipe-transformers: rows sorted by recipe id, same sampling, cosine.
    Ht,
    /// AdaMine: disjoint bags of a seeded order, dot product, 0-based MedR.
    Adamine,
}

impl ProtocolArg {
    fn protocol(self) -> seje::eval::Protocol {
        match self {
            ProtocolArg::Seje => seje::eval::Protocol::Seje,
            ProtocolArg::Ht => seje::eval::Protocol::Ht,
            ProtocolArg::Adamine => seje::eval::Protocol::Adamine,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DeviceArg {
    Cpu,
    Cuda,
}

#[derive(clap::Args)]
pub struct EvalCommand {
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
    /// Largest tile of scores computed at once, in elements (4 bytes each, one tile per CPU
    /// thread).
    #[arg(long, default_value_t = 1 << 22)]
    block_elems: usize,
    /// CPU threads for libtorch (default: libtorch's choice).
    #[arg(long)]
    threads: Option<usize>,
    /// Also run the permutation test on every pair with this many random pairings (0: none):
    /// the probability that a model that learned nothing ranks as well
    /// (spec/eval-protocol.md; at most 5000 pairs).
    #[arg(long, default_value_t = 0)]
    permutations: usize,
    /// Evaluate a reference ranking built from the synthetic benchmark's truth instead of the
    /// embeddings (their pair ids only): `oracle` or `category-ceiling`
    /// (spec/eval-protocol.md).
    #[arg(long, value_name = "KIND", requires = "truth")]
    reference: Option<seje::eval::synthetic_reference::Reference>,
    /// The synthetic benchmark's root, holding `synth_truth.json` (with --reference).
    #[arg(long, value_name = "DIR")]
    truth: Option<PathBuf>,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs `seje eval`.
pub fn eval(a: EvalCommand) -> Result<()> {
    seje::runtime::seed_everything(a.seed, a.threads);
    let mut emb = match (a.embeddings, a.image_emb, a.recipe_emb) {
        (Some(path), _, _) => seje::eval::Embeddings::read_safetensors(&path)?,
        (None, Some(i), Some(r)) => seje::eval::Embeddings::read_npy_pair(&i, &r)?,
        _ => anyhow::bail!("give --embeddings FILE or --image-emb A --recipe-emb B"),
    };
    if let (Some(kind), Some(root)) = (a.reference, a.truth) {
        emb = seje::eval::synthetic_reference::for_pairs_of(&emb, &root, kind, a.seed)
            .with_context(|| format!("{} reference", kind.name()))?;
    }
    let cfg = seje::eval::EvalConfig {
        protocol: a.protocol.protocol(),
        sizes: a.sizes,
        subsets: a.subsets,
        seed: a.seed,
        rank: seje::eval::ranking::RankOptions {
            device: match a.device {
                DeviceArg::Cpu => tch::Device::Cpu,
                DeviceArg::Cuda => tch::Device::Cuda(0),
            },
            block_elems: a.block_elems.max(1),
        },
    };
    let mut report = seje::eval::evaluate(&emb, &cfg).context("evaluation failed")?;
    if a.permutations > 0 {
        report.permutation_test = Some(
            seje::eval::significance::permutation_test(
                &emb,
                cfg.protocol.measure(),
                a.permutations,
                a.seed,
            )
            .context("permutation test failed")?,
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", seje::eval::report::render_table(&report));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct TruthCommand {
    /// The synthetic benchmark's root (`synth.json`, `synth_truth.json`).
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// A `seje features text --dump-terms` file.
    #[arg(long, value_name = "FILE")]
    terms: Option<PathBuf>,
    /// The output directory of `seje features categories` (`predictions.jsonl`, `labels.json`).
    #[arg(long, value_name = "DIR")]
    categories: Option<PathBuf>,
    /// The categoriser's directory (`classes.txt`: which dishes it can name).
    #[arg(long, value_name = "DIR")]
    categoriser: Option<PathBuf>,
    /// Also write the measures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `seje truth`.
pub fn truth(a: TruthCommand) -> Result<()> {
    use seje::eval::phase1_truth::{measure, Phase1Outputs};
    if a.terms.is_none() && a.categories.is_none() {
        anyhow::bail!("nothing to measure: give --terms and/or --categories");
    }
    if let Some(out) = &a.out {
        seje::files::prepare_output(out, seje::files::Output::File)?;
    }
    // The files the Phase I commands write into the directories given.
    let predictions = a
        .categories
        .as_ref()
        .map(|d| d.join(seje::phase1::category_feature::PREDICTIONS_FILE));
    let labels = a
        .categories
        .as_ref()
        .map(|d| d.join(seje::phase1::category_files::LABELS_FILE));
    let classes = a
        .categoriser
        .as_ref()
        .map(|d| d.join(seje::phase1::categoriser_training::CLASSES_FILE));
    let report = measure(
        &a.root,
        &Phase1Outputs {
            terms: a.terms.as_deref(),
            predictions: predictions.as_deref(),
            classes: classes.as_deref(),
            labels: labels.as_deref(),
        },
    )?;
    print!("{}", report.render());
    if let Some(o) = &a.out {
        seje::files::write_atomic(o, serde_json::to_string_pretty(&report)?.as_bytes())?;
        println!("wrote       {}", o.display());
    }
    Ok(())
}
