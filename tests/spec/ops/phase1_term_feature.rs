//! Spec operations of the weighted term feature page: f_term of rated terms, and one recipe's
//! corpus line and key-term document.
//!
//! Spec: spec/phase1-term-feature.md.

use seje::phase1::entities::EntitySet;
use seje::phase1::key_terms::Lexicon;
use seje::phase1::term_feature::weighted_term_feature;
use seje::phase1::text_features::{recipe_text, Extractor};
use seje::phase1::word2vec::WordVectors;
use toml::{Table, Value};

use crate::inputs::{float, get, string, string_array};

fn strings(v: impl IntoIterator<Item = String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

/// `vectors` (table word → array of floats, one width), `rated` (array of [term, rating]) →
/// `{ f_term, used, skipped }`.
pub fn term_feature(ex: &Table) -> Result<Value, String> {
    let table = get(ex, "vectors")?
        .as_table()
        .ok_or("input `vectors` must be a table of word = [floats]")?;
    let mut words = Vec::new();
    let mut values = Vec::new();
    let mut dim = 0;
    for (word, v) in table {
        let row = v
            .as_array()
            .ok_or(format!("vector of `{word}` must be an array"))?
            .iter()
            .map(|x| float(x, "vectors").map(|x| x as f32))
            .collect::<Result<Vec<f32>, String>>()?;
        dim = row.len();
        words.push(word.clone());
        values.extend(row);
    }
    let vectors = WordVectors::new(words, dim, values).map_err(|e| e.to_string())?;
    let rated = get(ex, "rated")?
        .as_array()
        .ok_or("input `rated` must be an array of [term, rating]")?
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([Value::String(t), s]) => Ok((t.clone(), float(s, "rated")?)),
            _ => Err("each `rated` entry must be [term, rating]".to_string()),
        })
        .collect::<Result<Vec<(String, f64)>, String>>()?;
    let refs: Vec<(&str, f64)> = rated.iter().map(|(t, s)| (t.as_str(), *s)).collect();
    let f = weighted_term_feature(&refs, &vectors).map_err(|e| e.to_string())?;
    Ok(Value::Table(Table::from_iter([
        (
            "f_term".to_string(),
            Value::Array(
                f.vector
                    .iter()
                    .map(|&x| Value::Float(format!("{x:e}").parse().unwrap_or(f64::NAN)))
                    .collect(),
            ),
        ),
        ("used".to_string(), Value::Integer(f.used as i64)),
        ("skipped".to_string(), Value::Integer(f.skipped as i64)),
    ])))
}

/// `entities` (E's phrases), `line_entities`, `title`, `instructions` → `{ words, document }`.
pub fn recipe_text_op(ex: &Table) -> Result<Value, String> {
    let set = EntitySet::from_phrases(string_array(get(ex, "entities")?, "entities")?);
    let lines = string_array(get(ex, "line_entities")?, "line_entities")?;
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let instructions = string_array(get(ex, "instructions")?, "instructions")?;
    let t = recipe_text(
        &Extractor::Lexicon(Lexicon::standard()),
        &set,
        &lines,
        string(ex, "title")?,
        &instructions,
    );
    Ok(Value::Table(Table::from_iter([
        ("words".to_string(), strings(t.words)),
        ("document".to_string(), strings(t.document)),
    ])))
}
