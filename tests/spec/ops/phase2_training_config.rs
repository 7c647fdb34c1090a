//! Spec operations of phase2-training-config.md: one key of a resolved configuration.
//!
//! Spec: spec/phase2-training-config.md.

use toml::{Table, Value};

use crate::inputs::{err, string};

pub fn paper_config(ex: &Table) -> Result<Value, String> {
    use seje::phase2::config::TrainConfig;
    // `config`: a file of paper/configs (default paper.toml); `preset`: --preset.
    let file = match ex.get("config") {
        None => "paper.toml",
        Some(_) => string(ex, "config")?,
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("paper/configs")
        .join(file);
    let preset = match ex.get("preset") {
        None => None,
        Some(_) => Some(string(ex, "preset")?),
    };
    let overrides: Vec<String> = match ex.get("set") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .ok_or("input `set` must be an array of strings")?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or("input `set` must be an array of strings")
            })
            .collect::<Result<_, _>>()?,
    };
    let cfg = TrainConfig::load_with_preset(&path, preset, &overrides).map_err(err)?;
    let resolved: toml::Table = cfg.to_toml().parse().map_err(|e| format!("{e}"))?;
    let key = string(ex, "key")?;
    let mut node = &Value::Table(resolved);
    for part in key.split('.') {
        node = node
            .get(part)
            .ok_or_else(|| format!("no `{key}` in the resolved config"))?;
    }
    Ok(node.clone())
}
