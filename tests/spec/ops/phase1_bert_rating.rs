//! Spec operations of the BERT rating page: WordPiece tokens of the tiny model, KeyBERT-style
//! ratings of terms against a text on the tiny model, and the rating of given vectors.
//!
//! Spec: spec/phase1-bert-rating.md.

use std::path::{Path, PathBuf};

use seje::phase1::bert_rating::{self, BertRater, BertRatingConfig};
use toml::{Table, Value};

use crate::inputs::{err, float, get, string, string_array};

/// The model an example names: `tiny` is `fixtures/golden/bert/tiny` (random weights).
fn model_dir(ex: &Table) -> Result<PathBuf, String> {
    match string(ex, "model")? {
        "tiny" => Ok(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/bert/tiny")),
        other => Err(format!("unknown model `{other}` (tiny)")),
    }
}

fn rater(ex: &Table) -> Result<BertRater, String> {
    BertRater::load(&BertRatingConfig::new(model_dir(ex)?)).map_err(err)
}

/// `model`, `text` → the WordPiece tokens, `[CLS]` and `[SEP]` included.
pub fn tokens(ex: &Table) -> Result<Value, String> {
    let r = rater(ex)?;
    let text = string(ex, "text")?;
    let tokens = r.encoder().tokenizer().tokens(text).map_err(err)?;
    Ok(Value::Array(
        tokens.into_iter().map(Value::String).collect(),
    ))
}

/// `model`, `text`, `terms` → `cosine` and `rating` (term → value).
pub fn rating(ex: &Table) -> Result<Value, String> {
    let mut r = rater(ex)?;
    let text = string(ex, "text")?;
    let terms = string_array(get(ex, "terms")?, "terms")?;
    let rated = r.rate(&[(text, terms.as_slice())]).map_err(err)?;
    let table = |f: &dyn Fn(&bert_rating::TermRating) -> f64| {
        Value::Table(
            rated[0]
                .iter()
                .map(|t| (t.term.clone(), Value::Float(f(t))))
                .collect(),
        )
    };
    Ok(Value::Table(Table::from_iter([
        ("cosine".to_string(), table(&|t| t.cosine)),
        ("rating".to_string(), table(&|t| t.rating)),
    ])))
}

fn vector(v: &Value, key: &str) -> Result<Vec<f32>, String> {
    v.as_array()
        .ok_or_else(|| format!("input `{key}` must be an array of numbers"))?
        .iter()
        .map(|x| float(x, key).map(|f| f as f32))
        .collect()
}

/// `document` (a vector) and `terms` (term → vector) → term → rating.
pub fn keybert_rating(ex: &Table) -> Result<Value, String> {
    let doc = vector(get(ex, "document")?, "document")?;
    let terms = get(ex, "terms")?
        .as_table()
        .ok_or("input `terms` must be a table of term = vector")?;
    let mut out = Table::new();
    for (t, v) in terms {
        let c = bert_rating::cosine(&doc, &vector(v, t)?);
        out.insert(
            t.clone(),
            Value::Float(bert_rating::rating_from_cosine(c).map_err(err)?),
        );
    }
    Ok(Value::Table(out))
}
