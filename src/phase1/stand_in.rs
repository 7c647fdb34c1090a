//! Phase I **stand-in**: hashed random-projection bag-of-words features ("random indexing") in the
//! shapes Phase II reads: f_term [300], f_sent [20, 1024] with lengths, f_cat [5, 300] and one
//! class label per pair. It is NOT the paper's Phase I (no key terms, no rating, no word2vec, no
//! skip-instructions, no categoriser, no 1005 categories); it exists so Phase II training and its
//! tests have inputs before the real Phase I lands. Numbers obtained with it are not the paper's.
//!
//! Spec: spec/phase1-stand-in.md (a stand-in for Phase I's outputs, §4.c–§4.f in our
//! reconstruction; not from the paper or the authors' code). Outputs are feature stores
//! (spec/data-feature-store.md).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::feature_store::{self, Dtype, FeatureWriter};
use crate::data::pairs;
use crate::data::recipe1m::{self, DET_INGRS, LAYER1};
use crate::data::splits::Partition;
use crate::data::splits::SplitRule;
use crate::{Error, Result};

/// Tokens the tokeniser drops: a short, fixed English list (articles, prepositions, conjunctions,
/// and `minutes`, which ends half of all instructions). Sorted; tokens are compared lower-case.
pub const STOPWORDS: &[&str] = &[
    "about", "an", "and", "are", "as", "at", "be", "by", "for", "from", "if", "in", "into", "is",
    "it", "minutes", "of", "on", "or", "the", "then", "to", "until", "with",
];

/// The name of class 0, the background class of titles whose last word is not one of the C − 1
/// most frequent.
pub const OTHER: &str = "other";

/// Value of the `producer` metadata key of every file the stand-in writes.
pub const PRODUCER: &str = "stand-in";

/// Value of the `f_cat` metadata key: the stand-in has no image classifier.
pub const F_CAT_ABSENT: &str = "absent (stand-in: zeros)";

/// File names inside the output directory (the feature store's).
pub use crate::data::feature_store::{CATEGORIES_FILE, SENTENCES_FILE, TERM_FILE};

/// Recipes between two progress log lines.
const LOG_EVERY: usize = 10_000;

/// The stand-in's settings. [`Default`] gives the widths Phase II expects (the paper's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandInConfig {
    /// Width of f_term (word2vec's 300 in the paper).
    pub term_dim: usize,
    /// Width of one sentence vector (skip-instructions' 1024 in the paper).
    pub sentence_dim: usize,
    /// Sentence rows per recipe (the loader's `maxInst = 20`).
    pub max_sentences: usize,
    /// Width of f_cat (word2vec's 300 in the paper; Phase II's `model.category_feature`).
    pub category_dim: usize,
    /// f_cat rows per recipe (the first 5 images).
    pub max_images: usize,
    /// Number of classes C, background class 0 included.
    pub classes: usize,
    /// Seed of every word vector.
    pub seed: u64,
}

impl Default for StandInConfig {
    fn default() -> Self {
        Self {
            term_dim: 300,
            sentence_dim: 1024,
            max_sentences: 20,
            category_dim: 300,
            max_images: 5,
            classes: 50,
            seed: 1234,
        }
    }
}

impl StandInConfig {
    /// Checks that every width and count is at least 1.
    pub fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("term_dim", self.term_dim),
            ("sentence_dim", self.sentence_dim),
            ("max_sentences", self.max_sentences),
            ("category_dim", self.category_dim),
            ("max_images", self.max_images),
            ("classes", self.classes),
        ] {
            if v == 0 {
                return Err(Error::Invalid {
                    what: format!("stand-in config `{key}`"),
                    problem: "must be at least 1, got 0".into(),
                });
            }
        }
        Ok(())
    }

    /// The config as JSON (fields in declaration order, no whitespace): what `config_sha256`
    /// hashes and what the `stand_in_config` metadata key holds.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the config serialises")
    }
}

/// What [`write_features`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandInSummary {
    /// Recipes written (rows of every file): every recipe with a pair, all splits.
    pub recipes: usize,
    /// Of which in train, val, test.
    pub per_split: [usize; 3],
    /// Classes used, class 0 included (at most the configured C: fewer when the training titles
    /// have fewer distinct last words).
    pub classes: usize,
    /// The configured C.
    pub classes_requested: usize,
    /// Share of the pairs (all splits) in class 0.
    pub class0_share: f64,
    /// Token occurrences read (titles, detected ingredients, kept instructions).
    pub tokens: u64,
    /// Distinct tokens.
    pub vocabulary: usize,
    /// Recipes whose f_term is the zero vector (no token in title or ingredients).
    pub empty_terms: usize,
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl StandInSummary {
    /// The lines `seje features stand-in` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "stand-in Phase I features (hashed bag of words; NOT the paper's Phase I, see spec/phase1-stand-in.md)"
        );
        let _ = writeln!(
            s,
            "recipes     {} (train {}, val {}, test {})",
            self.recipes, self.per_split[0], self.per_split[1], self.per_split[2]
        );
        let _ = writeln!(
            s,
            "classes     {} used of {} requested; {:.1}% of pairs in class 0 ({OTHER})",
            self.classes,
            self.classes_requested,
            100.0 * self.class0_share
        );
        let _ = writeln!(
            s,
            "tokens      {} read, {} distinct; {} recipes with an empty f_term",
            self.tokens, self.vocabulary, self.empty_terms
        );
        for f in &self.files {
            let _ = writeln!(s, "wrote       {}", f.display());
        }
        s
    }
}

/// Lower-cases `text`, splits it on every character that is not an ASCII letter (digits,
/// punctuation, fractions and non-ASCII letters separate tokens and are dropped), and drops tokens
/// shorter than 2 characters and the [`STOPWORDS`].
pub fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_lowercase())
        .filter(|t| t.len() >= 2 && STOPWORDS.binary_search(t).is_err())
        .map(str::to_string)
        .collect()
}

/// The word vector v_d(w): `d` standard normals drawn by Box–Muller from a ChaCha8 stream seeded
/// with SHA-256(seed as 8 LE bytes ‖ d as 8 LE bytes ‖ token UTF-8), each scaled by 1/√d and
/// rounded to f32. Pairs (u1, u2) = two `gen::<f64>()` draws in [0, 1) give
/// r = √(−2 ln(1 − u1)), z = r cos(2π u2) then r sin(2π u2); an odd `d` drops the last sine.
/// The same token, width and seed always give the same vector.
pub fn word_vector(token: &str, dim: usize, seed: u64) -> Vec<f32> {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update((dim as u64).to_le_bytes());
    h.update(token.as_bytes());
    let mut rng = ChaCha8Rng::from_seed(h.finalize().into());
    let scale = 1.0 / (dim as f64).sqrt();
    let mut v = Vec::with_capacity(dim + 1);
    while v.len() < dim {
        let (u1, u2): (f64, f64) = (rng.gen(), rng.gen());
        let r = (-2.0 * (1.0 - u1).ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        v.push((r * theta.cos() * scale) as f32);
        v.push((r * theta.sin() * scale) as f32);
    }
    v.truncate(dim);
    v
}

/// Word vectors of one width and seed, each drawn once and kept.
#[derive(Debug, Clone)]
pub struct WordVectors {
    dim: usize,
    seed: u64,
    cache: HashMap<String, Vec<f32>>,
}

impl WordVectors {
    /// An empty table of `dim`-wide vectors.
    pub fn new(dim: usize, seed: u64) -> Self {
        Self {
            dim,
            seed,
            cache: HashMap::new(),
        }
    }

    /// The width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// v_d(token), drawn on first use.
    pub fn get(&mut self, token: &str) -> &[f32] {
        if !self.cache.contains_key(token) {
            let v = word_vector(token, self.dim, self.seed);
            self.cache.insert(token.to_string(), v);
        }
        &self.cache[token]
    }

    /// The distinct tokens drawn so far.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.cache.keys().map(String::as_str)
    }

    /// The mean of the vectors of `tokens` (summed in f64 in order, divided, rounded to f32); the
    /// zero vector when there is none.
    pub fn mean<'a>(&mut self, tokens: impl IntoIterator<Item = &'a str>) -> Vec<f32> {
        let mut sum = vec![0f64; self.dim];
        let mut n = 0usize;
        for t in tokens {
            for (s, x) in sum.iter_mut().zip(self.get(t)) {
                *s += f64::from(*x);
            }
            n += 1;
        }
        if n == 0 {
            return vec![0.0; self.dim];
        }
        sum.into_iter().map(|s| (s / n as f64) as f32).collect()
    }
}

/// f_term: the mean word vector over the tokens of the title and of every detected ingredient
/// text (valid or not), title first; zero when there is no token.
pub fn term_feature(title: &str, ingredients: &[String], vectors: &mut WordVectors) -> Vec<f32> {
    let tokens: Vec<String> = std::iter::once(title)
        .chain(ingredients.iter().map(String::as_str))
        .flat_map(tokenize)
        .collect();
    vectors.mean(tokens.iter().map(String::as_str))
}

/// f_sent and its length: row j (j < `max_sentences`) is the mean word vector of instruction j,
/// rows after the last instruction are zero; the length is min(n, `max_sentences`) and at least 1.
/// An instruction without a token gives a zero row that still counts. Returns the rows flattened,
/// `[max_sentences * dim]`.
pub fn sentence_features(
    instructions: &[String],
    max_sentences: usize,
    vectors: &mut WordVectors,
) -> (Vec<f32>, i64) {
    let dim = vectors.dim();
    let mut rows = vec![0f32; max_sentences * dim];
    let kept = instructions.len().min(max_sentences);
    for (j, text) in instructions.iter().take(kept).enumerate() {
        let tokens = tokenize(text);
        let m = vectors.mean(tokens.iter().map(String::as_str));
        rows[j * dim..(j + 1) * dim].copy_from_slice(&m);
    }
    (rows, kept.max(1) as i64)
}

/// The word a title is classed by: its last token, if it has one.
pub fn class_key(title: &str) -> Option<String> {
    tokenize(title).pop()
}

/// Title-word classes: class 0 is [`OTHER`], classes 1..k are the most frequent last title words
/// of the training split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassTable {
    names: Vec<String>,
    index: HashMap<String, i64>,
}

impl ClassTable {
    /// Ranks the keys (last title words of the training titles; `None` for a title without a
    /// token, which counts for nothing) by count, most frequent first, ties by the word; the first
    /// `classes − 1` become classes 1, 2, …. The word `other` is never ranked (it would collide
    /// with class 0's name). Errors: `classes` is 0.
    pub fn from_keys<'a>(
        keys: impl IntoIterator<Item = Option<&'a str>>,
        classes: usize,
    ) -> Result<Self> {
        if classes == 0 {
            return Err(Error::Invalid {
                what: "stand-in config `classes`".into(),
                problem: "must be at least 1, got 0".into(),
            });
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for k in keys.into_iter().flatten().filter(|k| *k != OTHER) {
            *counts.entry(k).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let names: Vec<String> = std::iter::once(OTHER)
            .chain(ranked.into_iter().take(classes - 1).map(|(k, _)| k))
            .map(str::to_string)
            .collect();
        let index = names
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, n)| (n.clone(), i as i64))
            .collect();
        Ok(Self { names, index })
    }

    /// [`ClassTable::from_keys`] over the [`class_key`]s of `titles`.
    pub fn from_titles<'a>(
        titles: impl IntoIterator<Item = &'a str>,
        classes: usize,
    ) -> Result<Self> {
        let keys: Vec<Option<String>> = titles.into_iter().map(class_key).collect();
        Self::from_keys(keys.iter().map(Option::as_deref), classes)
    }

    /// Class names by index (index 0 is [`OTHER`]).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The class of a key (0 when it is absent or not ranked).
    pub fn class_of_key(&self, key: Option<&str>) -> i64 {
        key.and_then(|k| self.index.get(k).copied()).unwrap_or(0)
    }

    /// The class of a title.
    pub fn class_of(&self, title: &str) -> i64 {
        self.class_of_key(class_key(title).as_deref())
    }
}

/// Writes the three stand-in feature stores for every recipe of `root` that has a pair under
/// the valid-count rule (the synthetic benchmark's); see [`write_features_with_progress`].
pub fn write_features(root: &Path, out: &Path, cfg: &StandInConfig) -> Result<StandInSummary> {
    write_features_with_progress(root, &SplitRule::ValidCount, out, cfg, &|_| {})
}

/// Writes `out/term.safetensors` (`f_term` F32 [n, term_dim]), `out/sentences.safetensors`
/// (`f_sent` F32 [n, max_sentences, sentence_dim], `lengths` I64 [n]) and
/// `out/categories.safetensors` (`f_cat` F32 [n, max_images, category_dim], all zeros; `classes` I64
/// [n]) for the n recipes of `root` that have a pair, rows in sorted recipe-id order. `progress`
/// is called with the number of recipes done. Same inputs, same bytes.
///
/// Memory: every row is held until the files are written, about 2 × n × (max_sentences ×
/// sentence_dim × 4) bytes at the peak (1.6 GB for 10,000 recipes at the default widths).
///
/// Errors: `root` is not a directory; every error of [`pairs::open`] and of the readers; an
/// invalid config; `out` cannot be created or written.
pub fn write_features_with_progress(
    root: &Path,
    rule: &SplitRule,
    out: &Path,
    cfg: &StandInConfig,
    progress: &dyn Fn(u64),
) -> Result<StandInSummary> {
    cfg.validate()?;
    if !root.is_dir() {
        return Err(Error::Invalid {
            what: root.display().to_string(),
            problem: "dataset root is not a directory".into(),
        });
    }
    let (dataset, join) = pairs::open_with(root, rule)?;
    let ids = dataset.rows();
    let n = ids.len();
    let row_of: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    tracing::info!(
        recipes = n,
        "stand-in Phase I features (not the paper's Phase I)"
    );

    let mut ingredients: Vec<Option<Vec<String>>> = vec![None; n];
    recipe1m::read_det_ingrs(root, |d| {
        if let Some(&row) = row_of.get(d.id.as_str()) {
            ingredients[row] = Some(d.ingredients);
        }
        Ok(())
    })?;

    let (dt, ds, s) = (cfg.term_dim, cfg.sentence_dim, cfg.max_sentences);
    let mut terms = WordVectors::new(dt, cfg.seed);
    let mut sentences = WordVectors::new(ds, cfg.seed);
    let mut f_term = vec![0f32; n * dt];
    let mut f_sent: Vec<u8> = vec![0u8; n * s * ds * 4];
    let mut lengths = vec![0i64; n];
    let mut keys: Vec<Option<String>> = vec![None; n];
    let mut seen = vec![false; n];
    let mut tokens = 0u64;
    let mut done = 0usize;
    recipe1m::read_layer1(root, |r| {
        let Some(&row) = row_of.get(r.id.as_str()) else {
            return Ok(());
        };
        let ingr = ingredients[row]
            .take()
            .ok_or_else(|| Error::MissingRecord {
                file: DET_INGRS.to_string(),
                id: r.id.clone(),
            })?;
        tokens += std::iter::once(&r.title)
            .chain(&ingr)
            .chain(r.instructions.iter().take(s))
            .map(|t| tokenize(t).len() as u64)
            .sum::<u64>();
        f_term[row * dt..(row + 1) * dt]
            .copy_from_slice(&term_feature(&r.title, &ingr, &mut terms));
        let (rows, len) = sentence_features(&r.instructions, s, &mut sentences);
        let at = row * s * ds * 4;
        for (chunk, x) in f_sent[at..at + s * ds * 4].chunks_exact_mut(4).zip(&rows) {
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        lengths[row] = len;
        keys[row] = class_key(&r.title);
        seen[row] = true;
        done += 1;
        progress(done as u64);
        if done.is_multiple_of(LOG_EVERY) {
            tracing::info!(done, of = n, "stand-in features");
        }
        Ok(())
    })?;
    if let Some(row) = seen.iter().position(|s| !s) {
        return Err(Error::MissingRecord {
            file: LAYER1.to_string(),
            id: ids[row].0.clone(),
        });
    }

    let train_keys = ids
        .iter()
        .zip(&keys)
        .filter(|((_, p), _)| *p == Partition::Train)
        .map(|(_, k)| k.as_deref());
    let table = ClassTable::from_keys(train_keys, cfg.classes)?;
    let classes: Vec<i64> = keys
        .iter()
        .map(|k| table.class_of_key(k.as_deref()))
        .collect();
    let in_other = classes.iter().filter(|&&c| c == 0).count();
    let empty_terms = f_term
        .chunks_exact(dt)
        .filter(|r| r.iter().all(|&x| x == 0.0))
        .count();

    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let config_json = cfg.to_json();
    let sha = feature_store::config_sha256(config_json.as_bytes());
    let id_list: Vec<String> = ids.iter().map(|(id, _)| id.clone()).collect();
    let writer = |extra: &[(&str, String)]| -> Result<FeatureWriter> {
        let mut w = FeatureWriter::new(id_list.clone(), &sha)?;
        w.metadata("producer", PRODUCER)?;
        w.metadata("stand_in_config", &config_json)?;
        w.metadata(
            "splits",
            &crate::phase1::category_feature::splits_json(&join.source),
        )?;
        w.metadata(
            "note",
            "hashed random-projection bag of words; not the paper's Phase I (spec/phase1-stand-in.md)",
        )?;
        for (k, v) in extra {
            w.metadata(k, v)?;
        }
        Ok(w)
    };
    let mut files = Vec::new();

    let mut w = writer(&[])?;
    w.add_f32("f_term", &[n, dt], &f_term)?;
    drop(f_term);
    files.push(out.join(TERM_FILE));
    w.write(&out.join(TERM_FILE))?;
    drop(w);

    let mut w = writer(&[])?;
    w.add_bytes("f_sent", Dtype::F32, &[n, s, ds], f_sent)?;
    w.add_i64("lengths", &[n], &lengths)?;
    files.push(out.join(SENTENCES_FILE));
    w.write(&out.join(SENTENCES_FILE))?;
    drop(w);

    let names = serde_json::to_string(table.names()).expect("strings serialise");
    let mut w = writer(&[
        ("f_cat", F_CAT_ABSENT.to_string()),
        ("classes", table.names().len().to_string()),
        ("class_names", names),
    ])?;
    w.add_bytes(
        "f_cat",
        Dtype::F32,
        &[n, cfg.max_images, cfg.category_dim],
        vec![0u8; n * cfg.max_images * cfg.category_dim * 4],
    )?;
    w.add_i64("classes", &[n], &classes)?;
    files.push(out.join(CATEGORIES_FILE));
    w.write(&out.join(CATEGORIES_FILE))?;

    let vocabulary = terms
        .tokens()
        .chain(sentences.tokens())
        .collect::<HashSet<_>>()
        .len();
    let mut per_split = [0usize; 3];
    for (_, p) in &ids {
        per_split[p.index()] += 1;
    }
    let summary = StandInSummary {
        recipes: n,
        per_split,
        classes: table.names().len(),
        classes_requested: cfg.classes,
        class0_share: if n == 0 {
            0.0
        } else {
            in_other as f64 / n as f64
        },
        tokens,
        vocabulary,
        empty_terms,
        files,
    };
    tracing::info!(
        recipes = n,
        classes = summary.classes,
        class0_share = summary.class0_share,
        "stand-in features written"
    );
    Ok(summary)
}
