//! Readers of an example's inputs and builders of its results, shared by the operation files.
//!
//! Spec: spec/README.md (how to write examples).

use seje::phase2::embedding_space as space;
use tch::Kind;
use toml::{Table, Value};

pub fn err(e: seje::Error) -> String {
    e.to_string()
}

pub fn get<'a>(ex: &'a Table, key: &str) -> Result<&'a Value, String> {
    ex.get(key)
        .ok_or_else(|| format!("example is missing input `{key}`"))
}

pub fn string<'a>(ex: &'a Table, key: &str) -> Result<&'a str, String> {
    get(ex, key)?
        .as_str()
        .ok_or_else(|| format!("input `{key}` must be a string"))
}

pub fn int(ex: &Table, key: &str) -> Result<i64, String> {
    get(ex, key)?
        .as_integer()
        .ok_or_else(|| format!("input `{key}` must be an integer"))
}

pub fn float(v: &Value, key: &str) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        _ => Err(format!("input `{key}` must contain numbers, found {v}")),
    }
}

pub fn floats(ex: &Table, key: &str) -> Result<Vec<f64>, String> {
    get(ex, key)?
        .as_array()
        .ok_or_else(|| format!("input `{key}` must be an array of numbers"))?
        .iter()
        .map(|v| float(v, key))
        .collect()
}

/// An input that must be an array of strings (`v` is the input named `key`).
pub fn string_array(v: &Value, key: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("input `{key}` must be an array of strings"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("input `{key}` must be an array of strings"))
        })
        .collect()
}

/// A nested array of numbers of any depth as a tensor of that shape, in the example's `dtype`.
pub fn tensor(ex: &Table, key: &str) -> Result<tch::Tensor, String> {
    fn walk(
        v: &Value,
        key: &str,
        depth: usize,
        shape: &mut Vec<i64>,
        flat: &mut Vec<f64>,
    ) -> Result<(), String> {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len() as i64);
                } else if shape[depth] != items.len() as i64 {
                    return Err(format!("input `{key}` is ragged at depth {depth}"));
                }
                items
                    .iter()
                    .try_for_each(|i| walk(i, key, depth + 1, shape, flat))
            }
            v => {
                if depth != shape.len() {
                    return Err(format!(
                        "input `{key}` mixes numbers and arrays at depth {depth}"
                    ));
                }
                flat.push(float(v, key)?);
                Ok(())
            }
        }
    }
    let (mut shape, mut flat) = (Vec::new(), Vec::new());
    walk(get(ex, key)?, key, 0, &mut shape, &mut flat)?;
    Ok(tch::Tensor::from_slice(&flat)
        .view(shape.as_slice())
        .to_kind(kind(ex)?))
}

pub fn optional_int_tensor(ex: &Table, key: &str) -> Result<Option<tch::Tensor>, String> {
    let Some(v) = ex.get(key) else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| format!("input `{key}` must be an array of integers"))?;
    let ints: Vec<i64> = items
        .iter()
        .map(|i| {
            i.as_integer()
                .ok_or_else(|| format!("input `{key}` must contain integers"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(tch::Tensor::from_slice(&ints)))
}

/// `dtype = "f32"` (default, the model's precision) or `"f64"`.
pub fn kind(ex: &Table) -> Result<Kind, String> {
    match ex.get("dtype").map(|v| v.as_str()) {
        None | Some(Some("f32")) => Ok(Kind::Float),
        Some(Some("f64")) => Ok(Kind::Double),
        _ => Err("`dtype` must be \"f32\" or \"f64\"".into()),
    }
}

pub fn scalar(t: &tch::Tensor) -> Result<Value, String> {
    Ok(Value::Float(f64::try_from(t).map_err(|e| e.to_string())?))
}

pub fn matrix_value(t: &tch::Tensor) -> Result<Value, String> {
    let rows = space::tensor_to_matrix(t).map_err(err)?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|r| Value::Array(r.into_iter().map(Value::Float).collect()))
            .collect(),
    ))
}

/// The file an example names with `file`, relative to the repository root.
pub fn fixture(ex: &Table) -> Result<std::path::PathBuf, String> {
    Ok(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(string(ex, "file")?))
}
