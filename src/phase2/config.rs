//! Training configuration: a TOML tree with unknown keys rejected, `--set key=value` overrides,
//! and a content hash that identifies a run's configuration.
//!
//! Spec: spec/phase2-training-config.md. Values and their sources live in
//! `paper/configs/paper.toml` (each key commented with where it comes from).

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::phase2::backbone::BackboneConfig;
use crate::phase2::model::ModelConfig;
use crate::phase2::objective::ObjectiveConfig;
use crate::phase2::recipe_encoder::RecipeEncoderConfig;

/// Everything a training run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds, device, threads.
    pub run: RunSection,
    /// Where the data and the Phase I features are, and the image transforms' sizes.
    pub data: DataSection,
    /// The network.
    pub model: ModelSection,
    /// The loss.
    pub objective: ObjectiveConfig,
    /// Optimiser and batch.
    pub optim: OptimSection,
    /// The authors' two-stage schedule and model selection.
    pub schedule: ScheduleSection,
}

/// `[run]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Seed of libtorch, of the data order and of the gradient-penalty stream.
    pub seed: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// CPU threads for libtorch (0: libtorch's default).
    pub threads: usize,
    /// `f32`, or `bf16` (CUDA autocast in bfloat16 for the forward pass and the losses).
    pub precision: Precision,
    /// cudnn picks convolution kernels by timing them (faster, not bit-reproducible).
    pub cudnn_benchmark: bool,
}

/// Arithmetic of the training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in float32.
    F32,
    /// CUDA autocast in bfloat16 (parameters, gradients and optimiser state stay float32).
    Bf16,
}

/// `[data]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// A Recipe1M-format dataset root (`layer1.json`, `layer2.json`, `det_ingrs.json`, `images/`),
    /// relative paths resolved against the config file's directory.
    pub root: String,
    /// The Phase I feature store directory.
    pub features: String,
    /// Shorter image side after resizing (256 in the paper).
    pub resize: u32,
    /// Side of the square crop fed to the CNN (224 in the paper).
    pub crop: u32,
    /// Loader threads.
    pub workers: usize,
    /// A missing or undecodable image: `fail` (stop, naming it) or `skip` (leave it out, counted
    /// in the metrics).
    pub images: String,
}

/// `[model]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// `resnet50`, `resnext101_32x8d`, `wide_resnet50_2` or `tiny`.
    pub backbone: String,
    /// Width of f_cat.
    pub category_feature: i64,
    /// Width of a sentence feature.
    pub sentence: i64,
    /// LSTM hidden width.
    pub hidden: i64,
    /// Width of f_term.
    pub term: i64,
    /// Joint embedding width.
    pub embedding: i64,
    /// Categories of the shared head.
    pub classes: i64,
    /// torchvision weights of the backbone (`.pth` or `.safetensors`), relative to the config
    /// file's directory; empty: the backbone starts from PyTorch's random initialisation.
    pub pretrained: String,
    /// Feed f_term (off: zeros, an ablation; the architecture is unchanged).
    pub use_term_feature: bool,
    /// Feed f_cat (off: zeros, an ablation; the architecture is unchanged).
    pub use_category_feature: bool,
}

impl ModelSection {
    /// The network this section describes.
    pub fn model_config(&self) -> Result<ModelConfig> {
        Ok(ModelConfig {
            backbone: BackboneConfig::by_name(&self.backbone)?,
            category_feature: self.category_feature,
            recipe: RecipeEncoderConfig {
                sentence: self.sentence,
                hidden: self.hidden,
                term: self.term,
                embedding: self.embedding,
            },
            classes: Some(self.classes),
        })
    }
}

/// `[optim]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    /// Learning rate of stage 1 (model and discriminator).
    pub lr: f64,
    /// Learning rate after the stage switch.
    pub lr_stage2: f64,
    /// Pairs per batch.
    pub batch_size: usize,
}

/// `[schedule]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSection {
    /// Epochs without validation improvement before the learning rate drops (stage 1 → 2).
    pub stage1_patience: usize,
    /// Epochs without improvement in stage 2 before the run stops.
    pub stage2_patience: usize,
    /// Upper bound on epochs.
    pub max_epochs: usize,
    /// Size of each validation subset (1000).
    pub validation_size: usize,
    /// Number of validation subsets (10).
    pub validation_repeats: usize,
    /// Weights of R@1, R@5, R@10 in the model-selection score.
    pub score_weights: [f64; 3],
}

impl TrainConfig {
    /// Reads a TOML file, applies `KEY=VALUE` overrides (dotted keys, TOML values; a value that
    /// does not parse as TOML is taken as a string) and checks the result. Relative `data.root`,
    /// `data.features` and `model.pretrained` are resolved against the file's directory, so the resolved
    /// configuration a run stores names its inputs wherever it is read from.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            file: path.display().to_string(),
            problem: e.to_string(),
        })?;
        let mut cfg = Self::parse(&text, &path.display().to_string(), overrides)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        for p in [
            &mut cfg.data.root,
            &mut cfg.data.features,
            &mut cfg.model.pretrained,
        ] {
            if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                *p = lexical_join(&base, p).display().to_string();
            }
        }
        Ok(cfg)
    }

    /// [`TrainConfig::load`] on text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<Self> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Config {
            origin: origin.into(),
            problem: e.to_string().trim_end().to_string(),
        })?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let cfg: TrainConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config {
                origin: origin.into(),
                problem: e.to_string().trim_end().to_string(),
            })?;
        cfg.objective.validate()?;
        cfg.model.model_config()?;
        crate::runtime::parse_device(&cfg.run.device)?;
        cfg.data
            .images
            .parse::<crate::data::images::ImagePolicy>()
            .map_err(|problem| Error::Config {
                origin: origin.into(),
                problem: format!("data.images: {problem}"),
            })?;
        if cfg.optim.batch_size < 2 {
            return Err(Error::Config {
                origin: origin.into(),
                problem: "optim.batch_size must be at least 2".into(),
            });
        }
        Ok(cfg)
    }

    /// The resolved configuration as TOML (what a run directory stores).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a TrainConfig always serialises")
    }

    /// SHA-256 of the resolved TOML: two runs with equal hashes were configured identically.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_toml().as_bytes()))
    }
}

/// `base/rel` with `.` and `..` components folded away (no file system access).
fn lexical_join(base: &Path, rel: &str) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Sets `a.b.c = value` in a TOML table; the key must already exist (typos are errors).
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let bad = |problem: String| Error::Config {
        origin: format!("--set {assignment}"),
        problem,
    };
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE".into()))?;
    let (key, raw) = (key.trim(), raw.trim());
    let value: toml::Value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts
        .pop()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| bad("empty key".into()))?;
    let mut node = table;
    for (i, p) in parts.iter().enumerate() {
        node = node
            .get_mut(*p)
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| {
                bad(format!(
                    "no section `{}` in the config",
                    parts[..=i].join(".")
                ))
            })?;
    }
    if !node.contains_key(last) {
        return Err(bad(format!("no key `{key}` in the config")));
    }
    node.insert(last.to_string(), value);
    Ok(())
}
