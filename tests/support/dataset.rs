//! Writes small valid Recipe1M-format datasets for tests: JSON files in the real layout and
//! generated images in the four-level tree or a flat folder.
//!
//! Spec: spec/data-recipe1m.md.

// Each test crate that includes this module uses a subset of it.
#![allow(dead_code)]

use std::path::Path;

/// One recipe of a test dataset.
#[derive(Debug, Clone)]
pub struct RecipeSpec {
    pub id: String,
    pub partition: &'static str,
    pub n_instructions: usize,
    /// `valid` flags of det_ingrs (one per ingredient line).
    pub valid: Vec<bool>,
    /// Image ids (written to disk unless listed in `absent`).
    pub images: Vec<String>,
}

/// A recipe with `n_images` images whose ids derive from the recipe id.
pub fn recipe(id: &str, partition: &'static str, n_images: usize) -> RecipeSpec {
    RecipeSpec {
        id: id.to_string(),
        partition,
        n_instructions: 3,
        valid: vec![true, true, false],
        images: (0..n_images).map(|k| format!("{id}{k:02x}.jpg")).collect(),
    }
}

/// Writes layer1.json, layer2.json, det_ingrs.json and the images (JPEG, `w × h`, a gradient
/// whose colours depend on the image index) under `root`; `flat` puts images in `images/`.
pub fn write(root: &Path, recipes: &[RecipeSpec], w: u32, h: u32, flat: bool) {
    write_json(root, recipes);
    write_images(root, recipes, w, h, flat);
}

/// Writes only the three JSON files.
pub fn write_json(root: &Path, recipes: &[RecipeSpec]) {
    let l1: Vec<serde_json::Value> = recipes
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "title": format!("dish {}", r.id),
                "ingredients": r.valid.iter().enumerate().map(|(i, _)| serde_json::json!({"text": format!("{i} cups of thing {i}")})).collect::<Vec<_>>(),
                "instructions": (0..r.n_instructions).map(|i| serde_json::json!({"text": format!("step {i}.")})).collect::<Vec<_>>(),
                "partition": r.partition,
                "url": format!("http://example.org/{}", r.id),
            })
        })
        .collect();
    let l2: Vec<serde_json::Value> = recipes
        .iter()
        .filter(|r| !r.images.is_empty())
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "images": r.images.iter().map(|i| serde_json::json!({"id": i, "url": format!("http://example.org/{i}")})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let det: Vec<serde_json::Value> = recipes
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "ingredients": r.valid.iter().enumerate().map(|(i, _)| serde_json::json!({"text": format!("thing {i}")})).collect::<Vec<_>>(),
                "valid": r.valid,
            })
        })
        .collect();
    std::fs::create_dir_all(root).unwrap();
    for (name, v) in [
        ("layer1.json", l1),
        ("layer2.json", l2),
        ("det_ingrs.json", det),
    ] {
        std::fs::write(root.join(name), serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
}

/// Writes the images of `recipes`.
pub fn write_images(root: &Path, recipes: &[RecipeSpec], w: u32, h: u32, flat: bool) {
    for r in recipes {
        for (k, im) in r.images.iter().enumerate() {
            let rel = if flat {
                Path::new("images").join(im)
            } else {
                let c: Vec<String> = im.chars().take(4).map(String::from).collect();
                Path::new("images")
                    .join(r.partition)
                    .join(&c[0])
                    .join(&c[1])
                    .join(&c[2])
                    .join(&c[3])
                    .join(im)
            };
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                image::Rgb([
                    (x * 255 / w.max(1)) as u8,
                    (y * 255 / h.max(1)) as u8,
                    (40 * k as u32 % 256) as u8,
                ])
            });
            img.save_with_format(&path, image::ImageFormat::Jpeg)
                .unwrap();
        }
    }
}
