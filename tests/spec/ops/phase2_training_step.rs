//! Spec operations of phase2-training-step.md: the discriminator's interpolation weights.
//!
//! Spec: spec/phase2-training-step.md.

use toml::{Table, Value};

use crate::inputs::int;

pub fn interpolation_weights(ex: &Table) -> Result<Value, String> {
    let (seed, n, offset) = (int(ex, "seed")?, int(ex, "n")?, int(ex, "offset")?);
    let w = seje::phase2::step::interpolation_weights(seed as u32, n as usize, offset as u64);
    Ok(Value::Array(
        w.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
    ))
}
