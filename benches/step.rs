//! Training-step throughput on the CPU: the paper configuration's full SEJE iteration
//! (ResNeXt-101 32×8d at 224², discriminator step then main step) on one synthetic batch, ours
//! (`seje bench step`'s library function, with the fused Adam update, `optim.adam = "fused"`)
//! against the same architecture and step written in PyTorch by this project
//! (`benches/reference/train_step.py`) with each of `torch.optim.Adam`'s three implementations
//! (single-tensor, foreach, fused), measured in the same run; the row's reference is the fastest
//! of the three.
//!
//! Spec: spec/benchmarks.md (step), spec/phase2-training-loop.md. Run:
//! `cargo bench --bench step`. The batch is `SEJE_BENCH_STEP_BATCH` pairs (default 8: the paper's
//! 100 would take minutes a step on two cores); 2 untimed then `SEJE_BENCH_STEP_ITERS` (default
//! 5) timed steps on each side, f32, libtorch's and torch's default CPU threads. The GPU figure at
//! batch 100 is `benches/gpu.sh`'s. The reference runs with `SEJE_BENCH_PYTHON` (default
//! `python3`; torch 2.11 and torchvision 0.26).

mod common;

use std::path::Path;

use seje::phase2::config::TrainConfig;
use seje::phase2::throughput::{bench_step, BenchOptions};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

/// The reference's images/s with Adam implementation `adam`, or why it could not run.
fn reference(batch: usize, warmup: usize, iterations: usize, adam: &str) -> Result<f64, String> {
    let v = common::run_reference(
        "train_step.py",
        &[
            "--device",
            "cpu",
            "--precision",
            "f32",
            "--crop",
            "224",
            "--batch",
            &batch.to_string(),
            "--warmup",
            &warmup.to_string(),
            "--iterations",
            &iterations.to_string(),
            "--adam",
            adam,
            "--json",
        ],
    )?;
    println!(
        "pytorch reference, Adam {adam}: {} at {}², batch {batch}: {:.0} ms per step, {:.2} images/s",
        v["backbone"].as_str().unwrap_or("?"),
        v["crop"],
        v["ms_per_iteration"].as_f64().unwrap_or(f64::NAN),
        v["images_per_second"].as_f64().unwrap_or(f64::NAN),
    );
    v["images_per_second"]
        .as_f64()
        .ok_or_else(|| "the reference's JSON has no images_per_second".into())
}

fn main() {
    // As the `seje` binary does first (spec/runtime.md, Memory).
    let allocator = seje::runtime::keep_freed_memory();
    let batch = env_or("SEJE_BENCH_STEP_BATCH", 8);
    let iterations = env_or("SEJE_BENCH_STEP_ITERS", 5);
    let warmup = 2;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("paper/configs/paper.toml");
    let cfg = TrainConfig::load(
        &config,
        &[
            format!("optim.batch_size={batch}"),
            "run.precision=\"f32\"".into(),
            "optim.adam=\"fused\"".into(),
        ],
    )
    .expect("paper.toml loads");
    let report = bench_step(
        &cfg,
        &config,
        &BenchOptions {
            device: Some("cpu".into()),
            warmup,
            iterations,
        },
    )
    .expect("the step runs");
    println!(
        "seje, Adam fused: {} at {}², batch {batch}, {iterations} timed steps: {:.0} ms per step, {:.2} images/s, {} CPU threads, allocator {allocator:?}",
        report.backbone,
        report.crop,
        report.ms_per_iteration,
        report.images_per_second,
        tch::get_num_threads()
    );
    let what = format!(
        "training step, paper configuration (ResNeXt-101 32×8d, 224², full SEJE iteration), f32, \
         batch {batch} (the GPU row uses 100), CPU, fused Adam against PyTorch's fastest Adam"
    );
    let mut best: Option<(f64, &str)> = None;
    for adam in ["single", "foreach", "fused"] {
        match reference(batch, warmup, iterations, adam) {
            Ok(r) => {
                println!(
                    "ratio ours / pytorch ({adam}) = {:.2}",
                    report.images_per_second / r
                );
                if best.is_none_or(|(b, _)| r > b) {
                    best = Some((r, adam));
                }
            }
            Err(e) => {
                println!("pytorch reference skipped: {e}");
                return;
            }
        }
    }
    let (r, adam) = best.expect("three references ran");
    let reference = format!(
        "the same architecture and step in PyTorch (benches/reference/train_step.py), \
         with its fastest Adam here: {adam}"
    );
    println!(
        "ratio ours / pytorch's best ({adam}) = {:.2}",
        report.images_per_second / r
    );
    common::record(&common::Row {
        bench: "step",
        what: &what,
        ours: report.images_per_second,
        unit: common::Unit::Rate("images/s"),
        reference: Some((r, &reference)),
        no_reference: None,
    });
}
