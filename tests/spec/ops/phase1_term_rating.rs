//! Spec operations of the term rating page: TF-IDF fitted on a corpus, the TextRank co-occurrence
//! graph, and TextRank scores.
//!
//! Spec: spec/phase1-term-rating.md.

use seje::phase1::rating::{self, TextRankConfig, Tfidf};
use toml::{Table, Value};

use crate::inputs::{err, float, get, int};

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    crate::inputs::string_array(v, key)
}

fn scores(pairs: impl IntoIterator<Item = (String, f64)>) -> Value {
    Value::Table(
        pairs
            .into_iter()
            .map(|(t, w)| (t, Value::Float(w)))
            .collect(),
    )
}

/// `corpus` (arrays of terms) and `documents` → `idf` (term → idf) and `rows` (one table term →
/// weight per document).
pub fn tfidf(ex: &Table) -> Result<Value, String> {
    let corpus = get(ex, "corpus")?
        .as_array()
        .ok_or("input `corpus` must be an array of documents")?
        .iter()
        .map(|d| strings(d, "corpus"))
        .collect::<Result<Vec<_>, _>>()?;
    let tfidf = Tfidf::fit(&corpus).map_err(err)?;
    let idf = tfidf
        .vocabulary()
        .map(|t| (t.to_string(), tfidf.idf(t).unwrap_or(f64::NAN)))
        .collect::<Vec<_>>();
    let rows = match ex.get("documents") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .ok_or("input `documents` must be an array of documents")?
            .iter()
            .map(|d| Ok(scores(tfidf.transform(&strings(d, "documents")?))))
            .collect::<Result<Vec<_>, String>>()?,
    };
    Ok(Value::Table(Table::from_iter([
        ("idf".to_string(), scores(idf)),
        ("rows".to_string(), Value::Array(rows)),
    ])))
}

fn config(ex: &Table) -> Result<TextRankConfig, String> {
    let mut cfg = TextRankConfig::default();
    if ex.contains_key("window") {
        cfg.window = usize::try_from(int(ex, "window")?).map_err(|_| "`window` must be >= 0")?;
    }
    if ex.contains_key("max_iter") {
        cfg.max_iter =
            usize::try_from(int(ex, "max_iter")?).map_err(|_| "`max_iter` must be >= 0")?;
    }
    if let Some(v) = ex.get("damping") {
        cfg.damping = float(v, "damping")?;
    }
    if let Some(v) = ex.get("weighted") {
        cfg.weighted = v.as_bool().ok_or("input `weighted` must be a boolean")?;
    }
    Ok(cfg)
}

fn tokens_and_candidates(ex: &Table) -> Result<(Vec<String>, Vec<String>), String> {
    let tokens: Vec<String> = get(ex, "text")?
        .as_str()
        .ok_or("input `text` must be a string")?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok((tokens, strings(get(ex, "candidates")?, "candidates")?))
}

/// `text` (whitespace-separated tokens), `candidates`, optional `window`, `weighted` → the edges
/// as `a-b = weight`.
pub fn textrank_graph(ex: &Table) -> Result<Value, String> {
    let (tokens, candidates) = tokens_and_candidates(ex)?;
    let g = rating::cooccurrence_graph(&tokens, &candidates, &config(ex)?).map_err(err)?;
    Ok(scores(g.edges.iter().map(|(&(i, j), &w)| {
        (format!("{}-{}", g.nodes[i], g.nodes[j]), w)
    })))
}

/// `text`, `candidates`, optional `window`, `weighted`, `damping`, `max_iter` → term → score.
pub fn textrank(ex: &Table) -> Result<Value, String> {
    let (tokens, candidates) = tokens_and_candidates(ex)?;
    Ok(scores(
        rating::textrank(&tokens, &candidates, &config(ex)?).map_err(err)?,
    ))
}
