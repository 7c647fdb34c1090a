//! Training configuration: a TOML tree with unknown keys rejected, presets and the layers that
//! resize them, `--set key=value` overrides, and a content hash that identifies a run's
//! configuration.
//!
//! Spec: spec/phase2-training-config.md. Two presets hold complete behaviours, each key saying
//! where its value comes from: `paper/configs/paper.toml` (our reading of the paper) and
//! `paper/configs/authors-code.toml` (the released code, key by key with file:line). A layer
//! (`fixture-mini.toml`, `synthetic.toml`) names the preset it `extends` and changes sizes only;
//! `--preset NAME` swaps the preset under a layer.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::splits::{RuleName, SplitRule};
use crate::error::{Error, Result};
use crate::nn::adam::AdamKernel;
use crate::nn::backbone::BackboneConfig;
use crate::phase2::model::ModelConfig;
use crate::phase2::objective::ObjectiveConfig;
use crate::phase2::recipe_encoder::RecipeEncoderConfig;

/// Everything a training run needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The behaviour preset the configuration was resolved from (`paper`, `authors-code`):
    /// named in every run directory and every table made from it.
    pub preset: String,
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
    /// Which recipes are pairs when im2recipe's key files are absent from `root`:
    /// `im2recipe` (its LMDBs' rule, which needs `split_vocab`) or `valid-count` (this package's
    /// rule; the default, so configurations written before the key existed keep their meaning).
    /// The Phase I feature stores must record the same splits (spec/data-recipe1m.md).
    #[serde(default)]
    pub split_rule: RuleName,
    /// The word2vec vocabulary of the im2recipe rule: Phase I's `vocab.bin` or a `vocab.txt`
    /// word list, relative to the config file's directory; empty for the valid-count rule.
    #[serde(default)]
    pub split_vocab: String,
}

impl DataSection {
    /// The split rule these keys name, its vocabulary read; when `root` holds im2recipe's key
    /// files, which define the splits whatever the rule, the vocabulary is not read (it need not
    /// exist).
    ///
    /// Errors: an incomplete set of key files; those of
    /// [`crate::phase1::split_vocabulary::split_rule`].
    pub fn split_rule(&self) -> Result<SplitRule> {
        let vocab = (!self.split_vocab.is_empty()).then(|| Path::new(&self.split_vocab));
        crate::phase1::split_vocabulary::split_rule_for(
            Path::new(&self.root),
            self.split_rule,
            vocab,
            "data.split_rule",
        )
    }
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
    /// The implementation of Adam's update: `single` (PyTorch's single-tensor path, the default
    /// and the only one in the authors' PyTorch 1.x), `foreach` or `fused` (libtorch's kernels,
    /// the same update to rounding; spec/phase2-adam.md). Left out when `single`, so the
    /// configurations (and digests) of runs made before the choice existed are unchanged.
    #[serde(default, skip_serializing_if = "AdamKernel::is_single")]
    pub adam: AdamKernel,
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
    /// Reads a TOML file (a preset, or a layer over the preset it `extends`), applies
    /// `KEY=VALUE` overrides (dotted keys, TOML values; a value that does not parse as TOML is
    /// taken as a string) and checks the result. Relative `data.root`, `data.features` and
    /// `model.pretrained` are resolved against the directory of the file that sets them (an
    /// override's against `path`'s), so the resolved configuration a run stores names its inputs
    /// wherever it is read from.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        Self::load_with_preset(path, None, overrides)
    }

    /// [`TrainConfig::load`] with the layer's preset replaced by `preset`: a name (`paper`,
    /// `authors-code`: `NAME.toml` next to `path`) or a path to a preset file. Refused when
    /// `path` is itself a preset.
    pub fn load_with_preset(
        path: &Path,
        preset: Option<&str>,
        overrides: &[String],
    ) -> Result<Self> {
        let origin = path.display().to_string();
        let mut table = read_layers(path, preset, 0)?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        resolve_paths(&mut table, &absolute_dir(path));
        Self::from_table(table, &origin)
    }

    /// [`TrainConfig::load`] on text; `origin` names it in errors.
    /// The text must be a complete configuration (a layer's `extends` needs [`TrainConfig::load`],
    /// which knows where the layer lives).
    pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<Self> {
        let mut table = parse_table(text, origin)?;
        if table.contains_key(EXTENDS) {
            return Err(Error::Config {
                origin: origin.into(),
                problem: "a layer (`extends = ...`) must be read from its file".into(),
            });
        }
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        Self::from_table(table, origin)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Self> {
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
        if cfg.run.seed > u64::from(u32::MAX) {
            return Err(Error::Config {
                origin: origin.into(),
                problem: format!(
                    "run.seed = {} is not below 2^32 (NumPy's seed range, which the gradient \
                     penalty's α stream follows)",
                    cfg.run.seed
                ),
            });
        }
        match (cfg.data.split_rule, cfg.data.split_vocab.is_empty()) {
            (RuleName::Im2recipe, true) => {
                return Err(Error::Config {
                    origin: origin.into(),
                    problem: "data.split_rule = \"im2recipe\" needs data.split_vocab (Phase I's \
                              vocab.bin or a vocab.txt word list)"
                        .into(),
                })
            }
            (RuleName::ValidCount, false) => {
                return Err(Error::Config {
                    origin: origin.into(),
                    problem: format!(
                        "data.split_vocab = {:?} is set, but the valid-count rule reads no \
                         vocabulary (data.split_rule = \"im2recipe\" does)",
                        cfg.data.split_vocab
                    ),
                })
            }
            _ => {}
        }
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

/// The key by which a layer names the preset (or layer) below it.
const EXTENDS: &str = "extends";

/// Layers deeper than this are refused (a cycle would otherwise never end).
const MAX_LAYERS: usize = 8;

/// The keys holding paths that are resolved against the directory of the file setting them.
const PATH_KEYS: [(&str, &str); 4] = [
    ("data", "root"),
    ("data", "features"),
    ("data", "split_vocab"),
    ("model", "pretrained"),
];

fn parse_table(text: &str, origin: &str) -> Result<toml::Table> {
    text.parse().map_err(|e: toml::de::Error| Error::Config {
        origin: origin.into(),
        problem: e.to_string().trim_end().to_string(),
    })
}

fn absolute_dir(file: &Path) -> std::path::PathBuf {
    let base = file.parent().unwrap_or(Path::new("."));
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf())
}

/// Makes the relative, non-empty path keys of `table` absolute against `base`.
fn resolve_paths(table: &mut toml::Table, base: &Path) {
    for (section, key) in PATH_KEYS {
        if let Some(toml::Value::String(p)) = table
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
            .and_then(|t| t.get_mut(key))
        {
            if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                *p = lexical_join(base, p).display().to_string();
            }
        }
    }
}

/// Where `--preset NAME` points from a layer in `dir`: `NAME` itself when it names a file
/// (`.toml`, or a path with a separator), else `dir/NAME.toml`.
fn preset_file(name: &str, dir: &Path) -> std::path::PathBuf {
    if name.ends_with(".toml") || name.contains(std::path::MAIN_SEPARATOR) || name.contains('/') {
        std::path::PathBuf::from(name)
    } else {
        dir.join(format!("{name}.toml"))
    }
}

/// Whether `path` is a layer (a readable TOML file with `extends`); anything else is not.
fn is_layer(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key(EXTENDS))
}

/// The table of `path` with everything it extends merged under it; `preset` replaces the
/// preset at the bottom of its layers (the `extends` of the last layer).
fn read_layers(path: &Path, preset: Option<&str>, depth: usize) -> Result<toml::Table> {
    let origin = path.display().to_string();
    if depth >= MAX_LAYERS {
        return Err(Error::Config {
            origin,
            problem: format!("more than {MAX_LAYERS} layers of `extends` (a cycle?)"),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(origin.clone(), e))?;
    let mut table = parse_table(&text, &origin)?;
    let dir = absolute_dir(path);
    resolve_paths(&mut table, &dir);
    let extends = match table.remove(EXTENDS) {
        None => {
            return match preset {
                None => Ok(table),
                Some(p) => Err(Error::Config {
                    origin,
                    problem: format!(
                        "is a complete configuration (preset `{}`), not a layer; --preset {p} \
                         applies to a layer such as fixture-mini.toml",
                        table
                            .get("preset")
                            .and_then(toml::Value::as_str)
                            .unwrap_or("?")
                    ),
                }),
            }
        }
        Some(toml::Value::String(e)) => e,
        Some(other) => {
            return Err(Error::Config {
                origin,
                problem: format!("`{EXTENDS}` must be a file name, got {other}"),
            })
        }
    };
    if table.contains_key("preset") {
        return Err(Error::Config {
            origin,
            problem: "a layer cannot set `preset`: it takes the preset it extends".into(),
        });
    }
    // `--preset` replaces the preset at the bottom of the layers: a layer that extends another
    // layer passes it down.
    let lexical = lexical_join(&dir, &extends);
    let (below, preset) = match preset {
        Some(p) if is_layer(&lexical) => (lexical, Some(p)),
        Some(p) => (preset_file(p, &dir), None),
        None => (lexical, None),
    };
    if !below.is_file() {
        return Err(Error::Config {
            origin,
            problem: format!(
                "extends {}, which does not exist (the presets are paper/configs/paper.toml \
                 and paper/configs/authors-code.toml)",
                below.display()
            ),
        });
    }
    let mut base = read_layers(&below, preset, depth + 1)?;
    merge(&mut base, table, &origin, "")?;
    Ok(base)
}

/// Writes every value of `layer` over `base`; a key the base lacks is a typo, named.
fn merge(base: &mut toml::Table, layer: toml::Table, origin: &str, prefix: &str) -> Result<()> {
    for (key, value) in layer {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(l)) => merge(b, l, origin, &dotted)?,
            (Some(slot), value) => *slot = value,
            (None, _) => {
                return Err(Error::Config {
                    origin: origin.into(),
                    problem: format!("no key `{dotted}` in the preset it extends"),
                })
            }
        }
    }
    Ok(())
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
