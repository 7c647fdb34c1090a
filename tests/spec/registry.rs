//! The one dispatch point from a spec example's `op` to the library. Pages name operations, never
//! Rust signatures, so the API can change without touching a page.
//!
//! Spec: spec/README.md (the list of operations is on each page that uses them).

use seje::eval::cpython_random::{sample_setsize, sample_uses_pool, CpythonRandom};
use seje::eval::protocol::{subset_metrics, DirectionResult, Metrics};
use seje::eval::ranking::{subset_ranks, Measure, RankOptions};
use seje::eval::{evaluate, Embeddings, EvalConfig};
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
        "cpython_getrandbits" => {
            let mut r = CpythonRandom::seed(int(ex, "seed")? as u64);
            let k = int(ex, "k")? as u32;
            let words = (0..int(ex, "count")?)
                .map(|_| r.getrandbits(k).map(|w| Value::Integer(i64::from(w))))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            Ok(Value::Array(words))
        }
        "cpython_sample" => {
            let mut r = CpythonRandom::seed(int(ex, "seed")? as u64);
            let (n, k) = (int(ex, "n")? as usize, int(ex, "k")? as usize);
            let head = ex
                .get("head")
                .and_then(Value::as_integer)
                .map_or(k, |h| h as usize);
            let mut out = Vec::new();
            for _ in 0..int(ex, "subsets")? {
                let s = r.sample_range(n, k).map_err(err)?;
                out.push(Value::Array(
                    s[..head.min(k)]
                        .iter()
                        .map(|&i| Value::Integer(i as i64))
                        .collect(),
                ));
            }
            Ok(Value::Array(out))
        }
        "cpython_sample_method" => {
            let (n, k) = (int(ex, "n")? as usize, int(ex, "k")? as usize);
            Ok(Value::Table(Table::from_iter([
                (
                    "setsize".to_string(),
                    Value::Integer(sample_setsize(k) as i64),
                ),
                (
                    "method".to_string(),
                    Value::String(
                        if sample_uses_pool(n, k) {
                            "pool"
                        } else {
                            "set"
                        }
                        .into(),
                    ),
                ),
            ])))
        }
        "eval_ranks" => {
            let e = embeddings(ex)?;
            let measure = match string(ex, "measure")? {
                "euclidean" => Measure::Euclidean,
                "cosine" => Measure::Cosine,
                "negative_dot" => Measure::NegativeDot,
                other => return Err(format!("unknown measure `{other}`")),
            };
            let all: Vec<usize> = (0..e.n).collect();
            let r = subset_ranks(&e, &all, measure, RankOptions::default()).map_err(err)?;
            let ints = |v: Vec<u32>| {
                Value::Array(
                    v.into_iter()
                        .map(|x| Value::Integer(i64::from(x)))
                        .collect(),
                )
            };
            Ok(Value::Table(Table::from_iter([
                ("image_to_recipe".to_string(), ints(r.image_to_recipe)),
                ("recipe_to_image".to_string(), ints(r.recipe_to_image)),
            ])))
        }
        "eval_metrics" => {
            let ranks: Vec<u32> = get(ex, "ranks")?
                .as_array()
                .ok_or("input `ranks` must be an array")?
                .iter()
                .map(|v| v.as_integer().map(|i| i as u32).ok_or("ranks are integers"))
                .collect::<Result<_, _>>()?;
            let base = ex.get("base").and_then(Value::as_integer).unwrap_or(1) as u32;
            Ok(metrics_value(&subset_metrics(&ranks, base)))
        }
        "eval_protocol" => {
            let e = embeddings(ex)?;
            let cfg = EvalConfig {
                protocol: string(ex, "protocol")?.parse().map_err(err)?,
                sizes: get(ex, "sizes")?
                    .as_array()
                    .ok_or("input `sizes` must be an array")?
                    .iter()
                    .map(|v| {
                        v.as_integer()
                            .map(|i| i as usize)
                            .ok_or("sizes are integers")
                    })
                    .collect::<Result<_, _>>()?,
                subsets: int(ex, "subsets")? as usize,
                ..EvalConfig::default()
            };
            let report = evaluate(&e, &cfg).map_err(err)?;
            Ok(Value::Array(
                report
                    .sizes
                    .iter()
                    .map(|s| {
                        Value::Table(Table::from_iter([
                            ("size".to_string(), Value::Integer(s.size as i64)),
                            ("subsets".to_string(), Value::Integer(s.subsets as i64)),
                            (
                                "image_to_recipe".to_string(),
                                direction_value(&s.image_to_recipe),
                            ),
                            (
                                "recipe_to_image".to_string(),
                                direction_value(&s.recipe_to_image),
                            ),
                        ]))
                    })
                    .collect(),
            ))
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

/// `image` and `recipe` matrices (and optional `ids`) as an evaluation input.
fn embeddings(ex: &Table) -> Result<Embeddings, String> {
    let rows = |key: &str| -> Result<(usize, usize, Vec<f32>), String> {
        let t = tensor(ex, key)?;
        let m = space::tensor_to_matrix(&t).map_err(err)?;
        let d = m.first().map_or(0, Vec::len);
        Ok((
            m.len(),
            d,
            m.into_iter().flatten().map(|v| v as f32).collect(),
        ))
    };
    let (n, d, image) = rows("image")?;
    let (nr, dr, recipe) = rows("recipe")?;
    if (n, d) != (nr, dr) {
        return Err(format!(
            "example: image is [{n}, {d}], recipe is [{nr}, {dr}]"
        ));
    }
    let ids = match ex.get("ids") {
        None => None,
        Some(v) => Some(
            v.as_array()
                .ok_or("input `ids` must be an array of strings")?
                .iter()
                .map(|s| s.as_str().map(str::to_string).ok_or("ids are strings"))
                .collect::<Result<_, _>>()?,
        ),
    };
    Embeddings::new("example", (n, d), image, recipe, ids).map_err(err)
}

fn metrics_value(m: &Metrics) -> Value {
    Value::Table(Table::from_iter(
        [("medr", m.medr), ("r1", m.r1), ("r5", m.r5), ("r10", m.r10)]
            .map(|(k, v)| (k.to_string(), Value::Float(v))),
    ))
}

fn direction_value(d: &DirectionResult) -> Value {
    metrics_value(&Metrics {
        medr: d.medr,
        r1: d.r1,
        r5: d.r5,
        r10: d.r10,
    })
}
