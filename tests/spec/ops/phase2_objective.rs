//! Spec operations of phase2-objective.md: the weighted sum of the loss terms.
//!
//! Spec: spec/phase2-objective.md.

use seje::phase2::objective::{total_loss as total, LossTerms, ObjectiveConfig};
use toml::{Table, Value};

use crate::inputs::{float, scalar, string};

pub fn total_loss(ex: &Table) -> Result<Value, String> {
    let cfg = match string(ex, "config")? {
        "paper" => ObjectiveConfig::paper(),
        "authors_code" => ObjectiveConfig::authors_code(),
        other => return Err(format!("unknown config `{other}` (paper, authors_code)")),
    };
    let term = |k: &str| -> Result<Option<tch::Tensor>, String> {
        ex.get(k)
            .map(|v| float(v, k).map(tch::Tensor::from))
            .transpose()
    };
    let terms = LossTerms {
        triplet: term("triplet")?.ok_or("example is missing input `triplet`")?,
        category_image: term("category_image")?,
        category_recipe: term("category_recipe")?,
        alignment: term("alignment")?,
    };
    scalar(&total(&terms, &cfg))
}
