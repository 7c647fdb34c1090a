//! Phase I key terms (§4.a in our reconstruction): ingredient entities ∪ cooking actions ∪ utensils
//! of a recipe, found in its title and instructions after entity replacement. The paper POS-tags
//! the text (tagger unstated, NLTK likely); this module matches curated lexicons instead, shipped
//! inside the binary (`src/phase1/lexicons/*.txt`). It is the default extractor because no
//! pretrained tagger model can be obtained here; the paper's tagger extractor (NLTK's averaged
//! perceptron, loading NLTK's model file, which a user can copy in) is
//! `pos_tagger::tagged_key_terms`, spec/phase1-pos-tagger.md.
//!
//! Spec: spec/phase1-key-terms.md.

use std::collections::BTreeSet;

use crate::data::recipe1m::Detections;
use crate::phase1::entities::{EntitySet, Reexamination};
use crate::phase1::text::{tokenize, Token};
use crate::{Error, Result};

const ACTIONS: &str = include_str!("lexicons/cooking_actions.txt");
const UTENSILS: &str = include_str!("lexicons/utensils.txt");

/// Words after which a word that is both an action and a utensil ("whisk", "grill") is read as
/// the utensil ("in a whisk", "the grill"); elsewhere it is the action ("whisk the eggs").
const DETERMINERS: &[&str] = &[
    "a", "an", "the", "your", "prepared", "large", "small", "medium", "clean", "hot",
];

/// What a key term is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An ingredient entity of E (spec/phase1-text.md, "Ingredient entities").
    Entity,
    /// A cooking action (base form).
    Action,
    /// A utensil (singular, multi-word names underscored).
    Utensil,
}

/// One occurrence of a key term.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyTerm {
    /// The term as it enters rating and word2vec (`greek_yogurt`, `bake`, `baking_sheet`).
    pub term: String,
    /// Its kind.
    pub kind: Kind,
}

/// The action and utensil lexicons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexicon {
    actions: BTreeSet<String>,
    utensils: BTreeSet<String>,
    /// Words in the longest utensil.
    utensil_words: usize,
}

fn entries(text: &str, what: &str) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        let ok = entry
            .chars()
            .all(|c| c.is_lowercase() || c == '_' || c == '-')
            && !entry.starts_with(['_', '-'])
            && !entry.ends_with(['_', '-']);
        if !ok {
            return Err(Error::Invalid {
                what: format!("{what} lexicon line {}", i + 1),
                problem: format!("{entry:?} is not one lower-case term (words joined by `_`)"),
            });
        }
        out.insert(entry.to_string());
    }
    Ok(out)
}

/// Candidate base forms of an inflected word, the word itself first: plural and third person
/// (-s, -es, -ies → -y), past (-ed, -ied → -y) and gerund (-ing), each with a restored final
/// `e` and an undoubled final consonant (stirred → stir).
pub fn base_forms(word: &str) -> Vec<String> {
    let mut out = vec![word.to_string()];
    let stem = |s: &str, out: &mut Vec<String>| {
        if s.chars().count() < 2 {
            return;
        }
        out.push(s.to_string());
        out.push(format!("{s}e"));
        let c: Vec<char> = s.chars().collect();
        if let [.., a, b] = c.as_slice() {
            if a == b && !"aeiou".contains(*b) {
                out.push(c[..c.len() - 1].iter().collect());
            }
        }
    };
    if let Some(s) = word
        .strip_suffix("ies")
        .or_else(|| word.strip_suffix("ied"))
    {
        out.push(format!("{s}y"));
    }
    if let Some(s) = word.strip_suffix("ing") {
        stem(s, &mut out);
    }
    if let Some(s) = word.strip_suffix("ed") {
        stem(s, &mut out);
    }
    if let Some(s) = word.strip_suffix("es") {
        out.push(s.to_string());
    }
    if let Some(s) = word.strip_suffix('s') {
        out.push(s.to_string());
    }
    out
}

impl Lexicon {
    /// The lexicons shipped with the package.
    pub fn standard() -> Self {
        Self::parse(ACTIONS, UTENSILS).expect("the shipped lexicons are well formed")
    }

    /// Lexicons from text: one term per line, `#` starts a comment, lower case, multi-word
    /// terms joined by `_`.
    pub fn parse(actions: &str, utensils: &str) -> Result<Self> {
        let actions = entries(actions, "actions")?;
        let utensils = entries(utensils, "utensils")?;
        let utensil_words = utensils
            .iter()
            .map(|u| u.split('_').count())
            .max()
            .unwrap_or(0);
        Ok(Self {
            actions,
            utensils,
            utensil_words,
        })
    }

    /// The actions, sorted.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().map(String::as_str)
    }

    /// The utensils, sorted.
    pub fn utensils(&self) -> impl Iterator<Item = &str> {
        self.utensils.iter().map(String::as_str)
    }

    /// The action a word inflects ("baking" → "bake"), by [`base_forms`].
    pub fn action(&self, word: &str) -> Option<String> {
        base_forms(word)
            .into_iter()
            .find(|b| self.actions.contains(b))
    }

    /// The utensil `words` spell, the last word by [`base_forms`] ("baking sheets").
    pub fn utensil(&self, words: &[&str]) -> Option<String> {
        let (last, init) = words.split_last()?;
        base_forms(last).into_iter().find_map(|b| {
            let key = init
                .iter()
                .copied()
                .chain([b.as_str()])
                .collect::<Vec<_>>()
                .join("_");
            self.utensils.contains(&key).then_some(key)
        })
    }

    /// The key terms of one text (a title or an instruction), in order of occurrence: entities
    /// replaced first; then at each word, an entity of E, else the longest utensil starting
    /// there, else an action. Matches never cross punctuation.
    pub fn key_terms(&self, entities: &EntitySet, text: &str) -> Vec<KeyTerm> {
        let mut out = Vec::new();
        self.walk(entities, text, |_, term| out.extend(term));
        out
    }

    /// The words of one text as the word2vec corpus spells them: every key-term match replaced
    /// by its term (`baking_sheet`, `bake`, `greek_yogurt`), every other word kept as it is;
    /// quantities and punctuation dropped (spec/phase1-term-feature.md, the corpus).
    pub fn corpus_words(&self, entities: &EntitySet, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(entities, text, |word, term| {
            out.push(term.map_or_else(|| word.to_string(), |t| t.term));
        });
        out
    }

    /// Calls `each(first word, match)` for every match (or unmatched word) of `text`, in order.
    fn walk(&self, entities: &EntitySet, text: &str, mut each: impl FnMut(&str, Option<KeyTerm>)) {
        let tokens = entities.replace_tokens(&tokenize(text));
        let mut i = 0;
        while i < tokens.len() {
            let run: Vec<&str> = tokens[i..].iter().map_while(Token::word).collect();
            if run.is_empty() {
                i += 1;
                continue;
            }
            let mut j = 0;
            while j < run.len() {
                let (n, term) = self.match_at(entities, &run, j);
                each(run[j], term);
                j += n;
            }
            i += run.len();
        }
    }

    fn match_at(&self, entities: &EntitySet, run: &[&str], j: usize) -> (usize, Option<KeyTerm>) {
        let word = run[j];
        let term = |term: String, kind| Some(KeyTerm { term, kind });
        if entities.contains(word) {
            return (1, term(word.to_string(), Kind::Entity));
        }
        let most = self.utensil_words.min(run.len() - j);
        for n in (1..=most).rev() {
            if let Some(u) = self.utensil(&run[j..j + n]) {
                let action = (n == 1).then(|| self.action(word)).flatten();
                let after_determiner = j > 0 && DETERMINERS.contains(&run[j - 1]);
                return match action {
                    Some(a) if !after_determiner => (1, term(a, Kind::Action)),
                    _ => (n, term(u, Kind::Utensil)),
                };
            }
        }
        (1, self.action(word).and_then(|a| term(a, Kind::Action)))
    }
}

/// The key terms of one recipe.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipeKeyTerms {
    /// The entities of its ingredient lines (valid detections and re-examined lines), in line
    /// order, without repeats.
    pub line_entities: Vec<String>,
    /// The key terms found in its title and instructions, in order of occurrence.
    pub occurrences: Vec<KeyTerm>,
}

impl RecipeKeyTerms {
    /// The distinct key terms: line entities ∪ the occurrences' terms, sorted.
    pub fn terms(&self) -> BTreeSet<String> {
        self.line_entities
            .iter()
            .cloned()
            .chain(self.occurrences.iter().map(|k| k.term.clone()))
            .collect()
    }
}

/// The key terms of a recipe: the entities of its lines (valid or re-examined by `how`) and the
/// entities, actions and utensils of its title and instructions.
pub fn recipe_key_terms(
    lexicon: &Lexicon,
    entities: &EntitySet,
    detections: &Detections,
    title: &str,
    instructions: &[String],
    how: Reexamination,
) -> RecipeKeyTerms {
    let mut line_entities: Vec<String> = Vec::new();
    for e in entities
        .line_entities(detections, how)
        .into_iter()
        .flatten()
    {
        if !line_entities.iter().any(|x| x == e.entity()) {
            line_entities.push(e.entity().to_string());
        }
    }
    let occurrences = std::iter::once(title)
        .chain(instructions.iter().map(String::as_str))
        .flat_map(|t| lexicon.key_terms(entities, t))
        .collect();
    RecipeKeyTerms {
        line_entities,
        occurrences,
    }
}
