//! The Phase II training loop: epochs of iterations, validation after every epoch, the authors'
//! two-stage schedule, best/last checkpoints, resume, and the final test of the best checkpoint.
//!
//! Spec: spec/phase2-training-loop.md. Authors' code: `train.py` (git-disl/SEJE @ 694a835): the
//! epoch loop with its stop and stage checks (`train.py:164-177`), `train` (`train.py:220-290`),
//! `validate` and `rank` (`train.py:316-415`), the best checkpoint (`train.py:189-211`).
//!
//! Every random choice of a run is a keyed stream (data order and per-sample choices by
//! (seed, epoch, sample), the gradient penalty's α by its position in NumPy's stream); nothing in an epoch
//! draws from libtorch's generator. A checkpoint written at the end of an epoch therefore holds
//! everything needed to continue exactly: model, discriminator, both optimisers and the
//! [`TrainState`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::data::loader::{Batch, Loader};
use crate::error::{Error, Result};
use crate::eval::ranking::RankOptions;
use crate::eval::{evaluate, EvalConfig, EvalReport, Protocol};
use crate::phase2::config::TrainConfig;
use crate::phase2::embed::embed_split;
use crate::phase2::inputs::{BatchInputs, PhaseTwoInputs};
use crate::phase2::run_dir::{self, Manifest, RunDir, TrainState};
use crate::phase2::run_model::{
    loader, open_run_data, prepare_device, starting_trainer, training_trainer, RunData,
};
use crate::phase2::step::{StepLosses, StepOutcome, Trainer};
use crate::runtime;

/// Fault injection for the kill-and-resume test: the process aborts (no cleanup, like a kill)
/// right after this many iterations of the run have completed.
pub const ABORT_ENV: &str = "SEJE_FAULT_ABORT_AT_ITERATION";

/// How `seje train` was asked to run (what is not part of the configuration).
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue the run in the directory from its last checkpoint.
    pub resume: bool,
    /// Resume even when the configuration or the inputs changed.
    pub force: bool,
}

/// What [`train`] reports progress of; the value passed with it counts what is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Training epoch `epoch` (1-based; value: batches done).
    Train {
        /// The epoch.
        epoch: usize,
        /// Batches in the epoch.
        batches: u64,
    },
    /// Embedding the validation split after epoch `epoch` (value: pairs done).
    Validation {
        /// The epoch.
        epoch: usize,
        /// Pairs of the split.
        pairs: u64,
    },
    /// Embedding the test split with the best checkpoint (value: pairs done).
    Test {
        /// Pairs of the split.
        pairs: u64,
    },
}

/// Validation numbers of one epoch (image→recipe, the authors' model-selection direction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Pairs per subset (1000, or the whole split when it is smaller).
    pub size: usize,
    /// Subsets.
    pub subsets: usize,
    /// Mean median rank.
    pub medr: f64,
    /// Mean R@1 (fraction).
    pub r1: f64,
    /// Mean R@5 (fraction).
    pub r5: f64,
    /// Mean R@10 (fraction).
    pub r10: f64,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Schedule stage during the epoch.
    pub stage: u8,
    /// Learning rate of the model and the discriminator.
    pub lr: f64,
    /// Iterations completed by the run after this epoch.
    pub iterations: u64,
    /// Pairs trained on in this epoch.
    pub pairs: usize,
    /// Images left out under `data.images = "skip"`.
    pub skipped_images: usize,
    /// Images shown white under `data.images = "white"`.
    #[serde(default)]
    pub whitened_images: usize,
    /// Loss means over the epoch.
    pub loss: StepLosses,
    /// Validation.
    pub val: Validation,
    /// R@1 + 0.8 R@5 + 0.6 R@10 of the rounded fractions.
    pub score: f64,
    /// Whether this epoch became the best checkpoint.
    pub improved: bool,
    /// Epochs without improvement after this one.
    pub epochs_without_improvement: usize,
    /// Seconds spent training.
    pub train_seconds: f64,
    /// Seconds spent validating.
    pub val_seconds: f64,
    /// Training throughput.
    pub images_per_second: f64,
}

/// What `RUN/test.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct TestRecord {
    /// Epoch of the best checkpoint that was tested.
    pub checkpoint_epoch: usize,
    /// Its validation score.
    pub checkpoint_score: f64,
    /// The evaluation of the test split.
    pub report: EvalReport,
}

/// The outcome of [`train`].
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Epochs completed.
    pub epochs: usize,
    /// Why training ended.
    pub stopped: String,
    /// Best validation score and its epoch.
    pub best: Option<(f64, usize)>,
    /// Test of the best checkpoint.
    pub test: Option<EvalReport>,
}

/// The validation score: `w·(R@1, R@5, R@10)` with each fraction first rounded as Python's
/// `round(x, 3)` (`train.py:413`, `rank`), then `R@1 + 0.8·R@5 + 0.6·R@10` summed in that
/// order (`train.py:189`).
pub fn selection_score(r: [f64; 3], weights: [f64; 3]) -> f64 {
    let [a, b, c] = r;
    let [wa, wb, wc] = weights;
    wa * python_round3(a) + wb * python_round3(b) + wc * python_round3(c)
}

/// Python's `round(x, 3)` on a float: the 3-decimal number nearest to the exact binary value of
/// `x`, an exact tie going to the even last digit, read back as the nearest double. `(x * 1000)
/// .round() / 1000` differs from it whenever the product rounds across .5 or lands on a tie
/// (0.0625 → 0.062 here, 0.063 there); spec/phase2-training-loop.md lists such cases. Rust's
/// `{:.3}` formats the exact binary value and breaks exact ties to even, as CPython's
/// `_Py_dg_dtoa` in mode 3 does.
pub fn python_round3(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.3}")
        .parse()
        .expect("a formatted finite float parses")
}

/// Where the schedule stands before an epoch: switch stage, stop, or go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleStep {
    /// Train another epoch at the current learning rate.
    Continue,
    /// Drop to the stage-2 learning rate, then train.
    SwitchStage,
    /// The run is over.
    Stop(&'static str),
}

/// The authors' checks at the top of each epoch (`train.py:165-177`), in their order: stop after `stage2_patience`
/// epochs without improvement in stage 2, switch after `stage1_patience` in stage 1, stop at
/// `max_epochs`.
pub fn schedule_step(state: &TrainState, cfg: &TrainConfig) -> ScheduleStep {
    let s = &cfg.schedule;
    if state.stage == 2 && state.epochs_without_improvement >= s.stage2_patience {
        ScheduleStep::Stop(
            "no validation improvement for stage2_patience epochs at the stage-2 learning rate",
        )
    } else if state.epoch >= s.max_epochs {
        ScheduleStep::Stop("max_epochs reached")
    } else if state.stage == 1 && state.epochs_without_improvement >= s.stage1_patience {
        ScheduleStep::SwitchStage
    } else {
        ScheduleStep::Continue
    }
}

/// [`schedule_step`] applied to `state`: on a stage switch, stage 2 starts and the count of
/// epochs without improvement restarts. The caller sets the learning rate.
pub fn begin_epoch(state: &mut TrainState, cfg: &TrainConfig) -> ScheduleStep {
    let step = schedule_step(state, cfg);
    if step == ScheduleStep::SwitchStage {
        state.stage = 2;
        state.epochs_without_improvement = 0;
    }
    step
}

/// Records epoch `state.epoch + 1` with validation score `score`; returns whether it improved
/// on the best so far (strictly, `train.py:192`; the first epoch always does: spec/deviations.md
/// T1).
pub fn end_epoch(state: &mut TrainState, score: f64) -> bool {
    let epoch = state.epoch + 1;
    let improved = state.best.is_none_or(|(b, _)| score > b);
    state.epoch = epoch;
    if improved {
        state.best = Some((score, epoch));
        state.epochs_without_improvement = 0;
    } else {
        state.epochs_without_improvement += 1;
    }
    improved
}

/// [`embed_split`] of the split `stage` names, reporting `stage` with the pairs done.
fn embed_reporting(
    trainer: &Trainer,
    loader: &Loader,
    inputs: &PhaseTwoInputs,
    device: Device,
    stage: Stage,
    progress: &dyn Fn(Stage, u64),
) -> Result<crate::eval::Embeddings> {
    let source = match stage {
        Stage::Train { .. } => "training split",
        Stage::Validation { .. } => "validation split",
        Stage::Test { .. } => "test split",
    };
    embed_split(&trainer.model, loader, inputs, device, source, |done| {
        progress(stage, done as u64)
    })
}

/// Keeps the lines of `metrics.jsonl` of epochs up to `epoch` (a resumed run replays the rest).
fn truncate_metrics(run: &RunDir, epoch: usize) -> Result<()> {
    let file = run.path().join("metrics.jsonl");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("epoch").and_then(serde_json::Value::as_u64))
                .is_some_and(|e| e as usize <= epoch)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if kept.len() != text.len() {
        tracing::info!(epoch, "metrics of epochs after the last checkpoint dropped");
        crate::files::write_atomic(&file, kept.as_bytes())?;
    }
    Ok(())
}

/// What one training iteration consumed and produced.
#[derive(Debug)]
pub struct Iteration {
    /// The Phase I inputs of the batch's rows, on the device.
    pub inputs: BatchInputs,
    /// The batch's images after the transforms, on the device. `[B, 3, H, W]`
    pub images: Tensor,
    /// Losses and drawn numbers.
    pub outcome: StepOutcome,
}

/// One training iteration on a loaded batch: its rows' Phase I inputs gathered, then
/// [`Trainer::step`]. `seje train` and `seje step` both run exactly this.
pub fn train_iteration(
    trainer: &mut Trainer,
    inputs: &PhaseTwoInputs,
    batch: &Batch,
    device: Device,
) -> Result<Iteration> {
    let x = inputs.batch(&batch.recipe_ids, &batch.image_indices, device)?;
    let images = batch.images.to_device(device);
    let outcome = trainer.step(&x.joint(&images), Some(&x.classes))?;
    Ok(Iteration {
        inputs: x,
        images,
        outcome,
    })
}

/// Trains as configured in `cfg` in `run_dir` (see the module header), then tests the best
/// checkpoint on the test split.
/// `progress` is told each [`Stage`] with what is done of it (the command line draws it; the
/// library draws nothing).
pub fn train(
    cfg: &TrainConfig,
    run_dir: &Path,
    opts: &TrainOptions,
    progress: &dyn Fn(Stage, u64),
) -> Result<TrainSummary> {
    // The device first: libtorch caches whether CUDA exists at the first question.
    let device = prepare_device(cfg, &cfg.run.device)?;

    let RunData {
        train: train_pairs,
        val: val_pairs,
        test: test_pairs,
        inputs,
        splits,
    } = open_run_data(cfg)?;
    for (name, p) in [("train", &train_pairs), ("val", &val_pairs)] {
        if p.len() < 2 {
            return Err(Error::Invalid {
                what: format!("dataset {}", cfg.data.root),
                problem: format!(
                    "the {name} split has {} pairs; training needs at least 2",
                    p.len()
                ),
            });
        }
    }
    let run = RunDir::open(run_dir, cfg, opts.resume, opts.force)?;
    record_inputs(cfg, &run, opts, &inputs, splits, device)?;
    let (mut trainer, mut state) = start_or_resume(cfg, &run, opts, device)?;
    truncate_metrics(&run, state.epoch)?;
    trainer.set_lr(learning_rate(cfg, state.stage));

    let train_loader = loader(cfg, train_pairs, true)?;
    let val_loader = loader(cfg, val_pairs, false)?;
    let mut stopped = String::from("the run had already finished");
    while !state.finished {
        match begin_epoch(&mut state, cfg) {
            ScheduleStep::Stop(why) => {
                state.finished = true;
                stopped = why.to_string();
                run.save_checkpoint("last", &trainer, &state)?;
                tracing::info!(epoch = state.epoch, why, "training finished");
                break;
            }
            ScheduleStep::SwitchStage => {
                trainer.set_lr(learning_rate(cfg, 2));
                tracing::info!(
                    epoch = state.epoch + 1,
                    lr = learning_rate(cfg, 2),
                    "stage 2: learning rate dropped"
                );
            }
            ScheduleStep::Continue => {}
        }
        let trained = train_epoch(
            &mut trainer,
            &train_loader,
            &inputs,
            &mut state,
            device,
            progress,
        )?;
        let validated = validate(
            cfg,
            &trainer,
            &val_loader,
            &inputs,
            state.epoch + 1,
            device,
            progress,
        )?;
        let improved = end_epoch(&mut state, validated.score);
        let record = epoch_record(cfg, &state, &trained, validated, improved);
        tracing::info!(
            epoch = record.epoch,
            stage = state.stage,
            loss = format!("{:.4}", record.loss.total),
            val_medr = record.val.medr,
            val_r1 = format!("{:.3}", record.val.r1),
            score = format!("{:.3}", record.score),
            improved,
            images_per_second = format!("{:.1}", record.images_per_second),
            "epoch done"
        );
        run.append_metrics(&record)?;
        if improved {
            run.save_checkpoint("best", &trainer, &state)?;
        }
        run.save_checkpoint("last", &trainer, &state)?;
    }
    let test = test_best(
        cfg,
        &run,
        &mut trainer,
        test_pairs,
        &inputs,
        device,
        progress,
    )?;
    Ok(TrainSummary {
        run_dir: run.path().to_path_buf(),
        epochs: state.epoch,
        stopped,
        best: state.best,
        test,
    })
}

/// The learning rate of schedule stage 1 or 2.
fn learning_rate(cfg: &TrainConfig, stage: u8) -> f64 {
    if stage == 1 {
        cfg.optim.lr
    } else {
        cfg.optim.lr_stage2
    }
}

/// A new run writes `manifest.json` (versions, device, seed, the configuration's hash, every
/// input file's SHA-256, the splits); a resumed one checks its inputs against it and refuses
/// other files unless forced.
fn record_inputs(
    cfg: &TrainConfig,
    run: &RunDir,
    opts: &TrainOptions,
    inputs: &PhaseTwoInputs,
    splits: crate::data::splits::SplitSource,
    device: Device,
) -> Result<()> {
    let mut input_files = inputs.files();
    if !cfg.model.pretrained.is_empty() {
        input_files.push(PathBuf::from(&cfg.model.pretrained));
    }
    let checksums = input_files
        .iter()
        .map(|f| Ok((f.display().to_string(), crate::files::sha256_file(f)?)))
        .collect::<Result<Vec<_>>>()?;
    let manifest_file = run.path().join("manifest.json");
    if opts.resume && manifest_file.exists() {
        let text =
            std::fs::read_to_string(&manifest_file).map_err(|e| Error::io(&manifest_file, e))?;
        let old: Manifest = serde_json::from_str(&text).map_err(|e| Error::Config {
            origin: manifest_file.display().to_string(),
            problem: e.to_string(),
        })?;
        if old.inputs != checksums && !opts.force {
            return Err(Error::Invalid {
                what: format!("run directory {}", run.path().display()),
                problem: "was started on other input files (their SHA-256 differ from \
                          manifest.json); resume on the same features, or force it"
                    .into(),
            });
        }
        return Ok(());
    }
    let (git_commit, git_dirty) = run_dir::source_version();
    run.write_manifest(&Manifest {
        seje_version: env!("CARGO_PKG_VERSION").into(),
        git_commit,
        git_dirty,
        libtorch_version: runtime::LIBTORCH_VERSION.into(),
        device: format!("{device:?}"),
        seed: cfg.run.seed,
        config_hash: cfg.hash(),
        inputs: checksums,
        splits: Some(splits),
    })
}

/// The trainer and the schedule's state: from `checkpoints/last` when resuming (the schedule
/// decides again, so a finished run stays finished under the same configuration and one resumed
/// with a larger `max_epochs` goes on), else fresh.
fn start_or_resume(
    cfg: &TrainConfig,
    run: &RunDir,
    opts: &TrainOptions,
    device: Device,
) -> Result<(Trainer, TrainState)> {
    if opts.resume && run.has_checkpoint("last") {
        let mut trainer = training_trainer(cfg, device)?;
        let mut s = run.load_checkpoint("last", &mut trainer)?;
        tracing::info!(
            epoch = s.epoch,
            iteration = s.iteration,
            stage = s.stage,
            "resumed"
        );
        s.finished = false;
        Ok((trainer, s))
    } else {
        Ok((starting_trainer(cfg, device)?, TrainState::start()))
    }
}

/// What one epoch's training pass saw.
struct EpochTraining {
    sums: StepLosses,
    iterations: u64,
    pairs: usize,
    skipped: usize,
    whitened: usize,
    seconds: f64,
}

/// One pass over the training split, an iteration per batch of two pairs or more. A
/// non-finite loss stops it with an error naming the epoch and iteration; [`ABORT_ENV`] aborts
/// the process after the iteration it names (the resume test's fault injection).
fn train_epoch(
    trainer: &mut Trainer,
    train_loader: &Loader,
    inputs: &PhaseTwoInputs,
    state: &mut TrainState,
    device: Device,
    progress: &dyn Fn(Stage, u64),
) -> Result<EpochTraining> {
    let abort_at: Option<u64> = std::env::var(ABORT_ENV).ok().and_then(|v| v.parse().ok());
    let epoch = state.epoch + 1;
    let t0 = Instant::now();
    let stage = Stage::Train {
        epoch,
        batches: train_loader.batches() as u64,
    };
    progress(stage, 0);
    let (mut sums, mut n_iter, mut pairs_seen, mut skipped, mut whitened) =
        (StepLosses::default(), 0u64, 0usize, 0usize, 0usize);
    for batch in train_loader.epoch(state.epoch as u64) {
        let batch = batch?;
        skipped += batch.skipped.len();
        whitened += batch.whitened.len();
        if batch.recipe_ids.len() < 2 {
            tracing::warn!(epoch, "a batch with fewer than 2 pairs left, skipped");
            continue;
        }
        let losses = train_iteration(trainer, inputs, &batch, device)
            .map(|it| it.outcome.losses)
            .map_err(|e| match e {
                Error::NonFinite { term, problem } => Error::NonFinite {
                    term,
                    problem: format!(
                        "{problem} (epoch {epoch}, iteration {}); training stopped, \
                         checkpoints/last keeps epoch {}",
                        state.iteration + 1,
                        state.epoch
                    ),
                },
                other => other,
            })?;
        state.iteration += 1;
        state.alphas_drawn = trainer.alphas.drawn();
        n_iter += 1;
        pairs_seen += batch.recipe_ids.len();
        sums.add(&losses);
        progress(stage, n_iter);
        if abort_at == Some(state.iteration) {
            tracing::warn!(iteration = state.iteration, "{ABORT_ENV}: aborting");
            std::process::abort();
        }
    }
    Ok(EpochTraining {
        sums,
        iterations: n_iter,
        pairs: pairs_seen,
        skipped,
        whitened,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// An epoch's validation: image-to-recipe recall on `validation_repeats` subsets of
/// `validation_size` pairs, and the selection score of it.
struct Validated {
    val: Validation,
    score: f64,
    seconds: f64,
}

fn validate(
    cfg: &TrainConfig,
    trainer: &Trainer,
    val_loader: &Loader,
    inputs: &PhaseTwoInputs,
    epoch: usize,
    device: Device,
    progress: &dyn Fn(Stage, u64),
) -> Result<Validated> {
    let t1 = Instant::now();
    let stage = Stage::Validation {
        epoch,
        pairs: val_loader.len() as u64,
    };
    let emb = embed_reporting(trainer, val_loader, inputs, device, stage, progress)?;
    let size = cfg.schedule.validation_size.min(emb.n);
    let report = evaluate(
        &emb,
        &EvalConfig {
            protocol: Protocol::Seje,
            sizes: vec![size],
            subsets: cfg.schedule.validation_repeats,
            seed: runtime::PAPER_SEED,
            rank: RankOptions {
                device,
                ..RankOptions::default()
            },
        },
    )?;
    let i2r = &report.sizes[0].image_to_recipe;
    Ok(Validated {
        val: Validation {
            size,
            subsets: report.sizes[0].subsets,
            medr: i2r.medr,
            r1: i2r.r1,
            r5: i2r.r5,
            r10: i2r.r10,
        },
        score: selection_score([i2r.r1, i2r.r5, i2r.r10], cfg.schedule.score_weights),
        seconds: t1.elapsed().as_secs_f64(),
    })
}

/// The line of `metrics.jsonl` for the epoch just ended (`state` already counts it).
fn epoch_record(
    cfg: &TrainConfig,
    state: &TrainState,
    trained: &EpochTraining,
    validated: Validated,
    improved: bool,
) -> EpochRecord {
    EpochRecord {
        epoch: state.epoch,
        stage: state.stage,
        lr: learning_rate(cfg, state.stage),
        iterations: state.iteration,
        pairs: trained.pairs,
        skipped_images: trained.skipped,
        whitened_images: trained.whitened,
        loss: trained.sums.mean(trained.iterations.max(1) as f64),
        val: validated.val,
        score: validated.score,
        improved,
        epochs_without_improvement: state.epochs_without_improvement,
        train_seconds: trained.seconds,
        val_seconds: validated.seconds,
        images_per_second: trained.pairs as f64 / trained.seconds.max(1e-9),
    }
}

/// Tests the best checkpoint (or, with no epoch trained, the untrained model of `last`) on the
/// test split at [`test_sizes`], and writes `test.json`; `None` when the split is empty.
fn test_best(
    cfg: &TrainConfig,
    run: &RunDir,
    trainer: &mut Trainer,
    test_pairs: Vec<crate::data::pairs::Pair>,
    inputs: &PhaseTwoInputs,
    device: Device,
    progress: &dyn Fn(Stage, u64),
) -> Result<Option<EvalReport>> {
    if test_pairs.is_empty() {
        tracing::warn!("the test split is empty; nothing to test");
        return Ok(None);
    }
    // With no epoch trained (max_epochs = 0) there is no best checkpoint: the untrained model of
    // `last` (epoch 0) is tested, which is what a check of "learned nothing" wants.
    let which = if run.has_checkpoint("best") {
        "best"
    } else {
        tracing::warn!("no epoch was trained; testing the untrained model (checkpoints/last)");
        "last"
    };
    let state_best = run.load_checkpoint(which, trainer)?;
    let test_loader = loader(cfg, test_pairs, false)?;
    let stage = Stage::Test {
        pairs: test_loader.len() as u64,
    };
    let emb = embed_reporting(trainer, &test_loader, inputs, device, stage, progress)?;
    let report = evaluate(
        &emb,
        &EvalConfig {
            sizes: test_sizes(emb.n),
            rank: RankOptions {
                device,
                ..RankOptions::default()
            },
            ..EvalConfig::default()
        },
    )?;
    let (checkpoint_score, checkpoint_epoch) = state_best.best.unwrap_or((0.0, 0));
    let record = TestRecord {
        checkpoint_epoch,
        checkpoint_score,
        report: report.clone(),
    };
    crate::files::write_atomic(
        &run.path().join("test.json"),
        serde_json::to_string_pretty(&record)
            .expect("a test record serialises")
            .as_bytes(),
    )?;
    Ok(Some(report))
}

/// The test sizes of the authors' `test.py` (1K and 10K) that the split can hold, or the whole
/// split when it holds fewer than 1000 pairs.
pub fn test_sizes(n: usize) -> Vec<usize> {
    let sizes: Vec<usize> = [1000, 10_000].into_iter().filter(|&s| s <= n).collect();
    if sizes.is_empty() {
        vec![n]
    } else {
        sizes
    }
}
