//! Spec operations of phase2-layers.md: PyTorch's initialisation bounds.
//!
//! Spec: spec/phase2-layers.md.

use seje::nn::layers;
use toml::{Table, Value};

use crate::inputs::int;

pub fn linear_init_bounds(ex: &Table) -> Result<Value, String> {
    let fan = int(ex, "fan_in")?;
    Ok(Value::Table(Table::from_iter([
        (
            "weight".to_string(),
            Value::Float(layers::linear_bound(fan)),
        ),
        ("bias".to_string(), Value::Float(layers::bias_bound(fan))),
    ])))
}
