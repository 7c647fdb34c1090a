//! Spec operations of the skip-instructions page: the parameters of a configuration, sentence
//! vectors, and the loss with a fixed output layer.
//!
//! Spec: spec/phase1-skip-instructions.md.

use seje::phase1::skip_instructions::{SkipInstructions, SkipInstructionsConfig};
use tch::{nn, Device, Kind, Tensor};
use toml::{Table, Value};

use crate::inputs::{err, get, int, scalar, tensor};

/// `config = "paper"` or `config = { word_dim, hidden, output_vocab }`.
fn config(ex: &Table) -> Result<SkipInstructionsConfig, String> {
    match get(ex, "config")? {
        Value::String(s) if s == "paper" => Ok(SkipInstructionsConfig::paper()),
        v @ Value::Table(_) => v
            .clone()
            .try_into()
            .map_err(|e| format!("input `config`: {e}")),
        _ => Err(
            "input `config` must be \"paper\" or a table { word_dim, hidden, output_vocab }".into(),
        ),
    }
}

/// The model of the example's `config`, drawn after `tch::manual_seed(seed)` (`seed` defaults to
/// 0).
fn build(ex: &Table) -> Result<(nn::VarStore, SkipInstructions), String> {
    let cfg = config(ex)?;
    tch::manual_seed(
        ex.get("seed")
            .map(|_| int(ex, "seed"))
            .transpose()?
            .unwrap_or(0),
    );
    let vs = nn::VarStore::new(Device::Cpu);
    let model = SkipInstructions::new(&vs.root(), cfg).map_err(err)?;
    Ok((vs, model))
}

fn rounded(x: f64) -> Value {
    // f32 precision: the shortest decimal that reads back as the same f32
    Value::Float(format!("{:e}", x as f32).parse().unwrap_or(f64::NAN))
}

/// `config` → `{ names = ["name: [shape]", …], encoder, decoder, output, total }` (parameter
/// counts per module).
pub fn parameters(ex: &Table) -> Result<Value, String> {
    let (vs, _model) = build(ex)?;
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let count = |prefix: &str| -> i64 {
        vars.iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(_, t)| t.numel() as i64)
            .sum()
    };
    let mut out = Table::new();
    out.insert(
        "names".into(),
        Value::Array(
            vars.iter()
                .map(|(n, t)| Value::String(format!("{n}: {:?}", t.size())))
                .collect(),
        ),
    );
    for m in ["encoder", "decoder", "output"] {
        out.insert(m.into(), Value::Integer(count(&format!("{m}."))));
    }
    out.insert("total".into(), Value::Integer(count("")));
    Ok(Value::Table(out))
}

/// `config`, `seed`, `inputs` [B, L, D], `lengths` [B] → `{ shape, vectors }`.
pub fn encode(ex: &Table) -> Result<Value, String> {
    let (_vs, model) = build(ex)?;
    let lengths = tensor(ex, "lengths")?.to_kind(Kind::Int64);
    let v = model
        .encode(&tensor(ex, "inputs")?, &lengths)
        .map_err(err)?;
    let rows = Vec::<Vec<f64>>::try_from(&v.to_kind(Kind::Double)).map_err(|e| e.to_string())?;
    Ok(Value::Table(Table::from_iter([
        (
            "shape".to_string(),
            Value::Array(v.size().into_iter().map(Value::Integer).collect()),
        ),
        (
            "vectors".to_string(),
            Value::Array(
                rows.into_iter()
                    .map(|r| Value::Array(r.into_iter().map(rounded).collect()))
                    .collect(),
            ),
        ),
    ])))
}

/// `config`, `seed`, `output_bias` (the output layer becomes W = 0, b = output_bias), `src`,
/// `src_lengths`, `dec_inputs`, `targets` → the loss.
pub fn loss(ex: &Table) -> Result<Value, String> {
    let (vs, model) = build(ex)?;
    if ex.contains_key("output_bias") {
        let bias = tensor(ex, "output_bias")?;
        let vars = vs.variables();
        tch::no_grad(|| {
            let _ = vars["output.weight"].shallow_clone().zero_();
            vars["output.bias"].shallow_clone().copy_(&bias);
        });
    }
    let l = model
        .loss(
            &tensor(ex, "src")?,
            &tensor(ex, "src_lengths")?.to_kind(Kind::Int64),
            &tensor(ex, "dec_inputs")?,
            &tensor(ex, "targets")?.to_kind(Kind::Int64),
        )
        .map_err(err)?;
    scalar(&l)
}
