//! A Food-101-format image set from the synthetic world: one class per dish category,
//! `images/<class>/<id>.jpg`, `meta/classes.txt`, `meta/labels.txt`, `meta/train.txt`,
//! `meta/test.txt`. Phase I fine-tunes its image categoriser on it, as the paper does on Food-101
//! (spec/phase1-categoriser-training.md).
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Food-101 format"). Each image is a photograph
//! of a freshly drawn recipe of its class (the text is not written), from its own RNG stream.

use std::collections::HashSet;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::render::render;
use super::{
    encode_jpeg, fresh_dir, image_dims, recipe_text, rng_for, write_file, SynthConfig, World,
    GENERATOR_VERSION,
};
use crate::Result;

/// What [`generate_food101`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Food101Summary {
    /// Number of classes.
    pub classes: usize,
    /// Training images.
    pub train: usize,
    /// Test images.
    pub test: usize,
    /// Bytes of JPEG data.
    pub image_bytes: u64,
}

/// A numeric image id (Food-101 ids are decimal), unique within its class.
fn numeric_id(seed: u64, class: &str, k: usize, salt: u32) -> String {
    let mut h = Sha256::new();
    h.update(GENERATOR_VERSION.as_bytes());
    h.update(b"\0food101-id\0");
    h.update(class.as_bytes());
    h.update(seed.to_le_bytes());
    h.update((k as u64).to_le_bytes());
    h.update(salt.to_le_bytes());
    let d = h.finalize();
    let n = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) % 9_000_000 + 1_000_000;
    n.to_string()
}

/// One class of a Food-101-format set: its directory name and its human-readable label.
pub(super) struct Class {
    /// `images/<name>/`, `meta/classes.txt`.
    pub name: String,
    /// `meta/labels.txt`.
    pub label: String,
}

struct Job {
    class: usize,
    k: usize,
    id: String,
}

/// Writes a Food-101-format set into `root` (created; must be empty or absent): `train` then
/// `test` images per class, image `k` of class `c` drawn by `draw(c, k)` (JPEG bytes), in
/// parallel. Ids are numeric and unique within a class, derived from `seed`, the class name and
/// `k` (so they do not depend on the other classes).
pub(super) fn write_food101_format(
    root: &Path,
    seed: u64,
    classes: &[Class],
    train: usize,
    test: usize,
    draw: &(dyn Fn(usize, usize) -> Result<Vec<u8>> + Sync),
) -> Result<Food101Summary> {
    fresh_dir(root)?;
    let per_class = train + test;
    let mut jobs = Vec::with_capacity(classes.len() * per_class);
    for (c, class) in classes.iter().enumerate() {
        let mut taken = HashSet::new();
        for k in 0..per_class {
            let mut salt = 0;
            let id = loop {
                let id = numeric_id(seed, &class.name, k, salt);
                if taken.insert(id.clone()) {
                    break id;
                }
                salt += 1;
            };
            jobs.push(Job { class: c, k, id });
        }
    }
    tracing::info!(images = jobs.len(), root = %root.display(), "generating food-101-format set");
    let bytes: Vec<u64> = jobs
        .par_iter()
        .map(|job| {
            let jpeg = draw(job.class, job.k)?;
            let name = format!("{}/{}.jpg", classes[job.class].name, job.id);
            write_file(&root.join("images").join(&name), &jpeg)?;
            Ok(jpeg.len() as u64)
        })
        .collect::<Result<_>>()?;

    let list = |f: &dyn Fn(&Job) -> bool| -> String {
        jobs.iter()
            .filter(|j| f(j))
            .map(|j| format!("{}/{}\n", classes[j.class].name, j.id))
            .collect()
    };
    let meta = root.join("meta");
    let names: String = classes.iter().map(|c| format!("{}\n", c.name)).collect();
    let labels: String = classes.iter().map(|c| format!("{}\n", c.label)).collect();
    write_file(&meta.join("classes.txt"), names.as_bytes())?;
    write_file(&meta.join("labels.txt"), labels.as_bytes())?;
    write_file(&meta.join("train.txt"), list(&|j| j.k < train).as_bytes())?;
    write_file(&meta.join("test.txt"), list(&|j| j.k >= train).as_bytes())?;
    let summary = Food101Summary {
        classes: classes.len(),
        train: classes.len() * train,
        test: classes.len() * test,
        image_bytes: bytes.iter().sum(),
    };
    tracing::info!(?summary, "food-101-format set written");
    Ok(summary)
}

/// Generates the Food-101-format set for `config` (`food101_train` + `food101_test` images per
/// class) into `root` (created; must be empty or absent).
pub fn generate_food101(config: &SynthConfig, root: &Path) -> Result<Food101Summary> {
    config.validate()?;
    let world = World::standard();
    let mut categories: Vec<usize> = (0..world.categories.len()).collect();
    categories.sort_by_key(|&i| world.categories[i].name);
    let classes: Vec<Class> = categories
        .iter()
        .map(|&i| Class {
            name: world.categories[i].name.to_string(),
            label: world.categories[i].label(),
        })
        .collect();
    write_food101_format(
        root,
        config.seed,
        &classes,
        config.food101_train,
        config.food101_test,
        &|c, k| {
            let category = categories[c];
            let stream = (category as u64) << 32 | k as u64;
            let mut rng = rng_for(config.seed, "food101", stream);
            let text = recipe_text(&world, category, config.mislabel_rate, &mut rng);
            let (w, h) = image_dims(config.image_size, &mut rng);
            let img = render(&world, &text, w, h, &mut rng);
            let name = format!("{}/{k}.jpg", classes[c].name);
            encode_jpeg(&img, config.jpeg_quality, &name)
        },
    )
}
