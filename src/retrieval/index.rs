//! The gallery index: a trained run's paired embeddings of one split in one safetensors file, with
//! each row's recipe id, title and photo, the run's identity and the Phase I artefact locations.
//!
//! Spec: spec/retrieval.md (the index file).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::feature_store::{self, Dtype, FeatureStore, FeatureWriter};
use crate::data::images;
use crate::data::pairs;
use crate::data::recipe1m;
use crate::data::splits::Partition;
use crate::files::sha256_file;
use crate::phase2::embed::embed_run;
use crate::{Error, Result};

/// Metadata key of the index description.
pub const INDEX_KEY: &str = "retrieval_index";
/// The index format this module writes and reads.
pub const FORMAT: &str = "seje retrieval index 1";

/// Which trained model produced an index: the checkpoint's and the configuration's SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// The run directory when the identity was taken (informative; runs may move).
    pub run_dir: String,
    /// `best` or `last`.
    pub checkpoint: String,
    /// Epochs completed at that checkpoint.
    pub epoch: usize,
    /// SHA-256 of `checkpoints/<checkpoint>/model.safetensors`.
    pub checkpoint_sha256: String,
    /// SHA-256 of the run's `config.toml`.
    pub config_sha256: String,
}

impl RunIdentity {
    /// Takes the identity of checkpoint `checkpoint` of the run in `run_dir`.
    pub fn of(run_dir: &Path, checkpoint: &str, epoch: usize) -> Result<Self> {
        Ok(Self {
            run_dir: run_dir.display().to_string(),
            checkpoint: checkpoint.to_string(),
            epoch,
            checkpoint_sha256: sha256_file(
                &run_dir
                    .join("checkpoints")
                    .join(checkpoint)
                    .join("model.safetensors"),
            )?,
            config_sha256: sha256_file(&run_dir.join("config.toml"))?,
        })
    }

    /// Whether both hashes agree (the directory may differ).
    pub fn same_model(&self, other: &Self) -> bool {
        self.checkpoint_sha256 == other.checkpoint_sha256
            && self.config_sha256 == other.config_sha256
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "run {} checkpoint `{}` (epoch {}, model sha256 {}, config sha256 {})",
            self.run_dir,
            self.checkpoint,
            self.epoch,
            &self.checkpoint_sha256[..12.min(self.checkpoint_sha256.len())],
            &self.config_sha256[..12.min(self.config_sha256.len())]
        )
    }
}

/// Where the Phase I artefacts a query needs live (absolute paths; any may be absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseOneArtefacts {
    /// `seje features text --out` (term.safetensors; vocab.bin unless `w2v` names the vectors).
    pub text_features: Option<PathBuf>,
    /// `seje features sentences --out` (sentences.safetensors, skip_instructions/).
    pub sentences: Option<PathBuf>,
    /// `seje features categoriser --out` (model.safetensors, classes.txt).
    pub categoriser: Option<PathBuf>,
    /// The word vectors; default `text_features/vocab.bin`.
    pub w2v: Option<PathBuf>,
}

impl PhaseOneArtefacts {
    /// `self` with every location `over` sets replaced.
    pub fn overridden_by(&self, over: &Self) -> Self {
        Self {
            text_features: over.text_features.clone().or(self.text_features.clone()),
            sentences: over.sentences.clone().or(self.sentences.clone()),
            categoriser: over.categoriser.clone().or(self.categoriser.clone()),
            w2v: over.w2v.clone().or(self.w2v.clone()),
        }
    }

    /// The same locations made absolute (each must exist).
    pub fn absolute(&self) -> Result<Self> {
        let abs = |p: &Option<PathBuf>| -> Result<Option<PathBuf>> {
            p.as_ref()
                .map(|p| p.canonicalize().map_err(|e| Error::io(p, e)))
                .transpose()
        };
        Ok(Self {
            text_features: abs(&self.text_features)?,
            sentences: abs(&self.sentences)?,
            categoriser: abs(&self.categoriser)?,
            w2v: abs(&self.w2v)?,
        })
    }

    pub(crate) fn vectors(&self) -> Option<PathBuf> {
        self.w2v.clone().or_else(|| {
            self.text_features
                .as_ref()
                .map(|t| t.join(crate::phase1::text_features::VECTORS_FILE))
        })
    }
}

/// The index description stored in the file's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// [`FORMAT`].
    pub format: String,
    /// The split embedded.
    pub split: String,
    /// The dataset root (absolute).
    pub data_root: PathBuf,
    /// Title of each row's recipe.
    pub titles: Vec<String>,
    /// Each row's photo (image 0 of the pair, as the embeddings use), relative to `data_root`.
    pub images: Vec<String>,
    /// The model that embedded the gallery.
    pub run: RunIdentity,
    /// The Phase I artefacts queries read unless given on the command line.
    pub phase1: PhaseOneArtefacts,
}

/// A gallery: paired image and recipe embeddings with what a person needs to see a hit.
#[derive(Debug, Clone)]
pub struct Index {
    /// The description.
    pub meta: IndexMeta,
    /// Recipe id of each row.
    pub ids: Vec<String>,
    /// Rows N.
    pub n: usize,
    /// Embedding width D.
    pub d: usize,
    /// Image embeddings, `n * d`.
    pub image: Vec<f32>,
    /// Recipe embeddings, `n * d`.
    pub recipe: Vec<f32>,
}

/// Embeds split `split` of the run in `run_dir` with checkpoint `checkpoint` (through
/// [`embed_run`]) and gathers each row's title and photo path.
pub fn build_index(
    run_dir: &Path,
    split: Partition,
    checkpoint: &str,
    device: Option<&str>,
    phase1: &PhaseOneArtefacts,
) -> Result<Index> {
    let phase1 = phase1.absolute()?;
    let emb = embed_run(run_dir, split, checkpoint, device)?;
    let cfg = crate::phase2::config::TrainConfig::load(&run_dir.join("config.toml"), &[])?;
    let root = Path::new(&cfg.data.root)
        .canonicalize()
        .map_err(|e| Error::io(cfg.data.root.clone(), e))?;
    let state_file = run_dir
        .join("checkpoints")
        .join(checkpoint)
        .join("state.json");
    let epoch = std::fs::read_to_string(&state_file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["epoch"].as_u64())
        .unwrap_or(0) as usize;
    let run = RunIdentity::of(run_dir, checkpoint, epoch)?;
    let ids = emb.ids.clone().expect("embed_run returns ids");
    let (dataset, _) = pairs::open_with(&root, &cfg.data.split_rule()?)?;
    let by_id: HashMap<&str, &pairs::Pair> = dataset
        .split(split)
        .iter()
        .map(|p| (p.recipe_id.as_str(), p))
        .collect();
    let images = ids
        .iter()
        .map(|id| {
            let p = by_id[id.as_str()];
            images::resolve(&root, split, id, &p.images[0]).map(|rel| images::slash(&rel))
        })
        .collect::<Result<Vec<_>>>()?;
    let row: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut titles = vec![String::new(); ids.len()];
    recipe1m::read_layer1(&root, |r| {
        if let Some(&i) = row.get(r.id.as_str()) {
            titles[i] = r.title;
        }
        Ok(())
    })?;
    tracing::info!(rows = ids.len(), split = split.as_str(), "index built");
    Ok(Index {
        meta: IndexMeta {
            format: FORMAT.into(),
            split: split.as_str().into(),
            data_root: root,
            titles,
            images,
            run,
            phase1,
        },
        ids,
        n: emb.n,
        d: emb.d,
        image: emb.image,
        recipe: emb.recipe,
    })
}

impl Index {
    /// Writes the index (safetensors: `image`, `recipe` F32 `[N, D]`, the ids and
    /// [`INDEX_KEY`] in the metadata).
    pub fn write(&self, path: &Path) -> Result<()> {
        let meta = serde_json::to_string(&self.meta).expect("index metadata serialises");
        let mut w = FeatureWriter::new(
            self.ids.clone(),
            &feature_store::config_sha256(meta.as_bytes()),
        )?;
        w.metadata(INDEX_KEY, &meta)?;
        w.metadata("producer", "seje index")?;
        w.add_f32("image", &[self.n, self.d], &self.image)?;
        w.add_f32("recipe", &[self.n, self.d], &self.recipe)?;
        w.write(path)
    }

    /// Reads and checks an index file: the store's own checks, then the description, the two
    /// matrices and one title and photo per row.
    pub fn read(path: &Path) -> Result<Self> {
        let store = FeatureStore::open(path)?;
        let bad = |problem: String| Error::FeatureStore {
            file: path.display().to_string(),
            problem,
        };
        let text = store
            .metadata()
            .get(INDEX_KEY)
            .ok_or_else(|| bad(format!("not a retrieval index (no `{INDEX_KEY}` metadata)")))?;
        let meta: IndexMeta =
            serde_json::from_str(text).map_err(|e| bad(format!("`{INDEX_KEY}` metadata: {e}")))?;
        if meta.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {FORMAT:?}",
                meta.format
            )));
        }
        let d = store.info("image")?.shape.get(1).copied().unwrap_or(0);
        store.expect("image", Dtype::F32, &[d])?;
        store.expect("recipe", Dtype::F32, &[d])?;
        let n = store.ids().len();
        if meta.titles.len() != n || meta.images.len() != n || n == 0 || d == 0 {
            return Err(bad(format!(
                "{n} rows of width {d}, {} titles and {} photos",
                meta.titles.len(),
                meta.images.len()
            )));
        }
        let floats = |name: &str| -> Result<Vec<f32>> {
            Ok(store
                .bytes(name)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        Ok(Self {
            ids: store.ids().to_vec(),
            n,
            d,
            image: floats("image")?,
            recipe: floats("recipe")?,
            meta,
        })
    }

    /// The absolute path of row `i`'s photo.
    pub fn photo(&self, i: usize) -> PathBuf {
        self.meta.data_root.join(&self.meta.images[i])
    }
}
