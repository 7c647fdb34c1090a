//! Spec operations of phase2-embedding-space.md: normalisation and the two distance forms.
//!
//! Spec: spec/phase2-embedding-space.md.

use seje::phase2::embedding_space as space;
use toml::{Table, Value};

use crate::inputs::{err, matrix_value, string, tensor};

pub fn l2_normalize(ex: &Table) -> Result<Value, String> {
    let x = tensor(ex, "x")?;
    matrix_value(&space::l2_normalize(&x).map_err(err)?)
}

pub fn pairwise_distance(ex: &Table) -> Result<Value, String> {
    let x = tensor(ex, "x")?;
    let y = tensor(ex, "y")?;
    let d = match string(ex, "form")? {
        "loss" => space::pairwise_distance_loss_form(&x, &y),
        "exact" => space::pairwise_distance_exact(&x, &y),
        other => return Err(format!("unknown form `{other}` (loss, exact)")),
    };
    matrix_value(&d.map_err(err)?)
}
