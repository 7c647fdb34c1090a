//! Spec operations of phase1-text.md: words, ingredient lines, entity replacement, re-examination and its score.
//!
//! Spec: spec/phase1-text.md.

use seje::phase1::entities::{score_reexamination, EntitySet, Reexamination, Rule};
use seje::phase1::text::{parse_ingredient_line, words as text_words};
use toml::{Table, Value};

use crate::inputs::{get, string, string_array};

pub fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

pub fn entity_set(ex: &Table) -> Result<EntitySet, String> {
    Ok(EntitySet::from_phrases(string_array(
        get(ex, "entities")?,
        "entities",
    )?))
}

fn how(ex: &Table) -> Result<Reexamination, String> {
    let mut how = Reexamination::default();
    if let Some(v) = ex.get("parse") {
        how.parse = v.as_bool().ok_or("input `parse` must be a boolean")?;
    }
    if let Some(v) = ex.get("anywhere") {
        how.anywhere = v.as_bool().ok_or("input `anywhere` must be a boolean")?;
    }
    Ok(how)
}

/// `text` → its words.
pub fn words(ex: &Table) -> Result<Value, String> {
    Ok(strings(text_words(string(ex, "text")?)))
}

/// `line` → `name`, `notes`, `quantities`, `units`.
pub fn ingredient_line(ex: &Table) -> Result<Value, String> {
    let p = parse_ingredient_line(string(ex, "line")?);
    Ok(Value::Table(Table::from_iter([
        ("name".to_string(), strings(p.name)),
        (
            "notes".to_string(),
            Value::Array(p.notes.into_iter().map(strings).collect()),
        ),
        ("quantities".to_string(), strings(p.quantities)),
        (
            "units".to_string(),
            strings(p.units.iter().map(|u| u.name().to_string())),
        ),
    ])))
}

/// `entities` (phrases), `text` → the words after entity replacement.
pub fn replace_entities(ex: &Table) -> Result<Value, String> {
    Ok(strings(entity_set(ex)?.replace(string(ex, "text")?)))
}

/// `entities`, `line`, optional `parse`, `anywhere` → `entity` and `rule`, or the string `none`.
pub fn reexamine(ex: &Table) -> Result<Value, String> {
    let set = entity_set(ex)?;
    Ok(match set.reexamine_with(string(ex, "line")?, how(ex)?) {
        None => Value::String("none".into()),
        Some(r) => Value::Table(Table::from_iter([
            ("entity".to_string(), Value::String(r.entity)),
            (
                "rule".to_string(),
                Value::String(
                    match r.rule {
                        Rule::Suffix => "suffix",
                        Rule::Anywhere => "anywhere",
                    }
                    .into(),
                ),
            ),
        ])),
    })
}

/// `root` (relative to the crate), optional `parse`, `anywhere` → the score's counts.
pub fn reexamination_score(ex: &Table) -> Result<Value, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(string(ex, "root")?);
    let s = score_reexamination(&root, how(ex)?).map_err(|e| e.to_string())?;
    let int = |n: usize| Value::Integer(n as i64);
    Ok(Value::Table(Table::from_iter([
        ("recipes".to_string(), int(s.recipes)),
        ("invalid".to_string(), int(s.invalid)),
        ("mislabelled".to_string(), int(s.mislabelled)),
        ("recovered".to_string(), int(s.recovered)),
        ("correct".to_string(), int(s.correct)),
        ("spurious".to_string(), int(s.spurious)),
        ("wrong".to_string(), int(s.wrong)),
        ("entity_set".to_string(), int(s.entity_set)),
    ])))
}
