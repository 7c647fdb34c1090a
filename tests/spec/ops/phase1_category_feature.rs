//! Spec operations of the category feature page: the vector of a class name.
//!
//! Spec: spec/phase1-category-feature.md.

use seje::phase1::category_feature::{class_name_vector, NameVector};
use seje::phase1::word2vec::WordVectors;
use toml::{Table, Value};

use crate::inputs::{float, get, string};

/// `vectors` (table word → floats), `name` → `{ vector, found }` (`token`, `words:N`, `none`).
pub fn class_name(ex: &Table) -> Result<Value, String> {
    let table = get(ex, "vectors")?
        .as_table()
        .ok_or("input `vectors` must be a table of word = [floats]")?;
    let (mut words, mut values, mut dim) = (Vec::new(), Vec::new(), 0);
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
    let (v, how) = class_name_vector(string(ex, "name")?, &vectors);
    let found = match how {
        NameVector::Token => "token".to_string(),
        NameVector::Words(n) => format!("words:{n}"),
        NameVector::None => "none".to_string(),
    };
    Ok(Value::Table(Table::from_iter([
        (
            "vector".to_string(),
            Value::Array(
                v.iter()
                    .map(|&x| Value::Float(format!("{x:e}").parse().unwrap_or(f64::NAN)))
                    .collect(),
            ),
        ),
        ("found".to_string(), Value::String(found)),
    ])))
}
