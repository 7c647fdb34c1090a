//! `seje data check`: reads a Recipe1M-format root, joins the pairs, finds and decodes every kept
//! image, and reports what it found per split. Fatal problems are errors; missing and corrupt
//! images follow the [`ImagePolicy`].
//!
//! Spec: spec/data-recipe1m.md (the check and its summary) and spec/data-images.md (image policy).

use std::fmt::Write as _;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::images::{self, ImagePolicy};
use super::pairs::{self, Dataset, JoinReport};
use super::splits::Partition;
use super::splits::{ListComparison, SplitRule};
use crate::{Error, Result};

/// Image counts of one split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageCounts {
    /// Images found and decoded.
    pub found: usize,
    /// Images in neither layout.
    pub missing: usize,
    /// Images that exist but cannot be decoded.
    pub corrupt: usize,
    /// Pairs left with no usable image (dropped under the skip policy).
    pub pairs_without_images: usize,
    /// Pairs usable after the image check.
    pub pairs_usable: usize,
}

/// What the check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The join: pairs and exclusions per split.
    pub join: JoinReport,
    /// The image policy applied.
    pub policy: ImagePolicy,
    /// Training images.
    pub train: ImageCounts,
    /// Validation images.
    pub val: ImageCounts,
    /// Test images.
    pub test: ImageCounts,
    /// The first few image problems, in dataset order (all of them are counted above).
    pub problems: Vec<String>,
    /// The splits compared with the published id lists found next to `layer1.json`.
    pub published_lists: Vec<ListComparison>,
}

/// Image problems listed in the report by name; the rest are only counted.
const LISTED_PROBLEMS: usize = 10;

impl CheckReport {
    /// Image counts of one split.
    pub fn images(&self, p: Partition) -> &ImageCounts {
        match p {
            Partition::Train => &self.train,
            Partition::Val => &self.val,
            Partition::Test => &self.test,
        }
    }

    /// The summary `seje data check` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "split", "recipes", "pairs", "usable", "images", "missing", "corrupt", "beyond5"
        );
        for p in Partition::ALL {
            let j = self.join.split(p);
            let i = self.images(p);
            let _ = writeln!(
                s,
                "{:<6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
                p.as_str(),
                j.recipes,
                j.pairs,
                i.pairs_usable,
                i.found,
                i.missing,
                i.corrupt,
                j.images_beyond_limit
            );
        }
        let src = &self.join.source;
        let rule = match &src.vocab {
            Some((file, words)) => {
                format!("the {} rule, vocabulary {file} ({words} words)", src.rule)
            }
            None => format!("the {} rule", src.rule),
        };
        let keys = format!("im2recipe's key files ({})", src.key_files.join(", "));
        let _ = match src.kind.as_str() {
            "key files" => writeln!(s, "splits: {keys}"),
            "rule" => writeln!(s, "splits: {rule}"),
            _ => writeln!(s, "splits: {keys}; the other splits by {rule}"),
        };
        let _ = writeln!(s, "excluded recipes (first rule broken):");
        for k in 0..6 {
            let label = self.join.train.excluded.by_reason()[k].label;
            let counts: Vec<String> = Partition::ALL
                .iter()
                .map(|&p| format!("{} {}", p, self.join.split(p).excluded.by_reason()[k].count))
                .collect();
            let _ = writeln!(s, "  {label:<32} {}", counts.join(", "));
        }
        let _ = writeln!(
            s,
            "exclusion list: {}",
            if self.join.exclusion_list {
                "remove1M.txt"
            } else {
                "none"
            }
        );
        if self.join.layer2_unknown + self.join.det_ingrs_unknown > 0 {
            let _ = writeln!(
                s,
                "ignored entries for unknown recipes: layer2.json {}, det_ingrs.json {}",
                self.join.layer2_unknown, self.join.det_ingrs_unknown
            );
        }
        let _ = writeln!(s, "image policy: {}", self.policy);
        for p in &self.problems {
            let _ = writeln!(s, "  skipped: {p}");
        }
        for c in &self.published_lists {
            let _ = writeln!(s, "published list {}", c.render());
        }
        s
    }
}

/// What became of one image. Missing images carry nothing (the error is rebuilt only when it is
/// reported), so checking a million missing images does not hold a million messages.
enum Status {
    Found,
    Missing,
    Corrupt(Box<Error>),
}

/// Checks the dataset at `root`. `progress` is called with the number of images checked so far
/// (from worker threads, in any order). Returns the report and the dataset with unusable images
/// removed (under the skip policy).
///
/// Errors: every error of [`pairs::open`]; under [`ImagePolicy::Fail`] the first missing or
/// corrupt image in dataset order; and a dataset with no usable pair at all.
pub fn check(
    root: &Path,
    policy: ImagePolicy,
    rule: &SplitRule,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(CheckReport, Dataset)> {
    let (mut dataset, join) = pairs::open_with(root, rule)?;
    let published_lists = pairs::compare_published(root, &dataset)?;
    let mut report = CheckReport {
        join,
        policy,
        train: ImageCounts::default(),
        val: ImageCounts::default(),
        test: ImageCounts::default(),
        problems: Vec::new(),
        published_lists,
    };
    let done = std::sync::atomic::AtomicU64::new(0);
    for p in Partition::ALL {
        let pairs = dataset.take_split(p);
        let status: Vec<Vec<Status>> = pairs
            .par_iter()
            .map(|pair| {
                pair.images
                    .iter()
                    .map(|im| {
                        let s = match images::resolve(root, p, &pair.recipe_id, im) {
                            Err(_) => Status::Missing,
                            Ok(rel) => match images::decode(root, &rel, &pair.recipe_id, im) {
                                Ok(_) => Status::Found,
                                Err(e) => Status::Corrupt(Box::new(e)),
                            },
                        };
                        progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                        s
                    })
                    .collect()
            })
            .collect();
        let mut counts = ImageCounts::default();
        let mut kept = Vec::with_capacity(pairs.len());
        for (mut pair, st) in pairs.into_iter().zip(status) {
            let mut usable = Vec::new();
            for (im, s) in pair.images.into_iter().zip(st) {
                let e = match s {
                    Status::Found => {
                        counts.found += 1;
                        usable.push(im);
                        continue;
                    }
                    Status::Missing => {
                        counts.missing += 1;
                        images::missing(p, &pair.recipe_id, &im)
                    }
                    Status::Corrupt(e) => {
                        counts.corrupt += 1;
                        *e
                    }
                };
                match policy {
                    ImagePolicy::Fail => return Err(e),
                    // The loader will show a white image in its place.
                    ImagePolicy::White => usable.push(im),
                    ImagePolicy::Skip => {}
                }
                tracing::debug!(error = %e, %policy, "unusable image");
                if report.problems.len() < LISTED_PROBLEMS {
                    report.problems.push(e.to_string());
                }
            }
            if usable.is_empty() {
                counts.pairs_without_images += 1;
            } else {
                pair.images = usable;
                kept.push(pair);
            }
        }
        if counts.missing + counts.corrupt > 0 {
            tracing::warn!(split = %p, missing = counts.missing, corrupt = counts.corrupt, "images skipped");
        }
        counts.pairs_usable = kept.len();
        dataset.set_split(p, kept);
        match p {
            Partition::Train => report.train = counts,
            Partition::Val => report.val = counts,
            Partition::Test => report.test = counts,
        }
    }
    let usable: usize = Partition::ALL
        .iter()
        .map(|&p| report.images(p).pairs_usable)
        .sum();
    if usable == 0 {
        return Err(Error::Invalid {
            what: "dataset".into(),
            problem: "has no usable image-recipe pair in any split".into(),
        });
    }
    Ok((report, dataset))
}
