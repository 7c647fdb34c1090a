//! Recipe category assignment: one of C categories for every image-recipe pair, with no background
//! class. Step (i) is im2recipe's title-bigram procedure (`scripts/bigrams.py`, reimplemented from
//! its semantics; the tokeniser and the bigram ranking are in [`title_bigrams`]), step (ii) gives
//! every pair the procedure leaves without a class the category whose training centroid of f_term
//! is nearest (cosine), optionally overruled by the image's predicted Food-101 class, step (iii)
//! numbers the categories 0..C−1. Reading the inputs and writing `labels.json`:
//! [`crate::phase1::category_files`].
//!
//! Spec: spec/phase1-category-labels.md (our fallback: the authors' procedure is not published).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::Serialize;

use crate::data::splits::Partition;
use crate::phase1::title_bigrams::{food101_query, rank_bigrams, FORBIDDEN};
use crate::{Error, Result};

/// The procedure's parameters. [`Default`] gives im2recipe's (and so the paper's baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryConfig {
    /// Candidate bigrams: the N most frequent training-title bigrams (`N = 2000`).
    pub top_bigrams: usize,
    /// A class needs strictly more than this many training pairs (`tsamples = 20`), and at least
    /// one validation and one test pair.
    pub min_train: usize,
    /// At most this many bigram classes (`MAX_CLASSES = 1000`); Food-101 classes come on top.
    pub max_classes: usize,
    /// Count the bigram formed by the last token of one title and the first of the next, as
    /// im2recipe does (it tokenises the training titles joined by spaces). Titles are joined in
    /// recipe-id order.
    pub cross_title_bigrams: bool,
    /// Image vote: the category named by the image prediction wins when its centroid similarity is
    /// at least the best similarity minus this margin.
    pub vote_margin: f64,
}

impl Default for CategoryConfig {
    fn default() -> Self {
        Self {
            top_bigrams: 2000,
            min_train: 20,
            max_classes: 1000,
            cross_title_bigrams: true,
            vote_margin: 0.05,
        }
    }
}

impl CategoryConfig {
    /// Refuses settings the procedure cannot run with.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, problem: &str| {
            Err(Error::Invalid {
                what: format!("category config: {what}"),
                problem: problem.into(),
            })
        };
        if self.top_bigrams == 0 {
            return bad("top_bigrams", "must be at least 1");
        }
        if self.max_classes == 0 {
            return bad("max_classes", "must be at least 1");
        }
        if !(self.vote_margin.is_finite() && self.vote_margin >= 0.0) {
            return bad("vote_margin", "must be finite and non-negative");
        }
        Ok(())
    }
}

/// One pair to label.
#[derive(Debug, Clone, PartialEq)]
pub struct PairInput {
    /// Recipe id.
    pub id: String,
    /// Recipe title, as in `layer1.json`.
    pub title: String,
    /// Split.
    pub partition: Partition,
    /// Its weighted term feature (all rows the same width).
    pub f_term: Vec<f32>,
}

/// How a category came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassSource {
    /// A title bigram of the ranking.
    Bigram,
    /// A Food-101 class name not examined as a bigram.
    Food101,
}

/// How a pair got its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Its title contains the bigram class's name.
    Bigram,
    /// Its title contains the Food-101 class's name.
    Food101,
    /// Nearest training centroid of f_term (cosine).
    Centroid,
    /// The image prediction's category, within the margin of the nearest centroid.
    ImageVote,
}

impl Rule {
    /// All rules, in report order.
    pub const ALL: [Rule; 4] = [Rule::Bigram, Rule::Food101, Rule::Centroid, Rule::ImageVote];

    /// Name used in `labels.json` and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Bigram => "bigram",
            Rule::Food101 => "food101",
            Rule::Centroid => "centroid",
            Rule::ImageVote => "image_vote",
        }
    }
}

/// The assignment: rows sorted by recipe id (the feature-store row order).
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Recipe ids, sorted.
    pub ids: Vec<String>,
    /// Split of each row.
    pub partitions: Vec<Partition>,
    /// Category of each row, in 0..C.
    pub classes: Vec<usize>,
    /// How each row got it.
    pub rules: Vec<Rule>,
    /// Category names (`apple pie`), index = category.
    pub class_names: Vec<String>,
    /// Where each category came from.
    pub class_sources: Vec<ClassSource>,
    /// Bigrams examined (not forbidden) before the class limit stopped the ranking.
    pub examined: usize,
    /// Fallback rows whose f_term is the zero vector (every similarity is 0: category 0 unless
    /// the image vote names another).
    pub zero_f_term: usize,
}

impl Assignment {
    /// C, the number of categories.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The `classes` column Phase II reads from `categories.safetensors`, row order = ids.
    pub fn classes_i64(&self) -> Vec<i64> {
        self.classes.iter().map(|&c| c as i64).collect()
    }

    /// The `class_names` metadata value of `categories.safetensors` (a JSON array of strings).
    pub fn class_names_json(&self) -> String {
        serde_json::to_string(&self.class_names).expect("strings serialise")
    }

    /// Pairs per category and split (train, val, test), all rules counted.
    pub fn counts(&self) -> Vec<[usize; 3]> {
        let mut counts = vec![[0; 3]; self.num_classes()];
        for (&c, p) in self.classes.iter().zip(&self.partitions) {
            counts[c][p.index()] += 1;
        }
        counts
    }

    /// The summary [`CategorySummary::render`] prints.
    pub fn summary(&self) -> CategorySummary {
        let mut per_rule = [0; 4];
        for r in &self.rules {
            per_rule[Rule::ALL.iter().position(|x| x == r).expect("listed")] += 1;
        }
        let totals: Vec<usize> = self.counts().iter().map(|c| c.iter().sum()).collect();
        // Largest: most pairs, lowest index on ties; smallest likewise.
        let largest = (0..totals.len()).max_by_key(|&i| (totals[i], std::cmp::Reverse(i)));
        let smallest = (0..totals.len()).min_by_key(|&i| (totals[i], i));
        let pick = |i: Option<usize>| i.map(|i| (self.class_names[i].clone(), totals[i]));
        CategorySummary {
            pairs: self.ids.len(),
            classes: self.num_classes(),
            bigram_classes: self
                .class_sources
                .iter()
                .filter(|s| **s == ClassSource::Bigram)
                .count(),
            examined: self.examined,
            per_rule,
            largest: pick(largest),
            smallest: pick(smallest),
            zero_f_term: self.zero_f_term,
        }
    }
}

/// Counts for `--dump` and the spec page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategorySummary {
    /// Pairs labelled.
    pub pairs: usize,
    /// C.
    pub classes: usize,
    /// Categories from bigrams (the rest are Food-101 names).
    pub bigram_classes: usize,
    /// Bigrams examined.
    pub examined: usize,
    /// Pairs per rule, in [`Rule::ALL`] order.
    pub per_rule: [usize; 4],
    /// Largest category (name, pairs).
    pub largest: Option<(String, usize)>,
    /// Smallest category (name, pairs).
    pub smallest: Option<(String, usize)>,
    /// Fallback rows with a zero f_term.
    pub zero_f_term: usize,
}

impl CategorySummary {
    /// Human-readable lines.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let share = |k: usize| {
            if self.pairs == 0 {
                0.0
            } else {
                100.0 * k as f64 / self.pairs as f64
            }
        };
        let _ = writeln!(
            s,
            "categories  C = {} ({} bigram, {} Food-101; {} bigrams examined)",
            self.classes,
            self.bigram_classes,
            self.classes - self.bigram_classes,
            self.examined
        );
        let _ = write!(s, "pairs       {}:", self.pairs);
        for (r, &k) in Rule::ALL.iter().zip(&self.per_rule) {
            let _ = write!(s, " {} {} ({:.1}%)", r.as_str(), k, share(k));
        }
        let _ = writeln!(s);
        if let (Some(l), Some(m)) = (&self.largest, &self.smallest) {
            let _ = writeln!(
                s,
                "sizes       largest `{}` {} pairs, smallest `{}` {} pairs",
                l.0, l.1, m.0, m.1
            );
        }
        if self.zero_f_term > 0 {
            let _ = writeln!(
                s,
                "warning     {} fallback pairs have a zero f_term",
                self.zero_f_term
            );
        }
        s
    }
}

/// Assigns every pair of `pairs` a category. `train_titles` are the titles the bigrams are counted
/// on (`(id, title)`: every training recipe of `layer1.json`, with or without a pair); `food101`
/// the Food-101 class names in `classes.txt` order; `predictions` an optional map recipe id →
/// predicted Food-101 class name for the image vote. The result does not depend on the order of
/// `pairs` or `train_titles`.
///
/// Errors: rows of different widths, a duplicate id, no category reaching the thresholds.
pub fn assign(
    pairs: &[PairInput],
    train_titles: &[(String, String)],
    food101: &[String],
    predictions: Option<&HashMap<String, String>>,
    cfg: &CategoryConfig,
) -> Result<Assignment> {
    cfg.validate()?;
    let mut rows: Vec<&PairInput> = pairs.iter().collect();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    for w in rows.windows(2) {
        if w[0].id == w[1].id {
            return Err(Error::Invalid {
                what: format!("recipe {}", w[0].id),
                problem: "appears twice among the pairs".into(),
            });
        }
    }
    let dim = rows.first().map_or(0, |r| r.f_term.len());
    if let Some(r) = rows.iter().find(|r| r.f_term.len() != dim) {
        return Err(Error::Invalid {
            what: format!("f_term of recipe {}", r.id),
            problem: format!("has {} values, the first row has {dim}", r.f_term.len()),
        });
    }
    let lower: Vec<String> = rows.iter().map(|r| r.title.to_lowercase()).collect();
    let mut class_of: Vec<Option<usize>> = vec![None; rows.len()];
    let mut rules: Vec<Option<Rule>> = vec![None; rows.len()];
    let mut names: Vec<String> = Vec::new();
    let mut sources: Vec<ClassSource> = Vec::new();

    // Tries one candidate class on the rows still without one; keeps it if it passes the
    // thresholds.
    let mut try_class = |query: &str, source: ClassSource, names: &mut Vec<String>| {
        let matching: Vec<usize> = (0..rows.len())
            .filter(|&i| class_of[i].is_none() && lower[i].contains(query))
            .collect();
        let mut counts = [0usize; 3];
        for &i in &matching {
            counts[rows[i].partition.index()] += 1;
        }
        if counts[0] > cfg.min_train && counts[1] > 0 && counts[2] > 0 {
            let k = names.len();
            for &i in &matching {
                class_of[i] = Some(k);
                rules[i] = Some(match source {
                    ClassSource::Bigram => Rule::Bigram,
                    ClassSource::Food101 => Rule::Food101,
                });
            }
            names.push(query.to_string());
            sources.push(source);
            tracing::debug!(class = k, name = query, ?counts, "category kept");
        }
    };

    let ranking = rank_bigrams(train_titles, cfg.top_bigrams, cfg.cross_title_bigrams);
    let mut examined: HashSet<String> = HashSet::new();
    for ((a, b), _) in &ranking {
        if names.len() >= cfg.max_classes {
            break;
        }
        if FORBIDDEN.contains(&a.as_str()) || FORBIDDEN.contains(&b.as_str()) {
            continue;
        }
        let query = format!("{a} {b}");
        try_class(&query, ClassSource::Bigram, &mut names);
        examined.insert(query);
    }
    for name in food101 {
        let query = food101_query(name);
        if query.is_empty() || examined.contains(&query) || names.contains(&query) {
            continue;
        }
        try_class(&query, ClassSource::Food101, &mut names);
    }
    if names.is_empty() {
        return Err(Error::Invalid {
            what: "category assignment".into(),
            problem: format!(
                "no bigram or Food-101 class has more than {} training pairs and a validation and \
                 a test pair ({} pairs, {} bigrams examined)",
                cfg.min_train,
                rows.len(),
                examined.len()
            ),
        });
    }

    // Training centroids (f64 sums, row order), then the fallback.
    let c = names.len();
    let mut sums = vec![vec![0f64; dim]; c];
    for (i, r) in rows.iter().enumerate() {
        if let (Some(k), Partition::Train) = (class_of[i], r.partition) {
            for (s, &x) in sums[k].iter_mut().zip(&r.f_term) {
                *s += f64::from(x);
            }
        }
    }
    let norms: Vec<f64> = sums.iter().map(|s| norm(s)).collect();
    let index_of: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.as_str(), k))
        .collect();
    let mut zero_f_term = 0;
    for i in 0..rows.len() {
        if class_of[i].is_some() {
            continue;
        }
        let x: Vec<f64> = rows[i].f_term.iter().map(|&v| f64::from(v)).collect();
        let nx = norm(&x);
        if nx == 0.0 {
            zero_f_term += 1;
        }
        let sims: Vec<f64> = (0..c)
            .map(|k| {
                if nx == 0.0 || norms[k] == 0.0 {
                    0.0
                } else {
                    dot(&sums[k], &x) / (norms[k] * nx)
                }
            })
            .collect();
        let mut best = 0;
        for k in 1..c {
            if sims[k] > sims[best] {
                best = k;
            }
        }
        let voted = predictions
            .and_then(|p| p.get(&rows[i].id))
            .and_then(|name| index_of.get(food101_query(name).as_str()).copied())
            .filter(|&k| k != best && sims[k] >= sims[best] - cfg.vote_margin);
        (class_of[i], rules[i]) = match voted {
            Some(k) => (Some(k), Some(Rule::ImageVote)),
            None => (Some(best), Some(Rule::Centroid)),
        };
    }
    let assignment = Assignment {
        ids: rows.iter().map(|r| r.id.clone()).collect(),
        partitions: rows.iter().map(|r| r.partition).collect(),
        classes: class_of.into_iter().map(|k| k.expect("assigned")).collect(),
        rules: rules.into_iter().map(|r| r.expect("assigned")).collect(),
        class_names: names,
        class_sources: sources,
        examined: examined.len(),
        zero_f_term,
    };
    tracing::info!(
        pairs = assignment.ids.len(),
        classes = assignment.num_classes(),
        "categories assigned"
    );
    Ok(assignment)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}
