//! Spec operations of data-feature-store.md: a store's header and size.
//!
//! Spec: spec/data-feature-store.md.

use seje::data::feature_store;
use toml::{Table, Value};

use crate::inputs::{err, float, get, string};

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
