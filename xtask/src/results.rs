//! The results of a `cargo xtask reproduce` run, as `results.json` holds them: what `reproduce`
//! writes and `tables` renders (neither module imports the other for them).
//!
//! Spec: spec/reproduce.md (sections "Stages" and "Tables").

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The words every output of a synthetic run carries.
pub const SYNTHETIC_BANNER: &str = "synthetic benchmark: not comparable with the paper";

/// Name of the main variant in the results.
pub const MAIN_VARIANT: &str = "SEJE (all features)";

/// How one stage went in this invocation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    /// Stage name (`synth`, `text`, …, `eval`).
    pub stage: String,
    /// The variant it first appeared in.
    pub variant: String,
    /// The cache key (SHA-256, hex).
    pub key: String,
    /// Its directory, with the stages directory written `{stages}` (no absolute path).
    pub dir: PathBuf,
    /// Reused from an earlier run.
    pub cached: bool,
    /// Seconds its commands took when they ran (the earlier run's, when cached).
    pub seconds: f64,
}

/// The direction the paper claims for an ablation, relative to the full model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Claim {
    /// The paper finds this variant worse than the full model.
    Worse,
    /// The paper finds this variant better than the full model.
    Better,
}

/// One variant's evaluation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VariantResult {
    /// [`MAIN_VARIANT`] or the ablation's name.
    pub name: String,
    /// Pairs in the test split.
    pub test_pairs: usize,
    /// Sizes not evaluated, with the reason.
    pub not_evaluated: Vec<String>,
    /// Category classes C of the run (from Phase I).
    pub classes: usize,
    /// The behaviour preset of its Phase II run (`paper`, `authors-code`; the `preset` of the
    /// run's resolved config.toml).
    #[serde(default)]
    pub preset: String,
    /// The report of `seje eval --json` (sizes, both directions, per subset); `null` when the
    /// variant was not run.
    pub eval: serde_json::Value,
    /// The Phase II seed (`run.seed`) when the configuration trains each variant once per seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Why the variant was not run (a file it needs is missing), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
    /// The paper's claim about the variant against the main configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_claim: Option<Claim>,
    /// The variant plays the paper's baseline (ACME) in the MedR-versus-size table and figure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub baseline: bool,
    /// Its training run's report (`seje report`'s `report.html`), copied beside the tables with
    /// the machine's paths written as names: the path relative to them (`reports/NAME.html`).
    /// Absent for a variant that did not train, and in results written before reports existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// One reference ranking of the synthetic benchmark (`oracle`, `category-ceiling`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReferenceResult {
    /// `oracle` or `category-ceiling`.
    pub name: String,
    /// The report of `seje eval --reference NAME --json`, at the sizes of the main variant.
    pub eval: serde_json::Value,
}

/// Phase I against the generator's truth (the main variant's Phase I stages).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phase1TruthResult {
    /// The JSON `seje truth --out` wrote.
    pub measures: serde_json::Value,
    /// The categoriser's top-1 on the test split of its Food-101-format set
    /// (`categoriser.json`).
    pub categoriser_top1: Option<f64>,
}

/// The kinds of reference ranking, in the order of the tables.
pub const REFERENCES: [&str; 2] = ["oracle", "category-ceiling"];

/// Everything a reproduce run produced; `paper/regenerated/<config>/results.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Results {
    /// Reproduce configuration name.
    pub config: String,
    /// Its title.
    pub title: String,
    /// Generated data.
    pub synthetic: bool,
    /// [`SYNTHETIC_BANNER`] for synthetic data, otherwise empty.
    pub banner: String,
    /// Device of the computations.
    pub device: String,
    /// Where it ran: `seje info` and the processor.
    pub machine: serde_json::Value,
    /// Git commit of the workspace (`unknown` outside a clone), with `-dirty` for local changes.
    pub commit: String,
    /// SHA-256 of the `seje` binary.
    pub seje_sha256: String,
    /// Every stage, in order.
    pub stages: Vec<StageRecord>,
    /// Seconds of this invocation, cached stages included.
    pub wall_seconds: f64,
    /// The main configuration first, then the ablations.
    pub variants: Vec<VariantResult>,
    /// The reference rankings of a synthetic benchmark, built from its truth on the main
    /// variant's test pairs (`seje eval --reference`; spec/eval-protocol.md): the oracle first,
    /// then the category ceiling. Empty for real data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferenceResult>,
    /// Phase I of a synthetic benchmark measured against its truth (`seje truth`;
    /// spec/eval-phase1-truth.md). Absent for real data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase1_truth: Option<Phase1TruthResult>,
    /// The paper table the main results are compared with when it is not SEJE's: `msje` for a
    /// released checkpoint of MSJE's architecture (spec/reproduce.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_with: Option<String>,
}

/// The two retrieval directions, as the evaluation report names them, and in words.
pub const DIRECTIONS: [(&str, &str); 2] = [
    ("image_to_recipe", "image→recipe"),
    ("recipe_to_image", "recipe→image"),
];

/// A metric of an evaluation report (`seje eval --json`) at a size: MedR as reported, R@K in
/// percent.
pub fn metric_of(eval: &serde_json::Value, size: u64, dir: &str, metric: &str) -> Option<f64> {
    let sizes = eval.get("sizes")?.as_array()?;
    let s = sizes
        .iter()
        .find(|s| s.get("size").and_then(|x| x.as_u64()) == Some(size))?;
    let x = s.get(dir)?.get(metric)?.as_f64()?;
    Some(if metric == "medr" { x } else { 100.0 * x })
}

/// A metric as the tables write it: MedR with two decimals, R@K (percent) with one.
pub fn fmt_metric(metric: &str, x: f64) -> String {
    if metric == "medr" {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}
