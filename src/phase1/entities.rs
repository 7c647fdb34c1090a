//! Phase I ingredient entities (§4.a in our reconstruction): the set E of entities labelled valid
//! anywhere in `det_ingrs.json`, underscored single tokens (`greek yogurt` → `greek_yogurt`), their
//! replacement in titles and instructions (longest match first, whole words), the re-examination of
//! lines the tagger labelled invalid, and its score on the synthetic benchmark
//! (`synth_truth.json`).
//!
//! Spec: spec/phase1-text.md (sections "Ingredient entities" and "Re-examination"). Entity
//! canonicalisation follows im2recipe `scripts/tokenize_instructions.py`; the re-examination
//! rule is ours (the paper gives one example, "5 dried, pitted dates" → `pitted_dates`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::data::recipe1m::{read_det_ingrs, Detections};
use crate::phase1::text::{parse_ingredient_line, tokenize, words, Token};
use crate::{Error, Result};

/// The global entity set E: every valid, non-blank detection of the dataset as its words joined
/// by `_`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntitySet {
    entities: BTreeSet<String>,
    /// Words in the longest entity.
    max_words: usize,
}

/// The entity form of a phrase: its [`words`] joined by `_` (`None` when it has no word).
pub fn entity_name(phrase: &str) -> Option<String> {
    let w = words(phrase);
    (!w.is_empty()).then(|| w.join("_"))
}

/// Which rule of the re-examination found the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// The longest suffix n-gram of the name part.
    Suffix,
    /// The longest n-gram anywhere in the line (after the suffix rule found nothing).
    Anywhere,
}

/// An entity recovered from a line the tagger labelled invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The entity (underscored).
    pub entity: String,
    /// The rule that found it.
    pub rule: Rule,
}

/// Which parts of the re-examination run; [`Default`] is the package's rule (both on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reexamination {
    /// Parse the line (drop quantities, units, parentheses; split off the notes after a comma)
    /// and search the name part; `false` is the plain rule: the longest suffix n-gram of all
    /// the line's words (im2recipe's commented-out `detect_ingrs`).
    pub parse: bool,
    /// When the suffix search finds nothing, take the longest n-gram anywhere.
    pub anywhere: bool,
}

impl Default for Reexamination {
    fn default() -> Self {
        Self {
            parse: true,
            anywhere: true,
        }
    }
}

/// What one ingredient line contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEntity {
    /// A valid detection, as its entity.
    Valid(String),
    /// An invalid line whose entity the re-examination recovered.
    Recovered(Recovered),
}

impl LineEntity {
    /// The entity.
    pub fn entity(&self) -> &str {
        match self {
            LineEntity::Valid(e) => e,
            LineEntity::Recovered(r) => &r.entity,
        }
    }
}

impl EntitySet {
    /// E from the valid detections of `detections` (the whole dataset, every partition).
    pub fn from_detections<'a>(detections: impl IntoIterator<Item = &'a Detections>) -> Self {
        let mut set = Self::default();
        for d in detections {
            for (text, _) in d.ingredients.iter().zip(&d.valid).filter(|(_, v)| **v) {
                set.insert(text);
            }
        }
        set
    }

    /// E from the phrases given (each as its [`entity_name`]).
    pub fn from_phrases<S: AsRef<str>>(phrases: impl IntoIterator<Item = S>) -> Self {
        let mut set = Self::default();
        for p in phrases {
            set.insert(p.as_ref());
        }
        set
    }

    /// E from `root/det_ingrs.json`.
    pub fn from_root(root: &Path) -> Result<Self> {
        let mut set = Self::default();
        read_det_ingrs(root, |d| {
            for (text, _) in d.ingredients.iter().zip(&d.valid).filter(|(_, v)| **v) {
                set.insert(text);
            }
            Ok(())
        })?;
        Ok(set)
    }

    fn insert(&mut self, phrase: &str) {
        let w = words(phrase);
        if !w.is_empty() {
            self.max_words = self.max_words.max(w.len());
            self.entities.insert(w.join("_"));
        }
    }

    /// Whether `entity` (underscored) is in E.
    pub fn contains(&self, entity: &str) -> bool {
        self.entities.contains(entity)
    }

    /// The entities, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.entities.iter().map(String::as_str)
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether E is empty.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The entity `words[at..at + n]` spells, for the largest n first.
    fn longest_at(&self, words: &[&str], at: usize) -> Option<(usize, String)> {
        let most = self.max_words.min(words.len() - at);
        (1..=most).rev().find_map(|n| {
            let key = words[at..at + n].join("_");
            self.entities.contains(&key).then_some((n, key))
        })
    }

    /// Replaces entity occurrences in a token sequence: left to right, at each word the longest
    /// run of consecutive words (no punctuation or quantity between them) that spells an entity
    /// becomes one underscored word. Idempotent.
    pub fn replace_tokens(&self, tokens: &[Token]) -> Vec<Token> {
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        while i < tokens.len() {
            let run: Vec<&str> = tokens[i..].iter().map_while(Token::word).collect();
            if run.is_empty() {
                out.push(tokens[i].clone());
                i += 1;
                continue;
            }
            let mut j = 0;
            while j < run.len() {
                match self.longest_at(&run, j) {
                    Some((n, key)) => {
                        out.push(Token::Word(key));
                        j += n;
                    }
                    None => {
                        out.push(Token::Word(run[j].to_string()));
                        j += 1;
                    }
                }
            }
            i += run.len();
        }
        out
    }

    /// The words of `text` (a title or an instruction) after entity replacement.
    pub fn replace(&self, text: &str) -> Vec<String> {
        self.replace_tokens(&tokenize(text))
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w),
                _ => None,
            })
            .collect()
    }

    /// The entity of a line the tagger labelled invalid (its detected text or the raw line), by
    /// the package's rule.
    pub fn reexamine(&self, line: &str) -> Option<Recovered> {
        self.reexamine_with(line, Reexamination::default())
    }

    /// The re-examination with the parts chosen by `how`: (1) the longest suffix n-gram of the
    /// name part that is in E; (2) if none and `how.anywhere`, the longest n-gram of any
    /// segment (name, then notes), the rightmost of equal length within a segment.
    pub fn reexamine_with(&self, line: &str, how: Reexamination) -> Option<Recovered> {
        let segments: Vec<Vec<String>> = if how.parse {
            parse_ingredient_line(line)
                .segments()
                .map(<[String]>::to_vec)
                .collect()
        } else {
            vec![words(line)]
        };
        let segs: Vec<Vec<&str>> = segments
            .iter()
            .map(|s| s.iter().map(String::as_str).collect())
            .collect();
        let name = &segs[0];
        for n in (1..=self.max_words.min(name.len())).rev() {
            let key = name[name.len() - n..].join("_");
            if self.entities.contains(&key) {
                return Some(Recovered {
                    entity: key,
                    rule: Rule::Suffix,
                });
            }
        }
        if !how.anywhere {
            return None;
        }
        let longest = segs.iter().map(Vec::len).max().unwrap_or(0);
        for n in (1..=self.max_words.min(longest)).rev() {
            for seg in segs.iter().filter(|s| s.len() >= n) {
                for at in (0..=seg.len() - n).rev() {
                    let key = seg[at..at + n].join("_");
                    if self.entities.contains(&key) {
                        return Some(Recovered {
                            entity: key,
                            rule: Rule::Anywhere,
                        });
                    }
                }
            }
        }
        None
    }

    /// The entity of each line of a recipe: valid detections as they are, invalid lines
    /// re-examined (`None` where nothing is found or a valid detection is blank).
    pub fn line_entities(&self, d: &Detections, how: Reexamination) -> Vec<Option<LineEntity>> {
        d.ingredients
            .iter()
            .zip(&d.valid)
            .map(|(text, &valid)| {
                if valid {
                    entity_name(text).map(LineEntity::Valid)
                } else {
                    self.reexamine_with(text, how).map(LineEntity::Recovered)
                }
            })
            .collect()
    }
}

/// The re-examination scored against the synthetic benchmark's truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReexaminationScore {
    /// Recipes scored.
    pub recipes: usize,
    /// Ingredient lines.
    pub lines: usize,
    /// Lines labelled invalid.
    pub invalid: usize,
    /// Invalid lines whose true entity is not null (the tagger's mistakes).
    pub mislabelled: usize,
    /// Invalid lines for which the re-examination returned an entity.
    pub recovered: usize,
    /// Recovered entities equal to the true entity.
    pub correct: usize,
    /// Entities recovered from lines without a true entity (headers).
    pub spurious: usize,
    /// Entities recovered from mislabelled lines but different from the truth.
    pub wrong: usize,
    /// Entities in E.
    pub entity_set: usize,
}

impl ReexaminationScore {
    /// correct / mislabelled (1 when nothing was mislabelled).
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.mislabelled)
    }

    /// correct / recovered (1 when nothing was recovered).
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.recovered)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

#[derive(serde::Deserialize)]
struct TruthRecord {
    id: String,
    entities: Vec<Option<String>>,
}

/// Scores the re-examination on a synthetic benchmark at `root` (`det_ingrs.json` and
/// `synth_truth.json`): E from all valid detections, every invalid line re-examined by `how`
/// and compared with its true entity.
pub fn score_reexamination(root: &Path, how: Reexamination) -> Result<ReexaminationScore> {
    let mut detections = Vec::new();
    read_det_ingrs(root, |d| {
        detections.push(d);
        Ok(())
    })?;
    let file = "synth_truth.json";
    let text = std::fs::read_to_string(root.join(file)).map_err(|e| Error::io(file, e))?;
    let truth: Vec<TruthRecord> = serde_json::from_str(&text).map_err(|e| Error::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        problem: e.to_string(),
    })?;
    let truth: BTreeMap<&str, &[Option<String>]> = truth
        .iter()
        .map(|t| (t.id.as_str(), t.entities.as_slice()))
        .collect();
    let set = EntitySet::from_detections(&detections);
    let mut score = ReexaminationScore {
        entity_set: set.len(),
        ..Default::default()
    };
    for d in &detections {
        let want = truth.get(d.id.as_str()).ok_or_else(|| Error::Invalid {
            what: file.to_string(),
            problem: format!("no entry for recipe {} (listed in det_ingrs.json)", d.id),
        })?;
        if want.len() != d.ingredients.len() {
            return Err(Error::Invalid {
                what: file.to_string(),
                problem: format!(
                    "recipe {}: {} entities for {} ingredient lines",
                    d.id,
                    want.len(),
                    d.ingredients.len()
                ),
            });
        }
        score.recipes += 1;
        score.lines += d.ingredients.len();
        for ((text, &valid), truth) in d.ingredients.iter().zip(&d.valid).zip(want.iter()) {
            if valid {
                continue;
            }
            score.invalid += 1;
            let truth = truth.as_deref().and_then(entity_name);
            score.mislabelled += usize::from(truth.is_some());
            let Some(got) = set.reexamine_with(text, how) else {
                continue;
            };
            score.recovered += 1;
            match truth {
                None => score.spurious += 1,
                Some(t) if t == got.entity => score.correct += 1,
                Some(_) => score.wrong += 1,
            }
        }
    }
    Ok(score)
}
