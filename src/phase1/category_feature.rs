//! The image category feature f_cat (§4.e in our reconstruction): the categoriser's top-1
//! Food-101 class of each of a recipe's first five images, as the word2vec vector of the class
//! name (the whole snake_case token if the vocabulary has it, else the mean of its words' vectors).
//!
//! Spec: spec/phase1-category-feature.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::images;
use crate::data::pairs::{self, MAX_IMAGES};
use crate::phase1::categoriser::Categoriser;
use crate::phase1::word2vec::WordVectors;
use crate::Result;

/// How a class name found its vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameVector {
    /// The whole snake_case name is a word of the vocabulary (`apple_pie`).
    Token,
    /// The mean of the vectors of the words that have one (`apple`, `pie`), with their count.
    Words(usize),
    /// No word of the name has a vector: f_cat is the zero vector for it.
    None,
}

/// The vector of a class name and how it was found. Words are the name split on `_`, `-` and
/// spaces, lower-cased; the mean is taken in f64 and rounded once.
pub fn class_name_vector(name: &str, vectors: &WordVectors) -> (Vec<f32>, NameVector) {
    let token = name.trim().to_lowercase().replace([' ', '-'], "_");
    if let Some(v) = vectors.get(&token) {
        return (v.to_vec(), NameVector::Token);
    }
    let mut sum = vec![0f64; vectors.dim()];
    let mut found = 0usize;
    for w in token.split('_').filter(|w| !w.is_empty()) {
        if let Some(v) = vectors.get(w) {
            found += 1;
            for (a, &x) in sum.iter_mut().zip(v) {
                *a += f64::from(x);
            }
        }
    }
    if found == 0 {
        return (vec![0.0; vectors.dim()], NameVector::None);
    }
    (
        sum.iter().map(|&x| (x / found as f64) as f32).collect(),
        NameVector::Words(found),
    )
}

/// What [`category_features`] computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryFeatures {
    /// The feature-store rows (recipe ids, sorted).
    pub ids: Vec<String>,
    /// f_cat, `[rows, MAX_IMAGES, dim]` row-major; zero rows after a recipe's images.
    pub f_cat: Vec<f32>,
    /// Vector width.
    pub dim: usize,
    /// The predicted class name of each row's images, in pair order.
    pub predictions: Vec<Vec<String>>,
    /// How each class name found its vector (every class of the categoriser).
    pub names: BTreeMap<String, NameVector>,
    /// Images classified.
    pub images: usize,
    /// What defined the splits whose pairs these rows are (spec/data-recipe1m.md).
    pub splits: crate::data::splits::SplitSource,
}

impl CategoryFeatures {
    /// Class names without any vector.
    pub fn names_without_vector(&self) -> Vec<&str> {
        self.names
            .iter()
            .filter(|(_, h)| **h == NameVector::None)
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// Classifies the first [`MAX_IMAGES`] images of every recipe with a pair under `rule` (the
/// feature-store rows) with `categoriser` and maps each top-1 class name to its vector. `progress` gets the
/// number of rows done.
///
/// Errors: the readers' errors on `root`; a missing or undecodable image (names the recipe and
/// the file).
pub fn category_features(
    root: &Path,
    rule: &crate::data::splits::SplitRule,
    categoriser: &Categoriser,
    vectors: &WordVectors,
    progress: &dyn Fn(u64),
) -> Result<CategoryFeatures> {
    let (dataset, report) = pairs::open_with(root, rule)?;
    let rows = dataset.rows();
    let by_id: BTreeMap<&str, &pairs::Pair> = crate::data::splits::Partition::ALL
        .iter()
        .flat_map(|&p| dataset.split(p).iter())
        .map(|q| (q.recipe_id.as_str(), q))
        .collect();
    let labels = categoriser.labels();
    let mut table: Vec<Vec<f32>> = Vec::with_capacity(labels.len());
    let mut names = BTreeMap::new();
    for name in labels {
        let (v, how) = class_name_vector(name, vectors);
        table.push(v);
        names.insert(name.clone(), how);
    }
    let dim = vectors.dim();
    let mut f_cat = vec![0f32; rows.len() * MAX_IMAGES * dim];
    let mut predictions = Vec::with_capacity(rows.len());
    let mut count = 0usize;
    for (row, (id, partition)) in rows.iter().enumerate() {
        let pair = by_id[id.as_str()];
        let paths: Vec<PathBuf> = pair
            .images
            .iter()
            .take(MAX_IMAGES)
            .map(|image| images::resolve(root, *partition, id, image).map(|p| root.join(p)))
            .collect::<Result<_>>()?;
        let mut names_row = Vec::with_capacity(paths.len());
        for (k, p) in categoriser.classify(&paths, 1)?.into_iter().enumerate() {
            let (class, name, _) = &p.top[0];
            let at = (row * MAX_IMAGES + k) * dim;
            f_cat[at..at + dim].copy_from_slice(&table[*class as usize]);
            names_row.push(name.clone());
            count += 1;
        }
        predictions.push(names_row);
        progress(row as u64 + 1);
    }
    tracing::info!(rows = rows.len(), images = count, "category features");
    Ok(CategoryFeatures {
        ids: rows.into_iter().map(|(id, _)| id).collect(),
        f_cat,
        dim,
        predictions,
        names,
        images: count,
        splits: report.source,
    })
}

/// The store file written (the Phase II input name).
pub use crate::data::feature_store::CATEGORIES_FILE;
/// `producer` metadata of the store.
pub const PRODUCER: &str = "seje features categories";

/// Writes `out/categories.safetensors`: `f_cat` F32 [n, MAX_IMAGES, dim] and `classes` I64 [n]
/// (the category of each row's pair, `class_names[c]` naming category c), with `config_json` as
/// the settings (hashed into `config_sha256`). Same inputs, same bytes.
///
/// Errors: `classes` not one per row or outside `0..class_names.len()`; `out` cannot be written.
pub fn write_categories_store(
    out: &Path,
    features: &CategoryFeatures,
    classes: &[i64],
    class_names: &[String],
    config_json: &str,
) -> Result<PathBuf> {
    use crate::data::feature_store::{self, FeatureWriter};
    let n = features.ids.len();
    if classes.len() != n {
        return Err(crate::Error::Invalid {
            what: "category labels".into(),
            problem: format!("{} labels for {n} rows", classes.len()),
        });
    }
    if let Some((row, c)) = classes
        .iter()
        .enumerate()
        .find(|(_, &c)| c < 0 || c as usize >= class_names.len())
    {
        return Err(crate::Error::Invalid {
            what: format!("category label of recipe {}", features.ids[row]),
            problem: format!("{c} is outside 0..{}", class_names.len()),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| crate::Error::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let mut w = FeatureWriter::new(
        features.ids.clone(),
        &feature_store::config_sha256(config_json.as_bytes()),
    )?;
    w.metadata("producer", PRODUCER)?;
    w.metadata("category_features_config", config_json)?;
    w.metadata("splits", &splits_json(&features.splits))?;
    w.metadata("classes", &class_names.len().to_string())?;
    w.metadata(
        "class_names",
        &serde_json::to_string(class_names).expect("strings serialise"),
    )?;
    w.metadata(
        "note",
        "f_cat: word2vec vector of the categoriser's top-1 class per image (spec/phase1-category-feature.md)",
    )?;
    w.add_f32("f_cat", &[n, MAX_IMAGES, features.dim], &features.f_cat)?;
    w.add_i64("classes", &[n], classes)?;
    let path = out.join(CATEGORIES_FILE);
    w.write(&path)?;
    Ok(path)
}

/// The file of every row's predictions, written beside the store.
pub const PREDICTIONS_FILE: &str = "predictions.jsonl";

/// Writes `out/predictions.jsonl`: one line per row, `{"id", "partition", "predictions"}` with
/// the categoriser's top-1 class of each classified photograph in pair order (the classes whose
/// vectors are the row's f_cat), so the feature can be audited (spec/phase1-category-feature.md).
/// `partitions` are the rows' splits, in row order.
///
/// Errors: `partitions` not one per row; `out` cannot be written.
pub fn write_predictions(
    out: &Path,
    features: &CategoryFeatures,
    partitions: &[crate::data::splits::Partition],
) -> Result<PathBuf> {
    use std::io::Write as _;
    if partitions.len() != features.ids.len() {
        return Err(crate::Error::Invalid {
            what: "category predictions".into(),
            problem: format!(
                "{} splits for {} rows",
                partitions.len(),
                features.ids.len()
            ),
        });
    }
    let path = out.join(PREDICTIONS_FILE);
    let tmp = out.join(format!("{PREDICTIONS_FILE}.tmp"));
    let write = |source| crate::Error::Write {
        path: tmp.clone(),
        source,
    };
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(write)?);
    for ((id, p), part) in features
        .ids
        .iter()
        .zip(&features.predictions)
        .zip(partitions)
    {
        let line = serde_json::json!({ "id": id, "partition": part.as_str(), "predictions": p });
        writeln!(w, "{line}").map_err(write)?;
    }
    w.into_inner()
        .map_err(|e| write(e.into_error()))?
        .sync_all()
        .map_err(write)?;
    std::fs::rename(&tmp, &path).map_err(|source| crate::Error::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The `splits` metadata of a feature store: what defined the splits of its rows.
pub(crate) fn splits_json(source: &crate::data::splits::SplitSource) -> String {
    serde_json::to_string(source).expect("a split source serialises")
}
