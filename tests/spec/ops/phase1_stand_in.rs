//! Spec operations of the Phase I stand-in page: tokeniser, word vectors, term and sentence
//! features, title-word classes, and writing the three files of a dataset root.
//!
//! Spec: spec/phase1-stand-in.md.

use seje::data::feature_store::FeatureStore;
use seje::phase1::stand_in::{self, ClassTable, StandInConfig, WordVectors};
use toml::{Table, Value};

use crate::inputs::{err, get, int, string};

fn strings(ex: &Table, key: &str) -> Result<Vec<String>, String> {
    crate::inputs::string_array(get(ex, key)?, key)
}

fn usize_of(ex: &Table, key: &str) -> Result<usize, String> {
    usize::try_from(int(ex, key)?).map_err(|_| format!("input `{key}` must be non-negative"))
}

fn seed(ex: &Table) -> Result<u64, String> {
    match ex.get("seed") {
        None => Ok(StandInConfig::default().seed),
        Some(_) => u64::try_from(int(ex, "seed")?).map_err(|_| "`seed` must be >= 0".into()),
    }
}

fn text_array(v: impl IntoIterator<Item = String>) -> Value {
    Value::Array(v.into_iter().map(Value::String).collect())
}

fn floats(v: &[f32]) -> Value {
    Value::Array(v.iter().map(|&x| Value::Float(f64::from(x))).collect())
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
}

fn table(pairs: Vec<(&str, Value)>) -> Value {
    Value::Table(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// `text` → its tokens.
pub fn tokenize(ex: &Table) -> Result<Value, String> {
    Ok(text_array(stand_in::tokenize(string(ex, "text")?)))
}

/// `token`, `dim`, optional `seed` and `head` (default 4) → the first `head` components and the
/// Euclidean norm of v_dim(token).
pub fn word_vector(ex: &Table) -> Result<Value, String> {
    let dim = usize_of(ex, "dim")?;
    let v = stand_in::word_vector(string(ex, "token")?, dim, seed(ex)?);
    let head = match ex.get("head") {
        None => 4,
        Some(_) => usize_of(ex, "head")?,
    };
    Ok(table(vec![
        ("head", floats(&v[..head.min(v.len())])),
        ("norm", Value::Float(norm(&v))),
    ]))
}

/// `title`, `ingredients`, `dim`, optional `seed` → the tokens averaged and f_term.
pub fn term_feature(ex: &Table) -> Result<Value, String> {
    let title = string(ex, "title")?;
    let ingredients = strings(ex, "ingredients")?;
    let mut vectors = WordVectors::new(usize_of(ex, "dim")?, seed(ex)?);
    let f = stand_in::term_feature(title, &ingredients, &mut vectors);
    let tokens = std::iter::once(title)
        .chain(ingredients.iter().map(String::as_str))
        .flat_map(stand_in::tokenize);
    Ok(table(vec![
        ("tokens", text_array(tokens)),
        ("f_term", floats(&f)),
    ]))
}

/// `instructions`, `max_sentences`, `dim`, optional `seed` → the length and each row's norm.
pub fn sentences(ex: &Table) -> Result<Value, String> {
    let dim = usize_of(ex, "dim")?;
    let mut vectors = WordVectors::new(dim, seed(ex)?);
    let (rows, length) = stand_in::sentence_features(
        &strings(ex, "instructions")?,
        usize_of(ex, "max_sentences")?,
        &mut vectors,
    );
    let norms = rows
        .chunks_exact(dim.max(1))
        .map(|r| Value::Float(norm(r)))
        .collect();
    Ok(table(vec![
        ("length", Value::Integer(length)),
        ("row_norms", Value::Array(norms)),
    ]))
}

/// `train_titles`, `titles`, `classes` → the class names and the class of each title.
pub fn classes(ex: &Table) -> Result<Value, String> {
    let train = strings(ex, "train_titles")?;
    let t = ClassTable::from_titles(train.iter().map(String::as_str), usize_of(ex, "classes")?)
        .map_err(err)?;
    let classes = strings(ex, "titles")?
        .iter()
        .map(|title| Value::Integer(t.class_of(title)))
        .collect();
    Ok(table(vec![
        ("names", text_array(t.names().iter().cloned())),
        ("classes", Value::Array(classes)),
    ]))
}

/// `root` (relative to the repository), optional `term_dim`, `sentence_dim`, `category_dim`,
/// `classes`, `seed` →
/// the summary, the first five class names, and each file's tensors (`name dtype [shape]`) and
/// `producer`, by file stem.
pub fn write(ex: &Table) -> Result<Value, String> {
    let mut cfg = StandInConfig {
        seed: seed(ex)?,
        ..StandInConfig::default()
    };
    for (key, slot) in [
        ("term_dim", &mut cfg.term_dim),
        ("sentence_dim", &mut cfg.sentence_dim),
        ("category_dim", &mut cfg.category_dim),
        ("classes", &mut cfg.classes),
    ] {
        if ex.contains_key(key) {
            *slot = usize_of(ex, key)?;
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(string(ex, "root")?);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let s = stand_in::write_features(&root, dir.path(), &cfg).map_err(err)?;
    let mut files = Table::new();
    let mut first_names = Value::Array(Vec::new());
    for path in &s.files {
        let store = FeatureStore::open(path).map_err(err)?;
        let tensors = store
            .tensors()
            .iter()
            .map(|(name, t)| Value::String(format!("{name} {} {:?}", t.dtype.name(), t.shape)))
            .collect();
        // The file stem (`term`): a dotted key would read as a nested table in TOML.
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(names) = store.metadata().get("class_names") {
            let names: Vec<String> = serde_json::from_str(names).map_err(|e| e.to_string())?;
            first_names = text_array(names.into_iter().take(5));
        }
        files.insert(
            name,
            table(vec![
                ("tensors", Value::Array(tensors)),
                (
                    "producer",
                    Value::String(store.metadata()["producer"].clone()),
                ),
            ]),
        );
    }
    Ok(table(vec![
        ("recipes", Value::Integer(s.recipes as i64)),
        (
            "per_split",
            Value::Array(
                s.per_split
                    .iter()
                    .map(|&n| Value::Integer(n as i64))
                    .collect(),
            ),
        ),
        ("classes", Value::Integer(s.classes as i64)),
        ("class0_share", Value::Float(s.class0_share)),
        ("first_class_names", first_names),
        ("files", Value::Table(files)),
    ]))
}
