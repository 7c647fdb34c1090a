//! Spec operations of the POS-tagger page: normalisation and features of a word in context,
//! tagging with the committed fixture model, a model loaded from inline JSON, tagger key terms.
//!
//! Spec: spec/phase1-pos-tagger.md.

use std::path::{Path, PathBuf};

use seje::phase1::entities::EntitySet;
use seje::phase1::key_terms::Kind;
use seje::phase1::pos_tagger::{
    context, features as pos_features, tagged_key_terms, PerceptronTagger,
};
use toml::{Table, Value};

use crate::inputs::{get, int, string, string_array};

fn strings(items: impl IntoIterator<Item = String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// The model an example names: `fixture` is NLTK's model of `fixtures/golden/pos_tagger/model`.
fn model(ex: &Table) -> Result<PerceptronTagger, String> {
    let path: PathBuf = match string(ex, "model")? {
        "fixture" => Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/pos_tagger/model"),
        other => return Err(format!("unknown model `{other}` (fixture)")),
    };
    PerceptronTagger::load(&path).map_err(|e| e.to_string())
}

/// `tokens`, `index`, `prev`, `prev2` → `context` (the normalised sentence with its padding) and
/// `features` (NLTK's feature strings, in order).
pub fn features(ex: &Table) -> Result<Value, String> {
    let tokens = string_array(get(ex, "tokens")?, "tokens")?;
    let i = usize::try_from(int(ex, "index")?).map_err(|_| "input `index` must be >= 0")?;
    let word = tokens
        .get(i)
        .ok_or("input `index` is past the last token")?;
    let ctx = context(&tokens);
    let feats = pos_features(i, word, &ctx, string(ex, "prev")?, string(ex, "prev2")?);
    Ok(Value::Table(Table::from_iter([
        ("context".to_string(), strings(ctx)),
        ("features".to_string(), strings(feats)),
    ])))
}

/// `model`, `tokens` → one tag per token.
pub fn tag(ex: &Table) -> Result<Value, String> {
    let tagger = model(ex)?;
    let tokens = string_array(get(ex, "tokens")?, "tokens")?;
    Ok(strings(tagger.tag(&tokens).into_iter().map(str::to_string)))
}

/// `weights`, `tagdict`, `classes` (the three JSON files' text), `tokens` → the tags, or the
/// loading error.
pub fn inline_model(ex: &Table) -> Result<Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for key in ["weights", "tagdict", "classes"] {
        let file = dir.path().join(format!("model.{key}.json"));
        std::fs::write(&file, string(ex, key)?).map_err(|e| e.to_string())?;
    }
    let tagger = PerceptronTagger::load(dir.path()).map_err(|e| {
        // The temporary directory's name varies; the file name is what the page shows.
        e.to_string()
            .replace(&format!("{}/", dir.path().display()), "")
    })?;
    let tokens = string_array(get(ex, "tokens")?, "tokens")?;
    Ok(strings(tagger.tag(&tokens).into_iter().map(str::to_string)))
}

/// `model`, `entities`, `text` → the tagger key terms as `kind:term`, in order.
pub fn key_terms(ex: &Table) -> Result<Value, String> {
    let tagger = model(ex)?;
    let set = EntitySet::from_phrases(string_array(get(ex, "entities")?, "entities")?);
    Ok(strings(
        tagged_key_terms(&tagger, &set, string(ex, "text")?)
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
