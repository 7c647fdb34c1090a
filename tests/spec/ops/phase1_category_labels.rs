//! Spec operations of the category labels page: the title tokeniser, the bigram ranking and the
//! whole assignment on a dataset written inline.
//!
//! Spec: spec/phase1-category-labels.md.

use std::collections::HashMap;

use seje::data::splits::Partition;
use seje::phase1::categories::{assign, CategoryConfig, PairInput};
use seje::phase1::title_bigrams::{content_tokens, rank_bigrams, tokenize};
use toml::{Table, Value};

use crate::inputs::{float, get, int, string};

fn strings(v: impl IntoIterator<Item = String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

/// `text` → `{ tokens, content }`.
pub fn tokens(ex: &Table) -> Result<Value, String> {
    let text = string(ex, "text")?;
    Ok(Value::Table(Table::from_iter([
        ("tokens".to_string(), strings(tokenize(text))),
        ("content".to_string(), strings(content_tokens(text))),
    ])))
}

/// `titles` (array of training titles; ids are their positions), `top`, `cross_title` → array of
/// `"first second: count"`.
pub fn bigrams(ex: &Table) -> Result<Value, String> {
    let titles = titles(ex)?;
    let top = usize::try_from(int(ex, "top")?).map_err(|_| "`top` must be >= 0")?;
    let cross = get(ex, "cross_title")?
        .as_bool()
        .ok_or("`cross_title` must be a boolean")?;
    Ok(strings(
        rank_bigrams(&titles, top, cross)
            .into_iter()
            .map(|((a, b), n)| format!("{a} {b}: {n}")),
    ))
}

fn titles(ex: &Table) -> Result<Vec<(String, String)>, String> {
    Ok(crate::inputs::string_array(get(ex, "titles")?, "titles")?
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("{i:04}"), t))
        .collect())
}

/// `pairs` (array of `[id, title, split, [f_term]]`), `food101` (class names), optional
/// `predictions` (table id → class name) and the config keys (`top_bigrams`, `min_train`,
/// `max_classes`, `vote_margin`, `cross_title_bigrams`; defaults the paper's) → `{ classes,
/// labels = { id = "name (rule)" } }`. The bigrams are counted on the training pairs' titles.
pub fn assign_op(ex: &Table) -> Result<Value, String> {
    let mut pairs = Vec::new();
    for p in get(ex, "pairs")?
        .as_array()
        .ok_or("`pairs` must be an array")?
    {
        match p.as_array().map(Vec::as_slice) {
            Some(
                [Value::String(id), Value::String(title), Value::String(split), Value::Array(f)],
            ) => pairs.push(PairInput {
                id: id.clone(),
                title: title.clone(),
                partition: split.parse::<Partition>().map_err(|e| e.to_string())?,
                f_term: f
                    .iter()
                    .map(|x| float(x, "pairs").map(|x| x as f32))
                    .collect::<Result<_, _>>()?,
            }),
            _ => return Err("each pair must be [id, title, split, [f_term]]".into()),
        }
    }
    let food = crate::inputs::string_array(get(ex, "food101")?, "food101")?;
    let predictions: Option<HashMap<String, String>> = match ex.get("predictions") {
        None => None,
        Some(v) => Some(
            v.as_table()
                .ok_or("`predictions` must be a table id = class")?
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_string()))
                        .ok_or(format!("prediction of `{k}` must be a string"))
                })
                .collect::<Result<_, String>>()?,
        ),
    };
    let mut cfg = CategoryConfig::default();
    let count = |key: &str, into: &mut usize| -> Result<(), String> {
        if ex.contains_key(key) {
            *into = usize::try_from(int(ex, key)?).map_err(|_| format!("`{key}` must be >= 0"))?;
        }
        Ok(())
    };
    count("top_bigrams", &mut cfg.top_bigrams)?;
    count("min_train", &mut cfg.min_train)?;
    count("max_classes", &mut cfg.max_classes)?;
    if let Some(v) = ex.get("vote_margin") {
        cfg.vote_margin = float(v, "vote_margin")?;
    }
    if let Some(v) = ex.get("cross_title_bigrams") {
        cfg.cross_title_bigrams = v
            .as_bool()
            .ok_or("`cross_title_bigrams` must be a boolean")?;
    }
    let train: Vec<(String, String)> = pairs
        .iter()
        .filter(|p| p.partition == Partition::Train)
        .map(|p| (p.id.clone(), p.title.clone()))
        .collect();
    let a = assign(&pairs, &train, &food, predictions.as_ref(), &cfg).map_err(|e| e.to_string())?;
    let labels = a
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let name = &a.class_names[a.classes[i]];
            (
                id.clone(),
                Value::String(format!("{name} ({})", a.rules[i].as_str())),
            )
        })
        .collect::<Table>();
    Ok(Value::Table(Table::from_iter([
        ("classes".to_string(), strings(a.class_names.clone())),
        ("labels".to_string(), Value::Table(labels)),
    ])))
}
