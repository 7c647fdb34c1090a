//! The authors' released checkpoint as a run directory: which architecture it holds, read from
//! its tensor names and shapes, and the conversion that `seje embed`, `seje index` and `seje
//! query` then accept like any trained run.
//!
//! Spec: spec/phase2-encoders.md ("The authors' checkpoint as a run directory"). Authors' code:
//! `train.py` saves `{'epoch', 'state_dict', ...}` of the DataParallel-wrapped model and, in a
//! second file, of the discriminator; `trijoint.py` defines the names.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use tch::{nn, Device, Tensor};

use crate::checkpoint::{load_into, read_state_dict, read_torch_file, state_dict_of};
use crate::error::{Error, Result};
use crate::nn::backbone::BackboneConfig;
use crate::phase2::config::{ModelSection, TrainConfig};
use crate::phase2::model::{authors_checkpoint_name, authors_name, JointEmbedding, ModelConfig};
use crate::phase2::run_dir::{self, Manifest, RunDir, TrainState};
use crate::phase2::run_model::new_trainer;

/// The backbones a checkpoint is tried against, in this order.
pub const BACKBONES: [&str; 4] = ["resnext101_32x8d", "resnet50", "wide_resnet50_2", "tiny"];

/// Mismatches listed in an error (the rest are counted).
const LISTED: usize = 5;

/// The architecture a checkpoint holds, as the `[model]` keys of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Architecture {
    /// `model.backbone`.
    pub backbone: String,
    /// `model.category_feature`: the width of f_cat.
    pub category_feature: i64,
    /// `model.sentence`.
    pub sentence: i64,
    /// `model.hidden`.
    pub hidden: i64,
    /// `model.term`.
    pub term: i64,
    /// `model.embedding`.
    pub embedding: i64,
    /// `model.classes`.
    pub classes: i64,
}

impl Architecture {
    /// The `--set` overrides that give a configuration this architecture (and no pretrained
    /// backbone: the weights are the checkpoint's).
    pub fn overrides(&self) -> Vec<String> {
        vec![
            format!("model.backbone=\"{}\"", self.backbone),
            format!("model.category_feature={}", self.category_feature),
            format!("model.sentence={}", self.sentence),
            format!("model.hidden={}", self.hidden),
            format!("model.term={}", self.term),
            format!("model.embedding={}", self.embedding),
            format!("model.classes={}", self.classes),
            "model.pretrained=\"\"".into(),
        ]
    }

    /// One line: `resnext101_32x8d, f_cat 300, sentences 1024, …`.
    pub fn render(&self) -> String {
        format!(
            "{} backbone, f_cat {}, sentence {}, LSTM hidden {}, f_term {}, embedding {}, {} classes",
            self.backbone,
            self.category_feature,
            self.sentence,
            self.hidden,
            self.term,
            self.embedding,
            self.classes
        )
    }

    fn model_config(&self) -> Result<ModelConfig> {
        ModelSection {
            backbone: self.backbone.clone(),
            category_feature: self.category_feature,
            sentence: self.sentence,
            hidden: self.hidden,
            term: self.term,
            embedding: self.embedding,
            classes: self.classes,
            pretrained: String::new(),
            use_term_feature: true,
            use_category_feature: true,
        }
        .model_config()
    }
}

/// How a checkpoint's tensors differ from a model's variables (names in the checkpoint's
/// spelling).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShapeReport {
    /// `(name, expected shape, found shape)`.
    pub differ: Vec<(String, Vec<i64>, Vec<i64>)>,
    /// Variables the checkpoint lacks.
    pub missing: Vec<String>,
    /// Entries the model lacks.
    pub unexpected: Vec<String>,
}

impl ShapeReport {
    fn count(&self) -> usize {
        self.differ.len() + self.missing.len() + self.unexpected.len()
    }

    /// The first mismatches in words.
    pub fn render(&self) -> String {
        let mut parts: Vec<String> = self
            .differ
            .iter()
            .map(|(n, e, f)| format!("`{n}`: expected shape {e:?}, found {f:?}"))
            .chain(self.missing.iter().map(|n| format!("`{n}`: missing")))
            .chain(
                self.unexpected
                    .iter()
                    .map(|n| format!("`{n}`: not in the model")),
            )
            .collect();
        let more = parts.len().saturating_sub(LISTED);
        parts.truncate(LISTED);
        if more > 0 {
            parts.push(format!("and {more} more"));
        }
        parts.join("; ")
    }
}

/// Compares the checkpoint's tensors (authors' names) with the variables of `model`.
pub fn compare_shapes(tensors: &[(String, Tensor)], model: &ModelConfig) -> ShapeReport {
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = JointEmbedding::new(vs.root(), model);
    let mut vars: BTreeMap<String, Vec<i64>> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.size()))
        .collect();
    let mut report = ShapeReport::default();
    for (name, t) in tensors {
        let Some(ours) = authors_checkpoint_name(name) else {
            continue;
        };
        match vars.remove(&ours) {
            Some(shape) if shape != t.size() => {
                report.differ.push((name.clone(), shape, t.size()));
            }
            Some(_) => {}
            None => report.unexpected.push(name.clone()),
        }
    }
    report.missing = vars.keys().map(|n| authors_name(n)).collect();
    report
}

fn shape_of(tensors: &[(String, Tensor)], name: &str, file: &Path) -> Result<Vec<i64>> {
    let shape = tensors
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .filter(|t| t.size().len() == 2)
        .ok_or_else(|| Error::Checkpoint {
            file: file.to_path_buf(),
            expected: format!("a matrix `{name}` (the authors' trijoint.py names)"),
            found: "none".into(),
        })?;
    Ok(shape.size())
}

/// Reads the architecture from the tensors' names and shapes: the widths from the embedding
/// layers, the backbone as the first of [`BACKBONES`] whose every variable the checkpoint fills
/// with the right shape.
///
/// Errors: [`Error::Checkpoint`] when a width-giving tensor is missing, or when no backbone
/// matches: then the candidate with the fewest mismatches is named with its first mismatches
/// (tensor, expected and found shape), never a guess.
pub fn read_architecture(tensors: &[(String, Tensor)], file: &Path) -> Result<Architecture> {
    let visual = shape_of(tensors, "visual_embedding.0.weight", file)?;
    let lstm_ih = shape_of(tensors, "stRNN_.lstm.weight_ih_l0", file)?;
    let lstm_hh = shape_of(tensors, "stRNN_.lstm.weight_hh_l0", file)?;
    let term = shape_of(tensors, "tfidf_embedding.0.weight", file)?;
    let head = shape_of(tensors, "semantic_branch.weight", file)?;
    let mut closest: Option<(String, ShapeReport)> = None;
    for name in BACKBONES {
        let features = BackboneConfig::by_name(name)?.feature_dim();
        if visual[1] <= features {
            continue;
        }
        let arch = Architecture {
            backbone: name.to_string(),
            category_feature: visual[1] - features,
            sentence: lstm_ih[1],
            hidden: lstm_hh[1],
            term: term[1],
            embedding: visual[0],
            classes: head[0],
        };
        let report = compare_shapes(tensors, &arch.model_config()?);
        if report.count() == 0 {
            return Ok(arch);
        }
        if closest
            .as_ref()
            .is_none_or(|(_, r)| report.count() < r.count())
        {
            closest = Some((name.to_string(), report));
        }
    }
    Err(Error::Checkpoint {
        file: file.to_path_buf(),
        expected: format!("the tensors of one of the models {}", BACKBONES.join(", ")),
        found: match closest {
            Some((name, report)) => format!(
                "closest is {name}, with {} mismatches: {}",
                report.count(),
                report.render()
            ),
            None => format!(
                "visual_embedding.0.weight of shape {visual:?}, no wider than any backbone's \
                 features"
            ),
        },
    })
}

/// What [`import_checkpoint`] did, also written as `import.json` in the run directory.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRecord {
    /// The checkpoint file.
    pub checkpoint: String,
    /// Its SHA-256.
    pub checkpoint_sha256: String,
    /// Its `epoch` entry, when it has one.
    pub epoch: Option<i64>,
    /// The architecture read from it.
    pub architecture: Architecture,
    /// The discriminator's file and SHA-256, or `None`: then the run's discriminator is freshly
    /// initialised, not the authors'.
    pub discriminator: Option<(String, String)>,
    /// Always true: the optimiser states are fresh (the authors' file holds none that we read),
    /// so training on from this checkpoint is not the authors' training.
    pub fresh_optimiser_state: bool,
}

/// Converts the authors' checkpoint `checkpoint` (and, if given, their discriminator file) into a
/// new run directory `run_dir` whose `best` checkpoint holds its weights, under the configuration
/// `config` (a preset or layer, `preset` and `overrides` as `seje train` takes them) with the
/// `[model]` keys set to the architecture read from the file.
///
/// Errors: those of [`read_architecture`] and of the configuration; `run_dir` already holds a
/// run; a discriminator whose tensors do not fit (names the tensor, expected and found).
pub fn import_checkpoint(
    checkpoint: &Path,
    discriminator: Option<&Path>,
    config: &Path,
    preset: Option<&str>,
    overrides: &[String],
    run_dir: &Path,
) -> Result<ImportRecord> {
    let file = read_torch_file(checkpoint)?;
    let tensors = state_dict_of(&file, checkpoint, Some("state_dict"))?;
    let architecture = read_architecture(&tensors, checkpoint)?;
    tracing::info!(architecture = %architecture.render(), "authors' checkpoint");
    let mut sets = overrides.to_vec();
    sets.extend(architecture.overrides());
    let cfg = TrainConfig::load_with_preset(config, preset, &sets)?;
    // Everything that can fail before the run directory exists.
    let mut trainer = new_trainer(&cfg, Device::Cpu)?;
    load_into(&trainer.vs, checkpoint, tensors, authors_checkpoint_name)?;
    let discriminator = match (discriminator, &mut trainer.disc) {
        (Some(file), Some((dvs, _))) => {
            load_into(
                dvs,
                file,
                read_state_dict(file, Some("state_dict"))?,
                authors_checkpoint_name,
            )?;
            Some((file.display().to_string(), crate::files::sha256_file(file)?))
        }
        (Some(file), None) => {
            return Err(Error::Invalid {
                what: format!("discriminator {}", file.display()),
                problem: "the configuration has no discriminator (alignment weight 0)".into(),
            })
        }
        (None, _) => None,
    };
    let epoch = file.get("epoch").and_then(|v| v.as_int());
    drop(file);
    let record = ImportRecord {
        checkpoint: checkpoint.display().to_string(),
        checkpoint_sha256: crate::files::sha256_file(checkpoint)?,
        epoch,
        architecture,
        discriminator,
        fresh_optimiser_state: true,
    };

    let run = RunDir::open(run_dir, &cfg, false, false)?;
    let (git_commit, git_dirty) = run_dir::source_version();
    let mut inputs = vec![(record.checkpoint.clone(), record.checkpoint_sha256.clone())];
    inputs.extend(record.discriminator.clone());
    run.write_manifest(&Manifest {
        seje_version: env!("CARGO_PKG_VERSION").into(),
        git_commit,
        git_dirty,
        libtorch_version: crate::runtime::LIBTORCH_VERSION.into(),
        device: "Cpu".into(),
        seed: cfg.run.seed,
        config_hash: cfg.hash(),
        inputs,
        splits: None,
    })?;
    let state = TrainState {
        epoch: epoch.map_or(0, |e| e.max(0) as usize),
        finished: true,
        ..TrainState::start()
    };
    run.save_checkpoint("best", &trainer, &state)?;
    let text = serde_json::to_string_pretty(&record).expect("an import record serialises");
    crate::files::write_atomic(&run_dir.join(IMPORT_FILE), text.as_bytes())?;
    Ok(record)
}

/// The record of an imported run, next to its `config.toml`.
pub const IMPORT_FILE: &str = "import.json";
