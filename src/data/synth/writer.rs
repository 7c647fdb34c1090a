//! Writes a synthetic benchmark in Recipe1M's formats: `layer1.json`, `layer2.json`,
//! `det_ingrs.json`, `images/{partition}/{c0}/{c1}/{c2}/{c3}/{image id}`, plus `synth.json`
//! (the config and the ground truth the real dataset lacks: category and true entity per line).
//!
//! Spec: spec/data-synthetic-benchmark.md (section "Files"); formats of spec/data-recipe1m.md.
//! Each JSON file is one array with one object per line, so a reader's line/column error
//! points at one recipe. Recipes are generated in parallel (rayon); files are assembled in index
//! order, so the bytes do not depend on scheduling.

use std::path::{Path, PathBuf};

use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::render::render;
use super::{
    encode_jpeg, fresh_dir, image_dims, plan, recipe_text, rng_for, write_file, Partition,
    RecipeText, Slot, SynthConfig, World, GENERATOR_VERSION,
};
use crate::{Error, Result};

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Layer1<'a> {
    id: &'a str,
    title: &'a str,
    ingredients: Vec<Text<'a>>,
    instructions: Vec<Text<'a>>,
    partition: &'static str,
    url: String,
}

#[derive(Serialize)]
struct ImageRef<'a> {
    id: &'a str,
    url: String,
}

#[derive(Serialize)]
struct Layer2<'a> {
    id: &'a str,
    images: Vec<ImageRef<'a>>,
}

#[derive(Serialize)]
struct DetIngrs<'a> {
    id: &'a str,
    ingredients: Vec<Text<'a>>,
    valid: Vec<bool>,
}

#[derive(Serialize)]
struct Truth<'a> {
    id: &'a str,
    category: &'static str,
    /// The true entity of each ingredient line (`null` for section headers).
    entities: Vec<Option<&'static str>>,
}

#[derive(Serialize)]
struct Manifest<'a> {
    generator: &'static str,
    config: &'a SynthConfig,
    categories: Vec<&'static str>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SynthSummary {
    /// Recipes written (all have images, so this is also the number of pairs).
    pub recipes: usize,
    /// Recipes per partition: train, val, test.
    pub per_split: [usize; 3],
    /// Image files written.
    pub images: usize,
    /// Bytes of JPEG data written.
    pub image_bytes: u64,
    /// True ingredient lines the tagger labelled invalid.
    pub mislabelled_lines: usize,
    /// Section-header lines (invalid, and rightly so).
    pub header_lines: usize,
}

/// The path of an image in the four-level tree: `images/{partition}/{c0}/{c1}/{c2}/{c3}/{id}`.
pub fn image_path(root: &Path, partition: Partition, image_id: &str) -> PathBuf {
    let mut p = root.join("images").join(partition.as_str());
    for c in image_id.chars().take(4) {
        p.push(c.to_string());
    }
    p.join(image_id)
}

/// Recipe `slot`'s text and its photographs as JPEG bytes (in `slot.images` order), exactly as
/// [`generate`] writes them; nothing touches the disk.
pub fn make_recipe(
    world: &World,
    config: &SynthConfig,
    slot: &Slot,
) -> Result<(RecipeText, Vec<Vec<u8>>)> {
    let mut rng = rng_for(config.seed, "recipe", slot.index as u64);
    let category = rng.gen_range(0..world.categories.len());
    let text = recipe_text(world, category, config.mislabel_rate, &mut rng);
    let mut jpegs = Vec::with_capacity(slot.images.len());
    for image_id in &slot.images {
        let (w, h) = image_dims(config.image_size, &mut rng);
        let img = render(world, &text, w, h, &mut rng);
        jpegs.push(encode_jpeg(&img, config.jpeg_quality, image_id)?);
    }
    Ok((text, jpegs))
}

/// Makes recipe `slot` and writes its images; returns its text and the JPEG bytes written.
fn write_recipe(
    world: &World,
    config: &SynthConfig,
    root: &Path,
    slot: &Slot,
) -> Result<(RecipeText, u64)> {
    let (text, jpegs) = make_recipe(world, config, slot)?;
    let mut bytes = 0;
    for (image_id, jpeg) in slot.images.iter().zip(&jpegs) {
        bytes += jpeg.len() as u64;
        write_file(&image_path(root, slot.partition, image_id), jpeg)?;
    }
    Ok((text, bytes))
}

/// One JSON value per line inside a top-level array.
fn json_lines<T: Serialize>(items: impl Iterator<Item = T>) -> Result<Vec<u8>> {
    let mut out = b"[\n".to_vec();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        serde_json::to_writer(&mut out, &item).map_err(|e| Error::Invalid {
            what: "synthetic record".into(),
            problem: e.to_string(),
        })?;
    }
    out.extend_from_slice(b"\n]\n");
    Ok(out)
}

/// Generates the benchmark described by `config` into `root` (created; must be empty or absent).
pub fn generate(config: &SynthConfig, root: &Path) -> Result<SynthSummary> {
    config.validate()?;
    fresh_dir(root)?;
    let world = World::standard();
    let slots = plan(config);
    tracing::info!(recipes = config.recipes, root = %root.display(), "generating synthetic recipes");
    let made: Vec<(RecipeText, u64)> = slots
        .par_iter()
        .map(|slot| write_recipe(&world, config, root, slot))
        .collect::<Result<_>>()?;

    let layer1 = json_lines(slots.iter().zip(&made).map(|(s, (t, _))| Layer1 {
        id: &s.id,
        title: &t.title,
        ingredients: t.lines.iter().map(|l| Text { text: &l.text }).collect(),
        instructions: t.instructions.iter().map(|x| Text { text: x }).collect(),
        partition: s.partition.as_str(),
        url: format!("synthetic://recipe/{}", s.id),
    }))?;
    let layer2 = json_lines(slots.iter().map(|s| {
        Layer2 {
            id: &s.id,
            images: s
                .images
                .iter()
                .map(|i| ImageRef {
                    id: i,
                    url: format!("synthetic://image/{i}"),
                })
                .collect(),
        }
    }))?;
    let det = json_lines(slots.iter().zip(&made).map(|(s, (t, _))| DetIngrs {
        id: &s.id,
        ingredients: t.lines.iter().map(|l| Text { text: &l.detected }).collect(),
        valid: t.lines.iter().map(|l| l.valid).collect(),
    }))?;
    let truth = json_lines(slots.iter().zip(&made).map(|(s, (t, _))| {
        Truth {
            id: &s.id,
            category: world.categories[t.category].name,
            entities: t
                .lines
                .iter()
                .map(|l| l.entity.map(|e| world.ingredients[e].name))
                .collect(),
        }
    }))?;
    let manifest = serde_json::to_vec_pretty(&Manifest {
        generator: GENERATOR_VERSION,
        config,
        categories: world.categories.iter().map(|c| c.name).collect(),
    })
    .map_err(|e| Error::Invalid {
        what: "synthetic manifest".into(),
        problem: e.to_string(),
    })?;
    write_file(&root.join("layer1.json"), &layer1)?;
    write_file(&root.join("layer2.json"), &layer2)?;
    write_file(&root.join("det_ingrs.json"), &det)?;
    write_file(&root.join("synth_truth.json"), &truth)?;
    write_file(
        &root.join("synth.json"),
        &[manifest, b"\n".to_vec()].concat(),
    )?;

    let mut per_split = [0; 3];
    for s in &slots {
        per_split[s.partition as usize] += 1;
    }
    let lines = made.iter().flat_map(|(t, _)| &t.lines);
    let summary = SynthSummary {
        recipes: slots.len(),
        per_split,
        images: slots.iter().map(|s| s.images.len()).sum(),
        image_bytes: made.iter().map(|(_, b)| b).sum(),
        mislabelled_lines: lines.clone().filter(|l| l.mislabelled()).count(),
        header_lines: lines.filter(|l| l.entity.is_none()).count(),
    };
    tracing::info!(?summary, "synthetic benchmark written");
    Ok(summary)
}
