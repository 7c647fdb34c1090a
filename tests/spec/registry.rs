//! The one dispatch point from a spec example's `op` to the library. Pages name operations, never
//! Rust signatures, so the API can change without touching a page.
//!
//! Spec: spec/README.md (the list of operations is on each page that uses them).

use seje::phase2::embedding_space as space;
use tch::Kind;
use toml::{Table, Value};

/// Runs operation `op` with the example's inputs; `Err` carries the library's error message, which
/// examples with `expected_error` match.
pub fn run(op: &str, ex: &Table) -> Result<Value, String> {
    seje::runtime::seed_everything(seje::runtime::PAPER_SEED, Some(1));
    match op {
        "l2_normalize" => {
            let x = tensor(ex, "x")?;
            matrix_value(&space::l2_normalize(&x).map_err(err)?)
        }
        "pairwise_distance" => {
            let x = tensor(ex, "x")?;
            let y = tensor(ex, "y")?;
            let d = match string(ex, "form")? {
                "loss" => space::pairwise_distance_loss_form(&x, &y),
                "exact" => space::pairwise_distance_exact(&x, &y),
                other => return Err(format!("unknown form `{other}` (loss, exact)")),
            };
            matrix_value(&d.map_err(err)?)
        }
        "seeded_uniform" => {
            let v = seje::runtime::seeded_uniform(int(ex, "seed")? as u64, int(ex, "n")? as usize);
            Ok(Value::Array(
                v.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
            ))
        }
        "synth_world" => synth_ops::world(ex),
        "synth_config" => synth_ops::config(ex).map(|c| synth_ops::config_value(&c)),
        "synth_recipe" => synth_ops::recipe(ex),
        "synth_image" => synth_ops::image(ex),
        "synth_strip_quantity" => Ok(Value::String(seje::data::synth::recipes::strip_quantity(
            string(ex, "line")?,
        ))),
        "synth_image_path" => synth_ops::image_path(ex),
        "synth_generate" => synth_ops::generate(ex),
        other => Err(format!(
            "unknown op `{other}`: add it to tests/spec/registry.rs"
        )),
    }
}

fn err(e: seje::Error) -> String {
    e.to_string()
}

fn get<'a>(ex: &'a Table, key: &str) -> Result<&'a Value, String> {
    ex.get(key)
        .ok_or_else(|| format!("example is missing input `{key}`"))
}

fn string<'a>(ex: &'a Table, key: &str) -> Result<&'a str, String> {
    get(ex, key)?
        .as_str()
        .ok_or_else(|| format!("input `{key}` must be a string"))
}

fn int(ex: &Table, key: &str) -> Result<i64, String> {
    get(ex, key)?
        .as_integer()
        .ok_or_else(|| format!("input `{key}` must be an integer"))
}

fn float(v: &Value, key: &str) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        _ => Err(format!("input `{key}` must contain numbers, found {v}")),
    }
}

/// A nested array of numbers of any depth as a tensor of that shape, in the example's `dtype`.
fn tensor(ex: &Table, key: &str) -> Result<tch::Tensor, String> {
    fn walk(
        v: &Value,
        key: &str,
        depth: usize,
        shape: &mut Vec<i64>,
        flat: &mut Vec<f64>,
    ) -> Result<(), String> {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len() as i64);
                } else if shape[depth] != items.len() as i64 {
                    return Err(format!("input `{key}` is ragged at depth {depth}"));
                }
                items
                    .iter()
                    .try_for_each(|i| walk(i, key, depth + 1, shape, flat))
            }
            v => {
                if depth != shape.len() {
                    return Err(format!(
                        "input `{key}` mixes numbers and arrays at depth {depth}"
                    ));
                }
                flat.push(float(v, key)?);
                Ok(())
            }
        }
    }
    let (mut shape, mut flat) = (Vec::new(), Vec::new());
    walk(get(ex, key)?, key, 0, &mut shape, &mut flat)?;
    Ok(tch::Tensor::from_slice(&flat)
        .view(shape.as_slice())
        .to_kind(kind(ex)?))
}

/// `dtype = "f32"` (default, the model's precision) or `"f64"`.
fn kind(ex: &Table) -> Result<Kind, String> {
    match ex.get("dtype").map(|v| v.as_str()) {
        None | Some(Some("f32")) => Ok(Kind::Float),
        Some(Some("f64")) => Ok(Kind::Double),
        _ => Err("`dtype` must be \"f32\" or \"f64\"".into()),
    }
}

fn matrix_value(t: &tch::Tensor) -> Result<Value, String> {
    let rows = space::tensor_to_matrix(t).map_err(err)?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|r| Value::Array(r.into_iter().map(Value::Float).collect()))
            .collect(),
    ))
}

/// Operations of spec/data-synthetic-benchmark.md.
mod synth_ops {
    use super::{err, float, get, int, string};
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
}
