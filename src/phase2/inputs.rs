//! Phase II inputs: the Phase I feature stores a training run reads, checked against the model
//! and gathered per batch.
//!
//! Spec: spec/phase2-training-loop.md (inputs). Authors' code: `data_loader.py` reads f_term,
//! f_cat (indexed by the chosen image) and the class of each pair from three pickles
//! (`data_loader.py:45-52`; f_cat as `id_imgembs[recipId][imgIdx]`, `data_loader.py:98`);
//! here they are three feature-store files:
//!
//! ```text
//! FEATURES/term.safetensors        f_term   F32 [n, term]
//! FEATURES/sentences.safetensors   f_sent   F32 [n, T, sentence]   lengths I64 [n], 1 ≤ len ≤ T
//! FEATURES/categories.safetensors  f_cat    F32 [n, 5, category]   classes I64 [n]
//! ```

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};

use crate::data::feature_store::{Dtype, FeatureStore};
use crate::data::pairs::{Pair, MAX_IMAGES};
use crate::data::splits::SplitSource;
use crate::error::{Error, Result};
use crate::phase2::config::ModelSection;
use crate::phase2::model::JointInput;

/// The three files, in the order the manifest lists them.
pub const FILES: [&str; 3] = crate::data::feature_store::PHASE_TWO_FILES;

/// The model inputs of one batch, on the run's device.
#[derive(Debug)]
pub struct BatchInputs {
    /// f_term `[B, term]` (zeros when the term feature is switched off).
    pub term: Tensor,
    /// Zero-padded sentence features `[B, T, sentence]`.
    pub sentences: Tensor,
    /// Sentences per recipe `[B]`, int64.
    pub lengths: Tensor,
    /// f_cat of each row's image `[B, category]` (zeros when switched off).
    pub category: Tensor,
    /// Category of each pair `[B]`, int64.
    pub classes: Tensor,
}

impl BatchInputs {
    /// The model input of this batch with its `images`.
    pub fn joint<'a>(&'a self, images: &'a Tensor) -> JointInput<'a> {
        JointInput {
            images,
            category: &self.category,
            sentences: &self.sentences,
            lengths: &self.lengths,
            term: &self.term,
        }
    }
}

/// The opened feature stores of a run.
pub struct PhaseTwoInputs {
    dir: PathBuf,
    term: FeatureStore,
    sentences: FeatureStore,
    categories: FeatureStore,
    term_dim: usize,
    sentence_dim: usize,
    max_sentences: usize,
    category_dim: usize,
    use_term: bool,
    use_category: bool,
}

impl PhaseTwoInputs {
    /// Opens `dir`'s three stores and checks every tensor's type and shape against `model`, every
    /// length against 1..=T and every class against 0..classes.
    pub fn open(dir: &Path, model: &ModelSection) -> Result<Self> {
        let open = |name: &str| FeatureStore::open(&dir.join(name));
        let (term, sentences, categories) = (open(FILES[0])?, open(FILES[1])?, open(FILES[2])?);
        let dim = |v: i64| v as usize;
        term.expect("f_term", Dtype::F32, &[dim(model.term)])?;
        let s = sentences.info("f_sent")?;
        let max_sentences = s.shape.get(1).copied().unwrap_or(0);
        sentences.expect(
            "f_sent",
            Dtype::F32,
            &[max_sentences.max(1), dim(model.sentence)],
        )?;
        sentences.expect("lengths", Dtype::I64, &[])?;
        categories.expect(
            "f_cat",
            Dtype::F32,
            &[MAX_IMAGES, dim(model.category_feature)],
        )?;
        categories.expect("classes", Dtype::I64, &[])?;
        let file = |n: &str| dir.join(n).display().to_string();
        for (row, len) in i64_column(&sentences, "lengths")?.enumerate() {
            if len < 1 || len as usize > max_sentences {
                return Err(Error::FeatureStore {
                    file: file(FILES[1]),
                    problem: format!(
                        "recipe {}: {len} sentences, outside 1..={max_sentences}",
                        sentences.ids()[row]
                    ),
                });
            }
        }
        for (row, c) in i64_column(&categories, "classes")?.enumerate() {
            if c < 0 || c >= model.classes {
                return Err(Error::FeatureStore {
                    file: file(FILES[2]),
                    problem: format!(
                        "recipe {}: class {c}, outside 0..{} (model.classes)",
                        categories.ids()[row],
                        model.classes
                    ),
                });
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            term,
            sentences,
            categories,
            term_dim: dim(model.term),
            sentence_dim: dim(model.sentence),
            max_sentences,
            category_dim: dim(model.category_feature),
            use_term: model.use_term_feature,
            use_category: model.use_category_feature,
        })
    }

    /// The three files (for the manifest's checksums).
    pub fn files(&self) -> Vec<PathBuf> {
        FILES.iter().map(|f| self.dir.join(f)).collect()
    }

    /// Fails on the first store whose `splits` metadata (what defined the splits its rows were
    /// built for, spec/data-recipe1m.md) differs from `ours`, naming the file and both
    /// definitions. A store without the metadata (one converted from the authors' files) is
    /// not compared; [`PhaseTwoInputs::check_pairs`] still checks its rows.
    pub fn check_splits(&self, ours: &SplitSource) -> Result<()> {
        for (store, name) in [
            (&self.term, FILES[0]),
            (&self.sentences, FILES[1]),
            (&self.categories, FILES[2]),
        ] {
            let file = self.dir.join(name).display().to_string();
            let Some(text) = store.metadata().get("splits") else {
                tracing::debug!(file, "no splits metadata; rows checked only");
                continue;
            };
            let theirs: SplitSource =
                serde_json::from_str(text).map_err(|e| Error::FeatureStore {
                    file: file.clone(),
                    problem: format!("its splits metadata is not a split source: {e}"),
                })?;
            if let Some(difference) = theirs.difference(ours) {
                return Err(Error::FeatureStore {
                    file,
                    problem: format!(
                        "it was built for other splits than this run's: {difference} (the \
                         store's first); build it with the same --split-rule and --split-vocab, \
                         or set data.split_rule and data.split_vocab to what it records"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Fails on the first pair whose recipe is missing from a store, naming the recipe and file.
    pub fn check_pairs(&self, pairs: &[Pair]) -> Result<()> {
        for p in pairs {
            for (store, name) in [
                (&self.term, FILES[0]),
                (&self.sentences, FILES[1]),
                (&self.categories, FILES[2]),
            ] {
                if store.row_of(&p.recipe_id).is_none() {
                    return Err(Error::FeatureStore {
                        file: self.dir.join(name).display().to_string(),
                        problem: format!(
                            "no row for recipe {} ({} split)",
                            p.recipe_id,
                            p.partition.as_str()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The inputs of a batch: rows by recipe id, f_cat by the image each row shows.
    pub fn batch(
        &self,
        recipe_ids: &[String],
        image_indices: &[usize],
        device: Device,
    ) -> Result<BatchInputs> {
        let b = recipe_ids.len();
        let rows = |s: &FeatureStore, file: &str| -> Result<Vec<usize>> {
            recipe_ids
                .iter()
                .map(|id| {
                    s.row_of(id).ok_or_else(|| Error::FeatureStore {
                        file: self.dir.join(file).display().to_string(),
                        problem: format!("no row for recipe {id}"),
                    })
                })
                .collect()
        };
        let (tr, sr, cr) = (
            rows(&self.term, FILES[0])?,
            rows(&self.sentences, FILES[1])?,
            rows(&self.categories, FILES[2])?,
        );
        let t_per = self.max_sentences * self.sentence_dim;
        let mut term = vec![0f32; b * self.term_dim];
        let mut sentences = vec![0f32; b * t_per];
        let mut category = vec![0f32; b * self.category_dim];
        let (f_term, f_sent, f_cat) = (
            self.term.bytes("f_term")?,
            self.sentences.bytes("f_sent")?,
            self.categories.bytes("f_cat")?,
        );
        for i in 0..b {
            if self.use_term {
                copy_f32(f_term, tr[i], self.term_dim, &mut term[i * self.term_dim..]);
            }
            copy_f32(f_sent, sr[i], t_per, &mut sentences[i * t_per..]);
            if self.use_category {
                let k = image_indices[i].min(MAX_IMAGES - 1);
                copy_f32(
                    f_cat,
                    cr[i] * MAX_IMAGES + k,
                    self.category_dim,
                    &mut category[i * self.category_dim..],
                );
            }
        }
        let (l_bytes, c_bytes) = (
            self.sentences.bytes("lengths")?,
            self.categories.bytes("classes")?,
        );
        let lengths: Vec<i64> = sr.iter().map(|&r| read_i64(l_bytes, r)).collect();
        let classes: Vec<i64> = cr.iter().map(|&r| read_i64(c_bytes, r)).collect();
        let f = |v: &[f32], shape: &[i64]| Tensor::from_slice(v).view(shape).to_device(device);
        let bi = b as i64;
        Ok(BatchInputs {
            term: f(&term, &[bi, self.term_dim as i64]),
            sentences: f(
                &sentences,
                &[bi, self.max_sentences as i64, self.sentence_dim as i64],
            ),
            lengths: Tensor::from_slice(&lengths).to_device(device),
            category: f(&category, &[bi, self.category_dim as i64]),
            classes: Tensor::from_slice(&classes)
                .to_kind(Kind::Int64)
                .to_device(device),
        })
    }
}

impl std::fmt::Debug for PhaseTwoInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhaseTwoInputs")
            .field("dir", &self.dir)
            .field("recipes", &self.term.ids().len())
            .finish_non_exhaustive()
    }
}

/// Copies row `row` of `width` little-endian f32 values out of a tensor's bytes.
fn copy_f32(bytes: &[u8], row: usize, width: usize, out: &mut [f32]) {
    let start = row * width * 4;
    for (o, c) in out[..width]
        .iter_mut()
        .zip(bytes[start..start + width * 4].chunks_exact(4))
    {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

fn read_i64(bytes: &[u8], row: usize) -> i64 {
    let c = &bytes[row * 8..row * 8 + 8];
    i64::from_le_bytes(c.try_into().expect("8 bytes"))
}

fn i64_column<'a>(s: &'a FeatureStore, name: &str) -> Result<impl Iterator<Item = i64> + 'a> {
    Ok(s.bytes(name)?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))))
}
