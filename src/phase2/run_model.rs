//! What training, embedding, tracing and retrieval share about a run's model and data: the
//! loader of a split as a run configures it, the device made ready, the trainer with fresh,
//! pretrained or checkpointed weights, and the run's pairs and feature stores opened and checked.
//!
//! Spec: spec/phase2-training-loop.md (the loop's parts) and spec/phase2-run-directory.md
//! (checkpoints).

use std::path::{Path, PathBuf};

use tch::{nn, Device};

use crate::checkpoint;
use crate::data::images::ImagePolicy;
use crate::data::loader::{Loader, LoaderConfig};
use crate::data::pairs::{self, Pair};
use crate::data::splits::Partition;
use crate::data::transforms::{Mode, TransformConfig};
use crate::error::{Error, Result};
use crate::nn::backbone::Backbone;
use crate::phase2::config::{Precision, TrainConfig};
use crate::phase2::inputs::PhaseTwoInputs;
use crate::phase2::run_dir::{RunDir, TrainState};
use crate::phase2::step::Trainer;
use crate::runtime;

/// The loader of a split as a run configures it (training: shuffled, training transforms).
pub fn loader(cfg: &TrainConfig, pairs: Vec<Pair>, train: bool) -> Result<Loader> {
    let policy: ImagePolicy = cfg.data.images.parse().map_err(|problem| Error::Config {
        origin: "data.images".into(),
        problem,
    })?;
    Loader::new(
        PathBuf::from(&cfg.data.root),
        pairs,
        LoaderConfig {
            batch_size: cfg.optim.batch_size,
            workers: cfg.data.workers.max(1),
            prefetch: 2,
            shuffle: train,
            mode: if train { Mode::Train } else { Mode::Eval },
            transform: TransformConfig::sized(cfg.data.resize, cfg.data.crop),
            seed: cfg.run.seed,
            policy,
        },
    )
}

/// Copies torchvision weights into the backbone of `trainer` (every trunk variable must be in
/// the file; the classifier `fc.*` is dropped).
pub fn load_pretrained_backbone(trainer: &Trainer, cfg: &TrainConfig, file: &Path) -> Result<()> {
    let tensors = if file.extension().is_some_and(|e| e == "safetensors") {
        checkpoint::safetensors::read_safetensors(file)?
    } else {
        checkpoint::read_state_dict(file, None)?
    };
    let tmp = nn::VarStore::new(Device::Cpu);
    let backbone = cfg.model.model_config()?.backbone.with_classes(None);
    let _trunk = Backbone::new(tmp.root() / "visionMLP", &backbone);
    let report = checkpoint::load_into(&tmp, file, tensors, |name| {
        if name.starts_with("fc.") {
            None
        } else {
            checkpoint::torchvision_name(name).map(|n| format!("visionMLP.{n}"))
        }
    })?;
    let source = tmp.variables();
    let mut target = trainer.vs.variables();
    tch::no_grad(|| {
        for (name, t) in &source {
            if let Some(v) = target.get_mut(name) {
                v.copy_(t);
            }
        }
    });
    tracing::info!(file = %file.display(), loaded = report.loaded, "pretrained backbone loaded");
    Ok(())
}

/// The device named by `spec` made ready for a run of `cfg`: CUDA loaded when asked for (before
/// anything else asks libtorch about CUDA), every generator seeded, the thread count fixed, and
/// cudnn benchmarking set from the config.
pub fn prepare_device(cfg: &TrainConfig, spec: &str) -> Result<Device> {
    let device = runtime::device(spec)?;
    let threads = (cfg.run.threads > 0).then_some(cfg.run.threads);
    runtime::seed_everything(cfg.run.seed, threads);
    if let Device::Cuda(_) = device {
        tch::Cuda::cudnn_set_benchmark(cfg.run.cudnn_benchmark);
    }
    Ok(device)
}

/// The model, discriminator and optimisers of `cfg` with fresh weights on `device`.
pub fn new_trainer(cfg: &TrainConfig, device: Device) -> Result<Trainer> {
    let seed = u32::try_from(cfg.run.seed).map_err(|_| Error::Config {
        origin: "run.seed".into(),
        problem: format!("{} is not below 2^32", cfg.run.seed),
    })?;
    Trainer::new(
        &cfg.model.model_config()?,
        &cfg.objective,
        cfg.optim.lr,
        cfg.optim.adam,
        device,
        seed,
    )
}

/// [`new_trainer`] with the run's precision: bf16 autocast checked and turned on when asked for.
pub fn training_trainer(cfg: &TrainConfig, device: Device) -> Result<Trainer> {
    let mut trainer = new_trainer(cfg, device)?;
    if cfg.run.precision == Precision::Bf16 {
        runtime::use_bf16_autocast(device)?;
        trainer.autocast = true;
    }
    Ok(trainer)
}

/// [`training_trainer`] in the state a new run starts from: seeded fresh weights, then the
/// pretrained backbone when `model.pretrained` names one.
pub fn starting_trainer(cfg: &TrainConfig, device: Device) -> Result<Trainer> {
    let trainer = training_trainer(cfg, device)?;
    if !cfg.model.pretrained.is_empty() {
        load_pretrained_backbone(&trainer, cfg, Path::new(&cfg.model.pretrained))?;
    }
    Ok(trainer)
}

/// The pairs of a run's three splits and its Phase I inputs, every pair checked to have a row in
/// every feature store.
#[derive(Debug)]
pub struct RunData {
    /// Training pairs, in dataset order.
    pub train: Vec<Pair>,
    /// Validation pairs.
    pub val: Vec<Pair>,
    /// Test pairs.
    pub test: Vec<Pair>,
    /// The feature stores.
    pub inputs: PhaseTwoInputs,
    /// What defined the splits (recorded in the run's manifest).
    pub splits: crate::data::splits::SplitSource,
}

/// Opens the dataset and the feature stores `cfg` names.
pub fn open_run_data(cfg: &TrainConfig) -> Result<RunData> {
    let (mut dataset, report) =
        pairs::open_with(Path::new(&cfg.data.root), &cfg.data.split_rule()?)?;
    let split_pairs = |p: Partition| report.split(p).pairs;
    tracing::info!(
        train = split_pairs(Partition::Train),
        val = split_pairs(Partition::Val),
        test = split_pairs(Partition::Test),
        "pairs"
    );
    let (train, val, test) = (
        dataset.take_split(Partition::Train),
        dataset.take_split(Partition::Val),
        dataset.take_split(Partition::Test),
    );
    let inputs = PhaseTwoInputs::open(Path::new(&cfg.data.features), &cfg.model)?;
    inputs.check_splits(&report.source)?;
    for p in [&train, &val, &test] {
        inputs.check_pairs(p)?;
    }
    Ok(RunData {
        train,
        val,
        test,
        inputs,
        splits: report.source,
    })
}

/// A trained run's model in evaluation mode, loaded from one of its checkpoints.
pub struct RunModel {
    /// The run's resolved configuration (`config.toml`).
    pub config: TrainConfig,
    /// The model, discriminator and optimisers with the checkpoint's weights.
    pub trainer: Trainer,
    /// The checkpoint's training state.
    pub state: TrainState,
    /// Where the model lives.
    pub device: Device,
}

/// Loads checkpoint `checkpoint` (`best` or `last`) of the run in `run_dir` on `device` (`cpu`,
/// `cuda`, `cuda:N`; default: the run's device).
pub fn load_run_model(run_dir: &Path, checkpoint: &str, device: Option<&str>) -> Result<RunModel> {
    let cfg = TrainConfig::load(&run_dir.join("config.toml"), &[])?;
    let device = crate::runtime::device(device.unwrap_or(&cfg.run.device))?;
    let run = RunDir::open(run_dir, &cfg, true, false)?;
    if !run.has_checkpoint(checkpoint) {
        return Err(Error::Invalid {
            what: format!("run directory {}", run_dir.display()),
            problem: format!("has no `{checkpoint}` checkpoint (has training finished an epoch?)"),
        });
    }
    let mut trainer = new_trainer(&cfg, device)?;
    let state = run.load_checkpoint(checkpoint, &mut trainer)?;
    Ok(RunModel {
        config: cfg,
        trainer,
        state,
        device,
    })
}
