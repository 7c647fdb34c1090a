//! Spec operations of data-synthetic-benchmark.md: the world, presets, recipes, photographs, paths and a generated benchmark.
//!
//! Spec: spec/data-synthetic-benchmark.md.

use crate::inputs::{err, float, get, int, string};
use seje::data::synth::{self, Partition, SynthConfig, World};
use sha2::Digest;
use toml::{Table, Value};

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
}

fn table(pairs: Vec<(&str, Value)>) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The world's sizes, or one category's definition with `category = "name"`.
pub fn world(ex: &Table) -> Result<Value, String> {
    let w = World::standard();
    let names = |ix: &[usize]| strings(ix.iter().map(|&i| w.ingredients[i].name));
    match ex.get("category").and_then(Value::as_str) {
        None => {
            let mut classes: Vec<&str> = w.categories.iter().map(|c| c.name).collect();
            classes.sort_unstable();
            Ok(table(vec![
                ("categories", Value::Integer(w.categories.len() as i64)),
                ("ingredients", Value::Integer(w.ingredients.len() as i64)),
                ("pantry", names(&w.pantry)),
                ("first_classes", strings(classes.into_iter().take(4))),
            ]))
        }
        Some(name) => {
            let c = &w.categories[w
                .category(name)
                .ok_or_else(|| format!("no category `{name}`"))?];
            Ok(table(vec![
                ("label", Value::String(c.label())),
                ("core", names(&c.core)),
                ("optional", names(&c.optional)),
                ("actions", strings(c.actions.iter().copied())),
                ("utensils", strings(c.utensils.iter().copied())),
                ("oven", Value::Boolean(c.oven)),
                (
                    "vessel",
                    Value::String(format!("{:?}", c.vessel).to_lowercase()),
                ),
                (
                    "shape",
                    Value::String(format!("{:?}", c.shape).to_lowercase()),
                ),
            ]))
        }
    }
}

/// A preset (`preset = "benchmark" | "fixture-mini"`) with optional overrides, validated.
pub fn config(ex: &Table) -> Result<SynthConfig, String> {
    let mut c = match ex.get("preset").and_then(Value::as_str) {
        None | Some("benchmark") => SynthConfig::benchmark(10_000),
        Some("fixture-mini") => SynthConfig::fixture_mini(),
        Some(other) => return Err(format!("unknown preset `{other}`")),
    };
    if ex.contains_key("seed") {
        c.seed = int(ex, "seed")? as u64;
    }
    if ex.contains_key("recipes") {
        c.recipes = int(ex, "recipes")? as usize;
    }
    if ex.contains_key("image_size") {
        c.image_size = int(ex, "image_size")? as u32;
    }
    if ex.contains_key("max_images") {
        c.max_images = int(ex, "max_images")? as usize;
    }
    if ex.contains_key("val_fraction") {
        c.val_fraction = float(get(ex, "val_fraction")?, "val_fraction")?;
    }
    if ex.contains_key("test_fraction") {
        c.test_fraction = float(get(ex, "test_fraction")?, "test_fraction")?;
    }
    if ex.contains_key("val_recipes") {
        c.val_recipes = Some(int(ex, "val_recipes")? as usize);
    }
    if ex.contains_key("test_recipes") {
        c.test_recipes = Some(int(ex, "test_recipes")? as usize);
    }
    c.validate().map_err(err)?;
    Ok(c)
}

pub fn config_value(c: &SynthConfig) -> Value {
    let (train, val, test) = c.split_counts();
    table(vec![
        ("recipes", Value::Integer(c.recipes as i64)),
        ("image_size", Value::Integer(i64::from(c.image_size))),
        (
            "images_per_recipe",
            Value::Array(vec![
                Value::Integer(c.min_images as i64),
                Value::Integer(c.max_images as i64),
            ]),
        ),
        (
            "split",
            Value::Array(
                [train, val, test]
                    .map(|n| Value::Integer(n as i64))
                    .to_vec(),
            ),
        ),
    ])
}

/// Recipe `index` of the benchmark `config(ex)`: id, partition, category, text, image ids.
pub fn recipe(ex: &Table) -> Result<Value, String> {
    let c = config(ex)?;
    let index = int(ex, "index")? as usize;
    let slot = synth::plan(&c)
        .into_iter()
        .nth(index)
        .ok_or_else(|| format!("index {index} is outside the {} recipes", c.recipes))?;
    let w = World::standard();
    let r = synth::recipe_at(&w, &c, index);
    let all = table(vec![
        ("id", Value::String(slot.id.clone())),
        ("partition", Value::String(slot.partition.as_str().into())),
        (
            "category",
            Value::String(w.categories[r.category].name.into()),
        ),
        ("title", Value::String(r.title.clone())),
        (
            "ingredients",
            strings(r.lines.iter().map(|l| l.text.as_str())),
        ),
        (
            "detected",
            strings(r.lines.iter().map(|l| l.detected.as_str())),
        ),
        (
            "valid",
            Value::Array(r.lines.iter().map(|l| Value::Boolean(l.valid)).collect()),
        ),
        (
            "instructions",
            strings(r.instructions.iter().map(String::as_str)),
        ),
        ("images", strings(slot.images.iter().map(String::as_str))),
    ]);
    // `field = "…"` picks one entry, so long lists read well on the page.
    match ex.get("field").and_then(Value::as_str) {
        None => Ok(all),
        Some(f) => all
            .get(f)
            .cloned()
            .ok_or_else(|| format!("no field `{f}` in a synthetic recipe")),
    }
}

/// Photograph `image` of recipe `index`: size and the first 16 hex digits of the JPEG's SHA-256.
pub fn image(ex: &Table) -> Result<Value, String> {
    let c = config(ex)?;
    let index = int(ex, "index")? as usize;
    let k = int(ex, "image")? as usize;
    let slot = synth::plan(&c)
        .into_iter()
        .nth(index)
        .ok_or_else(|| format!("index {index} is outside the {} recipes", c.recipes))?;
    let (_, jpegs) = synth::make_recipe(&World::standard(), &c, &slot).map_err(err)?;
    let jpeg = jpegs
        .get(k)
        .ok_or_else(|| format!("recipe {index} has {} images", jpegs.len()))?;
    let img = image::load_from_memory(jpeg).map_err(|e| e.to_string())?;
    let digest = hex::encode(sha2::Sha256::digest(jpeg));
    Ok(table(vec![
        ("width", Value::Integer(i64::from(img.width()))),
        ("height", Value::Integer(i64::from(img.height()))),
        ("sha256_prefix", Value::String(digest[..16].into())),
    ]))
}

pub fn image_path(ex: &Table) -> Result<Value, String> {
    let partition = match string(ex, "partition")? {
        "train" => Partition::Train,
        "val" => Partition::Val,
        "test" => Partition::Test,
        other => return Err(format!("unknown partition `{other}`")),
    };
    let p = synth::image_path(
        std::path::Path::new("ROOT"),
        partition,
        string(ex, "image_id")?,
    );
    Ok(Value::String(p.display().to_string()))
}

/// Generates `config(ex)` (with its Food-101 set) into a temporary directory and reports what
/// is on disk.
pub fn generate(ex: &Table) -> Result<Value, String> {
    let c = config(ex)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let s = synth::generate(&c, &dir.path().join("recipe1m")).map_err(err)?;
    let f = synth::generate_food101(&c, &dir.path().join("food101")).map_err(err)?;
    let mut top: Vec<String> = std::fs::read_dir(dir.path().join("recipe1m"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    top.sort();
    Ok(table(vec![
        ("files", strings(top.iter().map(String::as_str))),
        (
            "split",
            Value::Array(s.per_split.map(|n| Value::Integer(n as i64)).to_vec()),
        ),
        ("images", Value::Integer(s.images as i64)),
        ("food101_classes", Value::Integer(f.classes as i64)),
        ("food101_images", Value::Integer((f.train + f.test) as i64)),
    ]))
}
pub fn strip_quantity(ex: &Table) -> Result<Value, String> {
    Ok(Value::String(seje::data::synth::recipes::strip_quantity(
        string(ex, "line")?,
    )))
}

/// `config(ex)` as the page shows it: recipes, image size, images per recipe, the split.
pub fn config_op(ex: &Table) -> Result<Value, String> {
    config(ex).map(|c| config_value(&c))
}
