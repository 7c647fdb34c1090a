//! Spec operations of the Torch7 page: a file (hex bytes or a fixture) read into a summary, the
//! skip-instructions fields of an `encs_*.t7`, and its conversion to `sentences.safetensors`.
//!
//! Spec: spec/data-t7.md.

use std::path::Path;

use seje::data::feature_store::FeatureStore;
use seje::data::skip_instruction_vectors::{self as siv, SkipInstructionVectors};
use seje::data::t7;
use toml::{Table, Value};

use crate::inputs::{err, get, int, string, string_array};

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| {
            let s: String = p.iter().collect();
            u8::from_str_radix(&s, 16).map_err(|_| format!("input `hex`: bad byte {s:?}"))
        })
        .collect()
}

fn table(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn ints(xs: impl IntoIterator<Item = usize>) -> Value {
    Value::Array(xs.into_iter().map(|x| Value::Integer(x as i64)).collect())
}

/// nil → `"nil"`, strings as (lossy) text, tables as `[[key, value], …]` in file order, tensors
/// as `{ class, shape, data }` (data row-major, as f64).
fn summary(v: &t7::Value) -> Value {
    match v {
        t7::Value::Nil => Value::String("nil".into()),
        t7::Value::Number(x) => Value::Float(*x),
        t7::Value::Bool(b) => Value::Boolean(*b),
        t7::Value::String(s) => Value::String(String::from_utf8_lossy(s).into_owned()),
        t7::Value::Table(pairs) => Value::Array(
            pairs
                .iter()
                .map(|(k, v)| Value::Array(vec![summary(k), summary(v)]))
                .collect(),
        ),
        t7::Value::Tensor(t) => table([
            ("class", Value::String(t.dtype.tensor_class())),
            ("shape", ints(t.shape.iter().copied())),
            (
                "data",
                Value::Array(t.to_f64_vec().into_iter().map(Value::Float).collect()),
            ),
        ]),
        t7::Value::Storage(s) => table([
            ("class", Value::String(s.dtype().storage_class())),
            ("len", Value::Integer(s.len() as i64)),
        ]),
    }
}

/// `hex` (the file's bytes) or `file` → the value read.
pub fn read(ex: &Table) -> Result<Value, String> {
    let v = if ex.contains_key("hex") {
        t7::read_bytes(&unhex(string(ex, "hex")?)?, Path::new("example.t7")).map_err(err)?
    } else {
        t7::read_file(&crate::inputs::fixture(ex)?).map_err(err)?
    };
    Ok(summary(&v))
}

/// `file` (an `encs_*.t7`) → `ids`, `sentences` per recipe, `dim`, `rows`.
pub fn skip_instructions(ex: &Table) -> Result<Value, String> {
    let s = SkipInstructionVectors::open(&crate::inputs::fixture(ex)?).map_err(err)?;
    Ok(table([
        (
            "ids",
            Value::Array(s.ids().iter().cloned().map(Value::String).collect()),
        ),
        ("sentences", ints((0..s.len()).map(|i| s.sentence_count(i)))),
        ("dim", Value::Integer(s.dim() as i64)),
        ("rows", Value::Integer(s.rows() as i64)),
    ]))
}

/// `file`, `ids`, `max_sentences` → the written store's `f_sent` shape and `lengths`.
pub fn sentence_store(ex: &Table) -> Result<Value, String> {
    let s = SkipInstructionVectors::open(&crate::inputs::fixture(ex)?).map_err(err)?;
    let ids = string_array(get(ex, "ids")?, "ids")?;
    let max = usize::try_from(int(ex, "max_sentences")?).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    siv::write_sentence_store(&[s], &ids, max, dir.path()).map_err(err)?;
    let store = FeatureStore::open(&dir.path().join(siv::SENTENCES_FILE)).map_err(err)?;
    let shape = store.info("f_sent").map_err(err)?.shape.clone();
    let lengths = store
        .bytes("lengths")
        .map_err(err)?
        .chunks_exact(8)
        .map(|c| Value::Integer(i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))))
        .collect();
    Ok(table([
        ("f_sent_shape", ints(shape)),
        ("lengths", Value::Array(lengths)),
    ]))
}
