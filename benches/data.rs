//! Loader throughput (images/s): generated JPEGs in the four-level tree, decoded, transformed
//! with the paper's sizes (and the fixtures' small sizes) and batched into tensors.
//!
//! Spec: spec/data-images.md (loader throughput). Run with `cargo bench --bench data`; the
//! numbers in the spec page name the machine they were measured on. With
//! `SEJE_BENCH_ROOT=<dataset root>` it also loads the train split of that dataset (for example a
//! synthetic set from `seje synth`) with both transform sizes.
//!
//! The reference is PIL + torchvision on the same files (`benches/reference/loader_torchvision.py`:
//! the same transforms, a torch `DataLoader` with the same batch size and number of workers, one
//! warm-up epoch then a timed one), run with `SEJE_BENCH_PYTHON` (default `python3`); without torch
//! and torchvision it is skipped and the reason printed. Both sides are measured in the same run,
//! alternating, and the ratio ours / reference is printed (spec/benchmarks.md).

mod common;

use std::path::Path;
use std::time::Instant;

use seje::data::images::{tree_path, ImagePolicy};
use seje::data::loader::{Loader, LoaderConfig};
use seje::data::pairs::Pair;
use seje::data::splits::Partition;
use seje::data::transforms::{Mode, TransformConfig};

/// Writes `n` JPEGs of `w × h` (smooth colour fields with texture, quality 90) and their pairs.
fn write_images(root: &Path, n: usize, w: u32, h: u32) -> Vec<Pair> {
    (0..n)
        .map(|i| {
            let recipe_id = format!("{i:010x}");
            let image = format!("{:010x}.jpg", i * 7919 + 4096);
            let path = root.join(tree_path(Partition::Train, &image));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let t = (x * 3 + y * 5 + i as u32 * 11) % 256;
                image::Rgb([t as u8, ((x ^ y) % 256) as u8, (y * 255 / h) as u8])
            });
            img.save_with_format(&path, image::ImageFormat::Jpeg)
                .expect("jpeg");
            Pair {
                recipe_id,
                partition: Partition::Train,
                images: vec![image],
            }
        })
        .collect()
}

/// The reference loader's images/s on the files of `pairs`, or why it could not run.
fn reference(
    root: &Path,
    pairs: &[Pair],
    transform: &TransformConfig,
    workers: usize,
) -> Result<f64, String> {
    let list = root.join("files.txt");
    let text: String = pairs
        .iter()
        .map(|p| {
            let f = root.join(tree_path(p.partition, &p.images[0]));
            format!("{}\n", f.display())
        })
        .collect();
    std::fs::write(&list, text).map_err(|e| format!("{}: {e}", list.display()))?;
    let files = list.display().to_string();
    let v = common::run_reference(
        "loader_torchvision.py",
        &[
            "--files",
            &files,
            "--resize",
            &transform.resize.to_string(),
            "--crop",
            &transform.crop.to_string(),
            "--workers",
            &workers.to_string(),
        ],
    )?;
    v["images_per_second"]
        .as_f64()
        .ok_or_else(|| "reference output has no images_per_second".into())
}

fn run(
    root: &Path,
    pairs: &[Pair],
    transform: TransformConfig,
    workers: usize,
    label: &str,
) -> f64 {
    let cfg = LoaderConfig {
        batch_size: 64,
        workers,
        prefetch: 2,
        shuffle: true,
        mode: Mode::Train,
        transform,
        seed: 1234,
        policy: ImagePolicy::Fail,
    };
    let loader = Loader::new(root.to_path_buf(), pairs.to_vec(), cfg).expect("loader");
    // One warm-up epoch (page cache, allocator), then the timed one.
    for b in loader.epoch(0) {
        b.expect("batch");
    }
    let start = Instant::now();
    let mut n = 0;
    for b in loader.epoch(1) {
        n += b.expect("batch").samples.len();
    }
    let s = start.elapsed().as_secs_f64();
    let ours = n as f64 / s;
    println!("{label:<44} workers {workers}: {n} images in {s:.2} s = {ours:.0} images/s");
    ours
}

/// Ours, then the reference on the same files; prints the ratio.
fn compare(root: &Path, pairs: &[Pair], transform: TransformConfig, workers: usize, label: &str) {
    let ours = run(root, pairs, transform, workers, label);
    let what = format!(
        "batch loader, {} generated {label}, flip, normalise, batch 64, {workers} worker{}",
        pairs.len(),
        if workers == 1 { "" } else { "s" }
    );
    match reference(root, pairs, &transform, workers) {
        Ok(r) => {
            println!(
                "{:<44} workers {workers}: PIL + torchvision {r:.0} images/s; ours / reference = {:.2}",
                "",
                ours / r
            );
            common::record(&common::Row {
                bench: "data",
                what: &what,
                ours,
                unit: common::Unit::Rate("images/s"),
                reference: Some((
                    r,
                    "Pillow + torchvision transforms, torch DataLoader, same batch and workers",
                )),
                no_reference: None,
            });
        }
        Err(e) => println!("{:<44} reference skipped: {e}", ""),
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 512;
    let big = dir.path().join("big");
    let pairs = write_images(&big, n, 512, 384);
    let small = dir.path().join("small");
    let small_pairs = write_images(&small, n, 96, 80);
    println!(
        "loader throughput, {n} generated JPEGs, batch 64, train transforms, {} CPU threads available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for workers in [1, 2] {
        compare(
            &big,
            &pairs,
            TransformConfig::paper(),
            workers,
            "512x384 JPEG -> resize 256, crop 224",
        );
    }
    for workers in [1, 2] {
        compare(
            &small,
            &small_pairs,
            TransformConfig::tiny(),
            workers,
            "96x80 JPEG -> resize 72, crop 64",
        );
    }
    if let Some(root) = std::env::var_os("SEJE_BENCH_ROOT") {
        let root = std::path::PathBuf::from(root);
        let (ds, _) = seje::data::pairs::open(&root).expect("dataset");
        let train = ds.split(Partition::Train).to_vec();
        println!("{}: {} train pairs", root.display(), train.len());
        for (t, label) in [
            (TransformConfig::tiny(), "dataset -> resize 72, crop 64"),
            (TransformConfig::paper(), "dataset -> resize 256, crop 224"),
        ] {
            run(&root, &train, t, 2, label);
        }
    }
}
