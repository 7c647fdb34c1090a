//! Spec operations of checkpoint-format.md: a file's tensors and one value of its object tree.
//!
//! Spec: spec/checkpoint-format.md.

use seje::checkpoint;
use toml::{Table, Value};

use crate::inputs::{err, fixture, get, string};

pub fn checkpoint_tensors(ex: &Table) -> Result<Value, String> {
    let key = ex.get("key").map(|_| string(ex, "key")).transpose()?;
    let state = checkpoint::read_state_dict(fixture(ex)?, key).map_err(err)?;
    Ok(Value::Array(
        state
            .iter()
            .map(|(name, t)| Value::String(format!("{name}: {}", tensor_summary(t))))
            .collect(),
    ))
}

pub fn checkpoint_value(ex: &Table) -> Result<Value, String> {
    let root = checkpoint::read_torch_file(fixture(ex)?).map_err(err)?;
    let mut at = &root;
    for step in get(ex, "path")?
        .as_array()
        .ok_or("`path` must be an array")?
    {
        let next = match (step, at.as_dict()) {
            (Value::String(k), Some(d)) => d.get(k),
            (Value::Integer(i), Some(d)) => d.get_int(*i),
            (Value::Integer(i), None) => at.as_seq().and_then(|s| s.get(usize::try_from(*i).ok()?)),
            _ => None,
        };
        at = next.ok_or_else(|| format!("no `{step}` in a {}", at.type_name()))?;
    }
    Ok(checkpoint_to_toml(at))
}

/// `torch.float32 [2, 3]`.
fn tensor_summary(t: &tch::Tensor) -> String {
    format!("{} {:?}", checkpoint::torch_dtype_name(t.kind()), t.size())
}

/// A checkpoint value as TOML: dicts become tables (keys as strings), `None` the string `None`,
/// tensors a `tensor torch.float32 [2, 3]` summary.
fn checkpoint_to_toml(v: &checkpoint::Value) -> Value {
    use checkpoint::Value as C;
    match v {
        C::None => Value::String("None".into()),
        C::Bool(b) => Value::Boolean(*b),
        C::Int(i) => Value::Integer(*i),
        C::Float(f) => Value::Float(*f),
        C::Str(s) => Value::String(s.clone()),
        C::Bytes(b) => Value::Array(b.iter().map(|&x| Value::Integer(x.into())).collect()),
        C::Tuple(items) | C::List(items) => {
            Value::Array(items.iter().map(checkpoint_to_toml).collect())
        }
        C::Dict(d) => Value::Table(
            d.entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        C::Str(s) => s.clone(),
                        C::Int(i) => i.to_string(),
                        other => format!("<{}>", other.type_name()),
                    };
                    (key, checkpoint_to_toml(v))
                })
                .collect(),
        ),
        C::Tensor(t) => Value::String(format!("tensor {}", tensor_summary(t))),
    }
}
