//! Phase I sentence features end to end (§4.d in our reconstruction), what
//! `seje features sentences` runs: every instruction tokenised as the word2vec corpus spells it,
//! the skip-instructions model trained on the training split to predict each next instruction
//! (per-epoch checkpoints, exact resume), then every recipe with a pair encoded, its first 20
//! instructions as 1024-d rows, into the feature store's `sentences.safetensors`.
//!
//! Spec: spec/phase1-sentence-features.md.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::checkpoint::epoch::{EpochCheckpoint, EpochState};
use crate::data::feature_store::{self, FeatureWriter};
use crate::data::pairs;
use crate::data::recipe1m;
use crate::data::splits::Partition;
use crate::nn::adam::{Adam, AdamConfig};
use crate::phase1::entities::EntitySet;
use crate::phase1::key_terms::Lexicon;
use crate::phase1::skip_instructions::{SkipInstructions, SkipInstructionsConfig};
use crate::phase1::word2vec::WordVectors;
use crate::{Error, Result};

/// The store file written (the Phase II input name).
pub use crate::data::feature_store::SENTENCES_FILE;
/// The checkpoint directory inside `--out`, unless another is given.
pub const CHECKPOINT_DIR: &str = "skip_instructions";
/// `producer` metadata of the store.
pub const PRODUCER: &str = "seje features sentences";

/// Settings of [`write_sentence_features`]; [`Default`] is the paper's widths with this
/// package's training choices (spec/phase1-sentence-features.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceFeaturesConfig {
    /// Sentence vector width (im2recipe's 1024).
    pub hidden: i64,
    /// Output vocabulary: the most frequent training words kept (`<unk>` and `<eos>` added).
    pub vocab: usize,
    /// Words kept per sentence (longer sentences are cut; the cut is counted).
    pub max_words: usize,
    /// Sentence rows per recipe in the store (the loader's `maxInst = 20`).
    pub max_sentences: usize,
    /// Training epochs over the (sentence, next sentence) pairs.
    pub epochs: usize,
    /// Pairs per batch.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Seed of the initialisation and of the per-epoch shuffles.
    pub seed: u64,
}

impl Default for SentenceFeaturesConfig {
    fn default() -> Self {
        Self {
            hidden: 1024,
            vocab: 20_000,
            max_words: 64,
            max_sentences: 20,
            epochs: 5,
            batch: 128,
            lr: 1e-3,
            seed: 1234,
        }
    }
}

impl SentenceFeaturesConfig {
    fn validate(&self) -> Result<()> {
        let bad = |p: &str| {
            Err(Error::Invalid {
                what: "sentence features config".into(),
                problem: p.into(),
            })
        };
        if self.hidden < 1 {
            return bad("hidden must be at least 1");
        }
        if self.vocab < 1 || self.max_words < 1 || self.max_sentences < 1 || self.batch < 1 {
            return bad("vocab, max_words, max_sentences and batch must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr must be a positive number");
        }
        Ok(())
    }
}

/// The stage [`write_sentence_features`] reports progress of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and tokenising recipes (value: recipes read).
    Read,
    /// Training epoch `epoch` (1-based; value: batches done).
    Train {
        /// The epoch.
        epoch: usize,
        /// Batches in the epoch.
        batches: u64,
    },
    /// Encoding the rows (value: rows done).
    Encode,
}

/// One epoch's line of `metrics.jsonl` in the checkpoint directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLoss {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean next-sentence cross-entropy over the epoch's batches.
    pub loss: f64,
    /// Batches.
    pub batches: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// What [`write_sentence_features`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentenceFeaturesSummary {
    /// Rows written (every recipe with a pair).
    pub recipes: usize,
    /// Of which in train, val, test.
    pub per_split: [usize; 3],
    /// Training pairs (sentence, next sentence).
    pub pairs: usize,
    /// Output vocabulary size (`<unk>` and `<eos>` included).
    pub output_vocab: usize,
    /// Share of the training words that are `<unk>` in the output vocabulary.
    pub unk_share: f64,
    /// Share of the instruction words without a word vector (input zero vector).
    pub oov_share: f64,
    /// Sentences cut at `max_words`.
    pub cut_sentences: usize,
    /// Epoch the training resumed from (0 when it started fresh).
    pub resumed_from: usize,
    /// Every epoch's loss, the earlier ones from the checkpoint.
    pub losses: Vec<EpochLoss>,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl SentenceFeaturesSummary {
    /// The lines `seje features sentences` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "recipes     {} (train {}, val {}, test {})",
            self.recipes, self.per_split[0], self.per_split[1], self.per_split[2]
        );
        let _ = writeln!(
            s,
            "training    {} sentence pairs; output vocabulary {} ({:.1}% of target words <unk>); {:.1}% of words without a vector; {} sentences cut",
            self.pairs,
            self.output_vocab,
            100.0 * self.unk_share,
            100.0 * self.oov_share,
            self.cut_sentences
        );
        if self.resumed_from > 0 {
            let _ = writeln!(s, "resumed     after epoch {}", self.resumed_from);
        }
        for e in &self.losses {
            let _ = writeln!(
                s,
                "epoch {:>3}   loss {:.4} ({} batches, {:.1} s)",
                e.epoch, e.loss, e.batches, e.seconds
            );
        }
        for f in &self.files {
            let _ = writeln!(s, "wrote       {}", f.display());
        }
        s
    }
}

/// Tokenised sentences, flat: sentence `i` is `inputs[offsets[i]..offsets[i + 1]]` (word-vector
/// rows + 1, 0 for a word without a vector) and the same span of `outputs` (output ids).
#[derive(Default)]
struct Sentences {
    inputs: Vec<u32>,
    words: Vec<String>,
    offsets: Vec<usize>,
}

impl Sentences {
    fn push(&mut self, words: Vec<String>, index: &HashMap<&str, u32>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        for w in words {
            self.inputs
                .push(index.get(w.as_str()).map_or(0, |&i| i + 1));
            self.words.push(w);
        }
        self.offsets.push(self.inputs.len());
    }
    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    fn span(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }
}

/// The output vocabulary: the `size` most frequent words of `counts` (ties by word), then
/// `<unk>` and `<eos>`.
fn output_vocabulary(counts: HashMap<String, u64>, size: usize) -> Vec<String> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(size);
    let mut words: Vec<String> = v.into_iter().map(|(w, _)| w).collect();
    words.push("<unk>".into());
    words.push("<eos>".into());
    words
}

/// Writes `out/sentences.safetensors` (`f_sent` F32 [n, max_sentences, hidden], `lengths` I64
/// [n], rows = the recipes with a pair under `rule`, sorted by id) after training (or resuming, or reusing)
/// the skip-instructions model in `checkpoint` (default `out/skip_instructions/`). On the CPU the
/// same inputs and seed give the same bytes.
///
/// Errors: `root` is not a directory; the readers' errors; a bad vectors file; a checkpoint
/// trained with other settings (unless `force`, which starts over); a training split without
/// a sentence pair; `out` cannot be written.
#[allow(clippy::too_many_arguments)]
pub fn write_sentence_features(
    root: &Path,
    rule: &crate::data::splits::SplitRule,
    vectors_path: &Path,
    out: &Path,
    checkpoint: Option<&Path>,
    cfg: &SentenceFeaturesConfig,
    device: Device,
    force: bool,
    progress: &dyn Fn(Stage, u64),
) -> Result<SentenceFeaturesSummary> {
    cfg.validate()?;
    if !root.is_dir() {
        return Err(Error::Invalid {
            what: root.display().to_string(),
            problem: "dataset root is not a directory".into(),
        });
    }
    let vectors_bytes = std::fs::read(vectors_path).map_err(|e| Error::io(vectors_path, e))?;
    let vectors = WordVectors::from_binary(&vectors_bytes).map_err(|problem| Error::Invalid {
        what: format!("word2vec file {}", vectors_path.display()),
        problem,
    })?;
    let vectors_sha256 = feature_store::config_sha256(&vectors_bytes);
    drop(vectors_bytes);
    let index = input_index(&vectors);
    let (dataset, join) = pairs::open_with(root, rule)?;
    let rows = dataset.rows();
    let mut text = tokenise(root, &rows, cfg, &index, progress)?;
    let targets = Targets::new(&mut text, cfg.vocab);
    tracing::info!(
        pairs = text.pairs.len(),
        vocabulary = targets.vocabulary.len(),
        rows = rows.len(),
        "skip-instructions data"
    );
    // The embedding table: row 0 is the zero vector (no vector, <bos>, padding).
    let table = input_table(&vectors, device);
    let mut fingerprint_src = serde_json::to_string(cfg).expect("config serialises");
    fingerprint_src.push_str(&vectors_sha256);
    fingerprint_src.push_str(&targets.vocabulary.join("\n"));
    let fingerprint = feature_store::config_sha256(fingerprint_src.as_bytes());
    let ckpt: PathBuf = checkpoint.map_or_else(|| out.join(CHECKPOINT_DIR), Path::to_path_buf);
    let trained = train_model(
        cfg,
        vectors.dim(),
        &text,
        &targets,
        &table,
        &ckpt,
        &fingerprint,
        device,
        force,
        progress,
    )?;
    let (f_sent, lengths) = encode_rows(&trained.model, &text, &table, cfg, device, progress)?;

    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let config_json = serde_json::json!({
        "config": cfg,
        "vectors_sha256": vectors_sha256,
        "fingerprint": fingerprint,
    })
    .to_string();
    let path = out.join(SENTENCES_FILE);
    write_sentence_store(&path, cfg, &rows, &join, &config_json, &f_sent, &lengths)?;

    let mut per_split = [0usize; 3];
    for (_, p) in &rows {
        per_split[p.index()] += 1;
    }
    Ok(SentenceFeaturesSummary {
        recipes: rows.len(),
        per_split,
        pairs: text.pairs.len(),
        output_vocab: targets.vocabulary.len(),
        unk_share: targets.unk_share,
        oov_share: if text.words_seen == 0 {
            0.0
        } else {
            text.oov as f64 / text.words_seen as f64
        },
        cut_sentences: text.cut,
        resumed_from: trained.resumed_from,
        losses: trained.state.records,
        files: vec![path, ckpt],
    })
}

/// The instructions as the model reads them: the training recipes' sentences (all of them, for
/// the next-sentence pairs) and each row's first `max_sentences` (for its features).
struct Tokenised {
    train: Sentences,
    /// Consecutive sentences of one training recipe: (sentence, next sentence).
    pairs: Vec<(u32, u32)>,
    /// The word counts of the training sentences (for the output vocabulary).
    counts: HashMap<String, u64>,
    rows: Sentences,
    /// Per row: its first sentence in `rows` and how many it kept.
    row_first: Vec<(usize, usize)>,
    cut: usize,
    oov: u64,
    words_seen: u64,
}

/// Reads `layer1.json` once and tokenises what [`Tokenised`] holds. Errors: a row without a
/// `layer1.json` record; a training split where no recipe has two instructions.
fn tokenise(
    root: &Path,
    rows: &[(String, Partition)],
    cfg: &SentenceFeaturesConfig,
    index: &HashMap<&str, u32>,
    progress: &dyn Fn(Stage, u64),
) -> Result<Tokenised> {
    let row_of: HashMap<&str, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let entities = EntitySet::from_root(root)?;
    let lexicon = Lexicon::standard();
    let mut train = Sentences::default();
    let mut pair_list: Vec<(u32, u32)> = Vec::new();
    let mut rowsents = Sentences::default();
    let mut row_first: Vec<Option<(usize, usize)>> = vec![None; rows.len()];
    let mut counts: HashMap<String, u64> = HashMap::new();
    let (mut cut, mut oov, mut words_seen, mut read) = (0usize, 0u64, 0u64, 0u64);
    recipe1m::read_layer1(root, |r| {
        read += 1;
        progress(Stage::Read, read);
        let row = row_of.get(r.id.as_str()).copied();
        let is_train = r.partition == Partition::Train;
        if row.is_none() && !is_train {
            return Ok(());
        }
        let mut sentences: Vec<Vec<String>> = Vec::with_capacity(r.instructions.len());
        for text in &r.instructions {
            let (w, was_cut) = instruction_words(&lexicon, &entities, text, cfg.max_words);
            cut += usize::from(was_cut);
            words_seen += w.len() as u64;
            oov += w.iter().filter(|x| !index.contains_key(x.as_str())).count() as u64;
            sentences.push(w);
        }
        if let Some(row) = row {
            let first = rowsents.len();
            let kept = sentences.len().min(cfg.max_sentences);
            for s in &sentences[..kept] {
                rowsents.push(s.clone(), index);
            }
            row_first[row] = Some((first, kept));
        }
        if is_train {
            let first = train.len() as u32;
            for (k, s) in sentences.into_iter().enumerate() {
                if k > 0 {
                    pair_list.push((first + k as u32 - 1, first + k as u32));
                }
                for w in &s {
                    *counts.entry(w.clone()).or_insert(0) += 1;
                }
                train.push(s, index);
            }
        }
        Ok(())
    })?;
    if let Some(row) = row_first.iter().position(Option::is_none) {
        return Err(Error::MissingRecord {
            file: recipe1m::LAYER1.to_string(),
            id: rows[row].0.clone(),
        });
    }
    if pair_list.is_empty() {
        return Err(Error::Invalid {
            what: format!("training split of {}", root.display()),
            problem: "no recipe has two instructions: nothing to train the next-sentence model on"
                .into(),
        });
    }
    Ok(Tokenised {
        train,
        pairs: pair_list,
        counts,
        rows: rowsents,
        row_first: row_first.into_iter().map(|f| f.expect("checked")).collect(),
        cut,
        oov,
        words_seen,
    })
}

/// The decoder's targets: the output vocabulary and every training word's index in it.
struct Targets {
    vocabulary: Vec<String>,
    /// One per word of the training sentences.
    outputs: Vec<i64>,
    eos: i64,
    /// The share of training words that are `<unk>`.
    unk_share: f64,
}

impl Targets {
    /// The output vocabulary of the training counts (taken) and the training words' targets; the
    /// training sentences' words are dropped afterwards (only their inputs are needed).
    fn new(text: &mut Tokenised, size: usize) -> Self {
        let vocabulary = output_vocabulary(std::mem::take(&mut text.counts), size);
        let out_index: HashMap<&str, i64> = vocabulary
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_str(), i as i64))
            .collect();
        let unk = (vocabulary.len() - 2) as i64;
        let eos = (vocabulary.len() - 1) as i64;
        let outputs: Vec<i64> = text
            .train
            .words
            .iter()
            .map(|w| out_index.get(w.as_str()).copied().unwrap_or(unk))
            .collect();
        let unk_share = if outputs.is_empty() {
            0.0
        } else {
            outputs.iter().filter(|&&o| o == unk).count() as f64 / outputs.len() as f64
        };
        drop(out_index);
        drop(std::mem::take(&mut text.train.words));
        Targets {
            vocabulary,
            outputs,
            eos,
            unk_share,
        }
    }
}

/// The trained (or resumed, or reused) model and its epoch records.
struct Trained {
    model: SkipInstructions,
    state: EpochState<EpochLoss>,
    resumed_from: usize,
}

/// Trains the skip-instructions model on the next-sentence pairs, resuming from the epoch
/// checkpoints in `ckpt` when they were made with the same `fingerprint` (unless `force`).
#[allow(clippy::too_many_arguments)]
fn train_model(
    cfg: &SentenceFeaturesConfig,
    dim: usize,
    text: &Tokenised,
    targets: &Targets,
    table: &Tensor,
    ckpt: &Path,
    fingerprint: &str,
    device: Device,
    force: bool,
    progress: &dyn Fn(Stage, u64),
) -> Result<Trained> {
    let model_cfg = SkipInstructionsConfig {
        word_dim: dim as i64,
        hidden: cfg.hidden,
        output_vocab: targets.vocabulary.len() as i64,
    };
    let rng = crate::runtime::torch_rng_lock();
    tch::manual_seed(cfg.seed as i64);
    let mut vs = nn::VarStore::new(device);
    let model = SkipInstructions::new(&vs.root(), model_cfg)?;
    drop(rng);
    let mut adam = Adam::new(&vs, AdamConfig::pytorch(cfg.lr));

    let saved = EpochCheckpoint::create(ckpt)?;
    let mut state = EpochState {
        fingerprint: fingerprint.to_string(),
        epochs_done: 0,
        records: Vec::new(),
    };
    if let Some((resumed, optim)) = saved.resume(
        fingerprint,
        force,
        "other settings, vectors or data; pass --force to start over, or another --checkpoint",
        &mut vs,
    )? {
        adam.load_state(optim)?;
        state = resumed;
        tracing::info!(epochs_done = state.epochs_done, "skip-instructions resumed");
    }
    let resumed_from = state.epochs_done;

    let (train, pair_list) = (&text.train, &text.pairs);
    let batches = pair_list.len().div_ceil(cfg.batch);
    for epoch in state.epochs_done + 1..=cfg.epochs {
        let start = std::time::Instant::now();
        let mut order = pair_list.clone();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ ((epoch as u64) << 32));
        order.shuffle(&mut rng);
        let mut total = 0f64;
        for (b, chunk) in order.chunks(cfg.batch).enumerate() {
            let (src, src_len) = encoder_batch(
                chunk
                    .iter()
                    .map(|p| &train.inputs[train.span(p.0 as usize)]),
                table,
                device,
            );
            let (dec, targets) =
                decoder_batch(chunk, train, &targets.outputs, targets.eos, table, device);
            adam.zero_grad();
            let loss = model.loss(&src, &src_len, &dec, &targets)?;
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return Err(Error::NonFinite {
                    term: "skip-instructions next-sentence loss".into(),
                    problem: format!("epoch {epoch}, batch {}", b + 1),
                });
            }
            loss.backward();
            adam.step()?;
            total += value;
            progress(
                Stage::Train {
                    epoch,
                    batches: batches as u64,
                },
                b as u64 + 1,
            );
        }
        let record = EpochLoss {
            epoch,
            loss: total / batches as f64,
            batches,
            seconds: start.elapsed().as_secs_f64(),
        };
        tracing::info!(epoch, loss = record.loss, "skip-instructions epoch");
        state.epochs_done = epoch;
        state.records.push(record);
        saved.save(&vs, &adam.state(), &state)?;
        if std::env::var(ABORT_ENV)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            == Some(epoch)
        {
            tracing::warn!(epoch, "aborting on purpose ({ABORT_ENV})");
            std::process::abort();
        }
    }
    Ok(Trained {
        model,
        state,
        resumed_from,
    })
}

/// Each row's first `max_sentences` sentences encoded: `f_sent` `[rows, max_sentences, hidden]`
/// (zero past a row's last sentence) and `lengths` `[rows]`.
fn encode_rows(
    model: &SkipInstructions,
    text: &Tokenised,
    table: &Tensor,
    cfg: &SentenceFeaturesConfig,
    device: Device,
    progress: &dyn Fn(Stage, u64),
) -> Result<(Vec<f32>, Vec<i64>)> {
    let (rowsents, row_first) = (&text.rows, &text.row_first);
    let n = row_first.len();
    let h = cfg.hidden as usize;
    let s = cfg.max_sentences;
    let mut f_sent = vec![0f32; n * s * h];
    let all: Vec<(usize, usize)> = row_first
        .iter()
        .enumerate()
        .flat_map(|(row, &(first, kept))| (0..kept).map(move |k| (row, first + k)))
        .collect();
    // A recipe without an instruction keeps one zero row (Phase II's LSTM needs one step), as
    // the stand-in and the .t7 conversion do.
    let lengths: Vec<i64> = row_first.iter().map(|&(_, k)| k.max(1) as i64).collect();
    let mut done_rows = 0u64;
    let _guard = tch::no_grad_guard();
    for chunk in all.chunks(cfg.batch.max(256)) {
        let (src, src_len) = encoder_batch(
            chunk
                .iter()
                .map(|&(_, i)| &rowsents.inputs[rowsents.span(i)]),
            table,
            device,
        );
        let enc = model
            .encode(&src, &src_len)?
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let values: Vec<f32> =
            Vec::<f32>::try_from(enc.view([-1])).map_err(|e| Error::Invalid {
                what: "sentence vectors".into(),
                problem: e.to_string(),
            })?;
        for (k, &(row, i)) in chunk.iter().enumerate() {
            let j = i - row_first[row].0;
            let at = (row * s + j) * h;
            f_sent[at..at + h].copy_from_slice(&values[k * h..(k + 1) * h]);
            if j + 1 == row_first[row].1 {
                done_rows += 1;
                progress(Stage::Encode, done_rows);
            }
        }
    }
    Ok((f_sent, lengths))
}

/// `sentences.safetensors`: `f_sent` and `lengths`, with the configuration, the splits and a
/// note as metadata.
fn write_sentence_store(
    path: &Path,
    cfg: &SentenceFeaturesConfig,
    rows: &[(String, Partition)],
    join: &pairs::JoinReport,
    config_json: &str,
    f_sent: &[f32],
    lengths: &[i64],
) -> Result<()> {
    let n = rows.len();
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let mut w = FeatureWriter::new(ids, &feature_store::config_sha256(config_json.as_bytes()))?;
    w.metadata("producer", PRODUCER)?;
    w.metadata("sentence_features_config", config_json)?;
    w.metadata(
        "splits",
        &crate::phase1::category_feature::splits_json(&join.source),
    )?;
    w.metadata(
        "note",
        "skip-instructions sentence vectors (spec/phase1-sentence-features.md)",
    )?;
    w.add_f32(
        "f_sent",
        &[n, cfg.max_sentences, cfg.hidden as usize],
        f_sent,
    )?;
    w.add_i64("lengths", &[n], lengths)?;
    w.write(path)
}

/// Set to an epoch number, the process aborts right after saving that epoch's checkpoint (the
/// resume test's fault injection).
pub const ABORT_ENV: &str = "SEJE_FAULT_ABORT_AFTER_SENTENCE_EPOCH";

/// The words of one instruction as the skip-instructions model reads them: the word2vec corpus
/// spelling ([`Lexicon::corpus_words`]), cut at `max_words`; the flag says whether it was cut.
pub fn instruction_words(
    lexicon: &Lexicon,
    entities: &EntitySet,
    text: &str,
    max_words: usize,
) -> (Vec<String>, bool) {
    let mut w = lexicon.corpus_words(entities, text);
    let cut = w.len() > max_words;
    w.truncate(max_words);
    (w, cut)
}

/// Input ids of the word vectors: word → its row in `vectors` (the encoder's input id is the row
/// + 1; 0 is a word without a vector).
pub fn input_index(vectors: &WordVectors) -> HashMap<&str, u32> {
    vectors
        .words()
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i as u32))
        .collect()
}

/// The encoder's input table `[len + 1, dim]`: row 0 is the zero vector (no vector, `<bos>`,
/// padding), row i + 1 the vector of word i.
pub fn input_table(vectors: &WordVectors, device: Device) -> Tensor {
    let dim = vectors.dim();
    let mut table = vec![0f32; dim];
    table.extend_from_slice(vectors.as_slice());
    Tensor::from_slice(&table)
        .view([(vectors.len() + 1) as i64, dim as i64])
        .to_device(device)
}

/// Word vectors [B, L, dim] of sentences given as input ids (0 = zero vector), zero-padded, and
/// their lengths; an empty sentence is one zero vector.
pub fn encoder_batch<'a>(
    sentences: impl Iterator<Item = &'a [u32]>,
    table: &Tensor,
    device: Device,
) -> (Tensor, Tensor) {
    let sentences: Vec<&[u32]> = sentences.collect();
    let b = sentences.len();
    let l = sentences.iter().map(|s| s.len().max(1)).max().unwrap_or(1);
    let mut ids = vec![0i64; b * l];
    let mut lengths = vec![0i64; b];
    for (i, s) in sentences.iter().enumerate() {
        for (j, &t) in s.iter().enumerate() {
            ids[i * l + j] = i64::from(t);
        }
        lengths[i] = s.len().max(1) as i64;
    }
    let ids = Tensor::from_slice(&ids).to_device(device);
    let dim = table.size()[1];
    (
        table.index_select(0, &ids).view([b as i64, l as i64, dim]),
        Tensor::from_slice(&lengths),
    )
}

/// Decoder inputs [B, T, dim] (<bos> = zero vector, then every word of the next sentence) and
/// targets [B, T] (its output ids, then `<eos>`; padding −100) of a batch of pairs.
fn decoder_batch(
    pairs: &[(u32, u32)],
    train: &Sentences,
    outputs: &[i64],
    eos: i64,
    table: &Tensor,
    device: Device,
) -> (Tensor, Tensor) {
    let b = pairs.len();
    let t = pairs
        .iter()
        .map(|p| train.span(p.1 as usize).len() + 1)
        .max()
        .unwrap_or(1);
    let mut ids = vec![0i64; b * t];
    let mut targets = vec![-100i64; b * t];
    for (i, p) in pairs.iter().enumerate() {
        let span = train.span(p.1 as usize);
        for (j, k) in span.clone().enumerate() {
            ids[i * t + j + 1] = i64::from(train.inputs[k]);
            targets[i * t + j] = outputs[k];
        }
        targets[i * t + span.len()] = eos;
    }
    let ids = Tensor::from_slice(&ids).to_device(device);
    let dim = table.size()[1];
    (
        table.index_select(0, &ids).view([b as i64, t as i64, dim]),
        Tensor::from_slice(&targets)
            .view([b as i64, t as i64])
            .to_device(device),
    )
}
