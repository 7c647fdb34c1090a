//! Phase I categoriser training, what `seje features categoriser` runs: a ResNet-family
//! classifier fine-tuned on a Food-101-format directory (from ImageNet weights with a new `fc`,
//! or from scratch) with SGD + momentum under a per-iteration cosine learning rate, evaluated
//! (top-1, top-5) on the test split after every epoch, with per-epoch checkpoints and exact
//! resume; the result loads with [`load_trained`] or `seje classify`.
//!
//! Spec: spec/phase1-categoriser-training.md. Paper: Phase I image categorisation, §4.e in our
//! reconstruction (WideResNet-50-2 fine-tuned on Food-101; the fine-tuning hyper-parameters are
//! not given).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::checkpoint;
use crate::checkpoint::epoch::{EpochCheckpoint, EpochState};
use crate::data::feature_store::config_sha256;
use crate::data::food101::{read_food101, read_labels};
use crate::data::images::decode_bytes;
use crate::data::loader::epoch_order;
use crate::data::transforms::{self, sample_rng, Mode, TransformConfig};
use crate::files::{sha256_file, write_atomic};
use crate::nn::backbone::{Backbone, BackboneConfig};
use crate::nn::sgd::{Sgd, SgdConfig};
use crate::phase1::categoriser::Categoriser;
use crate::{Error, Result};

/// The trained weights in `OUT` (torchvision names, `fc` with the dataset's classes).
pub const MODEL_FILE: &str = "model.safetensors";
/// The class names in `OUT`, in `fc` order.
pub const CLASSES_FILE: &str = "classes.txt";
/// The description in `OUT` ([`TrainedInfo`]).
pub const INFO_FILE: &str = "categoriser.json";
/// The checkpoint directory inside `OUT`.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// Set to an epoch number, the process aborts right after saving that epoch's checkpoint (the
/// resume test's fault injection).
pub const ABORT_ENV: &str = "SEJE_FAULT_ABORT_AFTER_CATEGORISER_EPOCH";

/// Settings of [`train_categoriser`]; [`Default`] is the paper's architecture with this
/// package's fine-tuning choices (spec/phase1-categoriser-training.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoriserTrainingConfig {
    /// `wide_resnet50_2`, `resnet50`, `resnext101_32x8d` or `tiny`.
    pub arch: String,
    /// Shorter side after resizing (training also centre-crops this square).
    pub image_size: u32,
    /// Side of the square fed to the network.
    pub crop: u32,
    /// Epochs over the training split.
    pub epochs: usize,
    /// Images per batch.
    pub batch: usize,
    /// Peak (initial) learning rate of the cosine schedule.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay (every parameter).
    pub weight_decay: f64,
    /// Seed of the initialisation, the per-epoch order and the augmentation.
    pub seed: u64,
}

impl Default for CategoriserTrainingConfig {
    fn default() -> Self {
        Self {
            arch: "wide_resnet50_2".into(),
            image_size: 256,
            crop: 224,
            epochs: 10,
            batch: 64,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 1e-4,
            seed: 1234,
        }
    }
}

impl CategoriserTrainingConfig {
    fn transform(&self) -> TransformConfig {
        TransformConfig::sized(self.image_size, self.crop)
    }

    fn validate(&self) -> Result<()> {
        BackboneConfig::by_name(&self.arch)?;
        self.transform().validate()?;
        let bad = |p: &str| {
            Err(Error::Invalid {
                what: "categoriser training config".into(),
                problem: p.into(),
            })
        };
        if self.crop < 32 {
            return bad("crop must be at least 32 (the backbone's smallest input)");
        }
        if self.epochs < 1 || self.batch < 2 {
            return bad("epochs must be at least 1 and batch at least 2");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr must be a positive number");
        }
        if !(0.0..1.0).contains(&self.momentum)
            || !self.weight_decay.is_finite()
            || self.weight_decay < 0.0
        {
            return bad("momentum must be in [0, 1) and weight decay non-negative");
        }
        Ok(())
    }
}

/// The learning rate of iteration `t` (0-based) of `total`: `lr · ½(1 + cos(π t / total))`
/// (PyTorch's `CosineAnnealingLR` with `T_max = total`, `eta_min = 0`, stepped per iteration).
pub fn cosine_lr(lr: f64, t: usize, total: usize) -> f64 {
    lr * 0.5 * (1.0 + (std::f64::consts::PI * t as f64 / total.max(1) as f64).cos())
}

/// The stage [`train_categoriser`] reports progress of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Training epoch `epoch` (1-based; value: batches done).
    Train {
        /// The epoch.
        epoch: usize,
        /// Batches in the epoch.
        batches: u64,
    },
    /// Testing after epoch `epoch` (value: batches done).
    Test {
        /// The epoch.
        epoch: usize,
        /// Batches of the test split.
        batches: u64,
    },
}

/// One epoch's line of `metrics.jsonl` in the checkpoint directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training cross-entropy over the epoch's batches.
    pub loss: f64,
    /// Test top-1 accuracy (share of test images).
    pub top1: f64,
    /// Test top-5 accuracy (top-k with k = min(5, classes)).
    pub top5: f64,
    /// Learning rate of the epoch's last iteration.
    pub lr: f64,
    /// Wall-clock seconds (training and testing).
    pub seconds: f64,
}

/// `OUT/categoriser.json`: what [`load_trained`] needs and the final metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedInfo {
    /// Architecture (`seje classify --arch`).
    pub arch: String,
    /// Number of classes (`fc` rows; names in `classes.txt`).
    pub classes: usize,
    /// Shorter side of the evaluation transform (`seje classify --resize`).
    pub image_size: u32,
    /// Centre crop of the evaluation transform (`seje classify --crop`).
    pub crop: u32,
    /// Epochs trained.
    pub epochs: usize,
    /// Test top-1 after the last epoch.
    pub top1: f64,
    /// Test top-5 after the last epoch.
    pub top5: f64,
    /// The whole training configuration.
    pub config: CategoriserTrainingConfig,
    /// SHA-256 of the `--init` weights, if any.
    pub init_sha256: Option<String>,
}

/// What [`train_categoriser`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoriserTrainingSummary {
    /// Classes.
    pub classes: usize,
    /// Training images.
    pub train: usize,
    /// Test images.
    pub test: usize,
    /// Epoch the training resumed from (0 when it started fresh).
    pub resumed_from: usize,
    /// Every epoch's record, the earlier ones from the checkpoint.
    pub epochs: Vec<EpochRecord>,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl CategoriserTrainingSummary {
    /// The lines `seje features categoriser` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "data        {} classes, {} train / {} test images (chance top-1 {:.2}%)",
            self.classes,
            self.train,
            self.test,
            100.0 / self.classes as f64
        );
        if self.resumed_from > 0 {
            let _ = writeln!(s, "resumed     after epoch {}", self.resumed_from);
        }
        for e in &self.epochs {
            let _ = writeln!(
                s,
                "epoch {:>3}   loss {:.4}  top-1 {:.2}%  top-5 {:.2}%  (lr {:.2e}, {:.1} s)",
                e.epoch,
                e.loss,
                100.0 * e.top1,
                100.0 * e.top5,
                e.lr,
                e.seconds
            );
        }
        for f in &self.files {
            let _ = writeln!(s, "wrote       {}", f.display());
        }
        s
    }
}

/// A batch of images `[B, 3, crop, crop]` (float32, on `device`) and their labels `[B]`.
#[allow(clippy::too_many_arguments)]
fn batch(
    root: &Path,
    items: &[(String, usize)],
    which: &[usize],
    cfg: &TransformConfig,
    mode: Mode,
    seed: u64,
    epoch: u64,
    device: Device,
) -> Result<(Tensor, Tensor)> {
    let pixels: Vec<Vec<f32>> = which
        .par_iter()
        .map(|&i| {
            let rel = &items[i].0;
            let bytes = std::fs::read(root.join(rel))
                .map_err(|e| Error::io(format!("{}/{rel}", root.display()), e))?;
            let img = decode_bytes(bytes).map_err(|problem| Error::Invalid {
                what: format!("image {}/{rel}", root.display()),
                problem,
            })?;
            let mut rng = sample_rng(seed, epoch, i as u64);
            let named = transforms::naming(format!("{}/{rel}", root.display()));
            Ok(transforms::transform(&img, cfg, mode, &mut rng)
                .map_err(named)?
                .0)
        })
        .collect::<Result<_>>()?;
    let c = i64::from(cfg.crop);
    let flat: Vec<f32> = pixels.concat();
    let labels: Vec<i64> = which.iter().map(|&i| items[i].1 as i64).collect();
    Ok((
        Tensor::from_slice(&flat)
            .view([which.len() as i64, 3, c, c])
            .to_device(device),
        Tensor::from_slice(&labels).to_device(device),
    ))
}

/// Top-1 and top-k (k = min(5, classes)) accuracy of `model` on `items`, batch norm in
/// evaluation mode, the evaluation transform.
#[allow(clippy::too_many_arguments)]
fn evaluate(
    model: &Backbone,
    root: &Path,
    items: &[(String, usize)],
    classes: usize,
    cfg: &CategoriserTrainingConfig,
    device: Device,
    epoch: usize,
    progress: &dyn Fn(Stage, u64),
) -> Result<(f64, f64)> {
    let _guard = tch::no_grad_guard();
    let order: Vec<usize> = (0..items.len()).collect();
    let batches = order.len().div_ceil(cfg.batch) as u64;
    let k = classes.min(5) as i64;
    let (mut top1, mut topk) = (0i64, 0i64);
    for (b, chunk) in order.chunks(cfg.batch).enumerate() {
        let (x, y) = batch(
            root,
            items,
            chunk,
            &cfg.transform(),
            Mode::Eval,
            cfg.seed,
            0,
            device,
        )?;
        let logits = model.logits(&x, false)?; // [B, C]
        let (_, idx) = logits.topk(k, 1, true, true); // [B, k]
        let hit = idx.eq_tensor(&y.unsqueeze(1)); // [B, k]
        top1 += hit.select(1, 0).sum(Kind::Int64).int64_value(&[]);
        topk += hit.any_dim(1, false).sum(Kind::Int64).int64_value(&[]);
        progress(Stage::Test { epoch, batches }, b as u64 + 1);
    }
    let n = items.len() as f64;
    Ok((top1 as f64 / n, topk as f64 / n))
}

/// Copies the trunk of `init` (a `torch.save` state dict or `.safetensors`, torchvision names;
/// `fc.*` and `num_batches_tracked` skipped) into `vs`, whose model is `arch` with a new `fc`.
fn load_init(vs: &nn::VarStore, arch: &BackboneConfig, init: &Path) -> Result<()> {
    let tensors = if init.extension().is_some_and(|e| e == "safetensors") {
        checkpoint::safetensors::read_safetensors(init)?
    } else {
        checkpoint::read_state_dict(init, None)?
    };
    let tmp = nn::VarStore::new(Device::Cpu);
    let _trunk = Backbone::new(tmp.root(), &arch.with_classes(None));
    let report = checkpoint::load_into(&tmp, init, tensors, |name| {
        if name.starts_with("fc.") {
            None
        } else {
            checkpoint::torchvision_name(name)
        }
    })?;
    let source = tmp.variables();
    let mut target = vs.variables();
    tch::no_grad(|| {
        for (name, t) in &source {
            if let Some(v) = target.get_mut(name) {
                v.copy_(t);
            }
        }
    });
    tracing::info!(file = %init.display(), loaded = report.loaded, "initial weights loaded (new fc)");
    Ok(())
}

/// Saves `vs` to `path` through a `.partial` file and a rename.
fn save_weights(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let tmp = path.with_extension("partial.safetensors");
    vs.save(&tmp).map_err(|e| Error::torch_file(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Whether `cfg` is sized for a GPU: a full ResNet-family network (not `tiny`) at 160 pixels or
/// more (the paper's is WideResNet-50-2 at 224).
pub fn sized_for_a_gpu(cfg: &CategoriserTrainingConfig) -> bool {
    cfg.arch != "tiny" && cfg.crop >= 160
}

/// Estimates the whole training of `cfg` on `device` from timed steps (forward, backward and
/// update of a fresh model on the first training images), without running a full batch: a
/// step of 4 images, then one of 8, extrapolated linearly to `cfg.batch` images for the time and
/// for the peak memory (a batch of at most 8 is timed as it is). Every epoch's batches are counted
/// (the test passes, forward only, come on top). Nothing is written.
pub fn time_first_batch(
    root: &Path,
    cfg: &CategoriserTrainingConfig,
    device: Device,
) -> Result<crate::runtime::heavy::Estimate> {
    use crate::runtime::heavy::{peak_memory_bytes, Estimate};
    cfg.validate()?;
    let set = read_food101(root)?;
    let arch = BackboneConfig::by_name(&cfg.arch)?.with_classes(Some(set.classes.len() as i64));
    let vs = nn::VarStore::new(device);
    let model = Backbone::new(vs.root(), &arch);
    let mut sgd = Sgd::new(
        &vs,
        SgdConfig {
            lr: cfg.lr,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
        },
    );
    let mut step = |n: usize| -> Result<(f64, Option<u64>)> {
        let which: Vec<usize> = (0..n.min(set.train.len()).max(2)).collect();
        let start = std::time::Instant::now();
        let (x, y) = batch(
            root,
            &set.train,
            &which,
            &cfg.transform(),
            Mode::Train,
            cfg.seed,
            1,
            device,
        )?;
        sgd.zero_grad();
        let loss = model.logits(&x, true)?.cross_entropy_for_logits(&y);
        loss.backward();
        sgd.step();
        let _ = loss.double_value(&[]); // waits for the device
        Ok((start.elapsed().as_secs_f64(), peak_memory_bytes()))
    };
    let b = cfg.batch as f64;
    let (seconds, memory) = if cfg.batch <= 8 {
        step(cfg.batch)?
    } else {
        let (t4, m4) = step(4)?;
        let (t8, m8) = step(8)?;
        let per_image = ((t8 - t4) / 4.0).max(t8 / 8.0 * 0.5);
        let memory = match (m4, m8) {
            (Some(m4), Some(m8)) => {
                Some(m8 + (m8.saturating_sub(m4) as f64 * (b - 8.0) / 4.0) as u64)
            }
            _ => None,
        };
        (t8 + per_image * (b - 8.0), memory)
    };
    Ok(Estimate {
        job: format!(
            "training the categoriser {} at {} px ({} epochs of batch {})",
            cfg.arch, cfg.crop, cfg.epochs, cfg.batch
        ),
        per_batch: std::time::Duration::from_secs_f64(seconds),
        batches: Some((cfg.epochs * set.train.len().div_ceil(cfg.batch)) as u64),
        peak_memory_bytes: memory,
    })
}

/// Fine-tunes `cfg.arch` on the Food-101-format directory `root` and writes `out/model.safetensors`,
/// `out/classes.txt` and `out/categoriser.json`; checkpoints go to `out/checkpoint/` after every
/// epoch, and a rerun with the same settings, data and `init` resumes after the last completed
/// epoch (a finished checkpoint is reused without training). On the CPU with one libtorch thread
/// the same inputs and seed give the same bytes.
///
/// Errors: [`read_food101`](crate::data::food101::read_food101)'s; bad settings; unreadable or mismatched `init` weights; an image
/// that cannot be decoded; a non-finite loss; a checkpoint from other settings (unless `force`,
/// which starts over); `out` cannot be written.
pub fn train_categoriser(
    root: &Path,
    out: &Path,
    init: Option<&Path>,
    cfg: &CategoriserTrainingConfig,
    device: Device,
    force: bool,
    progress: &dyn Fn(Stage, u64),
) -> Result<CategoriserTrainingSummary> {
    cfg.validate()?;
    let set = read_food101(root)?;
    let n_classes = set.classes.len();
    tracing::info!(
        classes = n_classes,
        train = set.train.len(),
        test = set.test.len(),
        "food-101-format set read"
    );
    let init_sha256 = init.map(sha256_file).transpose()?;

    let mut fp = serde_json::to_string(cfg).expect("config serialises");
    fp.push('\n');
    fp.push_str(init_sha256.as_deref().unwrap_or("scratch"));
    for (name, list) in [("train", &set.train), ("test", &set.test)] {
        fp.push_str(name);
        for (rel, label) in list {
            let _ = write!(fp, "\n{rel}\t{label}");
        }
    }
    fp.push_str(&set.classes.join("\n"));
    let fingerprint = config_sha256(fp.as_bytes());

    let arch = BackboneConfig::by_name(&cfg.arch)?.with_classes(Some(n_classes as i64));
    let rng = crate::runtime::torch_rng_lock();
    tch::manual_seed(cfg.seed as i64);
    let mut vs = nn::VarStore::new(device);
    let model = Backbone::new(vs.root(), &arch);
    drop(rng);
    if let Some(init) = init {
        load_init(&vs, &arch, init)?;
    }
    let mut sgd = Sgd::new(
        &vs,
        SgdConfig {
            lr: cfg.lr,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
        },
    );

    let ckpt = out.join(CHECKPOINT_DIR);
    let saved = EpochCheckpoint::create(&ckpt)?;
    let mut state = EpochState {
        fingerprint: fingerprint.clone(),
        epochs_done: 0,
        records: Vec::new(),
    };
    if let Some((resumed, optim)) = saved.resume(
        &fingerprint,
        force,
        "other settings, initial weights or data; pass --force to start over, or another --out",
        &mut vs,
    )? {
        sgd.load_state(optim)?;
        state = resumed;
        tracing::info!(
            epochs_done = state.epochs_done,
            "categoriser training resumed"
        );
    }
    let resumed_from = state.epochs_done;

    let n_train = set.train.len();
    let batches = n_train.div_ceil(cfg.batch);
    let total = cfg.epochs * batches;
    let abort_at: Option<usize> = std::env::var(ABORT_ENV).ok().and_then(|v| v.parse().ok());
    for epoch in state.epochs_done + 1..=cfg.epochs {
        let start = std::time::Instant::now();
        let order = epoch_order(n_train, cfg.seed, epoch as u64, true);
        let (mut sum, mut counted) = (0f64, 0usize);
        let mut lr = cfg.lr;
        for (b, chunk) in order.chunks(cfg.batch).enumerate() {
            if chunk.len() < 2 {
                // Batch norm in training mode cannot normalise a single image at 1×1.
                tracing::warn!(epoch, "last batch of one image skipped");
                continue;
            }
            let (x, y) = batch(
                root,
                &set.train,
                chunk,
                &cfg.transform(),
                Mode::Train,
                cfg.seed,
                epoch as u64,
                device,
            )?;
            lr = cosine_lr(cfg.lr, (epoch - 1) * batches + b, total);
            sgd.set_lr(lr);
            sgd.zero_grad();
            let loss = model.logits(&x, true)?.cross_entropy_for_logits(&y);
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    term: "categoriser cross-entropy".into(),
                    problem: format!("epoch {epoch}, batch {}", b + 1),
                });
            }
            loss.backward();
            sgd.step();
            sum += value;
            counted += 1;
            progress(
                Stage::Train {
                    epoch,
                    batches: batches as u64,
                },
                b as u64 + 1,
            );
        }
        let (top1, top5) = evaluate(
            &model, root, &set.test, n_classes, cfg, device, epoch, progress,
        )?;
        let record = EpochRecord {
            epoch,
            loss: sum / counted.max(1) as f64,
            top1,
            top5,
            lr,
            seconds: start.elapsed().as_secs_f64(),
        };
        tracing::info!(epoch, loss = record.loss, top1, top5, "categoriser epoch");
        state.epochs_done = epoch;
        state.records.push(record);
        saved.save(&vs, &sgd.state(), &state)?;
        if abort_at == Some(epoch) {
            tracing::warn!(epoch, "aborting on purpose ({ABORT_ENV})");
            std::process::abort();
        }
    }

    let last = state.records.last().ok_or_else(|| Error::Invalid {
        what: format!("checkpoint {}", ckpt.display()),
        problem: "holds no completed epoch".into(),
    })?;
    let model_path = out.join(MODEL_FILE);
    save_weights(&vs, &model_path)?;
    let classes_path = out.join(CLASSES_FILE);
    let mut names = set.classes.join("\n");
    names.push('\n');
    write_atomic(&classes_path, names.as_bytes())?;
    let info = TrainedInfo {
        arch: cfg.arch.clone(),
        classes: n_classes,
        image_size: cfg.image_size,
        crop: cfg.crop,
        epochs: cfg.epochs,
        top1: last.top1,
        top5: last.top5,
        config: cfg.clone(),
        init_sha256,
    };
    let info_path = out.join(INFO_FILE);
    write_atomic(
        &info_path,
        serde_json::to_string_pretty(&info)
            .expect("serialises")
            .as_bytes(),
    )?;
    Ok(CategoriserTrainingSummary {
        classes: n_classes,
        train: n_train,
        test: set.test.len(),
        resumed_from,
        epochs: state.records,
        files: vec![model_path, classes_path, info_path, ckpt],
    })
}

/// Loads what [`train_categoriser`] wrote into `dir`: the architecture and evaluation transform
/// from `categoriser.json`, the names from `classes.txt`, the weights from `model.safetensors`.
pub fn load_trained(dir: &Path) -> Result<Categoriser> {
    let info_path = dir.join(INFO_FILE);
    let text = std::fs::read_to_string(&info_path).map_err(|e| Error::io(&info_path, e))?;
    let info: TrainedInfo = serde_json::from_str(&text).map_err(|e| Error::Invalid {
        what: info_path.display().to_string(),
        problem: e.to_string(),
    })?;
    let labels = read_labels(&dir.join(CLASSES_FILE))?;
    Categoriser::load(
        &info.arch,
        &dir.join(MODEL_FILE),
        Some(labels),
        TransformConfig::sized(info.image_size, info.crop),
    )
}
