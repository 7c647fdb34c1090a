//! `seje features categories` as one library call: the trained categoriser classifies every
//! pair's photographs (f_cat), the category labels are assigned with the image vote, and the
//! three files (`categories.safetensors`, `labels.json`, `predictions.jsonl`) are written
//! together, their rows checked to be the same recipes.
//!
//! Spec: spec/phase1-category-feature.md (f_cat, the predictions file),
//! spec/phase1-category-labels.md (the labels and the image vote).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::splits::SplitRule;
use crate::phase1::categories::{CategoryConfig, CategorySummary};
use crate::phase1::category_feature as feature;
use crate::phase1::category_files;
use crate::phase1::word2vec::WordVectors;
use crate::{Error, Result};

/// What the stage reads.
#[derive(Debug, Clone, Copy)]
pub struct CategoryStageInputs<'a> {
    /// Dataset root (layer1/layer2/det_ingrs and the images).
    pub root: &'a Path,
    /// Which recipes are pairs.
    pub rule: &'a SplitRule,
    /// The trained categoriser's directory (`seje features categoriser --out`).
    pub categoriser: &'a Path,
    /// The word vectors (`vocab.bin`).
    pub w2v: &'a Path,
    /// The Food-101-format directory whose `meta/classes.txt` names the Food-101 categories.
    pub food101: &'a Path,
    /// The directory holding `term.safetensors` (f_term, for the centroid fallback).
    pub features: &'a Path,
}

/// What the stage wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryStageSummary {
    /// Photographs classified.
    pub images: usize,
    /// Feature-store rows (recipes with a pair).
    pub recipes: usize,
    /// The categoriser's class names.
    pub class_names: usize,
    /// Class names the word vectors have no vector for (their f_cat rows are zero).
    pub names_without_vector: Vec<String>,
    /// The category labels' counts.
    pub categories: CategorySummary,
    /// The files written: the store, the labels, the predictions.
    pub written: Vec<PathBuf>,
}

impl CategoryStageSummary {
    /// Human-readable lines (what `seje features categories` prints).
    pub fn render(&self) -> String {
        let mut s = String::new();
        let missing = if self.names_without_vector.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.names_without_vector.join(", "))
        };
        let _ = writeln!(
            s,
            "images      {} classified over {} recipes; {} of {} class names without a vector{missing}",
            self.images,
            self.recipes,
            self.names_without_vector.len(),
            self.class_names,
        );
        s.push_str(&self.categories.render());
        for path in &self.written {
            let _ = writeln!(s, "wrote       {}", path.display());
        }
        s
    }
}

/// Classifies the photographs, assigns the labels and writes the three files into `out`.
/// `progress` gets the number of recipes classified.
///
/// Errors: the categoriser, the word vectors or f_term cannot be read; a photograph is missing
/// or undecodable (the recipe and file named); `cfg` is invalid; `out` cannot be written.
pub fn write_category_outputs(
    inputs: &CategoryStageInputs<'_>,
    out: &Path,
    cfg: &CategoryConfig,
    progress: &dyn Fn(u64),
) -> Result<CategoryStageSummary> {
    let CategoryStageInputs {
        root,
        rule,
        categoriser,
        w2v,
        food101,
        features,
    } = *inputs;
    let model = crate::phase1::categoriser_training::load_trained(categoriser)?;
    let vectors = WordVectors::read_binary(w2v)?;
    let feats = feature::category_features(root, rule, &model, &vectors, progress)?;
    let predictions: HashMap<String, String> = feats
        .ids
        .iter()
        .zip(&feats.predictions)
        .filter_map(|(id, p)| p.first().map(|c| (id.clone(), c.clone())))
        .collect();
    let assignment =
        category_files::assign_from_disk(root, rule, features, food101, Some(&predictions), cfg)?;
    if assignment.ids != feats.ids {
        return Err(Error::Invalid {
            what: format!("categories of {}", root.display()),
            problem: "the category labels and the features hold different rows".into(),
        });
    }
    let config_json = serde_json::json!({
        "categoriser": categoriser.display().to_string(),
        "w2v_sha256": crate::files::sha256_file(w2v)?,
        "top_bigrams": cfg.top_bigrams,
        "min_train": cfg.min_train,
        "max_classes": cfg.max_classes,
        "vote_margin": cfg.vote_margin,
    })
    .to_string();
    let store = feature::write_categories_store(
        out,
        &feats,
        &assignment.classes_i64(),
        &assignment.class_names,
        &config_json,
    )?;
    let labels = category_files::write_labels(out, &assignment)?;
    let predictions = feature::write_predictions(out, &feats, &assignment.partitions)?;
    Ok(CategoryStageSummary {
        images: feats.images,
        recipes: feats.ids.len(),
        class_names: feats.names.len(),
        names_without_vector: feats
            .names_without_vector()
            .into_iter()
            .map(String::from)
            .collect(),
        categories: assignment.summary(),
        written: vec![store, labels, predictions],
    })
}
