//! Training-step throughput: `seje bench step` times [`Trainer::step`] (discriminator step, then
//! the main step with every loss term of the configuration) on one synthetic batch kept on the
//! device, so the figure measures the model and the optimisers, not the input pipeline.
//!
//! Spec: spec/phase2-training-loop.md (section "Throughput benchmark"). The PyTorch reference the
//! figure is compared with is `benches/reference/train_step.py` (the project's own script, same
//! architecture, same synthetic batch shapes, same step).
//!
//! Timing: warm-up steps first, then the device is synchronised before each reading of the clock.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::phase2::config::{Precision, TrainConfig};
use crate::phase2::model::JointInput;
use crate::phase2::run_model;
use crate::runtime;

/// Sentence slots per recipe in the synthetic batch (the authors' `maxInst = 20`).
pub const SENTENCE_SLOTS: i64 = 20;

/// How to run the benchmark (what is not in the training configuration).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `cpu`, `cuda` or `cuda:N` (overrides `run.device`).
    pub device: Option<String>,
    /// Untimed steps first (cudnn autotuning, allocator warm-up).
    pub warmup: usize,
    /// Timed steps.
    pub iterations: usize,
}

/// What one benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct StepBenchReport {
    /// Always `"seje"` (the reference script writes `"pytorch"`).
    pub implementation: &'static str,
    /// The device: `cpu` or `cuda:N`.
    pub device: String,
    /// The configuration file.
    pub config: String,
    /// The image backbone.
    pub backbone: String,
    /// `f32` or `bf16`.
    pub precision: String,
    /// Whether cudnn benchmarking was on.
    pub cudnn_benchmark: bool,
    /// Adam's implementation (`optim.adam`): `single`, `foreach` or `fused`.
    pub adam: &'static str,
    /// Pairs per batch.
    pub batch: usize,
    /// Image side.
    pub crop: u32,
    /// Untimed steps.
    pub warmup: usize,
    /// Timed steps.
    pub iterations: usize,
    /// Wall-clock seconds of the timed steps (device synchronised at both ends).
    pub seconds: f64,
    /// Milliseconds per step.
    pub ms_per_iteration: f64,
    /// batch × iterations / seconds.
    pub images_per_second: f64,
    /// L of the last timed step.
    pub last_total_loss: f64,
    /// On CUDA: device memory in use at the end (`cudaMemGetInfo` total − free), bytes. It
    /// counts the CUDA context and the blocks libtorch's caching allocator keeps (which it does
    /// not give back, so this is about its peak), and other processes on the same GPU.
    pub device_memory_used_bytes: Option<u64>,
}

/// The synthetic batch: standard-normal images and features, `1 + i mod 19` sentences per
/// recipe (zero past each count), category `i mod min(C, max(B/2, 2))` so that every pair has
/// class negatives. Drawn from libtorch's CPU generator (seeded by the caller), then moved.
pub struct SyntheticBatch {
    /// `[B, 3, crop, crop]`
    pub images: Tensor,
    /// `[B, category_feature]`
    pub category: Tensor,
    /// `[B, 20, sentence]`
    pub sentences: Tensor,
    /// `[B]` int64
    pub lengths: Tensor,
    /// `[B, term]`
    pub term: Tensor,
    /// `[B]` int64
    pub classes: Tensor,
}

impl SyntheticBatch {
    /// Draws the batch for `cfg` on `device`.
    pub fn new(cfg: &TrainConfig, device: Device) -> Self {
        let b = cfg.optim.batch_size as i64;
        let crop = i64::from(cfg.data.crop);
        let m = &cfg.model;
        let opts = (Kind::Float, Device::Cpu);
        let images = Tensor::randn([b, 3, crop, crop], opts);
        let category = Tensor::randn([b, m.category_feature], opts);
        let sentences = Tensor::randn([b, SENTENCE_SLOTS, m.sentence], opts);
        let term = Tensor::randn([b, m.term], opts);
        let lengths =
            Tensor::arange(b, (Kind::Int64, Device::Cpu)).remainder(SENTENCE_SLOTS - 1) + 1; // [B] in 1..=19
        let mask = Tensor::arange(SENTENCE_SLOTS, (Kind::Int64, Device::Cpu))
            .unsqueeze(0)
            .lt_tensor(&lengths.unsqueeze(1)); // [B, 20]
        let sentences = sentences * mask.unsqueeze(2).to_kind(Kind::Float);
        let groups = m.classes.min((b / 2).max(2)).max(1);
        let classes = Tensor::arange(b, (Kind::Int64, Device::Cpu)).remainder(groups);
        Self {
            images: images.to_device(device),
            category: category.to_device(device),
            sentences: sentences.to_device(device),
            lengths: lengths.to_device(device),
            term: term.to_device(device),
            classes: classes.to_device(device),
        }
    }

    /// The model inputs.
    pub fn input(&self) -> JointInput<'_> {
        JointInput {
            images: &self.images,
            category: &self.category,
            sentences: &self.sentences,
            lengths: &self.lengths,
            term: &self.term,
        }
    }
}

fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Times `opts.iterations` training steps of the configuration `cfg` (read from `config_file`)
/// after `opts.warmup` untimed ones. The model starts from random weights (`model.pretrained` is
/// ignored: speed does not depend on the values).
pub fn bench_step(
    cfg: &TrainConfig,
    config_file: &Path,
    opts: &BenchOptions,
) -> Result<StepBenchReport> {
    if opts.iterations == 0 {
        return Err(Error::Invalid {
            what: "--iterations".into(),
            problem: "must be at least 1".into(),
        });
    }
    // The device first: libtorch caches whether CUDA exists at the first question.
    let spec = opts.device.as_deref().unwrap_or(&cfg.run.device);
    let device = run_model::prepare_device(cfg, spec)?;
    let mut trainer = run_model::training_trainer(cfg, device)?;
    let batch = SyntheticBatch::new(cfg, device);
    // Always given: the step uses them only where the objective needs them.
    let classes = Some(&batch.classes);
    let x = batch.input();
    for _ in 0..opts.warmup {
        trainer.step(&x, classes)?;
    }
    synchronize(device);
    let start = Instant::now();
    let mut last = None;
    for _ in 0..opts.iterations {
        last = Some(trainer.step(&x, classes)?.losses);
    }
    synchronize(device);
    let seconds = start.elapsed().as_secs_f64();
    let b = cfg.optim.batch_size;
    let images = (b * opts.iterations) as f64;
    let report = StepBenchReport {
        implementation: "seje",
        device: match device {
            Device::Cuda(i) => format!("cuda:{i}"),
            Device::Cpu => "cpu".into(),
            other => format!("{other:?}"),
        },
        config: config_file.display().to_string(),
        backbone: cfg.model.backbone.clone(),
        precision: match cfg.run.precision {
            Precision::F32 => "f32".into(),
            Precision::Bf16 => "bf16".into(),
        },
        cudnn_benchmark: cfg.run.cudnn_benchmark && device.is_cuda(),
        adam: cfg.optim.adam.name(),
        batch: b,
        crop: cfg.data.crop,
        warmup: opts.warmup,
        iterations: opts.iterations,
        seconds,
        ms_per_iteration: 1000.0 * seconds / opts.iterations as f64,
        images_per_second: images / seconds,
        last_total_loss: last.map_or(f64::NAN, |l| l.total),
        device_memory_used_bytes: match device {
            Device::Cuda(i) => runtime::cuda::device_memory_used(i),
            _ => None,
        },
    };
    tracing::info!(
        images_per_second = report.images_per_second,
        ms_per_iteration = report.ms_per_iteration,
        "training-step benchmark"
    );
    Ok(report)
}

impl StepBenchReport {
    /// The report as aligned text lines.
    pub fn render(&self) -> String {
        let mem = self.device_memory_used_bytes.map_or_else(
            || "not measured (CPU, or no cudaMemGetInfo)".to_string(),
            |b| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        );
        format!(
            "implementation  {}\ndevice          {}\nconfig          {}\nbackbone        {}\n\
             precision       {}\ncudnn benchmark {}\nbatch           {}\ncrop            {}\n\
             warm-up         {}\niterations      {}\nseconds         {:.3}\n\
             ms/iteration    {:.2}\nimages/s        {:.2}\nlast loss       {:.6}\n\
             device memory   {mem}\n",
            self.implementation,
            self.device,
            self.config,
            self.backbone,
            self.precision,
            self.cudnn_benchmark,
            self.batch,
            self.crop,
            self.warmup,
            self.iterations,
            self.seconds,
            self.ms_per_iteration,
            self.images_per_second,
            self.last_total_loss,
        )
    }
}

/// Whether `cfg` is sized for a GPU: a full ResNet-family backbone (not `tiny`) at a crop of 160
/// pixels or more (the paper's is ResNeXt-101 32×8d at 224).
pub fn sized_for_a_gpu(cfg: &TrainConfig) -> bool {
    cfg.model.backbone != "tiny" && cfg.data.crop >= 160
}

/// Estimates one training step of `cfg` on the CPU without running a full batch: steps of 4 and
/// of 8 synthetic pairs ([`bench_step`], one each, fresh models), extrapolated linearly to
/// `optim.batch_size` pairs for the time and for the peak memory.
pub fn estimate_step(
    cfg: &TrainConfig,
    config_file: &Path,
) -> Result<crate::runtime::heavy::Estimate> {
    use crate::runtime::heavy::{peak_memory_bytes, Estimate};
    let at = |n: usize| -> Result<(f64, Option<u64>)> {
        let mut small = cfg.clone();
        small.optim.batch_size = n;
        let r = bench_step(
            &small,
            config_file,
            &BenchOptions {
                device: Some("cpu".into()),
                warmup: 0,
                iterations: 1,
            },
        )?;
        Ok((r.seconds, peak_memory_bytes()))
    };
    let (t4, m4) = at(4)?;
    let (t8, m8) = at(8)?;
    let b = cfg.optim.batch_size as f64;
    let per_pair = ((t8 - t4) / 4.0).max(t8 / 8.0 * 0.5);
    let memory = match (m4, m8) {
        (Some(m4), Some(m8)) => {
            Some(m8 + (m8.saturating_sub(m4) as f64 * (b - 8.0).max(0.0) / 4.0) as u64)
        }
        _ => None,
    };
    Ok(Estimate {
        job: format!(
            "training {} at {} px, batch {} ({} epochs at most)",
            cfg.model.backbone, cfg.data.crop, cfg.optim.batch_size, cfg.schedule.max_epochs
        ),
        per_batch: std::time::Duration::from_secs_f64(t8 + per_pair * (b - 8.0)),
        batches: None,
        peak_memory_bytes: memory,
    })
}
