//! Recipe1M's three JSON files, read as streams of records: `layer1.json` (recipes),
//! `layer2.json` (images per recipe) and `det_ingrs.json` (detected ingredients), plus the
//! optional exclusion list `remove1M.txt`.
//!
//! Spec: spec/data-recipe1m.md (file formats, ids, errors). Format from Recipe1M's release as used
//! by im2recipe `scripts/mk_dataset.py` (torralba-lab/im2recipe-Pytorch). Every id is checked
//! ([`crate::data::ids`]); a missing field names the recipe and the file.

use std::fmt;
use std::path::Path;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::ids::{check_image_id, check_recipe_id};
use super::json_stream::for_each_record;
use super::splits::{Partition, RemoveList};
use crate::{Error, Result};

/// File names inside a Recipe1M root.
pub const LAYER1: &str = "layer1.json";
/// Images per recipe.
pub const LAYER2: &str = "layer2.json";
/// Detected ingredients per recipe.
pub const DET_INGRS: &str = "det_ingrs.json";
/// Optional list of excluded recipe ids, one per line.
pub const REMOVE: &str = "remove1M.txt";

/// A recipe of `layer1.json` with every field the format defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Recipe id (lowercase hex).
    pub id: String,
    /// Title.
    pub title: String,
    /// Raw ingredient lines ("1/2 cups plain greek yogurt").
    pub ingredients: Vec<String>,
    /// Instruction sentences.
    pub instructions: Vec<String>,
    /// Split.
    pub partition: Partition,
    /// Source address.
    pub url: String,
}

/// The part of a `layer1.json` recipe the pair join needs; the texts are skipped while parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipeSummary {
    /// Recipe id.
    pub id: String,
    /// Split.
    pub partition: Partition,
    /// Number of instructions.
    pub n_instructions: usize,
}

/// A `layer2.json` entry: the images of one recipe, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipeImages {
    /// Recipe id.
    pub id: String,
    /// Image ids (`3e233001e2.jpg`), each checked.
    pub images: Vec<String>,
}

/// A `det_ingrs.json` entry: ingredient names and whether the detector kept each.
#[derive(Debug, Clone, PartialEq)]
pub struct Detections {
    /// Recipe id.
    pub id: String,
    /// Detected ingredient names, one per raw ingredient line.
    pub ingredients: Vec<String>,
    /// Whether each name is a valid detection (same length as `ingredients`).
    pub valid: Vec<bool>,
}

impl Detections {
    /// The number of detected ingredients: entries marked valid whose text is not blank.
    pub fn n_detected(&self) -> usize {
        self.ingredients
            .iter()
            .zip(&self.valid)
            .filter(|(t, v)| **v && !t.trim().is_empty())
            .count()
    }
}

#[derive(Deserialize)]
struct RawText {
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawRecipe {
    id: Option<String>,
    title: Option<String>,
    ingredients: Option<Vec<RawText>>,
    instructions: Option<Vec<RawText>>,
    partition: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct RawSummary {
    id: Option<String>,
    title: Option<IgnoredAny>,
    ingredients: Option<IgnoredAny>,
    instructions: Option<Count>,
    partition: Option<String>,
    url: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawImage {
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawImages {
    id: Option<String>,
    images: Option<Vec<RawImage>>,
}

#[derive(Deserialize)]
struct RawDetections {
    id: Option<String>,
    ingredients: Option<Vec<RawText>>,
    valid: Option<Vec<bool>>,
}

/// The length of a JSON array whose elements are skipped, not stored.
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> std::result::Result<Count, A::Error> {
                let mut n = 0;
                while s.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Count(n))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Context for the errors of one record.
struct At<'a> {
    file: &'a str,
    record: String,
}

impl At<'_> {
    fn need<T>(&self, v: Option<T>, field: &'static str) -> Result<T> {
        v.ok_or_else(|| Error::MissingField {
            file: self.file.to_string(),
            record: self.record.clone(),
            field,
        })
    }

    fn texts(
        &self,
        v: Option<Vec<RawText>>,
        field: &'static str,
        text: &'static str,
    ) -> Result<Vec<String>> {
        self.need(v, field)?
            .into_iter()
            .map(|t| self.need(t.text, text))
            .collect()
    }

    fn partition(&self, v: Option<String>) -> Result<Partition> {
        self.need(v, "partition")?
            .parse()
            .map_err(|problem| Error::BadField {
                file: self.file.to_string(),
                record: self.record.clone(),
                field: "partition",
                problem,
            })
    }
}

/// Checks the id of record `index` of `file` and returns it with the error context of the record.
fn identify(file: &str, index: usize, id: Option<String>) -> Result<(String, At<'_>)> {
    let id = id.ok_or_else(|| Error::MissingField {
        file: file.to_string(),
        record: format!("entry {index}"),
        field: "id",
    })?;
    check_recipe_id(&id).map_err(|problem| Error::BadRecipeId {
        file: file.to_string(),
        id: id.clone(),
        problem,
    })?;
    let at = At {
        file,
        record: format!("recipe {id}"),
    };
    Ok((id, at))
}

/// Streams the recipes of `root/layer1.json` with all their fields.
pub fn read_layer1(root: &Path, mut each: impl FnMut(Recipe) -> Result<()>) -> Result<usize> {
    for_each_record(&root.join(LAYER1), LAYER1, |i, r: RawRecipe| {
        let (id, at) = identify(LAYER1, i, r.id)?;
        each(Recipe {
            title: at.need(r.title, "title")?,
            ingredients: at.texts(r.ingredients, "ingredients", "ingredients[].text")?,
            instructions: at.texts(r.instructions, "instructions", "instructions[].text")?,
            partition: at.partition(r.partition)?,
            url: at.need(r.url, "url")?,
            id,
        })
    })
}

/// Streams `root/layer1.json` keeping only what the pair join needs (id, split, number of
/// instructions); titles and texts are parsed and dropped. Every field must still be present.
pub fn read_layer1_summaries(
    root: &Path,
    mut each: impl FnMut(RecipeSummary) -> Result<()>,
) -> Result<usize> {
    for_each_record(&root.join(LAYER1), LAYER1, |i, r: RawSummary| {
        let (id, at) = identify(LAYER1, i, r.id)?;
        at.need(r.title, "title")?;
        at.need(r.ingredients, "ingredients")?;
        at.need(r.url, "url")?;
        each(RecipeSummary {
            n_instructions: at.need(r.instructions, "instructions")?.0,
            partition: at.partition(r.partition)?,
            id,
        })
    })
}

/// Streams `root/layer2.json`; every image id is checked.
pub fn read_layer2(root: &Path, mut each: impl FnMut(RecipeImages) -> Result<()>) -> Result<usize> {
    for_each_record(&root.join(LAYER2), LAYER2, |i, r: RawImages| {
        let (id, at) = identify(LAYER2, i, r.id)?;
        let images = at
            .need(r.images, "images")?
            .into_iter()
            .map(|im| {
                let image = at.need(im.id, "images[].id")?;
                check_image_id(&image).map_err(|problem| Error::BadImageId {
                    file: LAYER2.to_string(),
                    recipe: id.clone(),
                    image: image.clone(),
                    problem,
                })?;
                Ok(image)
            })
            .collect::<Result<Vec<_>>>()?;
        each(RecipeImages { id, images })
    })
}

/// Streams `root/det_ingrs.json`; `valid` must be as long as `ingredients`.
pub fn read_det_ingrs(
    root: &Path,
    mut each: impl FnMut(Detections) -> Result<()>,
) -> Result<usize> {
    for_each_record(&root.join(DET_INGRS), DET_INGRS, |i, r: RawDetections| {
        let (id, at) = identify(DET_INGRS, i, r.id)?;
        let ingredients = at.texts(r.ingredients, "ingredients", "ingredients[].text")?;
        let valid = at.need(r.valid, "valid")?;
        if valid.len() != ingredients.len() {
            return Err(Error::BadField {
                file: DET_INGRS.to_string(),
                record: at.record,
                field: "valid",
                problem: format!(
                    "has {} entries for {} ingredients",
                    valid.len(),
                    ingredients.len()
                ),
            });
        }
        each(Detections {
            id,
            ingredients,
            valid,
        })
    })
}

/// Reads `root/remove1M.txt` if it exists: one recipe id per line (trimmed; blank lines hold no
/// id but count as lines), each id with the index of its last line, as im2recipe's
/// `{w.rstrip(): i for i, w in enumerate(f)}` holds them (spec/data-recipe1m.md).
pub fn read_exclusions(root: &Path) -> Result<Option<RemoveList>> {
    let path = root.join(REMOVE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(REMOVE, e))?;
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        check_recipe_id(id).map_err(|problem| Error::BadRecipeId {
            file: format!("{REMOVE}:{}", n + 1),
            id: id.to_string(),
            problem,
        })?;
        ids.push((n, id.to_string()));
    }
    Ok(Some(RemoveList::from_lines(ids)))
}
