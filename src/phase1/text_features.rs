//! Phase I text features end to end (§4.a–§4.c in our reconstruction), what `seje features text`
//! runs: ingredient entities and key terms of every recipe, the word2vec corpus, the term rating
//! (TF-IDF fitted on the training split, TextRank, or a BERT model's cosines), word2vec vectors
//! (trained on that corpus or loaded), and the weighted term feature f_term of every recipe with a
//! pair, into the feature store.
//!
//! Spec: spec/phase1-term-feature.md (the BERT rating: spec/phase1-bert-rating.md).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::data::feature_store::{self, FeatureWriter};
use crate::data::pairs;
use crate::data::recipe1m::{self, Detections, DET_INGRS, LAYER1};
use crate::data::splits::Partition;
use crate::data::splits::{IngredientVocab, SplitRule};
use crate::phase1::bert_rating::{self, BertRater, BertRatingConfig};
use crate::phase1::entities::{EntitySet, Reexamination};
use crate::phase1::key_terms::{KeyTerm, Lexicon};
use crate::phase1::pos_tagger::{tagged_key_terms, PerceptronTagger};
use crate::phase1::rating::{textrank, TextRankConfig, Tfidf};
use crate::phase1::term_feature::weighted_term_feature;
use crate::phase1::word2vec::{self, Word2VecConfig, WordVectors};
use crate::{Error, Result};

/// The store file `seje features text` writes (the Phase II input name).
pub use crate::data::feature_store::TERM_FILE;
/// The word2vec training text: one line per training recipe.
pub const CORPUS_FILE: &str = "corpus.txt";
/// The trained vectors (`-binary 1`), when they are trained here.
pub const VECTORS_FILE: &str = "vocab.bin";
/// `producer` metadata of the store.
pub const PRODUCER: &str = "seje features text";

const LOG_EVERY: usize = 10_000;

/// The term rating s(t, r) (spec/phase1-term-rating.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    /// TF-IDF, fitted on the training split's key-term documents (the authors' released rating).
    Tfidf,
    /// TextRank over the recipe's corpus words.
    Textrank,
    /// KeyBERT-style cosines of a BERT model (spec/phase1-bert-rating.md); needs
    /// [`TextFeaturesConfig::bert`].
    Bert,
}

impl std::str::FromStr for Rating {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "tfidf" => Ok(Rating::Tfidf),
            "textrank" => Ok(Rating::Textrank),
            "bert" => Ok(Rating::Bert),
            other => Err(format!(
                "unknown rating `{other}` (expected tfidf, textrank or bert)"
            )),
        }
    }
}

impl Rating {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Tfidf => "tfidf",
            Rating::Textrank => "textrank",
            Rating::Bert => "bert",
        }
    }
}

/// Where the key terms come from (spec/phase1-key-terms.md, spec/phase1-pos-tagger.md).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum KeyTermSource {
    /// The lexicon extractor (the default: no pretrained tagger model can be obtained here).
    #[default]
    Lexicon,
    /// NLTK's averaged-perceptron tagger loaded from this model (directory or file), as the
    /// paper: `VB*` words are actions, `NN*` words utensils.
    Tagger(PathBuf),
}

/// The extractor a command line names (`--key-terms lexicon|tagger`); the tagger's model is
/// given apart ([`KeyTermKind::with_model`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTermKind {
    /// [`KeyTermSource::Lexicon`].
    Lexicon,
    /// [`KeyTermSource::Tagger`].
    Tagger,
}

impl KeyTermKind {
    /// The names [`FromStr`](std::str::FromStr) accepts.
    pub const NAMES: &'static [&'static str] = &["lexicon", "tagger"];

    /// The source: the tagger needs its `model`, the lexicon ignores it.
    pub fn with_model(self, model: Option<PathBuf>) -> Result<KeyTermSource> {
        match (self, model) {
            (KeyTermKind::Lexicon, _) => Ok(KeyTermSource::Lexicon),
            (KeyTermKind::Tagger, Some(model)) => Ok(KeyTermSource::Tagger(model)),
            (KeyTermKind::Tagger, None) => Err(Error::Invalid {
                what: "key terms by the tagger".into(),
                problem: "need the tagger's model (--tagger-model)".into(),
            }),
        }
    }
}

impl std::str::FromStr for KeyTermKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "lexicon" => Ok(KeyTermKind::Lexicon),
            "tagger" => Ok(KeyTermKind::Tagger),
            other => Err(format!(
                "unknown key-term extractor `{other}` (lexicon, tagger)"
            )),
        }
    }
}

/// A loaded key-term extractor.
pub enum Extractor {
    /// See [`KeyTermSource::Lexicon`].
    Lexicon(Lexicon),
    /// See [`KeyTermSource::Tagger`].
    Tagger(PerceptronTagger),
}

impl Extractor {
    /// Loads the extractor `source` names.
    pub fn load(source: &KeyTermSource) -> Result<Self> {
        Ok(match source {
            KeyTermSource::Lexicon => Extractor::Lexicon(Lexicon::standard()),
            KeyTermSource::Tagger(path) => Extractor::Tagger(PerceptronTagger::load(path)?),
        })
    }

    /// The key terms of one text, in order of occurrence.
    pub fn key_terms(&self, entities: &EntitySet, text: &str) -> Vec<KeyTerm> {
        match self {
            Extractor::Lexicon(l) => l.key_terms(entities, text),
            Extractor::Tagger(t) => tagged_key_terms(t, entities, text),
        }
    }

    /// The words of one text as the corpus spells them: with the lexicon, every match as its
    /// term ([`Lexicon::corpus_words`]); with the tagger, the words after entity replacement
    /// (its key terms are words as written).
    pub fn corpus_words(&self, entities: &EntitySet, text: &str) -> Vec<String> {
        match self {
            Extractor::Lexicon(l) => l.corpus_words(entities, text),
            Extractor::Tagger(_) => entities.replace(text),
        }
    }
}

/// Settings of [`write_text_features`].
#[derive(Debug, Clone, PartialEq)]
pub struct TextFeaturesConfig {
    /// The key-term extractor.
    pub key_terms: KeyTermSource,
    /// The rating.
    pub rating: Rating,
    /// TextRank's settings (used with [`Rating::Textrank`]).
    pub textrank: TextRankConfig,
    /// The BERT model and where it runs (needed by [`Rating::Bert`]).
    pub bert: Option<BertRatingConfig>,
    /// word2vec's settings, when the vectors are trained here.
    pub word2vec: Word2VecConfig,
    /// Vectors to load instead of training (a `-binary 1` file such as the authors' `vocab.bin`).
    pub vectors: Option<PathBuf>,
    /// Where to write every rated recipe's key terms (JSON lines), if anywhere.
    pub dump_terms: Option<PathBuf>,
    /// Which recipes are the rows (spec/data-recipe1m.md, "Which rule a configuration uses").
    pub splits: TermSplits,
}

/// Which recipes `seje features text` writes rows for.
#[derive(Debug, Clone, PartialEq)]
pub enum TermSplits {
    /// The pairs under a rule whose vocabulary, if it needs one, is known before the stage runs.
    Rule(SplitRule),
    /// The pairs under im2recipe's rule with the words of the vectors this stage trains (or
    /// loads) as its vocabulary: im2recipe's own order, word2vec on the training text first, then
    /// the splits. The corpus and the TF-IDF statistics do not depend on the splits (they cover
    /// every training recipe of `layer1.json`), so the stage rates every recipe the rule could
    /// keep and drops, once the vectors exist, those with 19 or more distinct ingredient names in
    /// their vocabulary.
    Im2recipeOwnVectors,
}

impl Default for TermSplits {
    /// The valid-count rule.
    fn default() -> Self {
        TermSplits::Rule(SplitRule::ValidCount)
    }
}

impl Default for TextFeaturesConfig {
    /// The paper's settings, except one word2vec thread (the only deterministic choice; the
    /// authors ran 20).
    fn default() -> Self {
        Self {
            key_terms: KeyTermSource::Lexicon,
            rating: Rating::Tfidf,
            textrank: TextRankConfig::default(),
            bert: None,
            word2vec: Word2VecConfig {
                threads: 1,
                ..Word2VecConfig::paper()
            },
            vectors: None,
            dump_terms: None,
            splits: TermSplits::default(),
        }
    }
}

impl TextFeaturesConfig {
    /// The settings that decide the output, as JSON (what the store's `config_sha256` hashes).
    /// The vectors file enters by its SHA-256, not its path; so do the BERT model's files.
    fn to_json(&self, vectors_sha256: Option<&str>, bert_sha256: Option<&str>) -> String {
        let w = &self.word2vec;
        let t = &self.textrank;
        let mut v = serde_json::json!({
            "rating": self.rating.as_str(),
        });
        v["key_terms"] = match &self.key_terms {
            KeyTermSource::Lexicon => serde_json::json!("lexicon"),
            KeyTermSource::Tagger(p) => serde_json::json!({ "tagger": p.display().to_string() }),
        };
        if self.rating == Rating::Textrank {
            v["textrank"] = serde_json::json!({
                "window": t.window, "damping": t.damping, "tol": t.tol,
                "max_iter": t.max_iter, "weighted": t.weighted,
            });
        }
        if let (Rating::Bert, Some(b)) = (self.rating, &self.bert) {
            v["bert"] = serde_json::json!({
                "model_sha256": bert_sha256, "batch": b.batch, "device": format!("{:?}", b.device),
            });
        }
        v["word2vec"] = match vectors_sha256 {
            Some(sha) => serde_json::json!({ "loaded_sha256": sha }),
            None => serde_json::json!({
                "size": w.size, "window": w.window, "iter": w.iter, "min_count": w.min_count,
                "sample": w.sample, "alpha": w.alpha, "threads": w.threads, "seed": w.seed,
            }),
        };
        v.to_string()
    }
}

/// The stage [`write_text_features`] reports progress of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading recipes: key terms, the corpus, the rating's counts (value: recipes read).
    KeyTerms,
    /// Training word2vec (value: per-mille of the training done) or loading the vectors.
    Word2vec,
    /// Writing f_term rows (value: rows done).
    Feature,
}

/// What [`write_text_features`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextFeaturesSummary {
    /// Rows written: every recipe with a pair, all splits.
    pub recipes: usize,
    /// Of which in train, val, test.
    pub per_split: [usize; 3],
    /// Training recipes in the corpus (and TF-IDF documents): every train recipe of
    /// `layer1.json`, with a pair or not.
    pub corpus_lines: usize,
    /// Words in the corpus.
    pub corpus_words: u64,
    /// The ingredient entity set |E|.
    pub entities: usize,
    /// Distinct key terms over all rows.
    pub key_terms: usize,
    /// Key-term occurrences of the rows that had a vector / had none.
    pub in_vocabulary: u64,
    /// See `in_vocabulary`.
    pub out_of_vocabulary: u64,
    /// Words with a vector (`</s>` included).
    pub vocabulary: usize,
    /// Vector width.
    pub dim: usize,
    /// Rows whose f_term is the zero vector.
    pub empty_terms: usize,
    /// The rating used.
    pub rating: Rating,
    /// The files written.
    pub files: Vec<PathBuf>,
}

impl TextFeaturesSummary {
    /// The lines `seje features text` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "recipes     {} (train {}, val {}, test {})",
            self.recipes, self.per_split[0], self.per_split[1], self.per_split[2]
        );
        let _ = writeln!(
            s,
            "corpus      {} training recipes, {} words; {} ingredient entities",
            self.corpus_lines, self.corpus_words, self.entities
        );
        let total = self.in_vocabulary + self.out_of_vocabulary;
        let share = if total == 0 {
            0.0
        } else {
            100.0 * self.out_of_vocabulary as f64 / total as f64
        };
        let _ = writeln!(
            s,
            "key terms   {} distinct; {:.1}% of occurrences without a vector (skipped)",
            self.key_terms, share
        );
        let _ = writeln!(
            s,
            "vectors     {} words × {}; rating {}; {} recipes with an empty f_term",
            self.vocabulary,
            self.dim,
            self.rating.as_str(),
            self.empty_terms
        );
        for f in &self.files {
            let _ = writeln!(s, "wrote       {}", f.display());
        }
        s
    }
}

/// Key terms as small integers (a million recipes hold a few hundred thousand distinct terms).
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, term: &str) -> u32 {
        if let Some(&i) = self.ids.get(term) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(term.to_string());
        self.ids.insert(term.to_string(), i);
        i
    }
}

/// What is kept per row between the reading pass and the writing pass.
enum Rated {
    /// The key-term document (term ids with repeats), for TF-IDF.
    Document(Vec<u32>),
    /// TextRank scores, or BERT ratings, per distinct term.
    Scores(Vec<(u32, f64)>),
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `out/term.safetensors` (`f_term` F32 [n, dim], rows = the recipes with a pair, sorted
/// by id), `out/corpus.txt` and, unless `cfg.vectors` names a file to load, `out/vocab.bin`;
/// and `cfg.dump_terms` if set. `progress(stage, value)` reports each stage. With one word2vec
/// thread (or loaded vectors), the same inputs give the same bytes.
///
/// Memory: the entity set, the line entities of every recipe, and each row's key-term document
/// (or TextRank scores) as integers, plus word2vec's token stream (4 bytes per corpus word); the
/// texts are streamed.
///
/// With [`Rating::Bert`], recipes are rated `cfg.bert.batch` at a time as they are read
/// (spec/phase1-bert-rating.md), and the model's vectors of the distinct key terms are kept.
///
/// Errors: `root` is not a directory; every error of [`pairs::open`] and of the readers; a row
/// without a `det_ingrs.json` entry; TextRank not converging (names the recipe); [`Rating::Bert`]
/// without a model, or a model that cannot be loaded or run; a bad vectors file; a training
/// split without a key term; `out` cannot be written.
pub fn write_text_features(
    root: &Path,
    out: &Path,
    cfg: &TextFeaturesConfig,
    progress: &(dyn Fn(Stage, u64) + Sync),
) -> Result<TextFeaturesSummary> {
    if !root.is_dir() {
        return Err(Error::Invalid {
            what: root.display().to_string(),
            problem: "dataset root is not a directory".into(),
        });
    }
    let (candidates, join) = candidate_rows(root, cfg)?;
    std::fs::create_dir_all(out).map_err(write_err(out))?;
    let mut bert = match (cfg.rating, &cfg.bert) {
        (Rating::Bert, Some(b)) => Some(BertRater::load(b)?),
        (Rating::Bert, None) => {
            return Err(Error::Invalid {
                what: "rating bert".into(),
                problem: "needs a BERT model directory".into(),
            })
        }
        _ => None,
    };
    if let (Some(rater), Some(b)) = (&bert, &cfg.bert) {
        if b.device == tch::Device::Cpu
            && bert_rating::sized_for_a_gpu(rater.encoder().model().config())
        {
            let estimate = bert_rating::time_first_batch(rater, candidates.len())?;
            crate::runtime::heavy::announce(
                &estimate,
                b.device_asked,
                "`--rating tfidf` or `--rating textrank` rate without a model (seconds per \
                 thousand recipes); on a GPU, --device cuda",
            )?;
        }
    }
    let bert_sha = bert
        .as_ref()
        .map(|b| b.encoder().files_sha256())
        .transpose()?;
    let entities = EntitySet::from_root(root)?;
    let extractor = Extractor::load(&cfg.key_terms)?;
    let mut terms = Interner::default();
    let line_entities = read_line_entities(root, &entities, &mut terms)?;
    tracing::info!(
        entities = entities.len(),
        recipes = candidates.len(),
        "Phase I text features"
    );
    let corpus_path = out.join(CORPUS_FILE);
    let pass = rate_key_terms(
        root,
        cfg,
        &candidates,
        &extractor,
        &entities,
        &line_entities,
        &mut terms,
        bert.as_mut(),
        &corpus_path,
        progress,
    )?;
    drop(line_entities);
    let tfidf = match cfg.rating {
        Rating::Tfidf => {
            let df: BTreeMap<String, usize> = pass
                .df
                .into_iter()
                .map(|(t, c)| (terms.names[t as usize].clone(), c))
                .collect();
            Some(Tfidf::from_document_frequencies(df, pass.corpus_lines)?)
        }
        Rating::Textrank | Rating::Bert => None,
    };
    let mut files = vec![out.join(TERM_FILE), corpus_path.clone()];
    let (vectors, vectors_sha) = word_vectors(cfg, out, &corpus_path, &mut files, progress)?;
    let (rows, rated, join) = final_rows(root, out, cfg, &vectors, candidates, pass.rated, join)?;
    let terms_of = term_features(
        cfg,
        &rows,
        rated,
        tfidf.as_ref(),
        &terms,
        &vectors,
        &mut files,
        progress,
    )?;
    let config_json = cfg.to_json(vectors_sha.as_deref(), bert_sha.as_deref());
    write_term_store(
        &out.join(TERM_FILE),
        cfg,
        &rows,
        &join,
        &config_json,
        vectors.dim(),
        &terms_of.f_term,
    )?;

    let mut per_split = [0usize; 3];
    for (_, p) in &rows {
        per_split[p.index()] += 1;
    }
    let summary = TextFeaturesSummary {
        recipes: rows.len(),
        per_split,
        corpus_lines: pass.corpus_lines,
        corpus_words: pass.corpus_words,
        entities: entities.len(),
        key_terms: terms_of.distinct_terms,
        in_vocabulary: terms_of.in_vocabulary,
        out_of_vocabulary: terms_of.out_of_vocabulary,
        vocabulary: vectors.len(),
        dim: vectors.dim(),
        empty_terms: terms_of.empty_terms,
        rating: cfg.rating,
        files,
    };
    tracing::info!(
        recipes = summary.recipes,
        empty_terms = summary.empty_terms,
        vocabulary = summary.vocabulary,
        "text features written"
    );
    Ok(summary)
}

/// The rows the reading pass rates (sorted by id, with their split) and the join's report.
/// Under [`TermSplits::Im2recipeOwnVectors`] these are candidates: with no vocabulary every
/// recipe counts one detection (`</i>`), so only the vocabulary-free clauses of the rule apply,
/// and [`final_rows`] keeps a subset.
fn candidate_rows(
    root: &Path,
    cfg: &TextFeaturesConfig,
) -> Result<(Vec<(String, Partition)>, pairs::JoinReport)> {
    let (dataset, join) = match &cfg.splits {
        TermSplits::Rule(rule) => pairs::open_with(root, rule)?,
        TermSplits::Im2recipeOwnVectors => pairs::open_with(
            root,
            &SplitRule::Im2recipe(IngredientVocab::from_words([], "no vocabulary yet")),
        )?,
    };
    Ok((dataset.rows(), join))
}

/// Every recipe's line entities (`det_ingrs.json`, invalid lines re-examined) as term ids.
fn read_line_entities(
    root: &Path,
    entities: &EntitySet,
    terms: &mut Interner,
) -> Result<HashMap<String, Vec<u32>>> {
    let mut line_entities: HashMap<String, Vec<u32>> = HashMap::new();
    recipe1m::read_det_ingrs(root, |d| {
        let ids: Vec<u32> = line_entity_names(entities, &d)
            .iter()
            .map(|e| terms.id(e))
            .collect();
        line_entities.insert(d.id, ids);
        Ok(())
    })?;
    Ok(line_entities)
}

/// What the reading pass keeps: each row's rating input, the training split's document
/// frequencies (for TF-IDF) and the corpus's size.
struct KeyTermPass {
    rated: Vec<Option<Rated>>,
    df: HashMap<u32, usize>,
    corpus_lines: usize,
    corpus_words: u64,
}

/// The reading pass over `layer1.json`: writes each training recipe's words to the corpus
/// file, counts document frequencies over the training split, and keeps, per row, its key-term
/// document (TF-IDF) or its scores (TextRank now, BERT in batches of `cfg.bert.batch`).
#[allow(clippy::too_many_arguments)]
fn rate_key_terms(
    root: &Path,
    cfg: &TextFeaturesConfig,
    rows: &[(String, Partition)],
    extractor: &Extractor,
    entities: &EntitySet,
    line_entities: &HashMap<String, Vec<u32>>,
    terms: &mut Interner,
    mut bert: Option<&mut BertRater>,
    corpus_path: &Path,
    progress: &(dyn Fn(Stage, u64) + Sync),
) -> Result<KeyTermPass> {
    let row_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let mut corpus =
        BufWriter::new(std::fs::File::create(corpus_path).map_err(write_err(corpus_path))?);
    let mut rated: Vec<Option<Rated>> = (0..rows.len()).map(|_| None).collect();
    let mut df: HashMap<u32, usize> = HashMap::new();
    let (mut corpus_lines, mut corpus_words, mut read) = (0usize, 0u64, 0u64);
    let bert_batch = cfg.bert.as_ref().map_or(1, |b| b.batch.max(1));
    let mut pending: Vec<PendingBert> = Vec::new();
    recipe1m::read_layer1(root, |r| {
        read += 1;
        progress(Stage::KeyTerms, read);
        let row = row_of.get(r.id.as_str()).copied();
        let is_train = r.partition == Partition::Train;
        if row.is_none() && !is_train {
            return Ok(());
        }
        let Some(lines) = line_entities.get(&r.id) else {
            return Err(Error::MissingRecord {
                file: DET_INGRS.to_string(),
                id: r.id.clone(),
            });
        };
        let entity_names: Vec<&str> = lines
            .iter()
            .map(|&t| terms.names[t as usize].as_str())
            .collect();
        let text = recipe_text(
            extractor,
            entities,
            &entity_names,
            &r.title,
            &r.instructions,
        );
        let words = text.words;
        let doc: Vec<u32> = text.document.iter().map(|t| terms.id(t)).collect();
        if is_train {
            corpus_lines += 1;
            corpus_words += words.len() as u64;
            writeln!(corpus, "{}", words.join(" ")).map_err(write_err(corpus_path))?;
            let mut distinct = doc.clone();
            distinct.sort_unstable();
            distinct.dedup();
            for t in distinct {
                *df.entry(t).or_insert(0) += 1;
            }
        }
        if let (Some(row), Some(rater)) = (row, bert.as_deref_mut()) {
            let mut distinct: Vec<u32> = Vec::new();
            for &t in &doc {
                if !distinct.contains(&t) {
                    distinct.push(t);
                }
            }
            pending.push(PendingBert {
                row,
                text: bert_rating::recipe_text(&r.title, &r.ingredients, &r.instructions),
                terms: distinct,
            });
            if pending.len() >= bert_batch {
                rate_pending(rater, &mut pending, &terms.names, &mut rated)?;
            }
        } else if let Some(row) = row {
            rated[row] = Some(match cfg.rating {
                Rating::Tfidf => Rated::Document(doc),
                Rating::Bert => unreachable!("rated in batches above"),
                Rating::Textrank => {
                    let candidates: Vec<String> = doc
                        .iter()
                        .map(|&t| terms.names[t as usize].clone())
                        .collect();
                    let scores = textrank(&words, &candidates, &cfg.textrank).map_err(|e| {
                        Error::Invalid {
                            what: format!("TextRank of recipe {}", r.id),
                            problem: e.to_string(),
                        }
                    })?;
                    Rated::Scores(scores.into_iter().map(|(t, s)| (terms.id(&t), s)).collect())
                }
            });
        }
        if (read as usize).is_multiple_of(LOG_EVERY) {
            tracing::info!(recipes = read, "key terms");
        }
        Ok(())
    })?;
    if let Some(rater) = bert {
        rate_pending(rater, &mut pending, &terms.names, &mut rated)?;
        tracing::info!(
            terms = rater.cached_terms(),
            model = %rater.dir().display(),
            "bert ratings done"
        );
    }
    corpus.flush().map_err(write_err(corpus_path))?;
    if let Some(row) = rated.iter().position(Option::is_none) {
        return Err(Error::MissingRecord {
            file: LAYER1.to_string(),
            id: rows[row].0.clone(),
        });
    }
    Ok(KeyTermPass {
        rated,
        df,
        corpus_lines,
        corpus_words,
    })
}

/// The word vectors: loaded from `cfg.vectors` (with the file's digest), or trained on the
/// corpus and written to `out/vocab.bin` (added to `files`).
fn word_vectors(
    cfg: &TextFeaturesConfig,
    out: &Path,
    corpus_path: &Path,
    files: &mut Vec<PathBuf>,
    progress: &(dyn Fn(Stage, u64) + Sync),
) -> Result<(WordVectors, Option<String>)> {
    let loaded = match &cfg.vectors {
        Some(path) => {
            progress(Stage::Word2vec, 0);
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let v = WordVectors::from_binary(&bytes).map_err(|problem| Error::Invalid {
                what: format!("word2vec file {}", path.display()),
                problem,
            })?;
            (v, Some(feature_store::config_sha256(&bytes)))
        }
        None => {
            let trained = train_on_corpus(corpus_path, &cfg.word2vec, progress)?;
            let path = out.join(VECTORS_FILE);
            trained.vectors.write_binary(&path)?;
            files.push(path);
            (trained.vectors, None)
        }
    };
    progress(Stage::Word2vec, 1000);
    Ok(loaded)
}

/// The rows that get a feature. Under a fixed rule, the candidates; under
/// [`TermSplits::Im2recipeOwnVectors`], the pairs of im2recipe's rule with the vectors'
/// vocabulary, which must be a subset of the candidates.
#[allow(clippy::type_complexity)]
fn final_rows(
    root: &Path,
    out: &Path,
    cfg: &TextFeaturesConfig,
    vectors: &WordVectors,
    rows: Vec<(String, Partition)>,
    rated: Vec<Option<Rated>>,
    join: pairs::JoinReport,
) -> Result<(
    Vec<(String, Partition)>,
    Vec<Option<Rated>>,
    pairs::JoinReport,
)> {
    if let TermSplits::Rule(_) = &cfg.splits {
        return Ok((rows, rated, join));
    }
    let source = cfg
        .vectors
        .clone()
        .unwrap_or_else(|| out.join(VECTORS_FILE));
    let vocab =
        IngredientVocab::from_words(vectors.words().to_vec(), &source.display().to_string());
    let (kept, kept_join) = pairs::open_with(root, &SplitRule::Im2recipe(vocab))?;
    let kept_rows = kept.rows();
    let keep: std::collections::HashSet<&str> =
        kept_rows.iter().map(|(id, _)| id.as_str()).collect();
    let candidates = rows.len();
    let (rows, rated): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .zip(rated)
        .filter(|((id, _), _)| keep.contains(id.as_str()))
        .unzip();
    if rows != kept_rows {
        return Err(Error::Invalid {
            what: format!("the im2recipe splits of {}", root.display()),
            problem: "a pair under the vectors' vocabulary was not a candidate without one (the \
                      rule is not monotone in its vocabulary?)"
                .into(),
        });
    }
    tracing::info!(
        candidates,
        rows = rows.len(),
        "im2recipe splits with the vectors' vocabulary"
    );
    Ok((rows, rated, kept_join))
}

/// The rows' `f_term` and what the summary counts of them.
struct TermFeatures {
    /// `[rows, dim]`, row-major.
    f_term: Vec<f32>,
    in_vocabulary: u64,
    out_of_vocabulary: u64,
    empty_terms: usize,
    /// Distinct key terms that some row rated.
    distinct_terms: usize,
}

/// Each row's ratings turned into `f_term` (spec/phase1-term-feature.md), and written to
/// `cfg.dump_terms` (added to `files`) when set.
#[allow(clippy::too_many_arguments)]
fn term_features(
    cfg: &TextFeaturesConfig,
    rows: &[(String, Partition)],
    rated: Vec<Option<Rated>>,
    tfidf: Option<&Tfidf>,
    terms: &Interner,
    vectors: &WordVectors,
    files: &mut Vec<PathBuf>,
    progress: &(dyn Fn(Stage, u64) + Sync),
) -> Result<TermFeatures> {
    let dim = vectors.dim();
    let mut f_term = vec![0f32; rows.len() * dim];
    let mut dump = match &cfg.dump_terms {
        Some(path) => {
            let f = std::fs::File::create(path).map_err(write_err(path))?;
            files.push(path.clone());
            Some((BufWriter::new(f), path))
        }
        None => None,
    };
    let (mut in_vocabulary, mut out_of_vocabulary, mut empty_terms) = (0u64, 0u64, 0usize);
    let mut seen_terms: Vec<bool> = vec![false; terms.names.len()];
    for (row, r) in rated.into_iter().enumerate() {
        let scores: Vec<(String, f64)> = match (r.expect("every row checked above"), tfidf) {
            (Rated::Document(doc), Some(tfidf)) => {
                for &t in &doc {
                    seen_terms[t as usize] = true;
                }
                let doc: Vec<String> = doc
                    .into_iter()
                    .map(|t| terms.names[t as usize].clone())
                    .collect();
                tfidf.transform(&doc)
            }
            (Rated::Scores(s), _) => s
                .into_iter()
                .map(|(t, s)| {
                    seen_terms[t as usize] = true;
                    (terms.names[t as usize].clone(), s)
                })
                .collect(),
            (Rated::Document(_), None) => unreachable!("documents are kept only for TF-IDF"),
        };
        let refs: Vec<(&str, f64)> = scores.iter().map(|(t, s)| (t.as_str(), *s)).collect();
        let feature = weighted_term_feature(&refs, vectors).map_err(|e| Error::Invalid {
            what: format!("f_term of recipe {}", rows[row].0),
            problem: e.to_string(),
        })?;
        in_vocabulary += feature.used as u64;
        out_of_vocabulary += feature.skipped as u64;
        if feature.is_empty() {
            empty_terms += 1;
        }
        f_term[row * dim..(row + 1) * dim].copy_from_slice(&feature.vector);
        if let Some((w, path)) = dump.as_mut() {
            let line = dump_line(&rows[row], &scores, vectors);
            writeln!(w, "{line}").map_err(write_err(path))?;
        }
        progress(Stage::Feature, row as u64 + 1);
    }
    if let Some((mut w, path)) = dump {
        w.flush().map_err(write_err(path))?;
    }
    Ok(TermFeatures {
        f_term,
        in_vocabulary,
        out_of_vocabulary,
        empty_terms,
        distinct_terms: seen_terms.iter().filter(|&&s| s).count(),
    })
}

/// `term.safetensors`: `f_term` F32 `[rows, dim]` with the configuration, the splits and a note
/// as metadata.
fn write_term_store(
    path: &Path,
    cfg: &TextFeaturesConfig,
    rows: &[(String, Partition)],
    join: &pairs::JoinReport,
    config_json: &str,
    dim: usize,
    f_term: &[f32],
) -> Result<()> {
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let mut w = FeatureWriter::new(ids, &feature_store::config_sha256(config_json.as_bytes()))?;
    w.metadata("producer", PRODUCER)?;
    w.metadata("text_features_config", config_json)?;
    w.metadata(
        "splits",
        &crate::phase1::category_feature::splits_json(&join.source),
    )?;
    w.metadata(
        "note",
        &format!(
            "weighted term feature f_term (spec/phase1-term-feature.md): key terms by the {} extractor",
            match cfg.key_terms {
                KeyTermSource::Lexicon => "lexicon",
                KeyTermSource::Tagger(_) => "POS-tagger",
            }
        ),
    )?;
    w.add_f32("f_term", &[rows.len(), dim], f_term)?;
    w.write(path)
}

/// A recipe read but not rated yet (BERT rates whole batches).
struct PendingBert {
    row: usize,
    text: String,
    /// Distinct key terms, in order of first occurrence.
    terms: Vec<u32>,
}

/// Rates the pending recipes with the BERT model and stores their scores; empties `pending`.
fn rate_pending(
    rater: &mut BertRater,
    pending: &mut Vec<PendingBert>,
    names: &[String],
    rated: &mut [Option<Rated>],
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let term_names: Vec<Vec<String>> = pending
        .iter()
        .map(|p| p.terms.iter().map(|&t| names[t as usize].clone()).collect())
        .collect();
    let batch: Vec<(&str, &[String])> = pending
        .iter()
        .zip(&term_names)
        .map(|(p, t)| (p.text.as_str(), t.as_slice()))
        .collect();
    let ratings = rater.rate(&batch)?;
    for (p, r) in pending.drain(..).zip(ratings) {
        let scores = p.terms.iter().zip(r).map(|(&t, r)| (t, r.rating)).collect();
        rated[p.row] = Some(Rated::Scores(scores));
    }
    Ok(())
}

/// One `--dump-terms` line: the recipe, its split, and its rated key terms (highest rating
/// first, then by name), each with whether it had a vector.
fn dump_line(row: &(String, Partition), scores: &[(String, f64)], vectors: &WordVectors) -> String {
    let mut sorted: Vec<&(String, f64)> = scores.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let terms: Vec<serde_json::Value> = sorted
        .into_iter()
        .map(|(t, s)| serde_json::json!({ "term": t, "rating": s, "vector": vectors.get(t).is_some() }))
        .collect();
    serde_json::json!({ "id": row.0, "partition": row.1.as_str(), "terms": terms }).to_string()
}

/// The distinct ingredient entities of a recipe's lines, in line order: each valid detection
/// as its entity name, each invalid line re-examined (spec/phase1-text.md).
pub fn line_entity_names(entities: &EntitySet, detections: &Detections) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for e in entities
        .line_entities(detections, Reexamination::default())
        .into_iter()
        .flatten()
    {
        if !names.iter().any(|n| n == e.entity()) {
            names.push(e.entity().to_string());
        }
    }
    names
}

/// The text of one recipe as Phase I uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeText {
    /// Its corpus line: the words of the title, then its line entities, then the words of its
    /// instructions, every key-term match spelled as its term ([`Lexicon::corpus_words`]).
    pub words: Vec<String>,
    /// Its key-term document (the input of the rating): its line entities, then the key terms
    /// of the title and of each instruction in order of occurrence, with repeats.
    pub document: Vec<String>,
}

/// [`RecipeText`] of a recipe whose ingredient lines gave `line_entities` (distinct, in line
/// order: valid detections and re-examined lines, spec/phase1-text.md).
pub fn recipe_text(
    extractor: &Extractor,
    entities: &EntitySet,
    line_entities: &[&str],
    title: &str,
    instructions: &[String],
) -> RecipeText {
    let mut words = extractor.corpus_words(entities, title);
    words.extend(line_entities.iter().map(|e| e.to_string()));
    let mut document: Vec<String> = line_entities.iter().map(|e| e.to_string()).collect();
    for text in std::iter::once(title).chain(instructions.iter().map(String::as_str)) {
        document.extend(
            extractor
                .key_terms(entities, text)
                .into_iter()
                .map(|k| k.term),
        );
    }
    for text in instructions {
        words.extend(extractor.corpus_words(entities, text));
    }
    RecipeText { words, document }
}

/// f_term of one recipe with TF-IDF ratings, as [`write_text_features`] computes each row: its
/// key-term document ([`recipe_text`]), rated by `tfidf` (fitted on the training split), weighted
/// mean of the rated terms' vectors ([`weighted_term_feature`]).
pub fn recipe_term_feature(
    extractor: &Extractor,
    entities: &EntitySet,
    line_entities: &[&str],
    title: &str,
    instructions: &[String],
    tfidf: &Tfidf,
    vectors: &WordVectors,
) -> Result<crate::phase1::term_feature::TermFeature> {
    let text = recipe_text(extractor, entities, line_entities, title, instructions);
    let scores = tfidf.transform(&text.document);
    let refs: Vec<(&str, f64)> = scores.iter().map(|(t, s)| (t.as_str(), *s)).collect();
    weighted_term_feature(&refs, vectors)
}

/// Trains word2vec on a corpus file (one text per line, words separated by spaces).
pub fn train_on_corpus(
    corpus: &Path,
    cfg: &Word2VecConfig,
    progress: &(dyn Fn(Stage, u64) + Sync),
) -> Result<word2vec::Trained> {
    progress(Stage::Word2vec, 0);
    let io = |e: std::io::Error| Error::io(corpus, e);
    let file = std::fs::File::open(corpus).map_err(io)?;
    let mut failure: Option<std::io::Error> = None;
    let lines = std::io::BufReader::new(file)
        .lines()
        .map_while(|l| l.map_err(|e| failure = Some(e)).ok())
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    let trained = word2vec::train_with_progress(lines, cfg, &|share| {
        progress(
            Stage::Word2vec,
            (share * 1000.0).round().clamp(0.0, 1000.0) as u64,
        )
    });
    if let Some(e) = failure {
        return Err(io(e));
    }
    trained
}
