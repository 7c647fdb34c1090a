//! Spec operations of eval-protocol.md: ranks, the permutation test, metrics and the whole protocol.
//!
//! Spec: spec/eval-protocol.md.

use seje::eval::protocol::{subset_metrics, DirectionResult, Metrics};
use seje::eval::ranking::{subset_ranks, Measure, RankOptions};
use seje::eval::{evaluate, Embeddings, EvalConfig};
use seje::phase2::embedding_space as space;
use toml::{Table, Value};

use crate::inputs::{err, get, int, string, tensor};

pub fn eval_ranks(ex: &Table) -> Result<Value, String> {
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

pub fn eval_permutation(ex: &Table) -> Result<Value, String> {
    let e = embeddings(ex)?;
    let t = seje::eval::significance::permutation_test(
        &e,
        Measure::Euclidean,
        int(ex, "permutations")? as usize,
        int(ex, "seed")? as u64,
    )
    .map_err(err)?;
    Ok(Value::Table(Table::from_iter([
        ("mean_rank".to_string(), Value::Float(t.mean_rank)),
        ("null_mean_rank".to_string(), Value::Float(t.null_mean_rank)),
        ("as_good".to_string(), Value::Integer(t.as_good as i64)),
        ("p_value".to_string(), Value::Float(t.p_value)),
    ])))
}

pub fn eval_metrics(ex: &Table) -> Result<Value, String> {
    let ranks: Vec<u32> = get(ex, "ranks")?
        .as_array()
        .ok_or("input `ranks` must be an array")?
        .iter()
        .map(|v| v.as_integer().map(|i| i as u32).ok_or("ranks are integers"))
        .collect::<Result<_, _>>()?;
    let base = ex.get("base").and_then(Value::as_integer).unwrap_or(1) as u32;
    Ok(metrics_value(&subset_metrics(&ranks, base)))
}

pub fn eval_protocol(ex: &Table) -> Result<Value, String> {
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
