//! `cargo xtask reproduce`: the whole two-phase pipeline as a chain of cached stages of the `seje`
//! binary (generate or locate the data → Phase I text, sentence, categoriser and category features
//! → Phase II training → embedding and evaluation → tables), for the main configuration and each
//! ablation the reproduce configuration lists.
//!
//! Spec: spec/reproduce.md. Invariants:
//! - a stage's directory is named by a key: the SHA-256 of its command line (which names its
//!   inputs, themselves keyed directories; a training, which links its feature stores in, adds
//!   their paths), the `seje` binary's digest, the device, the data's
//!   fingerprint and the Phase II configuration file; a stage whose key is unchanged and whose
//!   `stage.json` exists is reused, never recomputed;
//! - `stage.json` is written (atomically) only after every command of the stage succeeded, so an
//!   interrupted stage is redone on the next run: training, sentence encoder and categoriser
//!   resume from their own checkpoints, the other stages start over;
//! - with synthetic data every output says "synthetic benchmark: not comparable with the paper".

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::disk::write_atomic;
use crate::results::{
    Claim, Phase1TruthResult, ReferenceResult, Results, StageRecord, MAIN_VARIANT, REFERENCES,
    SYNTHETIC_BANNER,
};

mod pipeline;
pub use pipeline::run;

/// Name of the marker a finished stage leaves in its directory.
const DONE: &str = "stage.json";

/// What `cargo xtask reproduce` was asked for.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReproduceArgs {
    /// Data directory holding `recipe1m/` and `food101/` (as `cargo xtask fetch` lays them out).
    /// Default: `data/` of the workspace when `data/recipe1m/layer1.json` exists; otherwise the
    /// synthetic benchmark is generated.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Reproduce configuration: a name in `paper/reproduce/` (`synthetic`, `paper`,
    /// `fixture-mini`) or a path to a TOML file. Default: `paper` with data, `synthetic` without.
    #[arg(long)]
    pub config: Option<String>,
    /// Where the computations run: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Directory of the cached stages and the run summaries [default: runs/reproduce].
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Directory of the regenerated tables [default: paper/regenerated/<config>].
    #[arg(long)]
    pub tables: Option<PathBuf>,
    /// The `seje` binary to run [default: `cargo build --release --bin seje`, then that binary].
    #[arg(long)]
    pub seje: Option<PathBuf>,
    /// Stop after the stage with this name, as an interruption would (for tests of resuming).
    #[arg(long, hide = true)]
    pub stop_after: Option<String>,
}

/// A reproduce configuration (`paper/reproduce/*.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproduceConfig {
    /// One line saying what the configuration runs.
    pub title: String,
    /// Whether the data are generated (its numbers are then not comparable with the paper).
    pub synthetic: bool,
    /// Where the data come from.
    pub data: DataConfig,
    /// Extra arguments of each Phase I command.
    #[serde(default)]
    pub phase1: Phase1Config,
    /// Phase II configuration and overrides.
    pub phase2: Phase2Config,
    /// Evaluation sizes.
    pub eval: EvalConfig,
    /// Variants run next to the main configuration.
    #[serde(default)]
    pub ablation: Vec<Ablation>,
    /// Evaluate the authors' released model instead of training one (no Phase I, no
    /// training; `phase1` and `ablation` must be empty, `data.food101` absent).
    #[serde(default)]
    pub authors: Option<AuthorsRelease>,
}

/// The authors' release, under `--data` (spec/reproduce.md, "The authors' released model").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorsRelease {
    /// Their checkpoint (`train.py`'s `.pth.tar`).
    pub checkpoint: String,
    /// The folder holding their three Phase I pickles (`cargo xtask import --from`).
    pub pickles: String,
    /// The folder holding im2recipe's `encs_{train,val,test}_1024.t7`.
    pub t7: String,
    /// Width of their f_term and f_cat vectors (300).
    pub dim: usize,
    /// Their number of classes (1005).
    pub classes: usize,
    /// The im2recipe split rule's vocabulary (read only without the key files), when
    /// `data.split_rule` is `im2recipe`.
    #[serde(default)]
    pub vocab: Option<String>,
}

/// Name of the variant of an authors' release configuration.
pub const AUTHORS_VARIANT: &str = "the authors' released model";

/// Where the data come from: generated, or two directories under `--data`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Generate the synthetic benchmark with these settings.
    pub generate: Option<Generate>,
    /// Recipe1M directory under `--data`.
    pub recipe1m: Option<String>,
    /// Food-101 directory under `--data`.
    pub food101: Option<String>,
    /// Which recipes are pairs when the data hold no im2recipe key files: `im2recipe` (with
    /// the vocabulary of the text stage's vectors, given to every later stage and to Phase II)
    /// or `valid-count` (the default). spec/data-recipe1m.md.
    #[serde(default = "valid_count")]
    pub split_rule: String,
}

fn valid_count() -> String {
    "valid-count".into()
}

/// `seje synth` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    /// Recipes (= pairs).
    pub recipes: usize,
    /// Seed of every stream.
    pub seed: u64,
    /// Food-101-format training images per class.
    pub food101_train: usize,
    /// Food-101-format test images per class.
    pub food101_test: usize,
    /// Shorter image side in pixels (`seje synth`'s default, 128, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<u32>,
    /// Most images per recipe, 1 to 5 (`seje synth`'s default, 5, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_images: Option<usize>,
    /// Validation recipes, exactly (`seje synth --val-recipes`; its share, 15 %, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_recipes: Option<usize>,
    /// Test recipes, exactly (`seje synth --test-recipes`; its share, 15 %, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_recipes: Option<usize>,
    /// Pretraining set (the stand-in for ImageNet, one class per visible ingredient): training
    /// images per class; absent: no pretraining set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_train: Option<usize>,
    /// Pretraining set: test images per class (`seje synth`'s default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_test: Option<usize>,
}

/// Extra arguments of the four Phase I commands (`{data}` stands for the data directory).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase1Config {
    /// `seje features text`.
    #[serde(default)]
    pub text: Vec<String>,
    /// `seje features sentences`.
    #[serde(default)]
    pub sentences: Vec<String>,
    /// `seje features categoriser`.
    #[serde(default)]
    pub categoriser: Vec<String>,
    /// `seje features categories`.
    #[serde(default)]
    pub categories: Vec<String>,
    /// `seje features categoriser` on the generated pretraining set (stage `pretrain`; needs
    /// `[data.generate] pretrain_train`). Its weights initialise the categoriser (`--init`)
    /// and the Phase II image backbone (`model.pretrained`), as ImageNet's do in the paper.
    #[serde(default)]
    pub pretrain: Option<Vec<String>>,
}

/// Phase II: a training configuration (relative to the reproduce configuration) and overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase2Config {
    /// `paper/configs/*.toml`, relative to the reproduce configuration's directory.
    pub config: String,
    /// `seje train --preset NAME` (for a layer config): the behaviour preset; none keeps the
    /// layer's own `extends`.
    #[serde(default)]
    pub preset: Option<String>,
    /// `--set KEY=VALUE` overrides.
    #[serde(default)]
    pub set: Vec<String>,
    /// Train every variant once per seed (`--set run.seed=S`), from the same Phase I stages;
    /// empty: once, with the configuration's own seed. The tables then give mean ± standard
    /// deviation over seeds and paired differences (spec/reproduce.md, "Seeds").
    #[serde(default)]
    pub seeds: Vec<u64>,
}

/// Evaluation sizes and subsets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Subset sizes; those larger than the test split are reported as not evaluated.
    pub sizes: Vec<usize>,
    /// Subsets per size.
    pub subsets: usize,
    /// Also evaluate the whole test split (one more size, the split's pair count).
    #[serde(default)]
    pub full_split: bool,
    /// Random pairings of the permutation test on the whole test split (`seje eval
    /// --permutations`); 0: no test.
    #[serde(default)]
    pub permutations: usize,
}

/// A variant: extra arguments appended to the main configuration's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ablation {
    /// What the variant changes, in words (a row of the ablation table).
    pub name: String,
    /// Appended to `phase1.text`.
    #[serde(default)]
    pub text: Vec<String>,
    /// Appended to `phase1.sentences`.
    #[serde(default)]
    pub sentences: Vec<String>,
    /// Appended to `phase1.categoriser`.
    #[serde(default)]
    pub categoriser: Vec<String>,
    /// Appended to `phase1.categories`.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Appended to `phase2.set`.
    #[serde(default)]
    pub phase2_set: Vec<String>,
    /// Replaces `phase2.preset`.
    #[serde(default)]
    pub phase2_preset: Option<String>,
    /// A file the variant needs that the package cannot provide (a BERT model): without it the
    /// variant is not run and its row says what is missing.
    #[serde(default)]
    pub requires: Option<Requirement>,
    /// The paper's claim about this variant against the main configuration, for the ablation
    /// table's "agrees with the paper" column: `worse` (the paper finds the full model better),
    /// `better`, or none (no claim).
    #[serde(default)]
    pub paper_claim: Option<Claim>,
    /// The variant plays the role of the paper's baseline in its scalability figure (ACME):
    /// its MedR is drawn next to ours and the paper's at every size.
    #[serde(default)]
    pub baseline: bool,
}

/// A file an ablation needs (`{data}` stands for the data directory).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The file whose presence decides.
    pub path: String,
    /// What to provide, in words (shown in the row when it is missing).
    pub what: String,
}

/// The `preset` of a run directory's resolved `config.toml`.
fn run_preset(run: &Path) -> Result<String> {
    let file = run.join("config.toml");
    let table: toml::Table = fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .parse()
        .with_context(|| format!("{}: not TOML", file.display()))?;
    table
        .get("preset")
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("{}: names no preset", file.display()))
}

/// The three feature stores Phase II reads, as the `seje` library names them
/// (`seje::data::feature_store::PHASE_TWO_FILES`; xtask does not link `seje`, and
/// `tests/xtask_reproduce.rs` checks the two agree).
pub const FEATURE_FILES: [&str; 3] = [
    "term.safetensors",
    "sentences.safetensors",
    "categories.safetensors",
];

/// The file of rated key terms the text stage dumps on a synthetic benchmark.
pub const TERMS_DUMP: &str = "terms.jsonl";

/// What [`run`] returns.
#[derive(Debug)]
pub struct Outcome {
    /// The results (also written as `results.json`), or `None` when stopped early.
    pub results: Option<Results>,
    /// The summary directory `<runs>/<config>`.
    pub summary_dir: PathBuf,
    /// Where the tables were written.
    pub tables_dir: PathBuf,
}

/// Finds the reproduce configuration `name` (a name in `paper/reproduce/` or a path).
pub fn config_path(root: &Path, name: &str) -> PathBuf {
    let p = PathBuf::from(name);
    if name.ends_with(".toml") || p.components().count() > 1 {
        p
    } else {
        root.join("paper/reproduce").join(format!("{name}.toml"))
    }
}

/// Reads and checks a reproduce configuration.
pub fn load_config(path: &Path) -> Result<ReproduceConfig> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read reproduce configuration {}", path.display()))?;
    let cfg: ReproduceConfig = toml::from_str(&text)
        .with_context(|| format!("reproduce configuration {}", path.display()))?;
    match (&cfg.data.generate, &cfg.data.recipe1m, &cfg.data.food101) {
        (Some(_), None, None) | (None, Some(_), Some(_)) if cfg.authors.is_none() => {}
        (None, Some(_), None) if cfg.authors.is_some() => {}
        _ if cfg.authors.is_some() => bail!(
            "reproduce configuration {}: with [authors], [data] needs `recipe1m` only (no \
             Phase I runs, so no `generate` and no `food101`)",
            path.display()
        ),
        _ => bail!(
            "reproduce configuration {}: [data] needs either `generate` or both `recipe1m` and `food101`",
            path.display()
        ),
    }
    if let Some(a) = &cfg.authors {
        match (&a.vocab, cfg.data.split_rule.as_str()) {
            (None, "im2recipe") => bail!(
                "reproduce configuration {}: split_rule = \"im2recipe\" needs [authors] vocab",
                path.display()
            ),
            (Some(_), "valid-count") => bail!(
                "reproduce configuration {}: [authors] vocab is given, but the valid-count rule \
                 reads no vocabulary (split_rule = \"im2recipe\" does)",
                path.display()
            ),
            _ => {}
        }
    }
    let pretrain_set = cfg
        .data
        .generate
        .as_ref()
        .is_some_and(|g| g.pretrain_train.is_some());
    if cfg.phase1.pretrain.is_some() && !pretrain_set {
        bail!(
            "reproduce configuration {}: [phase1] pretrain needs a generated pretraining set \
             ([data.generate] pretrain_train)",
            path.display()
        );
    }
    if cfg.authors.is_some() {
        let p = &cfg.phase1;
        if !(p.text.is_empty()
            && p.sentences.is_empty()
            && p.categoriser.is_empty()
            && p.categories.is_empty()
            && cfg.ablation.is_empty())
        {
            bail!(
                "reproduce configuration {}: with [authors] nothing is trained, so [phase1] \
                 and [[ablation]] must be empty",
                path.display()
            );
        }
    }
    if !["im2recipe", "valid-count"].contains(&cfg.data.split_rule.as_str()) {
        bail!(
            "reproduce configuration {}: [data] split_rule = {:?} is neither \"im2recipe\" nor \
             \"valid-count\"",
            path.display(),
            cfg.data.split_rule
        );
    }
    if cfg.eval.sizes.is_empty() || cfg.eval.subsets == 0 {
        bail!(
            "reproduce configuration {}: [eval] needs sizes and subsets > 0",
            path.display()
        );
    }
    Ok(cfg)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What to do about a data file that is not there: which asset provides it, where a person
/// obtains that, which command places it, and what runs without it (spec/cli.md).
pub fn missing_data(base: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(base).unwrap_or(file);
    let mut msg = format!(
        "{}: missing (the reproduce configuration's data need it)",
        file.display()
    );
    let manifest = crate::assets::Manifest::committed().ok();
    if let Some(e) = manifest.as_ref().and_then(|m| m.provider_of(rel)) {
        let group = e.group.name();
        let offline = matches!(e.source(), crate::assets::Source::Mirror(_));
        msg.push_str(&format!(
            ". It comes from {} (asset group `{group}`)",
            e.name
        ));
        if let Some(page) = &e.page {
            msg.push_str(&format!("; obtain it from {page}"));
            if offline {
                msg.push_str(" (a registration is needed)");
            }
        }
        msg.push_str(&if offline {
            format!(
                ", then `cargo xtask fetch --only {group} --mirror DIR` (DIR: the folder holding \
                 what you downloaded) verifies it and places it"
            )
        } else {
            format!(", or let `cargo xtask fetch --only {group}` download and place it")
        });
    }
    msg.push_str(
        ". Without it, `cargo xtask reproduce` (no --config) runs the whole pipeline on the \
         generated synthetic benchmark, which needs no download",
    );
    msg
}

/// A cheap fingerprint of given data: each file's path under `base`, size and modification time.
fn data_fingerprint(base: &Path, files: &[PathBuf]) -> Result<String> {
    let mut text = String::new();
    for f in files {
        let meta = fs::metadata(f).map_err(|e| anyhow!(e).context(missing_data(base, f)))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = f.strip_prefix(base).unwrap_or(f);
        text.push_str(&format!("{}\t{}\t{}\n", name.display(), meta.len(), mtime));
    }
    Ok(sha256_hex(text.as_bytes()))
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// `head --out OUT tail`: the shape of every Phase I command line.
fn with_out(head: &[&str], out: &Path, tail: &[String]) -> Vec<String> {
    let mut a: Vec<String> = head.iter().map(|s| s.to_string()).collect();
    a.push("--out".into());
    a.push(path_str(out));
    a.extend(tail.iter().cloned());
    a
}

/// A quoted TOML string for `--set key="value"`.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Runs stages and remembers them.
struct Runner {
    seje: PathBuf,
    stages_dir: PathBuf,
    /// Everything every key depends on: binary digest, device, data fingerprint.
    salt: String,
    /// Directories written as names in keys (longest first), so that a key does not change
    /// when the runs, the data or the workspace move: `(path, name)`.
    places: Vec<(String, String)>,
    device: String,
    records: Vec<StageRecord>,
    index: BTreeMap<String, usize>,
    stop_after: Option<String>,
    stopped: bool,
}

/// One command of a stage: arguments of `seje`, and whether stdout is the stage's result file.
struct Cmd {
    args: Vec<String>,
    stdout_to: Option<PathBuf>,
}

impl Runner {
    /// `text` with every known place written as its name (`{stages}/…`, `{root}/…`), so keys
    /// and recorded directories hold no absolute path of the machine.
    fn portable(&self, text: &str) -> String {
        self.places
            .iter()
            .fold(text.to_string(), |a, (path, name)| {
                a.replace(path.as_str(), name)
            })
    }

    fn key(&self, stage: &str, args: &[String], extra: &str) -> String {
        let args: Vec<String> = args.iter().map(|a| self.portable(a)).collect();
        let text = format!("{stage}\n{}\n{}\n{extra}", self.salt, args.join("\u{1f}"));
        sha256_hex(text.as_bytes())
    }

    fn dir(&self, stage: &str, key: &str) -> PathBuf {
        self.stages_dir.join(format!("{stage}-{}", &key[..16]))
    }

    /// A stage of one `seje` command whose arguments name its directory (keyed with `{out}`).
    fn command_stage(
        &mut self,
        variant: &str,
        stage: &str,
        resumable: bool,
        args: &dyn Fn(&Path) -> Vec<String>,
    ) -> Result<PathBuf> {
        let key = self.key(stage, &args(Path::new("{out}")), "");
        self.stage(variant, stage, &key, resumable, &|_| Ok(()), &|d| {
            vec![Cmd {
                args: args(d),
                stdout_to: None,
            }]
        })
    }

    /// Runs `stage` unless a finished stage with the same key exists. `prepare` runs before the
    /// commands (into the stage directory); `commands` are built from the directory.
    fn stage(
        &mut self,
        variant: &str,
        stage: &str,
        key: &str,
        resumable: bool,
        prepare: &dyn Fn(&Path) -> Result<()>,
        commands: &dyn Fn(&Path) -> Vec<Cmd>,
    ) -> Result<PathBuf> {
        let dir = self.dir(stage, key);
        if self.index.contains_key(key) {
            return Ok(dir);
        }
        let n = self.records.len() + 1;
        let done = dir.join(DONE);
        if let Some(prev) = read_done(&done, key) {
            eprintln!(
                "reproduce [{n}] {stage:<11} {variant}: cached ({}, {prev:.1} s when run)",
                dir.display(),
            );
            self.push(variant, stage, key, &dir, true, prev);
            return Ok(dir);
        }
        if dir.exists() && !resumable {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear the interrupted stage {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        eprintln!(
            "reproduce [{n}] {stage:<11} {variant}: running in {}",
            dir.display()
        );
        let start = Instant::now();
        prepare(&dir)?;
        let cmds = commands(&dir);
        for cmd in &cmds {
            self.run_seje(stage, &dir, cmd)?;
        }
        let seconds = start.elapsed().as_secs_f64();
        let marker = serde_json::json!({
            "stage": stage,
            "key": key,
            "seconds": seconds,
            "commands": cmds.iter().map(|c| c.args.clone()).collect::<Vec<_>>(),
        });
        write_atomic(&done, serde_json::to_string_pretty(&marker)?.as_bytes())?;
        eprintln!("reproduce        {stage:<11} done in {seconds:.1} s");
        self.push(variant, stage, key, &dir, false, seconds);
        if self.stop_after.as_deref() == Some(stage) {
            self.stopped = true;
        }
        Ok(dir)
    }

    fn push(&mut self, variant: &str, stage: &str, key: &str, dir: &Path, cached: bool, s: f64) {
        self.index.insert(key.to_string(), self.records.len());
        self.records.push(StageRecord {
            stage: stage.to_string(),
            variant: variant.to_string(),
            key: key.to_string(),
            dir: PathBuf::from(self.portable(&path_str(dir))),
            cached,
            seconds: s,
        });
    }

    fn run_seje(&self, stage: &str, dir: &Path, cmd: &Cmd) -> Result<()> {
        let log = dir.join("stdout.txt");
        let mut c = Command::new(&self.seje);
        c.args(&cmd.args).stdin(Stdio::null());
        if std::env::var_os("SEJE_LOG").is_none() {
            // The stage lines and each command's summary say what happens; `SEJE_LOG=info`
            // brings back every command's log.
            c.env("SEJE_LOG", "warn");
        }
        let out = c
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", self.seje.display()))?;
        let target = cmd.stdout_to.clone().unwrap_or(log);
        fs::write(&target, &out.stdout)
            .with_context(|| format!("cannot write {}", target.display()))?;
        if cmd.stdout_to.is_none() {
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                eprintln!("    {line}");
            }
        }
        if !out.status.success() {
            bail!(
                "stage `{stage}` failed ({}): seje {}\n(its directory {} is kept; rerun to resume)",
                out.status,
                cmd.args.join(" "),
                dir.display()
            );
        }
        Ok(())
    }
}

impl Runner {
    /// The `eval` stage: embed the test split of the run in `run_dir` with its best checkpoint,
    /// then evaluate every size of `eval` the split holds (`plan.json`, `eval.json`).
    fn evaluate(&mut self, variant: &str, run_dir: &Path, eval: &EvalConfig) -> Result<PathBuf> {
        let key = self.key(
            "eval",
            &[
                path_str(run_dir),
                format!("{:?}", eval.sizes),
                eval.subsets.to_string(),
                format!(
                    "full {} permutations {}",
                    eval.full_split, eval.permutations
                ),
            ],
            "",
        );
        let (seje, dev) = (self.seje.clone(), self.device.clone());
        let sizes = eval.sizes.clone();
        let (subsets, full_split, permutations) =
            (eval.subsets, eval.full_split, eval.permutations);
        let embed = |out: &Path| -> Result<()> {
            let emb = out.join("test.safetensors");
            let status = Command::new(&seje)
                .args(["embed", "--run-dir"])
                .arg(run_dir)
                .args(["--split", "test", "--checkpoint", "best", "--device", &dev])
                .arg("--out")
                .arg(&emb)
                .stdout(Stdio::null())
                .status()
                .context("cannot run seje embed")?;
            if !status.success() {
                bail!("stage `eval`: seje embed failed ({status})");
            }
            let n = safetensors_rows(&emb)?;
            let (mut ok, skipped): (Vec<usize>, Vec<usize>) = sizes.iter().partition(|&&s| s <= n);
            if full_split && !ok.contains(&n) {
                ok.push(n);
            }
            let plan = serde_json::json!({
                "test_pairs": n,
                "sizes": ok,
                "not_evaluated": skipped
                    .iter()
                    .map(|s| format!("{s}: the test split holds {n} pairs"))
                    .collect::<Vec<_>>(),
            });
            write_atomic(
                &out.join("plan.json"),
                serde_json::to_string_pretty(&plan)?.as_bytes(),
            )
        };
        let eval_cmds = |out: &Path| {
            let plan: serde_json::Value = fs::read_to_string(out.join("plan.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null);
            let ok = planned_sizes(&plan);
            if ok.is_empty() {
                return Vec::new();
            }
            let mut args: Vec<String> = vec![
                "eval".into(),
                "--embeddings".into(),
                path_str(&out.join("test.safetensors")),
                "--sizes".into(),
                ok.join(","),
                "--subsets".into(),
                subsets.to_string(),
                "--device".into(),
                if dev.starts_with("cuda") {
                    "cuda".into()
                } else {
                    "cpu".into()
                },
                "--json".into(),
            ];
            if permutations > 0 {
                args.extend(["--permutations".to_string(), permutations.to_string()]);
            }
            vec![Cmd {
                args,
                stdout_to: Some(out.join("eval.json")),
            }]
        };
        self.stage(variant, "eval", &key, false, &embed, &eval_cmds)
    }
}

impl Runner {
    /// The `references` stage of a synthetic benchmark: the oracle and the category ceiling
    /// (spec/eval-protocol.md) on the test pairs of the `eval` stage in `eval_dir`, at the sizes
    /// it evaluated, from the truth in `benchmark` (`synth_truth.json`).
    fn references(
        &mut self,
        eval_dir: &Path,
        benchmark: &Path,
        eval: &EvalConfig,
    ) -> Result<PathBuf> {
        let key = self.key(
            "references",
            &[
                path_str(eval_dir),
                path_str(benchmark),
                eval.subsets.to_string(),
            ],
            "",
        );
        let (plan, _) = read_evaluation(eval_dir)?;
        let sizes = planned_sizes(&plan);
        let emb = path_str(&eval_dir.join("test.safetensors"));
        let (truth, subsets) = (path_str(benchmark), eval.subsets.to_string());
        let cmds = |out: &Path| {
            if sizes.is_empty() {
                return Vec::new();
            }
            REFERENCES
                .iter()
                .map(|kind| Cmd {
                    args: [
                        "eval",
                        "--embeddings",
                        &emb,
                        "--sizes",
                        &sizes.join(","),
                        "--subsets",
                        &subsets,
                        "--reference",
                        kind,
                        "--truth",
                        &truth,
                        "--json",
                    ]
                    .map(String::from)
                    .to_vec(),
                    stdout_to: Some(out.join(format!("{kind}.json"))),
                })
                .collect()
        };
        self.stage(
            MAIN_VARIANT,
            "references",
            &key,
            false,
            &|_: &Path| Ok(()),
            &cmds,
        )
    }
}

/// What a `train` stage's key depends on besides its command line: the Phase II configuration
/// file's digest and the feature stores it links in (files of keyed stage directories, so their
/// paths name their whole history).
fn train_key_extra(phase2_sha: &str, inputs: &[PathBuf]) -> String {
    let mut extra = phase2_sha.to_string();
    for f in inputs {
        extra.push('\n');
        extra.push_str(&path_str(f));
    }
    extra
}

/// The measures of a `truth` stage and the categoriser's own test top-1.
fn read_phase1_truth(truth: &Path, categoriser: &Path) -> Result<Phase1TruthResult> {
    let file = truth.join("truth.json");
    let measures: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?,
    )
    .with_context(|| format!("{}: not JSON", file.display()))?;
    // A categoriser without its record has no top-1 to show; a record that cannot be read is an
    // error, not a row left out.
    let info = categoriser.join("categoriser.json");
    let categoriser_top1 = match fs::read_to_string(&info) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        read => {
            let text = read.with_context(|| format!("cannot read {}", info.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", info.display()))?;
            v["top1"].as_f64()
        }
    };
    Ok(Phase1TruthResult {
        measures,
        categoriser_top1,
    })
}

/// The reports of a `references` stage, in the order of [`REFERENCES`] (those it wrote).
fn read_references(dir: &Path) -> Result<Vec<ReferenceResult>> {
    let mut out = Vec::new();
    for kind in REFERENCES {
        let f = dir.join(format!("{kind}.json"));
        if let Ok(text) = fs::read_to_string(&f) {
            out.push(ReferenceResult {
                name: kind.to_string(),
                eval: serde_json::from_str(&text)
                    .with_context(|| format!("{}: not JSON", f.display()))?,
            });
        }
    }
    Ok(out)
}

/// The `plan.json` and `eval.json` (null when no size was evaluated) of an `eval` stage.
fn read_evaluation(eval: &Path) -> Result<(serde_json::Value, serde_json::Value)> {
    let plan: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(eval.join("plan.json"))?)?;
    let report = match fs::read_to_string(eval.join("eval.json")) {
        Ok(t) => serde_json::from_str(&t)
            .with_context(|| format!("{}: not JSON", eval.join("eval.json").display()))?,
        Err(_) => serde_json::Value::Null,
    };
    Ok((plan, report))
}

/// The sizes a plan evaluates, as `seje eval --sizes` takes them.
fn planned_sizes(plan: &serde_json::Value) -> Vec<String> {
    plan["sizes"]
        .as_array()
        .map(|a| a.iter().map(|s| s.to_string()).collect())
        .unwrap_or_default()
}

/// The sizes a plan could not evaluate, in words.
fn not_evaluated_of(plan: &serde_json::Value) -> Vec<String> {
    plan["not_evaluated"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an imported checkpoint's architecture (`import.json`) is MSJE's, by its
/// `trijoint.py` and `args.py` (git-disl/MSJE @ bd886fa): a ResNet-50 backbone and 1024-d
/// category vectors. Such a checkpoint is compared with MSJE's table, any other with SEJE's.
fn is_msje_architecture(arch: &serde_json::Value) -> bool {
    arch["backbone"] == "resnet50" && arch["category_feature"] == 1024
}

/// im2recipe's key files present in the Recipe1M folder `r` (for the data fingerprint).
fn present_key_files(r: &Path) -> Vec<PathBuf> {
    ["train_keys.pkl", "val_keys.pkl", "test_keys.pkl"]
        .map(|f| r.join(f))
        .into_iter()
        .filter(|f| f.exists())
        .collect()
}

/// The pickles of an authors' release folder that exist (for the data fingerprint).
fn xtask_release_files(dir: &Path) -> Vec<PathBuf> {
    crate::import::TERM_NAMES
        .iter()
        .chain([crate::import::CATEGORIES_NAME, crate::import::CLASSES_NAME].iter())
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect()
}

fn read_done(path: &Path, key: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).ok()?).ok()?;
    (v.get("key")?.as_str()? == key).then(|| v.get("seconds")?.as_f64())?
}

/// Number of rows (ids) of a safetensors file written by `seje embed`.
pub fn safetensors_rows(path: &Path) -> Result<usize> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .with_context(|| format!("{}: no safetensors header", path.display()))?;
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        bail!("{}: header length {n} is not plausible", path.display());
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .with_context(|| format!("{}: truncated header", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&header)
        .with_context(|| format!("{}: header is not JSON", path.display()))?;
    let ids = v
        .pointer("/__metadata__/ids")
        .and_then(|i| i.as_str())
        .with_context(|| format!("{}: no ids in the metadata", path.display()))?;
    let ids: Vec<String> = serde_json::from_str(ids)
        .with_context(|| format!("{}: ids are not a JSON array", path.display()))?;
    Ok(ids.len())
}

/// Number of category classes Phase I found (`labels.json` of `seje features categories`).
fn classes_of(categories: &Path) -> Result<usize> {
    let p = categories.join("labels.json");
    let v: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?,
    )
    .with_context(|| format!("{}: not JSON", p.display()))?;
    v.get("num_classes")
        .and_then(|n| n.as_u64())
        .map(|n| n as usize)
        .with_context(|| format!("{}: no num_classes", p.display()))
}

/// Builds the `seje` binary in release mode and returns its path.
pub fn build_seje(root: &Path) -> Result<PathBuf> {
    eprintln!("reproduce: cargo build --release --bin seje");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["build", "--release", "--quiet", "--bin", "seje"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("reproduce: building seje failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release/seje"))
}

fn machine(seje: &Path) -> serde_json::Value {
    let info = Command::new(seje)
        .args(["info", "--json"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .unwrap_or(serde_json::Value::Null);
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    serde_json::json!({ "cpu": cpu, "cores": cores, "seje_info": info })
}

/// The default choice of data and configuration, with the reason (printed).
fn choose(root: &Path, args: &ReproduceArgs) -> (PathBuf, String, String) {
    let default_data = root.join("data");
    let data = args.data.clone().unwrap_or_else(|| default_data.clone());
    if let Some(c) = &args.config {
        return (data, c.clone(), format!("configuration `{c}` as asked"));
    }
    let layer1 = data.join("recipe1m/layer1.json");
    if args.data.is_some() || layer1.exists() {
        (
            data,
            "paper".into(),
            format!(
                "Recipe1M configured ({}): configuration `paper`",
                layer1.display()
            ),
        )
    } else {
        (
            data,
            "synthetic".into(),
            format!(
                "no Recipe1M configured ({} missing): configuration `synthetic`, a generated \
                 benchmark — {SYNTHETIC_BANNER}",
                layer1.display()
            ),
        )
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_missing_data_file_says_where_it_comes_from_and_what_runs_without_it() {
        let base = Path::new("/d");
        let layer1 = missing_data(base, Path::new("/d/recipe1m/layer1.json"));
        for words in [
            "/d/recipe1m/layer1.json: missing",
            "recipe1M_layers.tar.gz",
            "http://im2recipe.csail.mit.edu/dataset/download (a registration is needed)",
            "`cargo xtask fetch --only recipe1m --mirror DIR`",
            "`cargo xtask reproduce` (no --config) runs the whole pipeline on the generated",
        ] {
            assert!(layer1.contains(words), "says `{words}`: {layer1}");
        }
        let classes = missing_data(base, Path::new("/d/food-101/meta/classes.txt"));
        assert!(
            classes.contains("food-101.tar.gz")
                && classes.contains("`cargo xtask fetch --only food101` download and place it"),
            "{classes}"
        );
        let weights = missing_data(base, Path::new("/d/weights/resnet50-0676ba61.pth"));
        assert!(
            weights.contains("`cargo xtask fetch --only weights`"),
            "{weights}"
        );
    }

    use super::*;

    #[test]
    fn only_msjes_architecture_is_compared_with_msjes_table() {
        let arch = |backbone: &str, f_cat: u64| serde_json::json!({"backbone": backbone, "category_feature": f_cat});
        assert!(is_msje_architecture(&arch("resnet50", 1024)));
        assert!(!is_msje_architecture(&arch("resnext101_32x8d", 300)));
        assert!(!is_msje_architecture(&arch("resnet50", 300)));
        assert!(!is_msje_architecture(&arch("tiny", 1024)));
    }

    #[test]
    fn every_committed_reproduce_configuration_loads() {
        let root = crate::workspace_root();
        let dir = root.join("paper/reproduce");
        let mut n = 0;
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let cfg = load_config(&p).unwrap_or_else(|e| panic!("{e:#}"));
                let phase2 = p.parent().unwrap().join(&cfg.phase2.config);
                assert!(phase2.exists(), "{}: {}", p.display(), phase2.display());
                n += 1;
            }
        }
        assert!(n >= 3, "{n} configurations");
        // The paper's pairs are im2recipe's; the committed synthetic measurements were made
        // under the valid-count rule, which their Phase II layers name too.
        let rule = |name: &str| load_config(&dir.join(name)).unwrap().data.split_rule;
        assert_eq!(rule("paper.toml"), "im2recipe");
        assert_eq!(rule("synthetic.toml"), "valid-count");
        assert_eq!(rule("fixture-mini.toml"), "valid-count");
        let bad = tempfile::tempdir().unwrap();
        let text = fs::read_to_string(dir.join("fixture-mini.toml"))
            .unwrap()
            .replace("[data]\n", "[data]\nsplit_rule = \"im2recipes\"\n");
        let path = bad.path().join("bad.toml");
        fs::write(&path, text).unwrap();
        let e = load_config(&path).unwrap_err();
        assert!(
            format!("{e:#}").contains("\"im2recipes\" is neither"),
            "{e:#}"
        );

        // The authors' release: nothing trained, so no Phase I arguments and no Food-101.
        let authors = load_config(&dir.join("authors-model.toml")).unwrap();
        assert_eq!(authors.data.split_rule, "im2recipe");
        assert_eq!(authors.authors.unwrap().dim, 300);
        let fixture = fs::read_to_string(dir.join("authors-model-fixture.toml")).unwrap();
        for (change, problem) in [
            (
                fixture.replace(
                    "[phase2]",
                    "[phase1]\ntext = [\"--iter\", \"1\"]\n\n[phase2]",
                ),
                "[phase1] and [[ablation]] must be empty",
            ),
            (
                fixture.replace("[authors]", "food101 = \"food101-mini\"\n\n[authors]"),
                "with [authors], [data] needs `recipe1m` only",
            ),
            (
                fixture.replace("classes = 5\n", "classes = 5\nvocab = \"v.bin\"\n"),
                "the valid-count rule reads no vocabulary",
            ),
            (
                fixture.replace("[authors]", "split_rule = \"im2recipe\"\n\n[authors]"),
                "needs [authors] vocab",
            ),
        ] {
            fs::write(&path, change).unwrap();
            let e = format!("{:#}", load_config(&path).unwrap_err());
            assert!(e.contains(problem), "{e}");
        }
    }

    #[test]
    fn a_configuration_with_both_kinds_of_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        fs::write(
            &p,
            "title = \"x\"\nsynthetic = true\n[data]\nrecipe1m = \"r\"\n\
             [data.generate]\nrecipes = 1\nseed = 1\nfood101_train = 1\nfood101_test = 1\n\
             [phase1]\n[phase2]\nconfig = \"c.toml\"\n[eval]\nsizes = [1]\nsubsets = 1\n",
        )
        .unwrap();
        let e = load_config(&p).unwrap_err();
        assert!(format!("{e:#}").contains("either `generate`"), "{e:#}");
    }

    #[test]
    fn a_pretrain_stage_without_a_generated_pretraining_set_is_refused() {
        let root = crate::workspace_root();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        let text = fs::read_to_string(root.join("paper/reproduce/ci-learning.toml")).unwrap();
        let with_stage = text.replace(
            "categories = []\n",
            "categories = []\npretrain = [\"--arch\", \"tiny\"]\n",
        );
        fs::write(&p, &with_stage).unwrap();
        let e = format!("{:#}", load_config(&p).unwrap_err());
        assert!(
            e.contains("[phase1] pretrain needs a generated pretraining set"),
            "{e}"
        );
        let with_set = with_stage.replace("max_images = 1 ", "pretrain_train = 2\nmax_images = 1 ");
        fs::write(&p, &with_set).unwrap();
        let cfg = load_config(&p).unwrap();
        assert_eq!(cfg.data.generate.unwrap().pretrain_train, Some(2));
    }

    /// A runner of no binary whose stages would live under `/runs/stages`.
    fn test_runner(salt: &str) -> Runner {
        Runner {
            seje: PathBuf::new(),
            stages_dir: PathBuf::from("/s"),
            salt: salt.into(),
            places: vec![("/runs/stages".into(), "{stages}".into())],
            device: "cpu".into(),
            records: Vec::new(),
            index: BTreeMap::new(),
            stop_after: None,
            stopped: false,
        }
    }

    #[test]
    fn keys_change_with_any_input_and_only_then() {
        let r = test_runner;
        let a = vec!["features".to_string(), "text".into()];
        let k = r("x").key("text", &a, "");
        assert_eq!(k, r("x").key("text", &a, ""));
        assert_ne!(k, r("y").key("text", &a, ""));
        assert_ne!(k, r("x").key("text", &a, "cfg"));
        assert_ne!(k, r("x").key("texts", &a, ""));
        let mut b = a.clone();
        b.push("--size".into());
        assert_ne!(k, r("x").key("text", &b, ""));
        // Only where the stages are differs: the key stays.
        assert_eq!(
            r("x").key("t", &["/runs/stages/text-1/vocab.bin".into()], ""),
            r("x").key("t", &["{stages}/text-1/vocab.bin".into()], "")
        );
        // Argument boundaries matter: ["ab"] and ["a", "b"] differ.
        assert_ne!(
            r("x").key("t", &["ab".into()], ""),
            r("x").key("t", &["a".into(), "b".into()], "")
        );
        // A recorded stage holds no absolute path of the machine (results.json is committed).
        let mut runner = r("x");
        runner.push(
            "main",
            "text",
            "k",
            Path::new("/runs/stages/text-1"),
            false,
            1.0,
        );
        assert_eq!(runner.records[0].dir, PathBuf::from("{stages}/text-1"));
    }

    #[test]
    fn a_training_on_other_phase_one_features_has_another_key() {
        let r = test_runner("x");
        let args = vec!["train".to_string(), "--config".into(), "c.toml".into()];
        let inputs = |text: &str| {
            [
                PathBuf::from(format!("/runs/stages/{text}/term.safetensors")),
                PathBuf::from("/runs/stages/sentences-1/sentences.safetensors"),
                PathBuf::from("/runs/stages/categories-1/categories.safetensors"),
            ]
        };
        let key = |text: &str| r.key("train", &args, &train_key_extra("sha", &inputs(text)));
        // The same command line on TF-IDF's and on TextRank's term features.
        assert_ne!(key("text-tfidf"), key("text-textrank"));
        assert_eq!(key("text-tfidf"), key("text-tfidf"));
        assert_ne!(
            r.key(
                "train",
                &args,
                &train_key_extra("sha", &inputs("text-tfidf"))
            ),
            r.key(
                "train",
                &args,
                &train_key_extra("sha2", &inputs("text-tfidf"))
            )
        );
    }

    #[test]
    fn safetensors_rows_reads_the_id_index() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.safetensors");
        let header = r#"{"__metadata__":{"ids":"[\"a\",\"b\",\"c\"]"}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        fs::write(&p, &bytes).unwrap();
        assert_eq!(safetensors_rows(&p).unwrap(), 3);
        fs::write(&p, &bytes[..10]).unwrap();
        assert!(format!("{:#}", safetensors_rows(&p).unwrap_err()).contains("truncated"));
    }
}
