//! Spec operations of phase2-category-alignment.md: the cross-entropy of class logits.
//!
//! Spec: spec/phase2-category-alignment.md.

use seje::phase2::category_alignment::cross_entropy as ce;
use toml::{Table, Value};

use crate::inputs::{err, optional_int_tensor, scalar, tensor};

pub fn cross_entropy(ex: &Table) -> Result<Value, String> {
    let classes =
        optional_int_tensor(ex, "classes")?.ok_or("example is missing input `classes`")?;
    scalar(&ce("logits", &tensor(ex, "logits")?, &classes).map_err(err)?)
}
