//! Spec operations of phase1-key-terms.md: the key terms of a text; the lexicon files.
//!
//! Spec: spec/phase1-key-terms.md.

use seje::phase1::key_terms::{Kind, Lexicon};
use toml::{Table, Value};

use super::phase1_text::{entity_set, strings};
use crate::inputs::string;

/// `entities`, `text` → the key terms as `kind:term`, in order.
pub fn key_terms(ex: &Table) -> Result<Value, String> {
    let set = entity_set(ex)?;
    let lex = Lexicon::standard();
    Ok(strings(
        lex.key_terms(&set, string(ex, "text")?)
            .into_iter()
            .map(|k| {
                let kind = match k.kind {
                    Kind::Entity => "entity",
                    Kind::Action => "action",
                    Kind::Utensil => "utensil",
                };
                format!("{kind}:{}", k.term)
            }),
    ))
}

/// `actions`, `utensils` (lexicon file text) → error or the sorted entries.
pub fn lexicon(ex: &Table) -> Result<Value, String> {
    let lex = Lexicon::parse(string(ex, "actions")?, string(ex, "utensils")?)
        .map_err(|e| e.to_string())?;
    Ok(Value::Table(Table::from_iter([
        (
            "actions".to_string(),
            strings(lex.actions().map(str::to_string)),
        ),
        (
            "utensils".to_string(),
            strings(lex.utensils().map(str::to_string)),
        ),
    ])))
}
