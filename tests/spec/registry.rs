//! The one dispatch point from a spec example's `op` to the library. Pages name operations, never
//! Rust signatures, so the API can change without touching a page.
//!
//! Spec: spec/README.md (the list of operations is on each page that uses them).

use seje::checkpoint;
use seje::phase2::embedding_space as space;
use tch::Kind;
use toml::{Table, Value};

/// Runs operation `op` with the example's inputs; `Err` carries the library's error message, which
/// examples with `expected_error` match.
pub fn run(op: &str, ex: &Table) -> Result<Value, String> {
    seje::runtime::seed_everything(seje::runtime::PAPER_SEED, Some(1));
    match op {
        "l2_normalize" => {
            let x = tensor(ex, "x")?;
            matrix_value(&space::l2_normalize(&x).map_err(err)?)
        }
        "pairwise_distance" => {
            let x = tensor(ex, "x")?;
            let y = tensor(ex, "y")?;
            let d = match string(ex, "form")? {
                "loss" => space::pairwise_distance_loss_form(&x, &y),
                "exact" => space::pairwise_distance_exact(&x, &y),
                other => return Err(format!("unknown form `{other}` (loss, exact)")),
            };
            matrix_value(&d.map_err(err)?)
        }
        "seeded_uniform" => {
            let v = seje::runtime::seeded_uniform(int(ex, "seed")? as u64, int(ex, "n")? as usize);
            Ok(Value::Array(
                v.into_iter().map(|x| Value::Float(f64::from(x))).collect(),
            ))
        }
        "checkpoint_tensors" => {
            let key = ex.get("key").map(|_| string(ex, "key")).transpose()?;
            let state = checkpoint::read_state_dict(fixture(ex)?, key).map_err(err)?;
            Ok(Value::Array(
                state
                    .iter()
                    .map(|(name, t)| Value::String(format!("{name}: {}", tensor_summary(t))))
                    .collect(),
            ))
        }
        "checkpoint_value" => {
            let root = checkpoint::read_torch_file(fixture(ex)?).map_err(err)?;
            let mut at = &root;
            for step in get(ex, "path")?
                .as_array()
                .ok_or("`path` must be an array")?
            {
                let next = match (step, at.as_dict()) {
                    (Value::String(k), Some(d)) => d.get(k),
                    (Value::Integer(i), Some(d)) => d.get_int(*i),
                    (Value::Integer(i), None) => {
                        at.as_seq().and_then(|s| s.get(usize::try_from(*i).ok()?))
                    }
                    _ => None,
                };
                at = next.ok_or_else(|| format!("no `{step}` in a {}", at.type_name()))?;
            }
            Ok(checkpoint_to_toml(at))
        }
        other => Err(format!(
            "unknown op `{other}`: add it to tests/spec/registry.rs"
        )),
    }
}

fn err(e: seje::Error) -> String {
    e.to_string()
}

fn get<'a>(ex: &'a Table, key: &str) -> Result<&'a Value, String> {
    ex.get(key)
        .ok_or_else(|| format!("example is missing input `{key}`"))
}

fn string<'a>(ex: &'a Table, key: &str) -> Result<&'a str, String> {
    get(ex, key)?
        .as_str()
        .ok_or_else(|| format!("input `{key}` must be a string"))
}

fn int(ex: &Table, key: &str) -> Result<i64, String> {
    get(ex, key)?
        .as_integer()
        .ok_or_else(|| format!("input `{key}` must be an integer"))
}

fn float(v: &Value, key: &str) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        _ => Err(format!("input `{key}` must contain numbers, found {v}")),
    }
}

/// A nested array of numbers of any depth as a tensor of that shape, in the example's `dtype`.
fn tensor(ex: &Table, key: &str) -> Result<tch::Tensor, String> {
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

/// `dtype = "f32"` (default, the model's precision) or `"f64"`.
fn kind(ex: &Table) -> Result<Kind, String> {
    match ex.get("dtype").map(|v| v.as_str()) {
        None | Some(Some("f32")) => Ok(Kind::Float),
        Some(Some("f64")) => Ok(Kind::Double),
        _ => Err("`dtype` must be \"f32\" or \"f64\"".into()),
    }
}

fn matrix_value(t: &tch::Tensor) -> Result<Value, String> {
    let rows = space::tensor_to_matrix(t).map_err(err)?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|r| Value::Array(r.into_iter().map(Value::Float).collect()))
            .collect(),
    ))
}

/// The file an example names with `file`, relative to the repository root.
fn fixture(ex: &Table) -> Result<std::path::PathBuf, String> {
    Ok(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(string(ex, "file")?))
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
