//! im2recipe's released skip-instructions vectors, `encs_{train,val,test}_1024.t7` (Torch7 files
//! read by [`crate::data::t7`]), and their conversion to the feature store's
//! `sentences.safetensors`, the f_sent input Phase II reads.
//!
//! Spec: spec/data-t7.md (the files' fields, the conversion). The files were written by th-skip's
//! `scripts/encode.moon` and are read by im2recipe's `scripts/mk_dataset.py` (`get_st`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::data::feature_store::{self, Dtype as StoreDtype, FeatureWriter};
use crate::data::splits::{Partition, SplitRule};
use crate::data::t7::{map_file, read_bytes, Dtype, Storage, Value};
use crate::{Error, Result};

/// Sentence rows per recipe kept by the conversion: the authors' loader's `maxInst = 20`.
pub const MAX_SENTENCES: usize = 20;

/// Value of the `producer` metadata key of the converted store (the intended command).
pub const PRODUCER: &str = "seje features sentences --from-t7";

/// The file the conversion writes, as Phase II names it.
pub use crate::data::feature_store::SENTENCES_FILE;

/// The released files' names, one per split: `encs_{split}_1024.t7`.
pub fn file_name(split: Partition) -> String {
    format!("encs_{}_1024.t7", split.as_str())
}

/// What [`convert_released_files`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The `.t7` files read, in split order.
    pub sources: Vec<PathBuf>,
    /// What the store holds.
    pub store: SentenceStoreSummary,
    /// The store written.
    pub written: PathBuf,
}

impl Conversion {
    /// Human-readable lines (what `seje features sentences --from-t7` prints).
    pub fn render(&self) -> String {
        let s = &self.store;
        format!(
            "recipes     {} converted from {} file(s), {} sentence values each; {} cut at {MAX_SENTENCES} sentences, {} without a sentence (one zero row)\nwrote       {}\n",
            s.recipes,
            self.sources.len(),
            s.dim,
            s.truncated,
            s.empty,
            self.written.display()
        )
    }
}

/// Converts the released files found in `dir` (any of the three splits' files) into
/// `out/sentences.safetensors`, with one row per recipe that has a pair under `rule` in `root`,
/// in the feature store's order; with `only` non-empty, the pairs of those splits only (to
/// evaluate a released model when the other splits are not im2recipe's).
///
/// Errors: `dir` holds none of the files; a file is malformed; a recipe is in none or in two of
/// them; the dataset cannot be read; `out` cannot be written.
pub fn convert_released_files(
    dir: &Path,
    root: &Path,
    rule: &SplitRule,
    only: &[Partition],
    out: &Path,
) -> Result<Conversion> {
    let mut sources = Vec::new();
    for split in Partition::ALL {
        let path = dir.join(file_name(split));
        if path.exists() {
            sources.push(SkipInstructionVectors::open(&path)?);
        }
    }
    if sources.is_empty() {
        return Err(Error::Invalid {
            what: dir.display().to_string(),
            problem: "holds no encs_{train,val,test}_1024.t7".into(),
        });
    }
    let (dataset, _) = crate::data::pairs::open_with(root, rule)?;
    let ids: Vec<String> = dataset
        .rows()
        .into_iter()
        .filter(|(_, p)| only.is_empty() || only.contains(p))
        .map(|(id, _)| id)
        .collect();
    let store = write_sentence_store(&sources, &ids, MAX_SENTENCES, out)?;
    Ok(Conversion {
        sources: sources.iter().map(|s| s.path.clone()).collect(),
        store,
        written: out.join(SENTENCES_FILE),
    })
}

/// The skip-instructions sentence vectors of one `encs_*.t7` file: recipe ids, and for recipe `i`
/// its `rlens[i]` consecutive rows of `encs` starting at row `rbps[i] − 1`.
///
/// Memory: the `encs` storage once (n_sentences × dim × 4 bytes: about 3 GB for Recipe1M's
/// training split at 1024 dimensions) plus the ids; a non-contiguous or double `encs` is copied
/// once into a contiguous f32 buffer and its original dropped.
#[derive(Debug)]
pub struct SkipInstructionVectors {
    path: PathBuf,
    sha256: String,
    ids: Vec<String>,
    index: HashMap<String, usize>,
    starts: Vec<usize>,
    lens: Vec<usize>,
    dim: usize,
    rows: usize,
    encs: Rc<Storage>,
    encs_offset: usize,
}

impl SkipInstructionVectors {
    /// Reads and checks `path` (a table with `encs`, `rlens`, `rbps`, `ids`).
    pub fn open(path: &Path) -> Result<Self> {
        let map = map_file(path)?;
        let sha256 = format!("{:x}", Sha256::digest(&map[..]));
        let root = read_bytes(&map, path)?;
        drop(map);
        let mut v = Self::from_value(&root, path)?;
        v.sha256 = sha256;
        tracing::info!(path = %path.display(), recipes = v.ids.len(), sentences = v.rows, dim = v.dim, "skip-instructions vectors read");
        Ok(v)
    }

    /// Checks a value read from `path` (named in errors) and indexes it.
    pub fn from_value(root: &Value, path: &Path) -> Result<Self> {
        let bad = |problem: String| Error::Format {
            path: path.to_path_buf(),
            problem,
        };
        let field = |name: &str| {
            root.get(name).ok_or_else(|| {
                bad(format!(
                    "expected a table with field `{name}` (encs, rlens, rbps, ids), found {}",
                    root.kind()
                ))
            })
        };
        let encs = match field("encs")? {
            Value::Tensor(t) if t.shape.len() == 2 && t.storage.is_some() => t.clone(),
            other => {
                return Err(bad(format!(
                    "field `encs`: expected a 2-d float tensor [sentences, dim], found {}",
                    other.kind()
                )))
            }
        };
        let (rows, dim) = (encs.shape[0], encs.shape[1]);
        let (storage, encs_offset) = match (encs.dtype, encs.is_contiguous(), &encs.storage) {
            (Dtype::Float, true, Some(s)) => (s.clone(), encs.offset),
            (Dtype::Float | Dtype::Double, _, _) => {
                tracing::debug!(path = %path.display(), dtype = encs.dtype.name(), "encs copied into a contiguous f32 buffer");
                (Rc::new(Storage::Float(encs.to_f32_vec())), 0)
            }
            (d, _, _) => {
                return Err(bad(format!(
                    "field `encs`: expected a float tensor, found a {}",
                    d.tensor_class()
                )))
            }
        };
        let ids = decode_ids(field("ids")?).map_err(|p| bad(format!("field `ids`: {p}")))?;
        let rlens = integers(field("rlens")?).map_err(|p| bad(format!("field `rlens`: {p}")))?;
        let rbps = integers(field("rbps")?).map_err(|p| bad(format!("field `rbps`: {p}")))?;
        if ids.len() != rlens.len() || ids.len() != rbps.len() {
            return Err(bad(format!(
                "expected as many ids, rlens and rbps, found {}, {} and {}",
                ids.len(),
                rlens.len(),
                rbps.len()
            )));
        }
        let mut index = HashMap::with_capacity(ids.len());
        let (mut starts, mut lens) = (Vec::with_capacity(ids.len()), Vec::with_capacity(ids.len()));
        for (i, id) in ids.iter().enumerate() {
            let (len, bp) = (rlens[i], rbps[i]);
            let recipe = format!("recipe {i} ({id})");
            if len < 0 {
                return Err(bad(format!("{recipe}: negative rlens {len}")));
            }
            if bp < 1 {
                return Err(bad(format!("{recipe}: rbps {bp} is not a 1-based row")));
            }
            let (start, len) = (bp as usize - 1, len as usize);
            if start + len > rows {
                return Err(bad(format!(
                    "{recipe}: rows {}..{} (rbps {bp}, rlens {len}) exceed the {rows} rows of encs",
                    start + 1,
                    start + len
                )));
            }
            if let Some(first) = index.insert(id.clone(), i) {
                return Err(bad(format!("{recipe}: id also at recipe {first}")));
            }
            starts.push(start);
            lens.push(len);
        }
        Ok(Self {
            path: path.to_path_buf(),
            sha256: String::new(),
            ids,
            index,
            starts,
            lens,
            dim,
            rows,
            encs: storage,
            encs_offset,
        })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 (lowercase hex) of the file's bytes (empty when built with [`Self::from_value`]).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Recipe ids in file order (NUL padding removed).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of recipes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the file has no recipes.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Width of one sentence vector (1024 for im2recipe's files).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows of `encs` (sentences of all recipes).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The position of recipe `id` in the file.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The sentence vectors of recipe `i`: `rlens[i] × dim` floats, row-major, borrowed.
    pub fn sentences(&self, i: usize) -> &[f32] {
        let from = self.encs_offset + self.starts[i] * self.dim;
        match &*self.encs {
            Storage::Float(v) => &v[from..from + self.lens[i] * self.dim],
            // `from_value` keeps encs as f32 only.
            _ => &[],
        }
    }

    /// Number of sentences of recipe `i`.
    pub fn sentence_count(&self, i: usize) -> usize {
        self.lens[i]
    }
}

/// Recipe ids: a CharTensor/ByteTensor `[n, width]` (th-skip's, from an HDF5 string dataset; each
/// row one id padded with NULs) or a list-like table of strings.
fn decode_ids(v: &Value) -> std::result::Result<Vec<String>, String> {
    let text = |bytes: &[u8]| -> std::result::Result<String, String> {
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        String::from_utf8(bytes[..end].to_vec())
            .map_err(|_| format!("id bytes {:?} are not UTF-8", &bytes[..end]))
    };
    match v {
        Value::Tensor(t) if matches!(t.dtype, Dtype::Char | Dtype::Byte) && t.shape.len() == 2 => {
            let width = t.shape[1];
            let all: Vec<u8> = t.to_f64_vec().iter().map(|&x| x as i64 as u8).collect();
            if width == 0 {
                return Ok(vec![String::new(); t.shape[0]]);
            }
            all.chunks_exact(width).map(text).collect()
        }
        Value::Table(_) => {
            let list = v
                .as_list()
                .ok_or("expected a list (keys 1..n), found other keys")?;
            list.into_iter()
                .enumerate()
                .map(|(i, x)| match x {
                    Value::String(s) => text(s),
                    other => Err(format!(
                        "entry {}: expected a string, found {}",
                        i + 1,
                        other.kind()
                    )),
                })
                .collect()
        }
        other => Err(format!(
            "expected a CharTensor [n, width] or a list of strings, found {}",
            other.kind()
        )),
    }
}

/// Integers of a 1-d tensor (or `[n, 1]`), or of a list-like table of numbers.
fn integers(v: &Value) -> std::result::Result<Vec<i64>, String> {
    let check = |i: usize, x: f64| {
        if x.fract() == 0.0 && x.abs() < 9.0e15 {
            Ok(x as i64)
        } else {
            Err(format!("entry {}: {x} is not an integer", i + 1))
        }
    };
    match v {
        Value::Tensor(t) if t.shape.len() == 1 || (t.shape.len() == 2 && t.shape[1] == 1) => {
            match (t.storage.as_deref(), t.dtype) {
                (Some(Storage::Long(s)), _) => Ok(t.positions().map(|p| s[p]).collect()),
                (None, _) => Ok(Vec::new()),
                _ => t
                    .to_f64_vec()
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| check(i, x))
                    .collect(),
            }
        }
        Value::Table(_) => v
            .as_list()
            .ok_or("expected a list (keys 1..n), found other keys")?
            .into_iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::Number(n) => check(i, *n),
                other => Err(format!(
                    "entry {}: expected a number, found {}",
                    i + 1,
                    other.kind()
                )),
            })
            .collect(),
        other => Err(format!(
            "expected a 1-d integer tensor or a list of numbers, found {}",
            other.kind()
        )),
    }
}

/// What [`write_sentence_store`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentenceStoreSummary {
    /// Rows written.
    pub recipes: usize,
    /// Sentence width.
    pub dim: usize,
    /// Recipes with more than `max_sentences` sentences (truncated).
    pub truncated: usize,
    /// Recipes with no sentence in the source (stored with length 1 and a zero row).
    pub empty: usize,
}

/// The settings that decide the converted store's bytes, as JSON (what `config_sha256` hashes and
/// the `t7_config` metadata key holds): `max_sentences` and each source's file name and SHA-256.
pub fn store_config_json(sources: &[SkipInstructionVectors], max_sentences: usize) -> String {
    let files: Vec<serde_json::Value> = sources
        .iter()
        .map(|s| {
            serde_json::json!({
                "file": s.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                "sha256": s.sha256,
            })
        })
        .collect();
    serde_json::json!({"max_sentences": max_sentences, "sources": files}).to_string()
}

/// Writes `out_dir/sentences.safetensors` in the layout Phase II reads: `f_sent` F32
/// `[n, max_sentences, dim]` (recipe `ids[r]`'s first min(n_r, max_sentences) sentence vectors,
/// zero rows after them) and `lengths` I64 `[n]` = max(1, min(n_r, max_sentences)), rows in the
/// order of `ids`, each recipe looked up in `sources` (it must be in exactly one).
///
/// Memory: the f_sent buffer (n × max_sentences × dim × 4 bytes) twice at the peak, while the
/// feature store serialises it, besides the sources (see [`SkipInstructionVectors`]).
pub fn write_sentence_store(
    sources: &[SkipInstructionVectors],
    ids: &[String],
    max_sentences: usize,
    out_dir: &Path,
) -> Result<SentenceStoreSummary> {
    let out = out_dir.join(SENTENCES_FILE);
    let invalid = |problem: String| Error::Invalid {
        what: out.display().to_string(),
        problem,
    };
    if max_sentences == 0 {
        return Err(invalid("max_sentences must be at least 1".into()));
    }
    let Some(first) = sources.first() else {
        return Err(invalid("no .t7 source given".into()));
    };
    let dim = first.dim;
    if let Some(s) = sources.iter().find(|s| s.dim != dim) {
        return Err(invalid(format!(
            "sentence width {} of {} differs from {} of {}",
            s.dim,
            s.path.display(),
            dim,
            first.path.display()
        )));
    }
    let n = ids.len();
    let per = max_sentences * dim;
    let mut f_sent = vec![0u8; n * per * 4];
    let mut lengths = Vec::with_capacity(n);
    let mut summary = SentenceStoreSummary {
        recipes: n,
        dim,
        truncated: 0,
        empty: 0,
    };
    for (r, id) in ids.iter().enumerate() {
        let mut found = sources
            .iter()
            .filter_map(|s| s.index_of(id).map(|i| (s, i)));
        let Some((src, i)) = found.next() else {
            return Err(invalid(format!(
                "recipe {id} (row {r}) is in none of the .t7 files ({})",
                sources
                    .iter()
                    .map(|s| s.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if let Some((other, _)) = found.next() {
            return Err(invalid(format!(
                "recipe {id} is in both {} and {}",
                src.path.display(),
                other.path.display()
            )));
        }
        let count = src.sentence_count(i);
        let kept = count.min(max_sentences);
        summary.truncated += usize::from(count > max_sentences);
        summary.empty += usize::from(count == 0);
        let rows = &src.sentences(i)[..kept * dim];
        let at = r * per * 4;
        for (chunk, x) in f_sent[at..at + rows.len() * 4]
            .chunks_exact_mut(4)
            .zip(rows)
        {
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        lengths.push(kept.max(1) as i64);
    }
    if summary.empty > 0 {
        tracing::warn!(
            recipes = summary.empty,
            "recipes without sentences stored with length 1 and a zero row"
        );
    }
    let config_json = store_config_json(sources, max_sentences);
    let sha = feature_store::config_sha256(config_json.as_bytes());
    let mut w = FeatureWriter::new(ids.to_vec(), &sha)?;
    w.metadata("producer", PRODUCER)?;
    w.metadata("t7_config", &config_json)?;
    w.metadata(
        "note",
        "skip-instructions sentence vectors from im2recipe's encs_*.t7 (spec/data-t7.md)",
    )?;
    w.add_bytes("f_sent", StoreDtype::F32, &[n, max_sentences, dim], f_sent)?;
    w.add_i64("lengths", &[n], &lengths)?;
    std::fs::create_dir_all(out_dir).map_err(|source| Error::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    w.write(&out)?;
    tracing::info!(path = %out.display(), recipes = n, dim, truncated = summary.truncated, "sentence features converted from .t7");
    Ok(summary)
}
