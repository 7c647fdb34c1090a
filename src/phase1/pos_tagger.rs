//! Phase I part-of-speech tagging, the paper's way of finding cooking actions and utensils (§4.a in
//! our reconstruction): NLTK's averaged perceptron tagger (`nltk.tag.perceptron.PerceptronTagger`,
//! the model behind `nltk.pos_tag`), loading NLTK's JSON model files, tagging exactly as NLTK does,
//! and training exactly as NLTK does (same features, same updates, same `random.shuffle`); and the
//! tagger-based key-term extractor (verbs → actions, nouns → utensil candidates), the alternative
//! to the lexicon extractor of `key_terms.rs`.
//!
//! Spec: spec/phase1-pos-tagger.md. Mirrors NLTK 3.9–3.10 `nltk/tag/perceptron.py`
//! (`PerceptronTagger.tag`, `normalize`, `_get_features`, `train`, `_make_tagdict`,
//! `AveragedPerceptron.predict`, `update`, `average_weights`), written from its published source.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::cpython_random::CpythonRandom;
use crate::phase1::entities::EntitySet;
use crate::phase1::key_terms::{KeyTerm, Kind};
use crate::phase1::text::{tokenize, Token};
use crate::{Error, Result};

/// The two context words before a sentence (`PerceptronTagger.START`).
pub const START: [&str; 2] = ["-START-", "-START2-"];
/// The two context words after a sentence (`PerceptronTagger.END`).
pub const END: [&str; 2] = ["-END-", "-END2-"];

/// The file-name stem NLTK ≥ 3.9 saves its English model under (in a directory of that name).
pub const NLTK_ENGLISH_MODEL: &str = "averaged_perceptron_tagger_eng";

const SUFFIXES: [&str; 3] = [".weights.json", ".tagdict.json", ".classes.json"];

/// NLTK's `_make_tagdict` thresholds: a word enters the tag dictionary when seen at least this
/// often …
const FREQ_THRESH: usize = 20;
/// … with its most frequent tag at least this share of the time.
const AMBIGUITY_THRESH: f64 = 0.97;

/// Words the tagger extractor never returns as actions or utensils: auxiliaries, pronouns,
/// determiners and other function words a small model may tag as verbs or nouns.
pub const STOPWORDS: &[&str] = &[
    "a", "all", "am", "an", "and", "any", "are", "as", "be", "been", "being", "both", "but", "can",
    "could", "did", "do", "does", "doing", "done", "each", "either", "few", "for", "from", "get",
    "gets", "got", "had", "has", "have", "having", "he", "her", "here", "him", "his", "how", "i",
    "if", "into", "is", "it", "its", "let", "lets", "may", "me", "might", "more", "most", "much",
    "must", "my", "n't", "no", "nor", "not", "of", "off", "on", "one", "ones", "or", "other",
    "our", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "thing", "things", "this", "those",
    "to", "too", "up", "us", "use", "used", "uses", "using", "very", "was", "we", "were", "what",
    "when", "where", "which", "while", "who", "why", "will", "with", "would", "you", "your",
];

/// NLTK's `PerceptronTagger.normalize`: a word holding `-` (not first) is `!HYPHEN`, four digits
/// are `!YEAR`, a word starting with a digit is `!DIGITS`, anything else is lower-cased.
/// "Digit" is Python's `str.isdigit`, see [`py_isdigit`].
pub fn normalize(word: &str) -> String {
    let first = word.chars().next();
    if word.contains('-') && first != Some('-') {
        return "!HYPHEN".into();
    }
    if !word.is_empty() && word.chars().all(py_isdigit) && word.chars().count() == 4 {
        return "!YEAR".into();
    }
    if first.is_some_and(py_isdigit) {
        return "!DIGITS".into();
    }
    word.to_lowercase()
}

/// Python's `str.isdigit` for one character (Unicode `Numeric_Type` Digit or Decimal), to the
/// extent Rust's standard library can tell: ASCII digits, and any other `char::is_numeric`
/// character except the vulgar fractions (U+00BC–U+00BE, U+2150–U+215F, `Numeric_Type=Numeric`,
/// `"½".isdigit()` is false) and the letter-like numbers of U+2160–U+2188 (Roman numerals). Rare
/// `No` characters of type Numeric (such as `⑩`) are counted as digits where Python would not.
pub fn py_isdigit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    c.is_numeric()
        && !matches!(c, '\u{00BC}'..='\u{00BE}' | '\u{2150}'..='\u{215F}' | '\u{2160}'..='\u{2188}')
}

/// The last `n` characters of `s` (Python's `s[-n:]`).
fn last_chars(s: &str, n: usize) -> &str {
    let count = s.chars().count();
    match s.char_indices().nth(count.saturating_sub(n)) {
        Some((at, _)) if count > n => &s[at..],
        _ => s,
    }
}

/// NLTK's `_get_features` of word `i` of a sentence, in NLTK's insertion order (which is the
/// order scores are summed in). `context` is [`START`] + the normalised words + [`END`]; `prev`
/// and `prev2` are the tags of the two words before (`-START-`, `-START2-` at the start). Every
/// feature has the value 1.
pub fn features(i: usize, word: &str, context: &[String], prev: &str, prev2: &str) -> Vec<String> {
    let i = i + START.len();
    let pref1: String = word.chars().take(1).collect();
    vec![
        "bias".to_string(),
        format!("i suffix {}", last_chars(word, 3)),
        format!("i pref1 {pref1}"),
        format!("i-1 tag {prev}"),
        format!("i-2 tag {prev2}"),
        format!("i tag+i-2 tag {prev} {prev2}"),
        format!("i word {}", context[i]),
        format!("i-1 tag+i word {prev} {}", context[i]),
        format!("i-1 word {}", context[i - 1]),
        format!("i-1 suffix {}", last_chars(&context[i - 1], 3)),
        format!("i-2 word {}", context[i - 2]),
        format!("i+1 word {}", context[i + 1]),
        format!("i+1 suffix {}", last_chars(&context[i + 1], 3)),
        format!("i+2 word {}", context[i + 2]),
    ]
}

/// [`START`] + the normalised words + [`END`].
pub fn context<S: AsRef<str>>(words: &[S]) -> Vec<String> {
    START
        .iter()
        .map(|s| s.to_string())
        .chain(words.iter().map(|w| normalize(w.as_ref())))
        .chain(END.iter().map(|s| s.to_string()))
        .collect()
}

/// Python's `round(x, 3)` for a float: the correctly rounded 3-decimal value, ties to even on
/// the exact binary value (Rust's `{:.3}` formatting rounds the same way).
fn py_round3(x: f64) -> f64 {
    format!("{x:.3}").parse().unwrap_or(x)
}

/// NLTK's averaged perceptron POS tagger with a loaded (or trained) model.
#[derive(Debug, Clone, PartialEq)]
pub struct PerceptronTagger {
    /// The tags, sorted (NLTK's tie-break picks the greatest tag among equal scores).
    classes: Vec<String>,
    /// Feature → (index into `classes`, weight).
    weights: HashMap<String, Vec<(usize, f64)>>,
    /// Word (case-sensitive, as written) → its unambiguous tag.
    tagdict: HashMap<String, String>,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        file: path.display().to_string(),
        line: e.line(),
        column: e.column(),
        problem: e.to_string(),
    })
}

/// The three model files of a stem: `<stem>.weights.json`, `.tagdict.json`, `.classes.json`.
fn model_files(stem: &Path) -> [PathBuf; 3] {
    SUFFIXES.map(|s| {
        let mut p = stem.as_os_str().to_owned();
        p.push(s);
        PathBuf::from(p)
    })
}

/// The stem of the model a directory holds: the one `*.weights.json` in it.
fn stem_in_dir(dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut stems = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(SUFFIXES[0]) {
            stems.push(dir.join(stem));
        }
    }
    stems.sort();
    match stems.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::Invalid {
            what: dir.display().to_string(),
            problem: "holds no `*.weights.json` file (expected NLTK's \
                      `<name>.weights.json`, `<name>.tagdict.json`, `<name>.classes.json`)"
                .into(),
        }),
        many => Err(Error::Invalid {
            what: dir.display().to_string(),
            problem: format!(
                "holds {} `*.weights.json` files; name one of them",
                many.len()
            ),
        }),
    }
}

impl PerceptronTagger {
    /// Loads NLTK's JSON model (NLTK ≥ 3.9): `path` is a directory holding one
    /// `<name>.weights.json` with its `<name>.tagdict.json` and `<name>.classes.json` (NLTK's
    /// `averaged_perceptron_tagger_eng/`), or any one of the three files, or their common stem.
    /// Errors name the file and what is wrong with it.
    pub fn load(path: &Path) -> Result<Self> {
        let stem = if path.is_dir() {
            stem_in_dir(path)?
        } else {
            let name = path.to_string_lossy();
            match SUFFIXES.iter().find_map(|s| name.strip_suffix(s)) {
                Some(stem) => PathBuf::from(stem),
                None => path.to_path_buf(),
            }
        };
        let [w, t, c] = model_files(&stem);
        Self::load_files(&w, &t, &c)
    }

    /// Loads the three model files by name.
    pub fn load_files(weights: &Path, tagdict: &Path, classes: &Path) -> Result<Self> {
        let weights_map: HashMap<String, HashMap<String, f64>> = read_json(weights)?;
        let tagdict_map: HashMap<String, String> = read_json(tagdict)?;
        let classes_list: Vec<String> = read_json(classes)?;
        let tagger = Self::from_parts(
            weights_map,
            tagdict_map,
            classes_list,
            &[weights, tagdict, classes].map(|p| p.display().to_string()),
        )?;
        tracing::debug!(
            model = %weights.display(),
            classes = tagger.classes.len(),
            features = tagger.weights.len(),
            tagdict = tagger.tagdict.len(),
            "loaded averaged perceptron tagger"
        );
        Ok(tagger)
    }

    /// A tagger from NLTK's three model objects (`weights`, `tagdict`, `classes`), checked: at
    /// least one class, every weight finite and for a listed class, every tag-dictionary tag a
    /// listed class. `names` name the three sources in errors.
    fn from_parts(
        weights: HashMap<String, HashMap<String, f64>>,
        tagdict: HashMap<String, String>,
        classes: Vec<String>,
        names: &[String; 3],
    ) -> Result<Self> {
        let [wname, tname, cname] = names;
        let classes: BTreeSet<String> = classes.into_iter().collect();
        if classes.is_empty() {
            return Err(Error::Invalid {
                what: cname.clone(),
                problem: "lists no class (tag)".into(),
            });
        }
        let classes: Vec<String> = classes.into_iter().collect();
        let index: HashMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let mut w = HashMap::with_capacity(weights.len());
        for (feature, per_class) in weights {
            let mut row = Vec::with_capacity(per_class.len());
            for (class, weight) in per_class {
                let Some(&k) = index.get(class.as_str()) else {
                    return Err(Error::Invalid {
                        what: format!("{wname}: feature {feature:?}"),
                        problem: format!(
                            "has a weight for class {class:?}, which {cname} does not list"
                        ),
                    });
                };
                if !weight.is_finite() {
                    return Err(Error::Invalid {
                        what: format!("{wname}: feature {feature:?}"),
                        problem: format!("weight for class {class:?} is {weight}"),
                    });
                }
                row.push((k, weight));
            }
            row.sort_by_key(|&(k, _)| k);
            w.insert(feature, row);
        }
        for (word, tag) in &tagdict {
            if !tag.is_empty() && !index.contains_key(tag.as_str()) {
                return Err(Error::Invalid {
                    what: format!("{tname}: word {word:?}"),
                    problem: format!("has tag {tag:?}, which {cname} does not list"),
                });
            }
        }
        Ok(Self {
            classes,
            weights: w,
            tagdict,
        })
    }

    /// The tags the model knows, sorted.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The tag-dictionary tag of a word (case-sensitive), if it has one.
    pub fn tagdict_tag(&self, word: &str) -> Option<&str> {
        self.tagdict
            .get(word)
            .map(String::as_str)
            .filter(|t| !t.is_empty())
    }

    /// The number of features with weights.
    pub fn feature_count(&self) -> usize {
        self.weights.len()
    }

    /// The weight of `feature` for `class` (0 when the model has none), as NLTK's JSON holds it.
    pub fn weight(&self, feature: &str, class: &str) -> f64 {
        let Some(k) = self.classes.iter().position(|c| c == class) else {
            return 0.0;
        };
        self.weights
            .get(feature)
            .and_then(|row| row.iter().find(|&&(c, _)| c == k))
            .map_or(0.0, |&(_, w)| w)
    }

    /// NLTK's `AveragedPerceptron.predict`: the class with the greatest summed weight over
    /// `features` (summed in their order), ties to the greatest class name.
    pub fn predict(&self, features: &[String]) -> &str {
        &self.classes[predict_index(&self.classes, features, |f| {
            self.weights.get(f).map(Vec::as_slice)
        })]
    }

    /// NLTK's `PerceptronTagger.tag(words)`: one tag per word, left to right; a word in the tag
    /// dictionary (as written, case-sensitive) gets its tag, any other gets the prediction from
    /// its features, the two tags before it included.
    pub fn tag<S: AsRef<str>>(&self, words: &[S]) -> Vec<&str> {
        let context = context(words);
        let (mut prev, mut prev2) = (START[0], START[1]);
        let mut out = Vec::with_capacity(words.len());
        for (i, word) in words.iter().enumerate() {
            let word = word.as_ref();
            let tag = match self.tagdict_tag(word) {
                Some(t) => t,
                None => self.predict(&features(i, word, &context, prev, prev2)),
            };
            out.push(tag);
            prev2 = prev;
            prev = tag;
        }
        out
    }

    /// NLTK's `PerceptronTagger.train(sentences, nr_iter)` with `random` in the state `rng`
    /// (`random.seed(s)` is `CpythonRandom::seed(s)`): the tag dictionary of frequent
    /// unambiguous words, `nr_iter` passes of perceptron updates over the sentences, reshuffled
    /// after each pass by `random.shuffle`, then the weights averaged and rounded to 3 decimals.
    /// Gives NLTK's weights exactly.
    pub fn train(
        sentences: &[Vec<(String, String)>],
        nr_iter: usize,
        rng: &mut CpythonRandom,
    ) -> Result<Self> {
        let mut sentences: Vec<&Vec<(String, String)>> = sentences.iter().collect();
        let (tagdict, classes) = make_tagdict(&sentences);
        if classes.is_empty() {
            return Err(Error::Invalid {
                what: "training sentences".into(),
                problem: "hold no tagged word".into(),
            });
        }
        let mut model = Training::default();
        for iter in 0..nr_iter {
            let (mut correct, mut seen) = (0usize, 0usize);
            for sentence in &sentences {
                let words: Vec<&str> = sentence.iter().map(|(w, _)| w.as_str()).collect();
                let context = context(&words);
                let (mut prev, mut prev2) = (START[0].to_string(), START[1].to_string());
                for (i, (word, truth)) in sentence.iter().enumerate() {
                    let guess = match tagdict.get(word).filter(|t| !t.is_empty()) {
                        Some(t) => t.clone(),
                        None => {
                            let feats = features(i, word, &context, &prev, &prev2);
                            let truth_k = class_index(&classes, truth)?;
                            let k = predict_index(&classes, &feats, |f| {
                                model.weights.get(f).map(Vec::as_slice)
                            });
                            model.update(truth_k, k, &feats);
                            classes[k].clone()
                        }
                    };
                    correct += usize::from(guess == *truth);
                    seen += 1;
                    prev2 = std::mem::replace(&mut prev, guess);
                }
            }
            rng.shuffle(&mut sentences)?;
            tracing::info!(
                iter,
                correct,
                seen,
                "averaged perceptron tagger: training pass"
            );
        }
        let weights = model.averaged();
        Ok(Self {
            classes,
            weights,
            tagdict,
        })
    }

    /// Writes the model as NLTK ≥ 3.9 does: `<dir>/<name>.weights.json`, `.tagdict.json`,
    /// `.classes.json` (`name` is usually [`NLTK_ENGLISH_MODEL`]). NLTK loads the files back.
    pub fn save(&self, dir: &Path, name: &str) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let [w, t, c] = model_files(&dir.join(name));
        let weights: BTreeMap<&str, BTreeMap<&str, f64>> = self
            .weights
            .iter()
            .map(|(f, row)| {
                let row = row
                    .iter()
                    .map(|&(k, x)| (self.classes[k].as_str(), x))
                    .collect();
                (f.as_str(), row)
            })
            .collect();
        let tagdict: BTreeMap<&String, &String> = self.tagdict.iter().collect();
        let write = |path: &Path, text: serde_json::Result<String>| -> Result<()> {
            let text = text.map_err(|e| Error::Invalid {
                what: path.display().to_string(),
                problem: format!("cannot serialise: {e}"),
            })?;
            std::fs::write(path, text).map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })
        };
        write(&w, serde_json::to_string(&weights))?;
        write(&t, serde_json::to_string(&tagdict))?;
        write(&c, serde_json::to_string(&self.classes))?;
        Ok(())
    }
}

fn class_index(classes: &[String], tag: &str) -> Result<usize> {
    classes
        .binary_search_by(|c| c.as_str().cmp(tag))
        .map_err(|_| Error::Invalid {
            what: format!("training tag {tag:?}"),
            problem: "is not a class (internal: classes come from the sentences)".into(),
        })
}

/// Summed weights per class in feature order, then NLTK's `max(classes, key=(score, label))`:
/// classes are sorted, so the last class with the greatest score wins.
fn predict_index<'a>(
    classes: &[String],
    features: &[String],
    row: impl Fn(&str) -> Option<&'a [(usize, f64)]>,
) -> usize {
    let mut scores = vec![0.0f64; classes.len()];
    for f in features {
        if let Some(row) = row(f) {
            for &(k, w) in row {
                scores[k] += w;
            }
        }
    }
    let mut best = 0;
    for (k, &s) in scores.iter().enumerate().skip(1) {
        if s >= scores[best] {
            best = k;
        }
    }
    best
}

/// NLTK's `_make_tagdict`: classes are all tags seen; a word seen at least 20 times whose most
/// frequent tag (the first seen among equally frequent ones) has a share ≥ 0.97 enters the
/// tag dictionary.
fn make_tagdict(sentences: &[&Vec<(String, String)>]) -> (HashMap<String, String>, Vec<String>) {
    let mut counts: HashMap<&str, Vec<(&str, usize)>> = HashMap::new();
    let mut classes = BTreeSet::new();
    for sentence in sentences {
        for (word, tag) in sentence.iter() {
            let tags = counts.entry(word).or_default();
            match tags.iter_mut().find(|(t, _)| t == tag) {
                Some((_, n)) => *n += 1,
                None => tags.push((tag, 1)),
            }
            classes.insert(tag.clone());
        }
    }
    let mut tagdict = HashMap::new();
    for (word, tags) in counts {
        let mut mode = tags[0];
        for &(t, n) in &tags[1..] {
            if n > mode.1 {
                mode = (t, n);
            }
        }
        let n: usize = tags.iter().map(|&(_, n)| n).sum();
        if n >= FREQ_THRESH && mode.1 as f64 / n as f64 >= AMBIGUITY_THRESH {
            tagdict.insert(word.to_string(), mode.0.to_string());
        }
    }
    (tagdict, classes.into_iter().collect())
}

/// The perceptron while it trains: current weights, and per (feature, class) the running total
/// and the instance count of its last change, for the averaging.
#[derive(Default)]
struct Training {
    weights: HashMap<String, Vec<(usize, f64)>>,
    totals: HashMap<(String, usize), f64>,
    stamps: HashMap<(String, usize), u64>,
    /// Instances seen (predicted words).
    i: u64,
}

impl Training {
    /// NLTK's `AveragedPerceptron.update`: +1 for the truth, −1 for the guess on every feature.
    fn update(&mut self, truth: usize, guess: usize, features: &[String]) {
        self.i += 1;
        if truth == guess {
            return;
        }
        for f in features {
            for (class, delta) in [(truth, 1.0), (guess, -1.0)] {
                let row = self.weights.entry(f.clone()).or_default();
                let slot = match row.iter().position(|&(c, _)| c == class) {
                    Some(p) => p,
                    None => {
                        row.push((class, 0.0));
                        row.len() - 1
                    }
                };
                let w = row[slot].1;
                let param = (f.clone(), class);
                let stamp = self.stamps.get(&param).copied().unwrap_or(0);
                *self.totals.entry(param.clone()).or_insert(0.0) += (self.i - stamp) as f64 * w;
                self.stamps.insert(param, self.i);
                row[slot].1 = w + delta;
            }
        }
    }

    /// NLTK's `average_weights`: each weight becomes `round(total / i, 3)`, zeros dropped (a
    /// feature whose weights are all dropped stays, with none).
    fn averaged(self) -> HashMap<String, Vec<(usize, f64)>> {
        let mut out = HashMap::with_capacity(self.weights.len());
        for (f, row) in self.weights {
            let mut new_row = Vec::new();
            for (class, w) in row {
                let param = (f.clone(), class);
                let stamp = self.stamps.get(&param).copied().unwrap_or(0);
                let total =
                    self.totals.get(&param).copied().unwrap_or(0.0) + (self.i - stamp) as f64 * w;
                let averaged = py_round3(total / self.i as f64);
                if averaged != 0.0 {
                    new_row.push((class, averaged));
                }
            }
            new_row.sort_by_key(|&(k, _)| k);
            out.insert(f, new_row);
        }
        out
    }
}

/// The surface string the tagger sees for a token: the word, the quantity as written, the unit's
/// name, the punctuation character.
fn surface(token: &Token) -> String {
    match token {
        Token::Word(w) | Token::Quantity(w) => w.clone(),
        Token::Unit(u) => u.name().to_string(),
        Token::Punct(c) => c.to_string(),
    }
}

/// The key terms of one text (a title or an instruction) by POS tagging, the paper's method:
/// the text is tokenised and its entities replaced (spec/phase1-text.md), all its tokens are
/// tagged as one sentence, and then, in order, a word in E is an **entity**, a word tagged
/// `VB*` is an **action** and a word tagged `NN*` a **utensil** candidate, both as written
/// (lower case, not lemmatised), [`STOPWORDS`] skipped. Quantities and punctuation are tagged
/// (they are context) but never returned.
pub fn tagged_key_terms(
    tagger: &PerceptronTagger,
    entities: &EntitySet,
    text: &str,
) -> Vec<KeyTerm> {
    let tokens = entities.replace_tokens(&tokenize(text));
    let words: Vec<String> = tokens.iter().map(surface).collect();
    let tags = tagger.tag(&words);
    let mut out = Vec::new();
    for (token, tag) in tokens.iter().zip(tags) {
        let Some(word) = token.word() else { continue };
        let kind = if entities.contains(word) {
            Kind::Entity
        } else if STOPWORDS.contains(&word) {
            continue;
        } else if tag.starts_with("VB") {
            Kind::Action
        } else if tag.starts_with("NN") {
            Kind::Utensil
        } else {
            continue;
        };
        out.push(KeyTerm {
            term: word.to_string(),
            kind,
        });
    }
    out
}
