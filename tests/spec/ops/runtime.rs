//! Spec operations of runtime.md: the seeded uniform stream and device names.
//!
//! Spec: spec/runtime.md.

use toml::{Table, Value};

use crate::inputs::{err, int, string};

pub fn seeded_uniform(ex: &Table) -> Result<Value, String> {
    let v = seje::runtime::seeded_uniform(int(ex, "seed")? as u64, int(ex, "n")? as usize);
    Ok(Value::Array(
        v.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
    ))
}

pub fn parse_device(ex: &Table) -> Result<Value, String> {
    seje::runtime::parse_device(string(ex, "device")?)
        .map(|d| Value::String(format!("{d:?}")))
        .map_err(err)
}
