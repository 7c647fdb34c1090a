//! The batch loader: shapes, the kept partial batch, every sample once per epoch, order and
//! content fixed by the seed and independent of the number of worker threads, the image choice
//! rules, and the image policy.
//!
//! Spec: spec/data-images.md (loader).

#[path = "support/dataset.rs"]
mod dataset;

use proptest::prelude::*;
use seje::data::images::ImagePolicy;
use seje::data::loader::{Batch, Loader, LoaderConfig};
use seje::data::pairs;
use seje::data::splits::Partition;
use seje::data::transforms::{Mode, TransformConfig};

/// A train split of `n` recipes with 1 to 7 images each (12×9 JPEGs) and the loader settings.
fn setup(n: usize) -> (tempfile::TempDir, Vec<pairs::Pair>) {
    let dir = tempfile::tempdir().unwrap();
    let recipes: Vec<_> = (0..n)
        .map(|i| dataset::recipe(&format!("{i:04x}"), "train", 1 + i % 7))
        .collect();
    dataset::write(dir.path(), &recipes, 12, 9, false);
    let (ds, _) = pairs::open(dir.path()).unwrap();
    let pairs = ds.split(Partition::Train).to_vec();
    (dir, pairs)
}

fn cfg(batch: usize, workers: usize, mode: Mode, seed: u64) -> LoaderConfig {
    LoaderConfig {
        batch_size: batch,
        workers,
        prefetch: 2,
        shuffle: mode == Mode::Train,
        mode,
        transform: TransformConfig::sized(10, 8),
        seed,
        policy: ImagePolicy::Fail,
    }
}

fn epoch(loader: &Loader, e: u64) -> Vec<Batch> {
    loader.epoch(e).map(|b| b.unwrap()).collect()
}

fn flat(batches: &[Batch]) -> (Vec<usize>, Vec<usize>, Vec<f32>) {
    let mut samples = Vec::new();
    let mut images = Vec::new();
    let mut pixels = Vec::new();
    for b in batches {
        samples.extend(&b.samples);
        images.extend(&b.image_indices);
        pixels.extend(Vec::<f32>::try_from(b.images.flatten(0, -1)).unwrap());
    }
    (samples, images, pixels)
}

#[test]
fn batches_have_the_tensor_shape_and_keep_the_last_partial_one() {
    let (dir, pairs) = setup(11);
    let loader = Loader::new(
        dir.path().to_path_buf(),
        pairs.clone(),
        cfg(4, 2, Mode::Train, 1),
    )
    .unwrap();
    assert_eq!(loader.batches(), 3);
    let batches = epoch(&loader, 0);
    let sizes: Vec<Vec<i64>> = batches.iter().map(|b| b.images.size()).collect();
    assert_eq!(
        sizes,
        [vec![4, 3, 8, 8], vec![4, 3, 8, 8], vec![3, 3, 8, 8]]
    );
    assert!(batches.iter().all(|b| b.images.kind() == tch::Kind::Float));
    let (mut samples, _, _) = flat(&batches);
    for b in &batches {
        for (id, s) in b.recipe_ids.iter().zip(&b.samples) {
            assert_eq!(id, &pairs[*s].recipe_id);
        }
    }
    samples.sort();
    assert_eq!(samples, (0..11).collect::<Vec<_>>());
}

#[test]
fn evaluation_takes_image_zero_in_file_order() {
    let (dir, pairs) = setup(9);
    let loader = Loader::new(dir.path().to_path_buf(), pairs, cfg(4, 3, Mode::Eval, 5)).unwrap();
    let (samples, images, _) = flat(&epoch(&loader, 2));
    assert_eq!(samples, (0..9).collect::<Vec<_>>());
    assert!(images.iter().all(|&k| k == 0));
}

#[test]
fn training_draws_among_the_first_five_images_and_reaches_them_all() {
    let (dir, pairs) = setup(7);
    let loader = Loader::new(
        dir.path().to_path_buf(),
        pairs.clone(),
        cfg(7, 1, Mode::Train, 3),
    )
    .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for e in 0..60 {
        let (samples, images, _) = flat(&epoch(&loader, e));
        for (s, k) in samples.iter().zip(&images) {
            assert!(*k < pairs[*s].images.len().min(5), "sample {s}: image {k}");
            if pairs[*s].images.len() == 5 {
                seen.insert(*k);
            }
        }
    }
    // Recipe 6 lists 7 images and keeps 5 (recipe 4 has 5): only indices 0..5 may occur, and over
    // 60 epochs all of them do.
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
}

#[test]
fn epochs_differ_and_the_same_epoch_repeats() {
    let (dir, pairs) = setup(12);
    let loader = Loader::new(
        dir.path().to_path_buf(),
        pairs,
        cfg(5, 2, Mode::Train, 1234),
    )
    .unwrap();
    let a = flat(&epoch(&loader, 0));
    let b = flat(&epoch(&loader, 0));
    let c = flat(&epoch(&loader, 1));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
}

#[test]
fn the_skip_policy_reports_a_corrupt_image_and_fail_stops() {
    let (dir, pairs) = setup(3);
    // Recipe 0000 has one image; break it.
    let rel = seje::data::images::tree_path(Partition::Train, &pairs[0].images[0]);
    std::fs::write(dir.path().join(&rel), b"not a jpeg").unwrap();
    let mut c = cfg(3, 1, Mode::Eval, 0);
    c.policy = ImagePolicy::Skip;
    let loader = Loader::new(dir.path().to_path_buf(), pairs.clone(), c).unwrap();
    let batches = epoch(&loader, 0);
    assert_eq!(batches[0].samples, [1, 2]);
    assert_eq!(batches[0].images.size(), [2, 3, 8, 8]);
    assert_eq!(batches[0].skipped.len(), 1);
    assert!(
        batches[0].skipped[0]
            .reason
            .contains("recipe 0000: image 000000.jpg cannot be decoded"),
        "{:?}",
        batches[0].skipped
    );
    let loader = Loader::new(dir.path().to_path_buf(), pairs, cfg(3, 1, Mode::Eval, 0)).unwrap();
    let results: Vec<_> = loader.epoch(0).collect();
    assert_eq!(results.len(), 1);
    let e = results.into_iter().next().unwrap().unwrap_err();
    assert!(
        e.to_string().starts_with(
            "images/train/0/0/0/0/000000.jpg: recipe 0000: image 000000.jpg cannot be decoded"
        ),
        "{e}"
    );
}

#[test]
fn a_flat_image_folder_loads_like_the_tree() {
    let recipes: Vec<_> = (0..5)
        .map(|i| dataset::recipe(&format!("{i:04x}"), "train", 2))
        .collect();
    let (tree, flat_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    dataset::write(tree.path(), &recipes, 12, 9, false);
    dataset::write(flat_dir.path(), &recipes, 12, 9, true);
    assert!(flat_dir.path().join("images/000000.jpg").is_file());
    let load = |root: &std::path::Path| {
        let (ds, _) = pairs::open(root).unwrap();
        let pairs = ds.split(Partition::Train).to_vec();
        let loader = Loader::new(root.to_path_buf(), pairs, cfg(2, 2, Mode::Train, 9)).unwrap();
        flat(&epoch(&loader, 0))
    };
    assert_eq!(load(tree.path()), load(flat_dir.path()));
}

#[test]
fn bad_settings_are_refused() {
    let (dir, pairs) = setup(1);
    let e = Loader::new(dir.path().to_path_buf(), pairs, cfg(0, 1, Mode::Eval, 0))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "loader: batch size, workers and prefetch must be at least 1, got 0, 1 and 2"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    // The order and every pixel depend on (seed, epoch) only, not on how many workers share the
    // work or how deep they prefetch.
    #[test]
    fn batches_do_not_depend_on_threads(seed in any::<u64>(), epoch_no in 0u64..4, batch in 1usize..6, workers in 2usize..5) {
        let (dir, pairs) = setup(10);
        let one = Loader::new(dir.path().to_path_buf(), pairs.clone(), cfg(batch, 1, Mode::Train, seed)).unwrap();
        let mut many_cfg = cfg(batch, workers, Mode::Train, seed);
        many_cfg.prefetch = 1;
        let many = Loader::new(dir.path().to_path_buf(), pairs, many_cfg).unwrap();
        prop_assert_eq!(flat(&epoch(&one, epoch_no)), flat(&epoch(&many, epoch_no)));
    }
}
