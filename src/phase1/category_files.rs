//! The category procedure's files: its inputs read from a Recipe1M-format root, the Phase I text
//! features and Food-101's class list; its result written as `labels.json`.
//!
//! Spec: spec/phase1-category-labels.md (inputs and `labels.json`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::feature_store::{Dtype, FeatureStore};
use crate::data::food101::read_labels;
use crate::data::pairs;
use crate::data::recipe1m;
use crate::data::splits::Partition;
use crate::phase1::categories::{assign, Assignment, CategoryConfig, ClassSource, PairInput, Rule};
use crate::phase1::text_features::TERM_FILE;
use crate::{Error, Result};

/// The file [`write_labels`] writes.
pub const LABELS_FILE: &str = "labels.json";

/// Everything [`assign`] needs, read from disk.
#[derive(Debug, Clone)]
pub struct CategoryInputs {
    /// The pairs (feature-store rows) with title, split and f_term.
    pub pairs: Vec<PairInput>,
    /// `(id, title)` of every training recipe of `layer1.json`.
    pub train_titles: Vec<(String, String)>,
    /// Food-101 class names, `classes.txt` order.
    pub food101: Vec<String>,
}

/// Reads the inputs: the pairs of the Recipe1M-format `root` under `rule` (spec/data-recipe1m.md), their titles,
/// f_term from `features/term.safetensors` (written by `seje features text`; its ids must be the
/// pairs), and the Food-101 names from `food101/meta/classes.txt`.
pub fn load_inputs(
    root: &Path,
    rule: &crate::data::splits::SplitRule,
    features: &Path,
    food101: &Path,
) -> Result<CategoryInputs> {
    let (dataset, _) = pairs::open_with(root, rule)?;
    let rows = dataset.rows();
    let store_path = features.join(TERM_FILE);
    let store = FeatureStore::open(&store_path)?;
    let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    let store_ids: Vec<&str> = store.ids().iter().map(String::as_str).collect();
    if ids != store_ids {
        return Err(Error::FeatureStore {
            file: store_path.display().to_string(),
            problem: format!(
                "its {} ids are not the {} pairs of {}",
                store_ids.len(),
                ids.len(),
                root.display()
            ),
        });
    }
    let info = store.info("f_term")?;
    let dim = info.shape.get(1).copied().unwrap_or(0);
    store.expect("f_term", Dtype::F32, &[dim])?;
    let bytes = store.bytes("f_term")?;
    let row_of: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut titles: Vec<Option<String>> = vec![None; rows.len()];
    let mut train_titles = Vec::new();
    recipe1m::read_layer1(root, |r| {
        if let Some(&i) = row_of.get(r.id.as_str()) {
            titles[i] = Some(r.title.clone());
        }
        if r.partition == Partition::Train {
            train_titles.push((r.id, r.title));
        }
        Ok(())
    })?;
    let pairs = rows
        .into_iter()
        .zip(titles)
        .enumerate()
        .map(|(i, ((id, partition), title))| {
            let f_term = bytes[i * dim * 4..(i + 1) * dim * 4]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            PairInput {
                title: title.unwrap_or_default(),
                id,
                partition,
                f_term,
            }
        })
        .collect();
    let food101 = read_labels(&food101.join("meta").join("classes.txt"))?;
    Ok(CategoryInputs {
        pairs,
        train_titles,
        food101,
    })
}

/// [`load_inputs`] then [`assign`].
pub fn assign_from_disk(
    root: &Path,
    rule: &crate::data::splits::SplitRule,
    features: &Path,
    food101: &Path,
    predictions: Option<&HashMap<String, String>>,
    cfg: &CategoryConfig,
) -> Result<Assignment> {
    let inputs = load_inputs(root, rule, features, food101)?;
    assign(
        &inputs.pairs,
        &inputs.train_titles,
        &inputs.food101,
        predictions,
        cfg,
    )
}

#[derive(Serialize)]
struct LabelsFile<'a> {
    num_classes: usize,
    classes: Vec<ClassEntry<'a>>,
    labels: BTreeMap<&'a str, Label<'a>>,
}

#[derive(Serialize)]
struct ClassEntry<'a> {
    index: usize,
    name: &'a str,
    source: ClassSource,
    train: usize,
    val: usize,
    test: usize,
}

#[derive(Serialize)]
struct Label<'a> {
    class: usize,
    name: &'a str,
    rule: Rule,
}

/// The bytes of `labels.json`: `num_classes` (C), `classes` (index, name, source, pairs per
/// split) and `labels` (recipe id → class index, name and rule), keys sorted, pretty-printed.
pub fn labels_json(a: &Assignment) -> String {
    let counts = a.counts();
    let file = LabelsFile {
        num_classes: a.num_classes(),
        classes: a
            .class_names
            .iter()
            .enumerate()
            .map(|(k, name)| ClassEntry {
                index: k,
                name,
                source: a.class_sources[k],
                train: counts[k][0],
                val: counts[k][1],
                test: counts[k][2],
            })
            .collect(),
        labels: a
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    id.as_str(),
                    Label {
                        class: a.classes[i],
                        name: &a.class_names[a.classes[i]],
                        rule: a.rules[i],
                    },
                )
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&file).expect("labels serialise");
    s.push('\n');
    s
}

/// Writes `out/labels.json` ([`labels_json`]) through a temporary file renamed into place, and
/// returns its path.
pub fn write_labels(out: &Path, a: &Assignment) -> Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let path = out.join(LABELS_FILE);
    let tmp = out.join(format!("{LABELS_FILE}.tmp"));
    std::fs::write(&tmp, labels_json(a)).map_err(|source| Error::Write {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &path).map_err(|source| Error::Write {
        path: path.clone(),
        source,
    })?;
    tracing::info!(path = %path.display(), classes = a.num_classes(), "category labels written");
    Ok(path)
}
