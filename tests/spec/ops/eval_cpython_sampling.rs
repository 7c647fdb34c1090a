//! Spec operations of eval-cpython-sampling.md: CPython's `getrandbits`, `sample` and `shuffle`.
//!
//! Spec: spec/eval-cpython-sampling.md.

use seje::cpython_random::{sample_setsize, sample_uses_pool, CpythonRandom};
use toml::{Table, Value};

use crate::inputs::{err, int};

pub fn cpython_getrandbits(ex: &Table) -> Result<Value, String> {
    let mut r = CpythonRandom::seed(int(ex, "seed")? as u64);
    let k = int(ex, "k")? as u32;
    let words = (0..int(ex, "count")?)
        .map(|_| r.getrandbits(k).map(|w| Value::Integer(i64::from(w))))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    Ok(Value::Array(words))
}

pub fn cpython_sample(ex: &Table) -> Result<Value, String> {
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

pub fn cpython_shuffle(ex: &Table) -> Result<Value, String> {
    let mut r = CpythonRandom::seed(int(ex, "seed")? as u64);
    let mut x: Vec<i64> = (0..int(ex, "n")?).collect();
    let mut out = Vec::new();
    for _ in 0..int(ex, "times")? {
        r.shuffle(&mut x).map_err(err)?;
        out.push(Value::Array(x.iter().map(|&i| Value::Integer(i)).collect()));
    }
    Ok(Value::Array(out))
}

pub fn cpython_sample_method(ex: &Table) -> Result<Value, String> {
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
