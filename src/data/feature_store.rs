//! The feature store: Phase I outputs (f_term, f_cat, class labels, …) as one safetensors file with
//! the recipe-id index and the producing config's SHA-256 in its metadata. The reader maps the
//! file into memory (memmap2); rows are found by recipe id without reading the rest.
//!
//! Spec: spec/data-feature-store.md (format, checks, determinism). Replaces the authors' pickled
//! dicts `id2tfidf_vec.pkl`, `id2img_101_cls_vec.pkl`, `id2class_1005.pkl`
//! (git-disl/SEJE @ 694a835, read by `data_loader.py`; spec/data-authors-release.md). The header
//! JSON is written by this module with sorted keys and no whitespace, so identical inputs give
//! identical bytes.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tch::{Kind, Tensor};

use crate::{Error, Result};

/// The file of f_term (the text stage's store; spec/data-feature-store.md, the Phase I → Phase II
/// layout). Every writer and reader of the three stores names them through these constants.
pub const TERM_FILE: &str = "term.safetensors";
/// The file of f_sent and the sentence counts.
pub const SENTENCES_FILE: &str = "sentences.safetensors";
/// The file of f_cat and the category labels.
pub const CATEGORIES_FILE: &str = "categories.safetensors";
/// The three files Phase II reads, in the order a run's manifest lists them.
pub const PHASE_TWO_FILES: [&str; 3] = [TERM_FILE, SENTENCES_FILE, CATEGORIES_FILE];

/// Metadata key of the recipe-id index: a JSON array of id strings, row order.
pub const IDS_KEY: &str = "ids";
/// Metadata key of the SHA-256 (lowercase hex) of the config that produced the features.
pub const CONFIG_KEY: &str = "config_sha256";
/// Largest header the reader accepts (the safetensors reference limit).
const MAX_HEADER: u64 = 100_000_000;

/// Element types the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Dtype {
    /// float32.
    F32,
    /// float64.
    F64,
    /// int64 (class labels).
    I64,
    /// int32.
    I32,
    /// uint8.
    U8,
}

impl Dtype {
    /// The safetensors name.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::U8 => "U8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::U8 => 1,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Dtype::F32, Dtype::F64, Dtype::I64, Dtype::I32, Dtype::U8]
            .into_iter()
            .find(|d| d.name() == s)
    }

    fn kind(self) -> Kind {
        match self {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
            Dtype::I64 => Kind::Int64,
            Dtype::I32 => Kind::Int,
            Dtype::U8 => Kind::Uint8,
        }
    }

    fn of_kind(k: Kind) -> Option<Self> {
        [Dtype::F32, Dtype::F64, Dtype::I64, Dtype::I32, Dtype::U8]
            .into_iter()
            .find(|d| d.kind() == k)
    }
}

/// SHA-256 of a config's bytes, lowercase hex: what [`CONFIG_KEY`] records.
pub fn config_sha256(config: &[u8]) -> String {
    hex::encode(Sha256::digest(config))
}

fn store_error(file: &str, problem: impl Into<String>) -> Error {
    Error::FeatureStore {
        file: file.to_string(),
        problem: problem.into(),
    }
}

/// Builds a store in memory and writes it.
#[derive(Debug, Clone)]
pub struct FeatureWriter {
    ids: Vec<String>,
    metadata: BTreeMap<String, String>,
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
}

#[derive(Serialize)]
struct HeaderTensor<'a> {
    dtype: &'a str,
    shape: &'a [usize],
    data_offsets: [usize; 2],
}

#[derive(Serialize)]
#[serde(untagged)]
enum HeaderEntry<'a> {
    Metadata(&'a BTreeMap<String, String>),
    Tensor(HeaderTensor<'a>),
}

impl FeatureWriter {
    /// A store whose rows are `ids` (unique), produced by the config with SHA-256 `config_sha256`.
    pub fn new(ids: Vec<String>, config_sha256: &str) -> Result<Self> {
        let mut seen = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(first) = seen.insert(id.as_str(), i) {
                return Err(store_error(
                    "(writer)",
                    format!("recipe {id} is listed twice (rows {first} and {i})"),
                ));
            }
        }
        let hex_ok = config_sha256.len() == 64
            && config_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(store_error(
                "(writer)",
                format!("config hash {config_sha256:?} is not 64 lowercase hex digits"),
            ));
        }
        let mut metadata = BTreeMap::new();
        metadata.insert(
            IDS_KEY.to_string(),
            serde_json::to_string(&ids).expect("strings serialise"),
        );
        metadata.insert(CONFIG_KEY.to_string(), config_sha256.to_string());
        Ok(Self {
            ids,
            metadata,
            tensors: BTreeMap::new(),
        })
    }

    /// Adds a free-form metadata entry (the keys `ids` and `config_sha256` are reserved).
    pub fn metadata(&mut self, key: &str, value: &str) -> Result<()> {
        if key == IDS_KEY || key == CONFIG_KEY {
            return Err(store_error(
                "(writer)",
                format!("metadata key `{key}` is reserved"),
            ));
        }
        self.metadata.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// Adds a tensor given as little-endian bytes; its first dimension must be the number of ids.
    pub fn add_bytes(
        &mut self,
        name: &str,
        dtype: Dtype,
        shape: &[usize],
        bytes: Vec<u8>,
    ) -> Result<()> {
        if name == "__metadata__" || name.is_empty() {
            return Err(store_error(
                "(writer)",
                format!("tensor name {name:?} is reserved"),
            ));
        }
        if self.tensors.contains_key(name) {
            return Err(store_error(
                "(writer)",
                format!("tensor `{name}` is added twice"),
            ));
        }
        if shape.first() != Some(&self.ids.len()) {
            return Err(store_error(
                "(writer)",
                format!(
                    "tensor `{name}`: expected shape [{}, ...] (one row per id), got {shape:?}",
                    self.ids.len()
                ),
            ));
        }
        let want = shape.iter().product::<usize>() * dtype.size();
        if bytes.len() != want {
            return Err(store_error(
                "(writer)",
                format!(
                    "tensor `{name}`: shape {shape:?} of {} needs {want} bytes, got {}",
                    dtype.name(),
                    bytes.len()
                ),
            ));
        }
        self.tensors
            .insert(name.to_string(), (dtype, shape.to_vec(), bytes));
        Ok(())
    }

    /// Adds float32 rows.
    pub fn add_f32(&mut self, name: &str, shape: &[usize], data: &[f32]) -> Result<()> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_bytes(name, Dtype::F32, shape, bytes)
    }

    /// Adds int64 rows (class labels).
    pub fn add_i64(&mut self, name: &str, shape: &[usize], data: &[i64]) -> Result<()> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_bytes(name, Dtype::I64, shape, bytes)
    }

    /// Adds a libtorch tensor (float32, float64, int64, int32 or uint8), copied to the CPU.
    pub fn add_tensor(&mut self, name: &str, t: &Tensor) -> Result<()> {
        let dtype = Dtype::of_kind(t.kind()).ok_or_else(|| {
            store_error(
                "(writer)",
                format!("tensor `{name}`: kind {:?} is not stored", t.kind()),
            )
        })?;
        let t = t.to_device(tch::Device::Cpu).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * dtype.size()];
        t.f_copy_data_u8(&mut bytes, numel)?;
        self.add_bytes(name, dtype, &shape, bytes)
    }

    /// The file's bytes: 8-byte little-endian header length, the header JSON (sorted keys, padded
    /// with spaces to a multiple of 8), then the tensors' data in name order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header: BTreeMap<&str, HeaderEntry> = BTreeMap::new();
        header.insert("__metadata__", HeaderEntry::Metadata(&self.metadata));
        let mut offset = 0;
        for (name, (dtype, shape, bytes)) in &self.tensors {
            header.insert(
                name,
                HeaderEntry::Tensor(HeaderTensor {
                    dtype: dtype.name(),
                    shape,
                    data_offsets: [offset, offset + bytes.len()],
                }),
            );
            offset += bytes.len();
        }
        let mut json = serde_json::to_vec(&header).expect("header serialises");
        while !json.len().is_multiple_of(8) {
            json.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + json.len() + offset);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for (_, _, bytes) in self.tensors.values() {
            out.extend_from_slice(bytes);
        }
        out
    }

    /// Writes the store to `path` through a temporary file renamed into place
    /// ([`crate::files::write_atomic`]): a full disk or a kill leaves the previous store whole.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::files::write_atomic(path, &self.to_bytes()).map_err(|e| match e {
            Error::Io { source, .. } => Error::Write {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })?;
        tracing::info!(path = %path.display(), rows = self.ids.len(), tensors = self.tensors.len(), "feature store written");
        Ok(())
    }
}

/// Where a tensor lies in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Shape; the first dimension is the number of ids.
    pub shape: Vec<usize>,
    /// Byte range inside the data section.
    pub offsets: (usize, usize),
}

/// A store opened for reading, memory-mapped.
pub struct FeatureStore {
    file: String,
    map: Mmap,
    data_start: usize,
    tensors: BTreeMap<String, TensorInfo>,
    metadata: BTreeMap<String, String>,
    ids: Vec<String>,
    index: HashMap<String, usize>,
}

impl FeatureStore {
    /// Maps and validates the store at `path`: header length, JSON, dtypes, shapes against data
    /// offsets, offsets inside the file and not overlapping, the id index (unique, one per row of
    /// every tensor) and the config hash.
    pub fn open(path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        let bad = |p: String| store_error(&file, p);
        let handle = File::open(path).map_err(|e| Error::io(file.clone(), e))?;
        // SAFETY: the map is read-only; a concurrent writer replaces the file by rename (see
        // `FeatureWriter::write`), so the mapped inode is never modified in place by this package.
        let map = unsafe { Mmap::map(&handle) }.map_err(|e| Error::io(file.clone(), e))?;
        if map.len() < 8 {
            return Err(bad(format!(
                "file has {} bytes, fewer than the 8-byte header length",
                map.len()
            )));
        }
        let n = u64::from_le_bytes(map[..8].try_into().expect("8 bytes"));
        if n > MAX_HEADER || 8 + n > map.len() as u64 {
            return Err(bad(format!(
                "header length {n} does not fit a file of {} bytes",
                map.len()
            )));
        }
        let data_start = 8 + n as usize;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&map[8..data_start])
                .map_err(|e| bad(format!("header is not a json object: {e}")))?;
        let data_len = map.len() - data_start;
        let mut metadata = BTreeMap::new();
        let mut tensors = BTreeMap::new();
        for (name, v) in header {
            if name == "__metadata__" {
                let m = v
                    .as_object()
                    .ok_or_else(|| bad("`__metadata__` is not an object".into()))?;
                for (k, v) in m {
                    let s = v
                        .as_str()
                        .ok_or_else(|| bad(format!("metadata `{k}` is not a string")))?;
                    metadata.insert(k.clone(), s.to_string());
                }
                continue;
            }
            let info = parse_tensor(&name, &v).map_err(|p| bad(format!("tensor `{name}`: {p}")))?;
            if info.offsets.1 > data_len {
                return Err(bad(format!(
                    "tensor `{name}`: data ends at {} past the data section of {data_len} bytes",
                    info.offsets.1
                )));
            }
            tensors.insert(name, info);
        }
        let mut ranges: Vec<(usize, usize, &str)> = tensors
            .iter()
            .map(|(k, t)| (t.offsets.0, t.offsets.1, k.as_str()))
            .collect();
        ranges.sort();
        for w in ranges.windows(2) {
            if w[1].0 < w[0].1 {
                return Err(bad(format!(
                    "tensors `{}` and `{}` overlap",
                    w[0].2, w[1].2
                )));
            }
        }
        let ids_text = metadata
            .get(IDS_KEY)
            .ok_or_else(|| bad(format!("metadata has no `{IDS_KEY}`")))?;
        let ids: Vec<String> = serde_json::from_str(ids_text).map_err(|e| {
            bad(format!(
                "metadata `{IDS_KEY}` is not a json array of strings: {e}"
            ))
        })?;
        let mut index = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if let Some(first) = index.insert(id.clone(), i) {
                return Err(bad(format!(
                    "recipe {id} is listed twice (rows {first} and {i})"
                )));
            }
        }
        match metadata.get(CONFIG_KEY) {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {}
            Some(h) => {
                return Err(bad(format!(
                    "metadata `{CONFIG_KEY}` {h:?} is not a sha-256"
                )))
            }
            None => return Err(bad(format!("metadata has no `{CONFIG_KEY}`"))),
        }
        for (name, t) in &tensors {
            if t.shape.first() != Some(&ids.len()) {
                return Err(bad(format!(
                    "tensor `{name}`: shape {:?} does not have one row per id ({} ids)",
                    t.shape,
                    ids.len()
                )));
            }
        }
        Ok(Self {
            file,
            map,
            data_start,
            tensors,
            metadata,
            ids,
            index,
        })
    }

    /// Recipe ids, row order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Row of a recipe id.
    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// SHA-256 of the producing config.
    pub fn config_sha256(&self) -> &str {
        &self.metadata[CONFIG_KEY]
    }

    /// All metadata (the id index included, as its JSON text).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Tensor names and layouts.
    pub fn tensors(&self) -> &BTreeMap<String, TensorInfo> {
        &self.tensors
    }

    /// The layout of tensor `name`.
    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.get(name).ok_or_else(|| {
            store_error(
                &self.file,
                format!(
                    "no tensor `{name}` (has {})",
                    self.tensors.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// Checks that `name` has element type `dtype` and shape `[ids, row_shape...]`.
    pub fn expect(&self, name: &str, dtype: Dtype, row_shape: &[usize]) -> Result<()> {
        let t = self.info(name)?;
        let mut want = vec![self.ids.len()];
        want.extend_from_slice(row_shape);
        if t.dtype != dtype || t.shape != want {
            return Err(store_error(
                &self.file,
                format!(
                    "tensor `{name}`: expected {} {want:?}, got {} {:?}",
                    dtype.name(),
                    t.dtype.name(),
                    t.shape
                ),
            ));
        }
        Ok(())
    }

    /// The raw little-endian bytes of tensor `name`, straight from the map.
    pub fn bytes(&self, name: &str) -> Result<&[u8]> {
        let t = self.info(name)?;
        Ok(&self.map[self.data_start + t.offsets.0..self.data_start + t.offsets.1])
    }

    /// The float32 row of recipe `id` in tensor `name` (flattened when rows are not vectors).
    pub fn row_f32(&self, name: &str, id: &str) -> Result<Vec<f32>> {
        self.expect_dtype(name, Dtype::F32)?;
        let row = self
            .row_of(id)
            .ok_or_else(|| store_error(&self.file, format!("no row for recipe {id}")))?;
        let t = self.info(name)?;
        let per = t.shape[1..].iter().product::<usize>() * 4;
        let bytes = &self.bytes(name)?[row * per..(row + 1) * per];
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// Tensor `name` copied into libtorch (CPU).
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let t = self.info(name)?;
        let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        Ok(Tensor::f_from_data_size(
            self.bytes(name)?,
            &shape,
            t.dtype.kind(),
        )?)
    }

    fn expect_dtype(&self, name: &str, dtype: Dtype) -> Result<()> {
        let t = self.info(name)?;
        if t.dtype != dtype {
            return Err(store_error(
                &self.file,
                format!(
                    "tensor `{name}`: expected {}, got {}",
                    dtype.name(),
                    t.dtype.name()
                ),
            ));
        }
        Ok(())
    }
}

fn parse_tensor(_name: &str, v: &serde_json::Value) -> std::result::Result<TensorInfo, String> {
    let dtype_name = v["dtype"].as_str().ok_or("no `dtype`")?;
    let dtype = Dtype::parse(dtype_name)
        .ok_or_else(|| format!("dtype {dtype_name} is not F32, F64, I64, I32 or U8"))?;
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .ok_or("no `shape`")?
        .iter()
        .map(|d| {
            d.as_u64()
                .map(|d| d as usize)
                .ok_or("shape entries must be non-negative integers")
        })
        .collect::<std::result::Result<_, _>>()?;
    let off = v["data_offsets"].as_array().ok_or("no `data_offsets`")?;
    let (Some(b), Some(e), 2) = (
        off.first().and_then(|x| x.as_u64()),
        off.get(1).and_then(|x| x.as_u64()),
        off.len(),
    ) else {
        return Err("`data_offsets` must be two non-negative integers".into());
    };
    let (b, e) = (b as usize, e as usize);
    let want = shape.iter().product::<usize>() * dtype.size();
    if e < b || e - b != want {
        return Err(format!(
            "shape {shape:?} of {dtype_name} needs {want} bytes, offsets give [{b}, {e}]"
        ));
    }
    Ok(TensorInfo {
        dtype,
        shape,
        offsets: (b, e),
    })
}
