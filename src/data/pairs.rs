//! The image-recipe pairs of each split: `layer1.json`, `det_ingrs.json` and `layer2.json` joined
//! by recipe id and filtered with a split rule (im2recipe's exactly, or this package's
//! valid-count rule), or taken from im2recipe's key files when they are present; with a count of
//! every exclusion.
//!
//! Spec: spec/data-recipe1m.md (inclusion rules, counts). Both rules follow im2recipe's
//! `scripts/mk_dataset.py:97-105`: fewer than 20 instructions, fewer than 20 detected ingredients
//! (and at least one), at least one image, not removed by `remove1M.txt`; they differ in what they
//! count as detected and in how they read `remove1M.txt` (src/data/splits.rs). At most 5 images
//! are kept per recipe (`mk_dataset.py:110`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::recipe1m::{self, DET_INGRS, LAYER1, LAYER2};
use super::splits::Partition;
use super::splits::{self, SplitRule, SplitSource};
use crate::{Error, Result};

/// A recipe has fewer than this many instructions (im2recipe: `len(instructions) < 20`).
pub const MAX_INSTRUCTIONS_EXCLUSIVE: usize = 20;
/// A recipe has fewer than this many detected ingredients (and at least one).
pub const MAX_DETECTED_EXCLUSIVE: usize = 20;
/// Images kept per recipe (the first ones in `layer2.json` order).
pub const MAX_IMAGES: usize = 5;

/// One image-recipe pair: a recipe and its first (at most 5) images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// Recipe id.
    pub recipe_id: String,
    /// Split.
    pub partition: Partition,
    /// Image ids, `layer2.json` order, at most [`MAX_IMAGES`].
    pub images: Vec<String>,
}

/// Why a recipe is not a pair. A recipe is counted under the first rule it breaks, in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Exclusions {
    /// Listed in `remove1M.txt`.
    pub removed: usize,
    /// 20 or more instructions.
    pub too_many_instructions: usize,
    /// No detected ingredient.
    pub no_detected_ingredients: usize,
    /// 20 or more detected ingredients.
    pub too_many_detected_ingredients: usize,
    /// No image in `layer2.json`.
    pub no_images: usize,
    /// Not listed in the key files that defined the splits.
    pub not_in_key_files: usize,
}

/// One exclusion rule: its key (as in [`Exclusions`]' fields), its label and its count.
pub struct Reason {
    /// Field name (`too_many_instructions`).
    pub key: &'static str,
    /// Words for the summary (`20 or more instructions`).
    pub label: &'static str,
    /// Recipes counted under it.
    pub count: usize,
}

impl Exclusions {
    /// The counts by rule, in the order the rules are applied.
    pub fn by_reason(&self) -> [Reason; 6] {
        let r = |key, label, count| Reason { key, label, count };
        [
            r("removed", "in remove1M.txt", self.removed),
            r(
                "too_many_instructions",
                "20 or more instructions",
                self.too_many_instructions,
            ),
            r(
                "no_detected_ingredients",
                "no detected ingredient",
                self.no_detected_ingredients,
            ),
            r(
                "too_many_detected_ingredients",
                "20 or more detected ingredients",
                self.too_many_detected_ingredients,
            ),
            r("no_images", "no image", self.no_images),
            r(
                "not_in_key_files",
                "not in the key files",
                self.not_in_key_files,
            ),
        ]
    }

    /// All excluded recipes.
    pub fn total(&self) -> usize {
        self.removed
            + self.too_many_instructions
            + self.no_detected_ingredients
            + self.too_many_detected_ingredients
            + self.no_images
            + self.not_in_key_files
    }
}

/// Counts for one split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SplitCounts {
    /// Recipes of this split in `layer1.json`.
    pub recipes: usize,
    /// Pairs kept.
    pub pairs: usize,
    /// Images kept in those pairs.
    pub images: usize,
    /// Images of kept recipes beyond the first [`MAX_IMAGES`].
    pub images_beyond_limit: usize,
    /// Excluded recipes by reason.
    pub excluded: Exclusions,
}

/// What the join did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JoinReport {
    /// Training split.
    pub train: SplitCounts,
    /// Validation split.
    pub val: SplitCounts,
    /// Test split.
    pub test: SplitCounts,
    /// `layer2.json` entries whose recipe is not in `layer1.json` (ignored).
    pub layer2_unknown: usize,
    /// `det_ingrs.json` entries whose recipe is not in `layer1.json` (ignored).
    pub det_ingrs_unknown: usize,
    /// Whether `remove1M.txt` was present.
    pub exclusion_list: bool,
    /// What defined the splits.
    pub source: SplitSource,
}

impl JoinReport {
    /// Counts of one split.
    pub fn split(&self, p: Partition) -> &SplitCounts {
        match p {
            Partition::Train => &self.train,
            Partition::Val => &self.val,
            Partition::Test => &self.test,
        }
    }

    fn split_mut(&mut self, p: Partition) -> &mut SplitCounts {
        match p {
            Partition::Train => &mut self.train,
            Partition::Val => &mut self.val,
            Partition::Test => &mut self.test,
        }
    }
}

/// The pairs of a Recipe1M-format root, per split, in `layer1.json` order.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset root (holds the JSON files and `images/`).
    pub root: PathBuf,
    splits: [Vec<Pair>; 3],
}

impl Dataset {
    /// The pairs of one split.
    pub fn split(&self, p: Partition) -> &[Pair] {
        &self.splits[p.index()]
    }

    /// Takes the pairs of one split out, leaving it empty.
    pub fn take_split(&mut self, p: Partition) -> Vec<Pair> {
        std::mem::take(&mut self.splits[p.index()])
    }

    /// The feature-store rows: every recipe with a pair, all splits, sorted by recipe id
    /// (spec/data-feature-store.md), with its split.
    pub fn rows(&self) -> Vec<(String, Partition)> {
        let mut rows: Vec<(String, Partition)> = Partition::ALL
            .iter()
            .flat_map(|&p| self.split(p).iter().map(move |q| (q.recipe_id.clone(), p)))
            .collect();
        rows.sort();
        rows
    }

    /// Replaces the pairs of one split (used by the image check to drop unusable images).
    pub fn set_split(&mut self, p: Partition, pairs: Vec<Pair>) {
        self.splits[p.index()] = pairs;
    }
}

/// What the join keeps per recipe while the three files stream by.
struct Slot {
    id: String,
    partition: Partition,
    n_instructions: usize,
    /// Detected ingredients as the rule counts them (`None` until `det_ingrs.json` names it).
    n_detected: Option<usize>,
    /// Index of the `layer2.json` entry, for the duplicate message.
    layer2_entry: Option<usize>,
    det_entry: Option<usize>,
    images: Vec<String>,
    images_total: usize,
}

/// [`open_with`] under this package's valid-count rule (im2recipe's key files still win when
/// they are present).
pub fn open(root: &Path) -> Result<(Dataset, JoinReport)> {
    open_with(root, &SplitRule::ValidCount)
}

/// Reads the three files of `root` (and `remove1M.txt` if present) and builds the pairs: from
/// im2recipe's `{train,val,test}_keys.pkl` in `root` when all three are there (membership and
/// order), else by `rule`.
///
/// Memory: one small record per recipe (id, split, counts, at most 5 image ids), never the texts.
/// Errors: malformed JSON, missing fields, bad or duplicate ids, a `layer1.json` recipe without
/// a `det_ingrs.json` entry; with key files, a key that names no recipe of `layer1.json`, a recipe
/// of another split or without an image, a key listed twice, and an incomplete set of key files.
pub fn open_with(root: &Path, rule: &SplitRule) -> Result<(Dataset, JoinReport)> {
    let keys = splits::key_files(root)?;
    let mut slots: Vec<Slot> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    recipe1m::read_layer1_summaries(root, |r| {
        match index.entry(r.id.clone()) {
            Entry::Occupied(e) => {
                return Err(duplicate(LAYER1, r.id, *e.get(), slots.len()));
            }
            Entry::Vacant(e) => {
                e.insert(slots.len());
            }
        }
        slots.push(Slot {
            id: r.id,
            partition: r.partition,
            n_instructions: r.n_instructions,
            n_detected: None,
            layer2_entry: None,
            det_entry: None,
            images: Vec::new(),
            images_total: 0,
        });
        Ok(())
    })?;
    tracing::debug!(recipes = slots.len(), "read {LAYER1}");

    let mut report = JoinReport::default();
    let mut det_seen = 0usize;
    recipe1m::read_det_ingrs(root, |d| {
        let entry = det_seen;
        det_seen += 1;
        let Some(&at) = index.get(&d.id) else {
            report.det_ingrs_unknown += 1;
            return Ok(());
        };
        let slot = &mut slots[at];
        if let Some(first) = slot.det_entry {
            return Err(duplicate(DET_INGRS, d.id, first, entry));
        }
        slot.det_entry = Some(entry);
        slot.n_detected = Some(match rule {
            SplitRule::ValidCount => d.n_detected(),
            SplitRule::Im2recipe(vocab) => splits::im2recipe_detections(&d.ingredients, vocab),
        });
        Ok(())
    })?;
    let mut layer2_seen = 0usize;
    recipe1m::read_layer2(root, |r| {
        let entry = layer2_seen;
        layer2_seen += 1;
        let Some(&at) = index.get(&r.id) else {
            report.layer2_unknown += 1;
            return Ok(());
        };
        let slot = &mut slots[at];
        if let Some(first) = slot.layer2_entry {
            return Err(duplicate(LAYER2, r.id, first, entry));
        }
        slot.layer2_entry = Some(entry);
        slot.images_total = r.images.len();
        slot.images = r.images.into_iter().take(MAX_IMAGES).collect();
        Ok(())
    })?;

    let removed = recipe1m::read_exclusions(root)?;
    report.exclusion_list = removed.is_some();
    report.source = SplitSource {
        kind: match &keys {
            Some(k) if k.len() == splits::KEY_FILES.len() => "key files",
            Some(_) => "key files and rule",
            None => "rule",
        }
        .into(),
        rule: rule.name().into(),
        vocab: match rule {
            SplitRule::Im2recipe(v) => Some((v.source().to_string(), v.len())),
            SplitRule::ValidCount => None,
        },
        vocab_sha256: match rule {
            SplitRule::Im2recipe(v) => Some(v.sha256().to_string()),
            SplitRule::ValidCount => None,
        },
        key_files: keys
            .iter()
            .flatten()
            .map(|(f, _)| {
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect(),
        key_files_sha256: keys.as_deref().map(splits::key_files_sha256).transpose()?,
    };
    let mut splits: [Vec<Pair>; 3] = Default::default();
    let slots = match keys {
        Some(keys) => from_key_files(slots, &index, &keys, &mut report, &mut splits)?,
        None => slots,
    };
    let is_removed = |id: &str| match (&removed, rule) {
        (None, _) => false,
        (Some(r), SplitRule::ValidCount) => r.contains(id),
        (Some(r), SplitRule::Im2recipe(_)) => r.removes_as_im2recipe(id),
    };
    for slot in slots {
        let Some(n_detected) = slot.n_detected else {
            return Err(Error::MissingRecord {
                file: DET_INGRS.to_string(),
                id: slot.id,
            });
        };
        let counts = report.split_mut(slot.partition);
        counts.recipes += 1;
        let ex = &mut counts.excluded;
        if is_removed(&slot.id) {
            ex.removed += 1;
        } else if slot.n_instructions >= MAX_INSTRUCTIONS_EXCLUSIVE {
            ex.too_many_instructions += 1;
        } else if n_detected == 0 {
            ex.no_detected_ingredients += 1;
        } else if n_detected >= MAX_DETECTED_EXCLUSIVE {
            ex.too_many_detected_ingredients += 1;
        } else if slot.images.is_empty() {
            ex.no_images += 1;
        } else {
            counts.pairs += 1;
            counts.images += slot.images.len();
            counts.images_beyond_limit += slot.images_total - slot.images.len();
            splits[slot.partition.index()].push(Pair {
                recipe_id: slot.id,
                partition: slot.partition,
                images: slot.images,
            });
        }
    }
    for p in Partition::ALL {
        let c = report.split(p);
        tracing::info!(split = %p, recipes = c.recipes, pairs = c.pairs, excluded = c.excluded.total(), "joined");
    }
    if report.layer2_unknown + report.det_ingrs_unknown > 0 {
        tracing::warn!(
            layer2 = report.layer2_unknown,
            det_ingrs = report.det_ingrs_unknown,
            "entries for recipes that are not in {LAYER1} were ignored"
        );
    }
    Ok((
        Dataset {
            root: root.to_path_buf(),
            splits,
        },
        report,
    ))
}

/// The splits of im2recipe's key files into `splits`: every key a `layer1.json` recipe of that
/// split with at least one image, in the file's order; the first 5 images kept. Returns the
/// recipes of the splits without a key file, in `layer1.json` order, for the rule.
fn from_key_files(
    slots: Vec<Slot>,
    index: &HashMap<String, usize>,
    keys: &[(PathBuf, Partition)],
    report: &mut JoinReport,
    splits: &mut [Vec<Pair>; 3],
) -> Result<Vec<Slot>> {
    let covered = |p: Partition| keys.iter().any(|(_, k)| *k == p);
    let mut slots: Vec<Option<Slot>> = slots.into_iter().map(Some).collect();
    for s in slots.iter().flatten().filter(|s| covered(s.partition)) {
        report.split_mut(s.partition).recipes += 1;
    }
    for (file, partition) in keys {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bad = |id: &str, problem: String| Error::Invalid {
            what: format!("{name}: recipe {id}"),
            problem,
        };
        for id in splits::read_key_file(file)? {
            let Some(&at) = index.get(&id) else {
                return Err(bad(&id, format!("is not in {LAYER1}")));
            };
            let Some(slot) = slots[at].take() else {
                return Err(bad(&id, "is listed twice in the key files".into()));
            };
            if slot.partition != *partition {
                return Err(bad(
                    &id,
                    format!(
                        "is a {} recipe in {LAYER1}, listed for {}",
                        slot.partition, partition
                    ),
                ));
            }
            if slot.images.is_empty() {
                return Err(bad(&id, format!("has no image in {LAYER2}")));
            }
            let counts = report.split_mut(slot.partition);
            counts.pairs += 1;
            counts.images += slot.images.len();
            counts.images_beyond_limit += slot.images_total - slot.images.len();
            splits[partition.index()].push(Pair {
                recipe_id: slot.id,
                partition: slot.partition,
                images: slot.images,
            });
        }
    }
    let mut rest = Vec::new();
    for s in slots.into_iter().flatten() {
        if covered(s.partition) {
            report.split_mut(s.partition).excluded.not_in_key_files += 1;
        } else {
            rest.push(s);
        }
    }
    for (_, p) in keys {
        let c = report.split(*p);
        tracing::info!(split = %p, recipes = c.recipes, pairs = c.pairs, "split from im2recipe's key file");
    }
    Ok(rest)
}

fn duplicate(file: &str, id: String, first: usize, second: usize) -> Error {
    Error::DuplicateId {
        file: file.to_string(),
        id,
        first,
        second,
    }
}

/// Compares the splits of `dataset` with every published list present in `root`.
pub fn compare_published(root: &Path, dataset: &Dataset) -> Result<Vec<splits::ListComparison>> {
    let mut out = Vec::new();
    for (file, split) in splits::PUBLISHED_LISTS {
        let path = root.join(file);
        if !path.is_file() {
            continue;
        }
        let theirs = crate::checkpoint::read_string_list_pickle(&path)?;
        let ours: Vec<String> = dataset
            .split(split)
            .iter()
            .map(|p| p.recipe_id.clone())
            .collect();
        out.push(splits::compare_ids(file, split, &ours, &theirs));
    }
    Ok(out)
}

/// Writes `train_keys.txt`, `val_keys.txt`, `test_keys.txt` into `dir` (created): one recipe id a
/// line, in split order.
pub fn write_keys(dir: &Path, dataset: &Dataset) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for p in Partition::ALL {
        let mut text = String::new();
        for pair in dataset.split(p) {
            text.push_str(&pair.recipe_id);
            text.push('\n');
        }
        let path = dir.join(format!("{}_keys.txt", p.as_str()));
        std::fs::write(&path, text).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
