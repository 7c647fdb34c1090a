//! Two reference rankings of the synthetic benchmark, built from the generator's truth
//! (`synth_truth.json`) and evaluated by the same protocol as a model: the *oracle*, which knows
//! what the pixels of each photograph can show (the dish and the set of visible ingredients), and
//! the *category ceiling*, which knows every item's dish and orders the items of a dish at random
//! (what recognising the dish alone achieves).
//!
//! Spec: spec/eval-protocol.md (section "What the generator knows is achievable") and
//! spec/data-synthetic-benchmark.md (what the photographs show). Not in the paper: the real
//! Recipe1M has no truth to build them from.
//!
//! How: each reference is written as paired embeddings whose Euclidean order is the reference's
//! ranking, so `seje eval` ranks them with the very subsets and ties of the protocol. Every
//! vector has the same norm, so the Euclidean order is the order of dot products:
//! - oracle: `[dish one-hot, unit indicator of the visible ingredients, 0.01 u]`; the true item
//!   scores 2 (same dish, same set), another item of the dish with another set at most
//!   1 + sqrt(18/19) (the closest sets differ in one of at most 19), and ties (the same dish and
//!   the same visible set) are broken by the random `u · v` (at most 1e-4);
//! - category ceiling: `[dish one-hot, 0.5 u]`; items of the dish score 1 ± 0.25, others ± 0.25,
//!   and the order inside the dish is that of the independent random `u · v`.

use std::collections::HashMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::embeddings::Embeddings;
use crate::data::synth::world::{Form, World};
use crate::error::{Error, Result};

/// Width of the random tie-breaking part.
const TIE_DIMS: usize = 16;

/// Which reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The dish and the visible ingredients of each item.
    Oracle,
    /// The dish of each item, random order inside a dish.
    CategoryCeiling,
}

impl Reference {
    /// Its name on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Reference::Oracle => "oracle",
            Reference::CategoryCeiling => "category-ceiling",
        }
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "oracle" => Ok(Reference::Oracle),
            "category-ceiling" => Ok(Reference::CategoryCeiling),
            _ => Err(Error::Invalid {
                what: format!("reference `{s}`"),
                problem: "unknown (oracle, category-ceiling)".into(),
            }),
        }
    }
}

/// One line of `synth_truth.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct TruthRecord {
    /// Recipe id.
    pub id: String,
    /// The true dish (a category name of the world).
    pub category: String,
    /// The true entity of each raw ingredient line (`null` for headers).
    pub entities: Vec<Option<String>>,
}

/// Reads `root/synth_truth.json`, keyed by recipe id.
pub fn read_truth(root: &Path) -> Result<HashMap<String, TruthRecord>> {
    let path = root.join("synth_truth.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let records: Vec<TruthRecord> = serde_json::from_str(&text).map_err(|e| Error::Invalid {
        what: path.display().to_string(),
        problem: format!(
            "not the synthetic benchmark's truth file (line {}, column {}): {e}",
            e.line(),
            e.column()
        ),
    })?;
    Ok(records.into_iter().map(|r| (r.id.clone(), r)).collect())
}

/// What a perfect encoder can know from the pixels of one recipe's photographs: its dish and its
/// visible ingredients (sorted indices into the world's ingredients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latent {
    /// Index into the world's categories.
    pub dish: usize,
    /// Visible ingredients, sorted and distinct.
    pub visible: Vec<usize>,
}

/// The latent description of `record` in `world`; errors name the recipe and the unknown name.
pub fn latent(world: &World, record: &TruthRecord) -> Result<Latent> {
    let bad = |what: &str, name: &str| Error::Invalid {
        what: format!("synth_truth.json, recipe {}", record.id),
        problem: format!("{what} `{name}` is not in the generator's world"),
    };
    let dish = world
        .category(&record.category)
        .ok_or_else(|| bad("category", &record.category))?;
    let mut visible = Vec::new();
    for name in record.entities.iter().flatten() {
        let e = world
            .ingredients
            .iter()
            .position(|i| i.name == name)
            .ok_or_else(|| bad("ingredient", name))?;
        if world.ingredients[e].form != Form::Hidden {
            visible.push(e);
        }
    }
    visible.sort_unstable();
    visible.dedup();
    Ok(Latent { dish, visible })
}

/// The reference's embeddings for the pairs `ids` (in that order: the rows of the model's test
/// embeddings), with the tie-breaking vectors drawn from `seed`.
pub fn reference_embeddings(
    world: &World,
    truth: &HashMap<String, TruthRecord>,
    ids: &[String],
    reference: Reference,
    seed: u64,
) -> Result<Embeddings> {
    let c = world.categories.len();
    // One more column for "nothing visible", so every oracle vector has a unit visible part.
    let v = world.ingredients.len() + 1;
    let (d, tie) = match reference {
        Reference::Oracle => (c + v + TIE_DIMS, 0.01f64),
        Reference::CategoryCeiling => (c + TIE_DIMS, 0.5f64),
    };
    let n = ids.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A direction uniform on the sphere: normalised Gaussians (Box–Muller).
    let unit = |rng: &mut ChaCha8Rng| {
        let g: Vec<f64> = (0..TIE_DIMS)
            .map(|_| {
                let (a, b): (f64, f64) = (rng.gen(), rng.gen());
                (-2.0 * (1.0 - a).ln()).sqrt() * (std::f64::consts::TAU * b).cos()
            })
            .collect();
        let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        g.into_iter().map(|x| x / norm).collect::<Vec<f64>>()
    };
    let (mut image, mut recipe) = (vec![0f32; n * d], vec![0f32; n * d]);
    for (i, id) in ids.iter().enumerate() {
        let record = truth.get(id).ok_or_else(|| Error::Invalid {
            what: format!("recipe {id}"),
            problem: "not in synth_truth.json (the embeddings are not of this benchmark)".into(),
        })?;
        let l = latent(world, record)?;
        let (u, w) = (unit(&mut rng), unit(&mut rng));
        for (side, noise) in [(&mut image, &u), (&mut recipe, &w)] {
            let row = &mut side[i * d..(i + 1) * d];
            row[l.dish] = 1.0;
            if reference == Reference::Oracle {
                if l.visible.is_empty() {
                    row[c + v - 1] = 1.0;
                } else {
                    let x = 1.0 / (l.visible.len() as f64).sqrt();
                    for &e in &l.visible {
                        row[c + e] = x as f32;
                    }
                }
            }
            for (k, z) in noise.iter().enumerate() {
                row[d - TIE_DIMS + k] = (tie * z) as f32;
            }
        }
    }
    Embeddings::new(
        &format!("{} reference", reference.name()),
        (n, d),
        image,
        recipe,
        Some(ids.to_vec()),
    )
}

/// The reference's embeddings for the pairs of `emb` (by their ids), from the benchmark at `root`.
pub fn for_pairs_of(
    emb: &Embeddings,
    root: &Path,
    reference: Reference,
    seed: u64,
) -> Result<Embeddings> {
    let ids = emb.ids.as_ref().ok_or_else(|| Error::Invalid {
        what: format!("{} reference", reference.name()),
        problem: "the embeddings carry no pair ids to look up in synth_truth.json".into(),
    })?;
    let truth = read_truth(root)?;
    reference_embeddings(&World::standard(), &truth, ids, reference, seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::ranking::{subset_ranks, Measure};

    fn record(id: &str, category: &str, entities: &[&str]) -> TruthRecord {
        TruthRecord {
            id: id.into(),
            category: category.into(),
            entities: entities.iter().map(|e| Some(e.to_string())).collect(),
        }
    }

    #[test]
    fn the_oracle_separates_recipes_by_their_visible_ingredients_only() {
        let w = World::standard();
        let truth: HashMap<String, TruthRecord> = [
            // The same dish; a and b differ in a visible ingredient, a and c only in a hidden one.
            record("a", "apple_pie", &["apples", "walnuts", "cinnamon"]),
            record("b", "apple_pie", &["apples", "cinnamon"]),
            record("c", "apple_pie", &["apples", "walnuts", "sugar"]),
            record("d", "baked_salmon", &["apples", "walnuts"]),
        ]
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
        let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let e = reference_embeddings(&w, &truth, &ids, Reference::Oracle, 1).unwrap();
        let r = subset_ranks(&e, &[0, 1, 2, 3], Measure::Euclidean, Default::default()).unwrap();
        // b and d are unique; a and c tie, so each ranks first or second, at random.
        assert_eq!((r.image_to_recipe[1], r.image_to_recipe[3]), (1, 1));
        assert!([0, 2]
            .iter()
            .all(|&i| (1..=2).contains(&r.image_to_recipe[i])));
        let seconds = (0..200)
            .filter(|&seed| {
                let e = reference_embeddings(&w, &truth, &ids, Reference::Oracle, seed).unwrap();
                let r = subset_ranks(&e, &[0, 1, 2, 3], Measure::Euclidean, Default::default());
                r.unwrap().image_to_recipe[0] == 2
            })
            .count();
        assert!(
            (60..=140).contains(&seconds),
            "a ranked second {seconds} times in 200"
        );

        // The category ceiling sees one dish of three and one of one.
        let e = reference_embeddings(&w, &truth, &ids, Reference::CategoryCeiling, 1).unwrap();
        let r = subset_ranks(&e, &[0, 1, 2, 3], Measure::Euclidean, Default::default()).unwrap();
        assert_eq!(r.image_to_recipe[3], 1);
        let mut pie: Vec<u32> = r.image_to_recipe[..3].to_vec();
        pie.sort_unstable();
        assert!(pie.iter().all(|&x| (1..=3).contains(&x)), "{pie:?}");
    }

    #[test]
    fn unknown_ids_and_names_are_named() {
        let w = World::standard();
        let truth: HashMap<String, TruthRecord> = [record("a", "apple_pie", &["unobtainium"])]
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let err = |ids: &[&str]| {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            reference_embeddings(&w, &truth, &ids, Reference::Oracle, 1)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&["zz"]).contains("recipe zz"), "{}", err(&["zz"]));
        assert!(
            err(&["a"]).contains("ingredient `unobtainium`"),
            "{}",
            err(&["a"])
        );
    }
}
