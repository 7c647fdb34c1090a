//! Spec operations of the word2vec page: the vocabulary, the Huffman tree, the sub-sampling
//! value, and the `-binary 1` file written and read.
//!
//! Spec: spec/phase1-word2vec.md.

use seje::phase1::word2vec::{self, Vocab, WordVectors};
use toml::{Table, Value};

use crate::inputs::{err, float, get, int, string, string_array};

fn u64_of(v: &Value, key: &str) -> Result<u64, String> {
    v.as_integer()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| format!("input `{key}` must hold integers >= 0"))
}

/// An f32 as the f64 of its shortest decimal form, so an `expected` written as that decimal
/// (`0.1`, not `0.100000001`) compares exactly and means the same f32 bits.
fn f32_value(x: f32) -> Value {
    Value::Float(format!("{x:e}").parse().unwrap_or(f64::NAN))
}

fn table(pairs: impl IntoIterator<Item = (&'static str, Value)>) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// `counts` (vocabulary order) → `codes` (bit strings, root first) and `points` (inner nodes).
pub fn huffman(ex: &Table) -> Result<Value, String> {
    let counts = get(ex, "counts")?
        .as_array()
        .ok_or("input `counts` must be an array")?
        .iter()
        .map(|v| u64_of(v, "counts"))
        .collect::<Result<Vec<_>, _>>()?;
    let tree = word2vec::huffman(&counts).map_err(err)?;
    Ok(table([
        (
            "codes",
            strings(
                tree.iter()
                    .map(|(c, _)| c.iter().map(|b| b.to_string()).collect()),
            ),
        ),
        (
            "points",
            Value::Array(
                tree.iter()
                    .map(|(_, p)| {
                        Value::Array(p.iter().map(|&x| Value::Integer(x.into())).collect())
                    })
                    .collect(),
            ),
        ),
    ]))
}

/// `count`, `train_words`, `sample` → the C tool's sub-sampling value `ran`.
pub fn keep_probability(ex: &Table) -> Result<Value, String> {
    let count = u64_of(get(ex, "count")?, "count")?;
    let total = u64_of(get(ex, "train_words")?, "train_words")?;
    let sample = float(get(ex, "sample")?, "sample")? as f32;
    Ok(f32_value(word2vec::keep_probability(count, total, sample)))
}

/// `sentences` (whitespace-separated tokens, one string per sentence), `min_count` → `words`,
/// `counts`, `train_words`.
pub fn vocab(ex: &Table) -> Result<Value, String> {
    let mut seen: Vec<(String, u64)> = Vec::new();
    let sentences = string_array(get(ex, "sentences")?, "sentences")?;
    for s in &sentences {
        for t in s.split_whitespace() {
            match seen.iter_mut().find(|(w, _)| w == t) {
                Some((_, c)) => *c += 1,
                None => seen.push((t.to_string(), 1)),
            }
        }
    }
    let min_count = u64::try_from(int(ex, "min_count")?).map_err(|_| "`min_count` >= 0")?;
    let v = Vocab::from_counts(&seen, sentences.len() as u64, min_count).map_err(err)?;
    Ok(table([
        ("words", strings(v.words.iter().map(|w| w.word.clone()))),
        (
            "counts",
            Value::Array(
                v.words
                    .iter()
                    .map(|w| Value::Integer(w.count as i64))
                    .collect(),
            ),
        ),
        ("train_words", Value::Integer(v.train_words as i64)),
    ]))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

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

/// `words`, `vectors` (one array per word) → the file's bytes as `hex`.
pub fn write_binary(ex: &Table) -> Result<Value, String> {
    let words = string_array(get(ex, "words")?, "words")?;
    let rows = get(ex, "vectors")?
        .as_array()
        .ok_or("input `vectors` must be an array of arrays")?;
    let mut values = Vec::new();
    let mut dim = 0;
    for row in rows {
        let row = row
            .as_array()
            .ok_or("input `vectors` must be an array of arrays")?;
        dim = row.len();
        for x in row {
            values.push(float(x, "vectors")? as f32);
        }
    }
    let kv = WordVectors::new(words, dim, values).map_err(err)?;
    Ok(Value::String(hex(&kv.to_binary())))
}

/// `hex` (the file's bytes) or `file` (a committed fixture) → `words` and `vectors`.
pub fn read_binary(ex: &Table) -> Result<Value, String> {
    let kv = if ex.contains_key("hex") {
        WordVectors::from_binary(&unhex(string(ex, "hex")?)?)?
    } else {
        WordVectors::read_binary(&crate::inputs::fixture(ex)?).map_err(err)?
    };
    Ok(table([
        ("words", strings(kv.words().iter().cloned())),
        (
            "vectors",
            Value::Array(
                kv.as_slice()
                    .chunks(kv.dim())
                    .map(|r| Value::Array(r.iter().map(|&x| f32_value(x)).collect()))
                    .collect(),
            ),
        ),
    ]))
}
