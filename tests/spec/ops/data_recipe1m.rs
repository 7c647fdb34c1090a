//! Spec operations of data-recipe1m.md: a small Recipe1M written from a compact description and joined; id checks.
//!
//! Spec: spec/data-recipe1m.md.

use seje::data::{pairs, splits::Partition};
use toml::{Table, Value};

use crate::inputs::{err, get, int, string};

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

pub fn check_id(ex: &Table) -> Result<Value, String> {
    let id = string(ex, "id")?;
    let r = match string(ex, "kind")? {
        "recipe" => seje::data::ids::check_recipe_id(id),
        "image" => seje::data::ids::check_image_id(id),
        other => return Err(format!("unknown kind `{other}` (recipe, image)")),
    };
    r.map(|()| Value::String("ok".into()))
}
