//! Spec operations of eval-phase1-truth.md: agreement of categories with the true dishes.
//!
//! Spec: spec/eval-phase1-truth.md.

use toml::{Table, Value};

use crate::inputs::get;

pub fn phase1_truth_agreement(ex: &Table) -> Result<Value, String> {
    let list = |key: &str| -> Result<Vec<String>, String> {
        get(ex, key)?
            .as_array()
            .ok_or(format!("input `{key}` must be an array"))?
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Integer(i) => Ok(i.to_string()),
                _ => Err(format!("`{key}` holds strings or integers")),
            })
            .collect()
    };
    let (c, d) = (list("categories")?, list("dishes")?);
    if c.len() != d.len() {
        return Err("`categories` and `dishes` differ in length".into());
    }
    let pairs: Vec<(String, String)> = c.into_iter().zip(d).collect();
    let g = seje::eval::phase1_truth::agreement(&pairs);
    Ok(Value::Table(Table::from_iter([
        ("purity".to_string(), Value::Float(g.purity)),
        ("inverse_purity".to_string(), Value::Float(g.inverse_purity)),
        ("nmi".to_string(), Value::Float(g.nmi)),
    ])))
}
