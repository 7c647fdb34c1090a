//! Phase I measured against the synthetic generator's truth: the key terms against the
//! ingredients, actions and utensils the generator wrote into each recipe, the image
//! categoriser's top-1 (the class whose word2vec vector becomes f_cat) against each photograph's
//! true dish, and the assigned categories against the true dishes (purity and NMI).
//!
//! Spec: spec/eval-phase1-truth.md. Not in the paper: Recipe1M has no truth to measure against.
//!
//! Inputs are the files the Phase I commands write (`seje features text --dump-terms`, the
//! categories command's `predictions.jsonl` and `labels.json`) and the benchmark's own
//! `synth.json` and `synth_truth.json`; each recipe's actions and utensils are recomputed from its
//! random stream ([`crate::data::synth::recipe_at`]), which draws exactly the text that was written.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::synthetic_reference::{read_truth, TruthRecord};
use crate::data::food101::read_labels;
use crate::data::synth::recipes::{TEMPLATE_ACTIONS, TEMPLATE_UTENSILS};
use crate::data::synth::world::World;
use crate::data::synth::{plan, recipe_at, SynthConfig};
use crate::error::{Error, Result};

/// How many of the most frequent wrong and missed terms a report lists.
pub const LISTED: usize = 10;

/// The three kinds of key terms (spec/phase1-key-terms.md), plus terms of none of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TermKind {
    /// An ingredient of the world.
    Ingredient,
    /// A cooking action some recipe of the world names.
    Action,
    /// A utensil some recipe of the world names.
    Utensil,
    /// A word of none of the world's vocabularies.
    Other,
}

/// Agreement of one kind of key term with the truth, summed over recipes (micro averages).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScore {
    /// The kind.
    pub kind: TermKind,
    /// True terms of this kind, summed over recipes (each recipe's distinct terms).
    pub truth: usize,
    /// Extracted terms of this kind (by the world's vocabularies), summed over recipes.
    pub extracted: usize,
    /// Extracted terms of this kind that are true terms of this kind of their recipe.
    pub matched: usize,
    /// True terms of this kind that were extracted (a term true of two kinds, "whisk" the
    /// action and the utensil, is one extracted term and counts as found for both).
    pub found: usize,
    /// matched / extracted (NaN when nothing was extracted).
    pub precision: f64,
    /// found / truth (NaN when there is no true term of the kind).
    pub recall: f64,
}

/// The key terms of every dumped recipe against the truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyTermScores {
    /// Recipes compared (every line of the dump).
    pub recipes: usize,
    /// Ingredients, actions, utensils and other words, in that order.
    pub kinds: Vec<KindScore>,
    /// All kinds together: Σ matched / Σ extracted.
    pub precision: f64,
    /// All kinds together: Σ found / Σ truth.
    pub recall: f64,
    /// The share of the rating mass (the weights of f_term) on true terms: Σ ratings of true
    /// terms / Σ ratings, averaged over recipes with a positive mass.
    pub rating_share: f64,
    /// The most frequent extracted terms that are not true of their recipe, with counts.
    pub wrong: Vec<(String, usize)>,
    /// The most frequent true terms that were not extracted, with counts.
    pub missed: Vec<(String, usize)>,
}

/// The categoriser's top-1 class of the benchmark's photographs (the class f_cat embeds) against
/// their true dish.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionScores {
    /// Photographs classified (up to the per-recipe limit of f_cat), all splits.
    pub images: usize,
    /// Of them, photographs whose top-1 class is their recipe's true dish.
    pub correct: usize,
    /// correct / images.
    pub top1: f64,
    /// The same on the test split's photographs.
    pub test_images: usize,
    /// Correct on the test split.
    pub test_correct: usize,
    /// test_correct / test_images.
    pub test_top1: f64,
    /// Photographs whose true dish is not one of the categoriser's classes (counted as wrong).
    pub dish_not_a_class: usize,
}

/// The assigned categories (the category alignment's labels) against the true dishes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryAgreement {
    /// Pairs labelled.
    pub pairs: usize,
    /// Categories used (at least one pair).
    pub categories: usize,
    /// True dishes present.
    pub dishes: usize,
    /// Σ over categories of its most common dish's count, / pairs (1: no category mixes dishes).
    pub purity: f64,
    /// Σ over dishes of its most common category's count, / pairs (1: no dish is split).
    pub inverse_purity: f64,
    /// Normalised mutual information, 2 I(C; D) / (H(C) + H(D)) (scikit-learn's default
    /// arithmetic normalisation); 1 for identical partitions, 0 for independent ones.
    pub nmi: f64,
}

/// Everything measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase1Truth {
    /// Key terms (from the text features' term dump).
    pub key_terms: Option<KeyTermScores>,
    /// The categoriser's top-1 on the benchmark's photographs.
    pub predictions: Option<PredictionScores>,
    /// The assigned categories.
    pub categories: Option<CategoryAgreement>,
}

/// The generator's truth of every recipe: dish, distinct terms of each kind (as Phase I spells
/// terms: spaces become underscores).
#[derive(Debug, Clone, PartialEq)]
pub struct RecipeTruth {
    /// The true dish.
    pub dish: String,
    /// True terms by kind (ingredient, action, utensil).
    pub terms: [BTreeSet<String>; 3],
}

/// The world's vocabularies, to say which kind an extracted term is.
pub struct Vocabulary {
    kinds: HashMap<String, Vec<TermKind>>,
}

/// A generator name as Phase I spells a term.
pub fn term_spelling(name: &str) -> String {
    name.trim().to_lowercase().replace(' ', "_")
}

impl Vocabulary {
    /// The ingredients of `world`, every action and utensil its categories name, and the words
    /// every recipe's template sentences add ("preheat", "add", "transfer", "serve", "oven").
    pub fn of(world: &World) -> Self {
        let mut kinds: HashMap<String, Vec<TermKind>> = HashMap::new();
        let mut add = |name: &str, k: TermKind| {
            let v = kinds.entry(term_spelling(name)).or_default();
            if !v.contains(&k) {
                v.push(k);
            }
        };
        for i in &world.ingredients {
            add(i.name, TermKind::Ingredient);
        }
        for c in &world.categories {
            for a in &c.actions {
                add(a, TermKind::Action);
            }
            for u in &c.utensils {
                add(u, TermKind::Utensil);
            }
        }
        for a in TEMPLATE_ACTIONS {
            add(a, TermKind::Action);
        }
        for u in TEMPLATE_UTENSILS {
            add(u, TermKind::Utensil);
        }
        Vocabulary { kinds }
    }

    /// The kinds `term` belongs to (empty: none).
    pub fn kinds(&self, term: &str) -> &[TermKind] {
        self.kinds.get(term).map_or(&[], Vec::as_slice)
    }
}

/// The truth of every recipe of the benchmark at `root`, keyed by recipe id: the dish and
/// ingredients from `synth_truth.json`, the actions and utensils from each recipe's regenerated
/// text (`synth.json` holds the generator's configuration).
pub fn recipe_truths(root: &Path) -> Result<HashMap<String, RecipeTruth>> {
    let manifest = root.join("synth.json");
    let text = std::fs::read_to_string(&manifest).map_err(|e| Error::io(&manifest, e))?;
    #[derive(Deserialize)]
    struct Manifest {
        config: SynthConfig,
    }
    let config = serde_json::from_str::<Manifest>(&text)
        .map_err(|e| Error::Invalid {
            what: manifest.display().to_string(),
            problem: format!("not a synthetic benchmark's manifest: {e}"),
        })?
        .config;
    config.validate()?;
    let truth = read_truth(root)?;
    let world = World::standard();
    let mut out = HashMap::with_capacity(truth.len());
    for slot in plan(&config) {
        let Some(record) = truth.get(&slot.id) else {
            return Err(Error::Invalid {
                what: format!("synth_truth.json, recipe {}", slot.id),
                problem: "missing: the truth file is not of the benchmark synth.json describes"
                    .into(),
            });
        };
        let text = recipe_at(&world, &config, slot.index);
        if world.categories[text.category].name != record.category {
            return Err(Error::Invalid {
                what: format!("synth_truth.json, recipe {}", slot.id),
                problem: format!(
                    "dish `{}`, but the generator configured in synth.json draws `{}`",
                    record.category, world.categories[text.category].name
                ),
            });
        }
        out.insert(
            slot.id.clone(),
            truth_of(record, &text.actions, &text.utensils),
        );
    }
    Ok(out)
}

/// One recipe's truth from its record and the actions and utensils its instructions name.
pub fn truth_of(record: &TruthRecord, actions: &[&str], utensils: &[&str]) -> RecipeTruth {
    let set = |names: &mut dyn Iterator<Item = &str>| names.map(term_spelling).collect();
    RecipeTruth {
        dish: record.category.clone(),
        terms: [
            set(&mut record.entities.iter().flatten().map(String::as_str)),
            set(&mut actions.iter().copied()),
            set(&mut utensils.iter().copied()),
        ],
    }
}

/// One line of a `--dump-terms` file.
#[derive(Debug, Clone, Deserialize)]
pub struct DumpLine {
    /// Recipe id.
    pub id: String,
    /// Its rated key terms.
    pub terms: Vec<DumpTerm>,
}

/// One rated term of a dump line.
#[derive(Debug, Clone, Deserialize)]
pub struct DumpTerm {
    /// The term.
    pub term: String,
    /// Its rating s(t, r).
    pub rating: f64,
}

/// Reads a JSON-lines file, one `T` per non-empty line; errors name the file and the line.
pub fn read_json_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::Invalid {
            what: format!("{}, line {}", path.display(), i + 1),
            problem: e.to_string().to_lowercase(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| Error::Invalid {
            what: format!("{}, line {}", path.display(), i + 1),
            problem: e.to_string(),
        })?);
    }
    Ok(out)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn truth_for<'a>(
    truth: &'a HashMap<String, RecipeTruth>,
    id: &str,
    file: &str,
) -> Result<&'a RecipeTruth> {
    truth.get(id).ok_or_else(|| Error::Invalid {
        what: format!("{file}, recipe {id}"),
        problem: "not a recipe of the synthetic benchmark (the file is of another dataset)".into(),
    })
}

fn top(counts: HashMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(LISTED);
    v
}

/// Scores the key terms of `lines` against `truth`.
pub fn key_term_scores(
    lines: &[DumpLine],
    truth: &HashMap<String, RecipeTruth>,
    vocabulary: &Vocabulary,
) -> Result<KeyTermScores> {
    const KINDS: [TermKind; 4] = [
        TermKind::Ingredient,
        TermKind::Action,
        TermKind::Utensil,
        TermKind::Other,
    ];
    let (mut truth_n, mut extracted) = ([0usize; 4], [0usize; 4]);
    let (mut matched, mut found) = ([0usize; 4], [0usize; 4]);
    let (mut wrong, mut missed) = (HashMap::new(), HashMap::new());
    let (mut share_sum, mut share_n) = (0f64, 0usize);
    for line in lines {
        let t = truth_for(truth, &line.id, "term dump")?;
        let (mut mass, mut true_mass) = (0f64, 0f64);
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for term in &line.terms {
            if !seen.insert(term.term.as_str()) {
                continue;
            }
            let kinds = vocabulary.kinds(&term.term);
            // The kind whose truth holds the term, else its first kind in the world, else other.
            let hit =
                (0..3).find(|&k| kinds.contains(&KINDS[k]) && t.terms[k].contains(&term.term));
            let k = hit.unwrap_or_else(|| {
                kinds
                    .first()
                    .map_or(3, |f| KINDS.iter().position(|x| x == f).unwrap_or(3))
            });
            extracted[k] += 1;
            mass += term.rating.max(0.0);
            if hit.is_some() {
                matched[k] += 1;
                true_mass += term.rating.max(0.0);
            } else {
                *wrong.entry(term.term.clone()).or_insert(0) += 1;
            }
        }
        for (k, set) in t.terms.iter().enumerate() {
            truth_n[k] += set.len();
            for name in set {
                if seen.contains(name.as_str()) {
                    found[k] += 1;
                } else {
                    *missed.entry(name.clone()).or_insert(0) += 1;
                }
            }
        }
        if mass > 0.0 {
            share_sum += true_mass / mass;
            share_n += 1;
        }
    }
    let kinds = KINDS
        .iter()
        .enumerate()
        .map(|(k, &kind)| KindScore {
            kind,
            truth: truth_n[k],
            extracted: extracted[k],
            matched: matched[k],
            found: found[k],
            precision: ratio(matched[k], extracted[k]),
            recall: ratio(found[k], truth_n[k]),
        })
        .collect();
    Ok(KeyTermScores {
        recipes: lines.len(),
        kinds,
        precision: ratio(matched.iter().sum(), extracted.iter().sum()),
        recall: ratio(found.iter().sum(), truth_n.iter().sum()),
        rating_share: if share_n == 0 {
            f64::NAN
        } else {
            share_sum / share_n as f64
        },
        wrong: top(wrong),
        missed: top(missed),
    })
}

/// One line of the categories command's `predictions.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictionLine {
    /// Recipe id.
    pub id: String,
    /// Its split (`train`, `val`, `test`).
    pub partition: String,
    /// The categoriser's top-1 class of each of its classified photographs, in pair order.
    pub predictions: Vec<String>,
}

/// Scores the categoriser's predictions against the true dishes; `classes` are the categoriser's
/// class names (a dish outside them cannot be predicted).
pub fn prediction_scores(
    lines: &[PredictionLine],
    truth: &HashMap<String, RecipeTruth>,
    classes: &BTreeSet<String>,
) -> Result<PredictionScores> {
    let (mut images, mut correct, mut test_images, mut test_correct, mut outside) = (0, 0, 0, 0, 0);
    for line in lines {
        let t = truth_for(truth, &line.id, "predictions.jsonl")?;
        let test = line.partition == "test";
        for p in &line.predictions {
            let ok = usize::from(*p == t.dish);
            images += 1;
            correct += ok;
            if test {
                test_images += 1;
                test_correct += ok;
            }
            outside += usize::from(!classes.contains(&t.dish));
        }
    }
    Ok(PredictionScores {
        images,
        correct,
        top1: ratio(correct, images),
        test_images,
        test_correct,
        test_top1: ratio(test_correct, test_images),
        dish_not_a_class: outside,
    })
}

/// Purity, inverse purity and NMI of the labelling `pairs` (category, dish), one per pair.
pub fn agreement<C: Ord + Clone, D: Ord + Clone>(pairs: &[(C, D)]) -> CategoryAgreement {
    let n = pairs.len();
    let mut joint: BTreeMap<(C, D), usize> = BTreeMap::new();
    let (mut by_c, mut by_d): (BTreeMap<C, usize>, BTreeMap<D, usize>) = Default::default();
    for (c, d) in pairs {
        *joint.entry((c.clone(), d.clone())).or_insert(0) += 1;
        *by_c.entry(c.clone()).or_insert(0) += 1;
        *by_d.entry(d.clone()).or_insert(0) += 1;
    }
    let (mut best_c, mut best_d): (BTreeMap<&C, usize>, BTreeMap<&D, usize>) = Default::default();
    for ((c, d), &k) in &joint {
        let b = best_c.entry(c).or_insert(0);
        *b = (*b).max(k);
        let b = best_d.entry(d).or_insert(0);
        *b = (*b).max(k);
    }
    let nf = n as f64;
    let entropy = |counts: &mut dyn Iterator<Item = usize>| -> f64 {
        counts
            .map(|k| {
                let p = k as f64 / nf;
                -p * p.ln()
            })
            .sum()
    };
    let (hc, hd) = (
        entropy(&mut by_c.values().copied()),
        entropy(&mut by_d.values().copied()),
    );
    let mi: f64 = joint
        .iter()
        .map(|((c, d), &k)| {
            let p = k as f64 / nf;
            p * (nf * k as f64 / (by_c[c] as f64 * by_d[d] as f64)).ln()
        })
        .sum();
    // scikit-learn: two partitions that are both a single cluster agree perfectly.
    let nmi = if hc + hd == 0.0 {
        1.0
    } else {
        (2.0 * mi / (hc + hd)).clamp(0.0, 1.0)
    };
    CategoryAgreement {
        pairs: n,
        categories: by_c.len(),
        dishes: by_d.len(),
        purity: ratio(best_c.values().sum(), n),
        inverse_purity: ratio(best_d.values().sum(), n),
        nmi,
    }
}

/// The categories of `labels.json` against the true dishes.
pub fn category_agreement(
    labels_file: &Path,
    truth: &HashMap<String, RecipeTruth>,
) -> Result<CategoryAgreement> {
    #[derive(Deserialize)]
    struct Label {
        class: usize,
    }
    #[derive(Deserialize)]
    struct Labels {
        labels: BTreeMap<String, Label>,
    }
    let text = std::fs::read_to_string(labels_file).map_err(|e| Error::io(labels_file, e))?;
    let labels: Labels = serde_json::from_str(&text).map_err(|e| Error::Invalid {
        what: labels_file.display().to_string(),
        problem: format!("not a categories command's labels.json: {e}"),
    })?;
    let mut pairs = Vec::with_capacity(labels.labels.len());
    for (id, l) in &labels.labels {
        let t = truth_for(truth, id, "labels.json")?;
        pairs.push((l.class, t.dish.clone()));
    }
    Ok(agreement(&pairs))
}

/// Where the Phase I outputs are; any of them may be absent (its part is then not measured).
#[derive(Debug, Clone, Default)]
pub struct Phase1Outputs<'a> {
    /// A `seje features text --dump-terms` file.
    pub terms: Option<&'a Path>,
    /// The categories command's `predictions.jsonl`.
    pub predictions: Option<&'a Path>,
    /// The categoriser's `classes.txt` (its class names), needed with `predictions`.
    pub classes: Option<&'a Path>,
    /// The categories command's `labels.json`.
    pub labels: Option<&'a Path>,
}

/// Measures every given Phase I output of the benchmark at `root` against its truth.
pub fn measure(root: &Path, outputs: &Phase1Outputs<'_>) -> Result<Phase1Truth> {
    let truth = recipe_truths(root)?;
    let key_terms = outputs
        .terms
        .map(|p| {
            let lines: Vec<DumpLine> = read_json_lines(p)?;
            key_term_scores(&lines, &truth, &Vocabulary::of(&World::standard()))
        })
        .transpose()?;
    let predictions = outputs
        .predictions
        .map(|p| {
            let lines: Vec<PredictionLine> = read_json_lines(p)?;
            let classes = match outputs.classes {
                Some(c) => read_labels(c)?.into_iter().collect(),
                None => lines.iter().flat_map(|l| l.predictions.clone()).collect(),
            };
            prediction_scores(&lines, &truth, &classes)
        })
        .transpose()?;
    let categories = outputs
        .labels
        .map(|p| category_agreement(p, &truth))
        .transpose()?;
    Ok(Phase1Truth {
        key_terms,
        predictions,
        categories,
    })
}

impl Phase1Truth {
    /// A plain-text report, one measure per line.
    pub fn render(&self) -> String {
        let pct = |x: f64| {
            if x.is_nan() {
                "-".to_string()
            } else {
                format!("{:.1}%", 100.0 * x)
            }
        };
        let mut s = String::new();
        if let Some(k) = &self.key_terms {
            s += &format!(
                "key terms   {} recipes: precision {}, recall {}, rating mass on true terms {}\n",
                k.recipes,
                pct(k.precision),
                pct(k.recall),
                pct(k.rating_share)
            );
            for x in &k.kinds {
                s += &format!(
                    "  {:<11} truth {:>7}  found {:>7}  extracted {:>7}  matched {:>7}  precision {:>6}  recall {:>6}\n",
                    format!("{:?}", x.kind).to_lowercase(),
                    x.truth,
                    x.found,
                    x.extracted,
                    x.matched,
                    pct(x.precision),
                    pct(x.recall)
                );
            }
            let list = |v: &[(String, usize)]| {
                v.iter()
                    .map(|(t, n)| format!("{t} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            s += &format!("  most often wrong: {}\n", list(&k.wrong));
            s += &format!("  most often missed: {}\n", list(&k.missed));
        }
        if let Some(p) = &self.predictions {
            s += &format!(
                "f_cat class {} of {} photographs are their true dish ({}); test split {} of {} ({}); {} photographs of a dish that is not a class\n",
                p.correct,
                p.images,
                pct(p.top1),
                p.test_correct,
                p.test_images,
                pct(p.test_top1),
                p.dish_not_a_class
            );
        }
        if let Some(c) = &self.categories {
            s += &format!(
                "categories  {} pairs in {} categories over {} dishes: purity {}, inverse purity {}, NMI {:.3}\n",
                c.pairs,
                c.categories,
                c.dishes,
                pct(c.purity),
                pct(c.inverse_purity),
                c.nmi
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_of_a_worked_example() {
        // Categories {0: a a b, 1: b b, 2: c}; dishes a, b, c.
        let pairs = [(0, "a"), (0, "a"), (0, "b"), (1, "b"), (1, "b"), (2, "c")];
        let g = agreement(&pairs);
        assert_eq!((g.pairs, g.categories, g.dishes), (6, 3, 3));
        // purity (2 + 2 + 1) / 6; inverse purity: a 2, b 2, c 1.
        assert!((g.purity - 5.0 / 6.0).abs() < 1e-15);
        assert!((g.inverse_purity - 5.0 / 6.0).abs() < 1e-15);
        // scikit-learn 1.x normalized_mutual_info_score([0,0,0,1,1,2], [0,0,1,1,1,2]).
        assert!((g.nmi - 0.6853314789615865).abs() < 1e-12, "{}", g.nmi);
        // Identical partitions, relabelled: 1; independent ones: 0.
        let same = agreement(&[(5, "x"), (5, "x"), (7, "y")]);
        assert_eq!((same.purity, same.nmi), (1.0, 1.0));
        let indep = agreement(&[(0, "x"), (0, "y"), (1, "x"), (1, "y")]);
        assert!(indep.nmi.abs() < 1e-15 && (indep.purity - 0.5).abs() < 1e-15);
    }

    fn truth(entities: &[&str], actions: &[&str], utensils: &[&str]) -> RecipeTruth {
        let record = TruthRecord {
            id: "r".into(),
            category: "apple_pie".into(),
            entities: entities.iter().map(|e| Some(e.to_string())).collect(),
        };
        truth_of(&record, actions, utensils)
    }

    #[test]
    fn key_terms_are_scored_by_kind_with_the_rating_mass() {
        let w = World::standard();
        let v = Vocabulary::of(&w);
        let t: HashMap<String, RecipeTruth> = [(
            "r".to_string(),
            truth(&["apples", "brown sugar"], &["bake", "preheat"], &["oven"]),
        )]
        .into_iter()
        .collect();
        let line = |terms: &[(&str, f64)]| DumpLine {
            id: "r".into(),
            terms: terms
                .iter()
                .map(|(t, r)| DumpTerm {
                    term: t.to_string(),
                    rating: *r,
                })
                .collect(),
        };
        // Two true ingredients (one spelled with an underscore), one true action, one action the
        // recipe does not name, one word of no vocabulary.
        let s = key_term_scores(
            &[line(&[
                ("apples", 3.0),
                ("brown_sugar", 1.0),
                ("bake", 2.0),
                ("fry", 1.0),
                ("combined", 1.0),
            ])],
            &t,
            &v,
        )
        .unwrap();
        let k = |kind: TermKind| s.kinds.iter().find(|x| x.kind == kind).unwrap();
        assert_eq!(
            (
                k(TermKind::Ingredient).matched,
                k(TermKind::Ingredient).truth
            ),
            (2, 2)
        );
        assert_eq!(
            (
                k(TermKind::Action).extracted,
                k(TermKind::Action).matched,
                k(TermKind::Action).truth
            ),
            (2, 1, 2)
        );
        assert_eq!(
            (k(TermKind::Utensil).recall, k(TermKind::Other).extracted),
            (0.0, 1)
        );
        assert!((s.precision - 3.0 / 5.0).abs() < 1e-15);
        assert!((s.recall - 3.0 / 5.0).abs() < 1e-15);
        assert!((s.rating_share - 6.0 / 8.0).abs() < 1e-15);
        assert_eq!(s.missed.len(), 2); // preheat, oven
                                       // An id of another dataset is named.
        let mut other = line(&[("apples", 1.0)]);
        other.id = "zz".into();
        let e = key_term_scores(&[other], &t, &v).unwrap_err().to_string();
        assert!(e.contains("recipe zz"), "{e}");
    }

    #[test]
    fn predictions_count_photographs_and_dishes_without_a_class() {
        let t: HashMap<String, RecipeTruth> = [("r".to_string(), truth(&[], &[], &[]))]
            .into_iter()
            .collect();
        let lines = [PredictionLine {
            id: "r".into(),
            partition: "test".into(),
            predictions: vec!["apple_pie".into(), "waffles".into(), "apple_pie".into()],
        }];
        let classes: BTreeSet<String> = ["apple_pie", "waffles"].map(String::from).into();
        let p = prediction_scores(&lines, &t, &classes).unwrap();
        assert_eq!(
            (p.images, p.correct, p.test_images, p.dish_not_a_class),
            (3, 2, 3, 0)
        );
        let p = prediction_scores(&lines, &t, &["waffles".to_string()].into()).unwrap();
        assert_eq!(p.dish_not_a_class, 3);
    }
}
