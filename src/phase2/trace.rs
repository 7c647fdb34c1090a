//! `seje step`: N training iterations of a configuration through the code `seje train` runs,
//! with everything they consumed and produced written out, so an outside reference (the PyTorch
//! script of `fixtures/golden/phase2_step/`, written from the authors' `train.py`) can replay them
//! and decide whether an iteration is the authors'.
//!
//! Spec: spec/phase2-training-step.md ("Tracing iterations"). Output directory:
//!
//! ```text
//! OUT/init.safetensors     every parameter and buffer before the first iteration, the model under
//!                          the authors' `im2recipe` state_dict names (`visionMLP.module.*`
//!                          included), the discriminator under `discriminator.model.*`
//! OUT/batches.safetensors  per iteration i: `i.images` (after the transforms), `i.category`
//!                          (f_cat), `i.sentences` (padded f_sent), `i.lengths`, `i.term`
//!                          (f_term), `i.classes`, `i.alpha` (the penalty's α, when drawn)
//! OUT/steps.jsonl          one line per iteration: recipe ids, image indices, every loss term
//!                          before the update
//! OUT/final.safetensors    the same names as init.safetensors after the N iterations
//! OUT/config.toml          the resolved configuration (what a reference needs to rebuild the
//!                          model and the objective)
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::checkpoint;
use crate::data::splits::Partition;
use crate::error::{Error, Result};
use crate::phase2::config::TrainConfig;
use crate::phase2::model::{authors_checkpoint_name, authors_name};
use crate::phase2::run_model::{self, RunData};
use crate::phase2::step::{StepLosses, Trainer};
use crate::phase2::train;

/// The discriminator's prefix in the trace files (the authors save it apart, `train.py:203-204`).
pub const DISCRIMINATOR_PREFIX: &str = "discriminator.";

/// The four files, in the order they are written.
pub const FILES: [&str; 4] = [
    "init.safetensors",
    "batches.safetensors",
    "steps.jsonl",
    "final.safetensors",
];

/// The resolved configuration, written next to the four files.
pub const CONFIG_FILE: &str = "config.toml";

/// How `seje step` was asked to run.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// Iterations to run (the first N batches of the split's first training epoch).
    pub iterations: usize,
    /// The split whose batches are used (training transforms and order whatever the split).
    pub split: Partition,
    /// Start from these tensors (names as in `init.safetensors`) instead of the seeded initial
    /// state; safetensors or a `torch.save` file.
    pub init: Option<PathBuf>,
    /// Device (default: the configuration's `run.device`).
    pub device: Option<String>,
}

/// One line of `steps.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStep {
    /// Iteration number, from 1.
    pub iteration: usize,
    /// Recipe id of each row.
    pub recipe_ids: Vec<String>,
    /// Which image of its pair each row shows.
    pub image_indices: Vec<usize>,
    /// Every loss term, before the update it feeds.
    pub losses: StepLosses,
}

/// What [`trace`] did.
#[derive(Debug, Clone)]
pub struct TraceSummary {
    /// The output directory.
    pub out: PathBuf,
    /// The preset of the configuration.
    pub preset: String,
    /// One record per iteration.
    pub steps: Vec<TraceStep>,
}

/// Runs `opts.iterations` training iterations of `cfg` and writes the four files into `out`.
pub fn trace(cfg: &TrainConfig, out: &Path, opts: &TraceOptions) -> Result<TraceSummary> {
    if opts.iterations == 0 {
        return Err(Error::Invalid {
            what: "--iterations".into(),
            problem: "must be at least 1".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let device = run_model::prepare_device(cfg, opts.device.as_deref().unwrap_or(&cfg.run.device))?;
    let RunData {
        train: train_pairs,
        val,
        test,
        inputs,
        ..
    } = run_model::open_run_data(cfg)?;
    let pairs = match opts.split {
        Partition::Train => train_pairs,
        Partition::Val => val,
        Partition::Test => test,
    };
    let mut trainer = match &opts.init {
        Some(file) => {
            let trainer = run_model::training_trainer(cfg, device)?;
            load_authors_tensors(&trainer, file)?;
            trainer
        }
        None => run_model::starting_trainer(cfg, device)?,
    };
    write_text(&out.join(CONFIG_FILE), &cfg.to_toml())?;
    write_tensors(&out.join(FILES[0]), &authors_state(&trainer, 0))?;

    let loader = run_model::loader(cfg, pairs, true)?;
    if loader.batches() < opts.iterations {
        return Err(Error::Invalid {
            what: format!("the {} split", opts.split.as_str()),
            problem: format!(
                "has {} batches of {}; {} iterations were asked for",
                loader.batches(),
                cfg.optim.batch_size,
                opts.iterations
            ),
        });
    }
    let mut recorded: Vec<(String, Tensor)> = Vec::new();
    let mut steps = Vec::with_capacity(opts.iterations);
    for (i, batch) in loader.epoch(0).take(opts.iterations).enumerate() {
        let batch = batch?;
        if batch.recipe_ids.len() < 2 {
            return Err(Error::Invalid {
                what: format!("batch {}", i + 1),
                problem: "holds fewer than 2 pairs after unusable images were left out".into(),
            });
        }
        let it = train::train_iteration(&mut trainer, &inputs, &batch, device)?;
        let x = &it.inputs;
        let mut keep = |name: &str, t: &Tensor| recorded.push((format!("{i}.{name}"), cpu(t)));
        keep("images", &it.images);
        keep("category", &x.category);
        keep("sentences", &x.sentences);
        keep("lengths", &x.lengths);
        keep("term", &x.term);
        keep("classes", &x.classes);
        if let Some(alpha) = &it.outcome.alpha {
            keep("alpha", alpha);
        }
        tracing::info!(
            iteration = i + 1,
            total = it.outcome.losses.total,
            triplet = it.outcome.losses.triplet,
            "iteration traced"
        );
        steps.push(TraceStep {
            iteration: i + 1,
            recipe_ids: batch.recipe_ids,
            image_indices: batch.image_indices,
            losses: it.outcome.losses,
        });
    }
    write_tensors(&out.join(FILES[1]), &recorded)?;
    let mut lines = String::new();
    for s in &steps {
        lines.push_str(&serde_json::to_string(s).expect("a step record serialises"));
        lines.push('\n');
    }
    write_text(&out.join(FILES[2]), &lines)?;
    write_tensors(
        &out.join(FILES[3]),
        &authors_state(&trainer, opts.iterations as i64),
    )?;
    Ok(TraceSummary {
        out: out.to_path_buf(),
        preset: cfg.preset.clone(),
        steps,
    })
}

/// Every variable of the trainer under the authors' names, each batch norm with its
/// `num_batches_tracked` (PyTorch counts one per training forward pass; tch keeps no counter,
/// so it is `batches`), the discriminator's under [`DISCRIMINATOR_PREFIX`]. Sorted by name.
pub fn authors_state(trainer: &Trainer, batches: i64) -> Vec<(String, Tensor)> {
    let mut out: Vec<(String, Tensor)> = Vec::new();
    for (name, t) in trainer.vs.variables() {
        if let Some(bn) = name.strip_suffix(".running_mean") {
            out.push((
                authors_name(&format!("{bn}.num_batches_tracked")),
                Tensor::from(batches),
            ));
        }
        out.push((authors_name(&name), cpu(&t)));
    }
    if let Some((dvs, _)) = &trainer.disc {
        for (name, t) in dvs.variables() {
            out.push((format!("{DISCRIMINATOR_PREFIX}{name}"), cpu(&t)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Loads tensors named as [`authors_state`] writes them into the trainer (every variable must be
/// present with its shape; `num_batches_tracked` is read past).
pub fn load_authors_tensors(trainer: &Trainer, file: &Path) -> Result<()> {
    let tensors = if file.extension().is_some_and(|e| e == "safetensors") {
        checkpoint::safetensors::read_safetensors(file)?
    } else {
        checkpoint::read_state_dict(file, None)?
    };
    let (disc, model): (Vec<_>, Vec<_>) = tensors
        .into_iter()
        .partition(|(n, _)| n.starts_with(DISCRIMINATOR_PREFIX));
    checkpoint::load_into(&trainer.vs, file, model, authors_checkpoint_name)?;
    match &trainer.disc {
        Some((dvs, _)) => {
            checkpoint::load_into(dvs, file, disc, |n| {
                n.strip_prefix(DISCRIMINATOR_PREFIX)
                    .map(|rest| rest.strip_prefix("module.").unwrap_or(rest).to_string())
            })?;
        }
        None if !disc.is_empty() => {
            return Err(Error::Checkpoint {
                file: file.to_path_buf(),
                expected: "no discriminator (objective.alignment_weight is 0)".into(),
                found: format!("`{}`", disc[0].0),
            })
        }
        None => {}
    }
    Ok(())
}

fn cpu(t: &Tensor) -> Tensor {
    let t = t.detach().to_device(Device::Cpu).contiguous();
    if t.kind() == Kind::BFloat16 || t.kind() == Kind::Half {
        t.to_kind(Kind::Float)
    } else {
        t
    }
}

fn write_tensors(file: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let tmp = file.with_extension("partial.safetensors");
    let named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Tensor::write_safetensors(&named, &tmp)?;
    std::fs::rename(&tmp, file).map_err(|source| Error::Write {
        path: file.to_path_buf(),
        source,
    })
}

fn write_text(file: &Path, text: &str) -> Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|source| Error::Write {
        path: tmp.clone(),
        source,
    })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })?;
    std::fs::rename(&tmp, file).map_err(|source| Error::Write {
        path: file.to_path_buf(),
        source,
    })
}
