//! Spec operations of the data pages: small datasets written from a compact TOML description, id
//! checks, image paths, transforms, the loader's order and the feature store's header.
//!
//! Spec: spec/data-recipe1m.md, spec/data-images.md, spec/data-feature-store.md.

use seje::data::{feature_store, loader, pairs, resample, splits::Partition, transforms};
use toml::{Table, Value};

use super::{float, get, int, string};

fn err(e: seje::Error) -> String {
    e.to_string()
}

fn uint(ex: &Table, key: &str) -> Result<u32, String> {
    u32::try_from(int(ex, key)?)
        .map_err(|_| format!("input `{key}` must be a small non-negative integer"))
}

fn pair_of(ex: &Table, key: &str) -> Result<(u32, u32), String> {
    let a = get(ex, key)?
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("input `{key}` must be [a, b]"))?;
    let f = |v: &Value| {
        v.as_integer()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| format!("input `{key}` must hold integers"))
    };
    Ok((f(&a[0])?, f(&a[1])?))
}

fn ints(v: impl IntoIterator<Item = u32>) -> Value {
    Value::Array(
        v.into_iter()
            .map(|x| Value::Integer(i64::from(x)))
            .collect(),
    )
}

/// `recipes = [{id, partition, instructions, valid, images, names}]` (`names`: the det_ingrs
/// names, default `x` for each `valid` entry), optional `remove = [ids]` (one a line, in order),
/// optional `rule = "im2recipe"` with `vocab = [words]`, and raw overrides `layer1_text`,
/// `layer2_text`, `det_ingrs_text`. Returns the pairs as `"<split> <id>: <images>"` lines and the
/// non-zero exclusion counts summed over the splits.
pub fn join(ex: &Table) -> Result<Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = dir.path();
    let recipes = match ex.get("recipes") {
        Some(v) => v
            .as_array()
            .ok_or("`recipes` must be an array of tables")?
            .clone(),
        None => Vec::new(),
    };
    let (mut l1, mut l2, mut det) = (Vec::new(), Vec::new(), Vec::new());
    for r in &recipes {
        let t = r.as_table().ok_or("each recipe must be a table")?;
        let id = string(t, "id")?;
        let n = int(t, "instructions")? as usize;
        let valid: Vec<bool> = get(t, "valid")?
            .as_array()
            .ok_or("`valid` must be an array")?
            .iter()
            .map(|v| v.as_bool().unwrap_or(false))
            .collect();
        let names: Vec<String> = match t.get("names") {
            Some(v) => v
                .as_array()
                .ok_or("`names` must be an array")?
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            None => valid.iter().map(|_| "x".to_string()).collect(),
        };
        if names.len() != valid.len() {
            return Err("`names` and `valid` must have the same length".into());
        }
        let images: Vec<String> = match t.get("images") {
            Some(v) => v
                .as_array()
                .ok_or("`images` must be an array")?
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            None => Vec::new(),
        };
        l1.push(serde_json::json!({
            "id": id, "title": "t",
            "ingredients": valid.iter().map(|_| serde_json::json!({"text": "1 cup x"})).collect::<Vec<_>>(),
            "instructions": (0..n).map(|_| serde_json::json!({"text": "do."})).collect::<Vec<_>>(),
            "partition": string(t, "partition")?, "url": "u",
        }));
        det.push(serde_json::json!({
            "id": id,
            "ingredients": names.iter().map(|n| serde_json::json!({"text": n})).collect::<Vec<_>>(),
            "valid": valid,
        }));
        if !images.is_empty() {
            l2.push(serde_json::json!({"id": id, "images": images.iter().map(|i| serde_json::json!({"id": i, "url": "u"})).collect::<Vec<_>>()}));
        }
    }
    let files = [
        ("layer1.json", "layer1_text", l1),
        ("layer2.json", "layer2_text", l2),
        ("det_ingrs.json", "det_ingrs_text", det),
    ];
    for (name, key, records) in files {
        let text = match ex.get(key) {
            Some(v) => v
                .as_str()
                .ok_or_else(|| format!("`{key}` must be a string"))?
                .to_string(),
            None => serde_json::to_string_pretty(&records).map_err(|e| e.to_string())?,
        };
        std::fs::write(root.join(name), text).map_err(|e| e.to_string())?;
    }
    if let Some(v) = ex.get("remove") {
        let ids: Vec<&str> = v
            .as_array()
            .ok_or("`remove` must be an array")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        std::fs::write(root.join("remove1M.txt"), ids.join("\n")).map_err(|e| e.to_string())?;
    }
    let rule = match ex.get("rule").and_then(Value::as_str) {
        None | Some("valid-count") => seje::data::splits::SplitRule::ValidCount,
        Some("im2recipe") => {
            let words = get(ex, "vocab")?
                .as_array()
                .ok_or("`vocab` must be an array of strings")?
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect::<Vec<_>>();
            seje::data::splits::SplitRule::Im2recipe(
                seje::data::splits::IngredientVocab::from_words(words, "the example's vocab"),
            )
        }
        Some(other) => return Err(format!("unknown rule `{other}`")),
    };
    let (ds, report) = pairs::open_with(root, &rule).map_err(err)?;
    let mut lines = Vec::new();
    for p in Partition::ALL {
        for pair in ds.split(p) {
            lines.push(Value::String(format!(
                "{p} {}: {}",
                pair.recipe_id,
                pair.images.join(" ")
            )));
        }
    }
    let mut excluded = Table::new();
    for k in 0..report.train.excluded.by_reason().len() {
        let key = report.train.excluded.by_reason()[k].key;
        let n: usize = Partition::ALL
            .iter()
            .map(|&p| report.split(p).excluded.by_reason()[k].count)
            .sum();
        if n > 0 {
            excluded.insert(key.into(), Value::Integer(n as i64));
        }
    }
    let mut out = Table::new();
    out.insert("pairs".into(), Value::Array(lines));
    out.insert("excluded".into(), Value::Table(excluded));
    Ok(Value::Table(out))
}

/// `size = [w, h]`, `resize` → `[w', h']`.
pub fn resized_size(ex: &Table) -> Result<Value, String> {
    let (w, h) = pair_of(ex, "size")?;
    let (a, b) = transforms::resized_size(w, h, uint(ex, "resize")?);
    Ok(ints([a, b]))
}

/// `size = [w, h]`, `crop` → `[left, top]`.
pub fn center_crop_origin(ex: &Table) -> Result<Value, String> {
    let (w, h) = pair_of(ex, "size")?;
    let c = uint(ex, "crop")?;
    let (l, t) = transforms::center_crop_origin(w, h, c, c);
    Ok(ints([l, t]))
}

/// `gray = [[v, …], …]` (rows of grey levels), `size = [w, h]` → the resized grey rows.
pub fn resize(ex: &Table) -> Result<Value, String> {
    let rows = get(ex, "gray")?.as_array().ok_or("`gray` must be rows")?;
    let h = rows.len() as u32;
    let mut flat = Vec::new();
    for r in rows {
        for v in r.as_array().ok_or("`gray` must be rows of numbers")? {
            flat.push(float(v, "gray")? as u8);
        }
    }
    let w = flat.len() as u32 / h.max(1);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = flat[(y * w + x) as usize];
        image::Rgb([v, v, v])
    });
    let (ow, oh) = pair_of(ex, "size")?;
    let out = resample::resize_bilinear(&img, ow, oh);
    Ok(Value::Array(
        (0..oh)
            .map(|y| ints((0..ow).map(|x| u32::from(out.get_pixel(x, y).0[0]))))
            .collect(),
    ))
}

/// `rgb = [r, g, b]` (bytes) → the three normalised channel values.
pub fn normalize_pixel(ex: &Table) -> Result<Value, String> {
    let v = get(ex, "rgb")?
        .as_array()
        .ok_or("`rgb` must be [r, g, b]")?;
    let px: Vec<u8> = v
        .iter()
        .map(|x| float(x, "rgb").map(|f| f as u8))
        .collect::<Result<_, _>>()?;
    let img = image::RgbImage::from_raw(1, 1, px).ok_or("`rgb` must hold three bytes")?;
    let mut out = [0f32; 3];
    transforms::normalize_into(&img, &transforms::TransformConfig::paper(), &mut out);
    Ok(Value::Array(
        out.iter().map(|&x| Value::Float(f64::from(x))).collect(),
    ))
}

/// `n`, `seed`, `epoch`, `shuffle` → the visiting order.
pub fn epoch_order(ex: &Table) -> Result<Value, String> {
    let shuffle = get(ex, "shuffle")?
        .as_bool()
        .ok_or("`shuffle` must be a boolean")?;
    let order = loader::epoch_order(
        int(ex, "n")? as usize,
        int(ex, "seed")? as u64,
        int(ex, "epoch")? as u64,
        shuffle,
    );
    Ok(Value::Array(
        order
            .into_iter()
            .map(|i| Value::Integer(i as i64))
            .collect(),
    ))
}

/// `ids`, `config` (text hashed with SHA-256), `tensors = { name = rows }` (float32) → the header
/// JSON text and the file size.
pub fn feature_store(ex: &Table) -> Result<Value, String> {
    let ids: Vec<String> = get(ex, "ids")?
        .as_array()
        .ok_or("`ids` must be an array")?
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let hash = feature_store::config_sha256(string(ex, "config")?.as_bytes());
    let mut w = feature_store::FeatureWriter::new(ids, &hash).map_err(err)?;
    for (name, rows) in get(ex, "tensors")?
        .as_table()
        .ok_or("`tensors` must be a table")?
    {
        let rows = rows.as_array().ok_or("tensor rows must be arrays")?;
        let mut flat = Vec::new();
        let mut width = 0;
        for r in rows {
            let r = r.as_array().ok_or("tensor rows must be arrays")?;
            width = r.len();
            for v in r {
                flat.push(float(v, name)? as f32);
            }
        }
        w.add_f32(name, &[rows.len(), width], &flat).map_err(err)?;
    }
    let bytes = w.to_bytes();
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = String::from_utf8(bytes[8..8 + n].to_vec()).map_err(|e| e.to_string())?;
    let mut out = Table::new();
    out.insert(
        "header".into(),
        Value::String(header.trim_end().to_string()),
    );
    out.insert("bytes".into(), Value::Integer(bytes.len() as i64));
    Ok(Value::Table(out))
}
