//! The batch loader: a seeded order over the pairs of a split, worker threads that decode and
//! transform whole batches ahead of the consumer (prefetch), and float32 tensors `[B, 3, H, W]`
//! with the recipe id and image index of every row.
//!
//! Spec: spec/data-images.md (loader). Image choice as the authors' `data_loader.py`
//! (git-disl/SEJE @ 694a835): training draws uniformly among the first min(5, n) images,
//! evaluation takes image 0. The last partial batch is kept, as their `DataLoader` keeps it
//! (`drop_last = False`). The order comes from the loader's own
//! ChaCha8 generator, never from libtorch's, so model changes do not reshuffle the data
//! (spec/deviations.md D7).

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::images::{self, ImagePolicy};
use super::pairs::{Pair, MAX_IMAGES};
use super::transforms::{geometry, naming, normalize_into, sample_rng, Mode, TransformConfig};
use crate::{Error, Result};

/// Loader settings.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// Pairs per batch (authors' code: 100); the last batch may be smaller.
    pub batch_size: usize,
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Batches each worker may prepare ahead of the consumer (at least 1).
    pub prefetch: usize,
    /// Shuffle the pairs every epoch (training) or keep file order (evaluation).
    pub shuffle: bool,
    /// Train (random image, crop and flip) or evaluation transforms.
    pub mode: Mode,
    /// Sizes and normalisation.
    pub transform: TransformConfig,
    /// Seed of the data order and of every per-sample choice.
    pub seed: u64,
    /// What to do with a missing or undecodable image.
    pub policy: ImagePolicy,
}

/// A sample left out of its batch under [`ImagePolicy::Skip`].
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// Position of the pair in the split.
    pub sample: usize,
    /// The error that made it unusable.
    pub reason: String,
}

/// One batch.
#[derive(Debug)]
pub struct Batch {
    /// Images, float32 `[B, 3, crop, crop]`.
    pub images: Tensor,
    /// Recipe id of each row.
    pub recipe_ids: Vec<String>,
    /// Which of the pair's images each row shows (index into the pair's image list).
    pub image_indices: Vec<usize>,
    /// Position of each row's pair in the split.
    pub samples: Vec<usize>,
    /// Samples of this batch left out under the skip policy.
    pub skipped: Vec<Skipped>,
    /// Samples of this batch shown as a white image under the white policy (they stay in the
    /// batch).
    pub whitened: Vec<Skipped>,
}

/// The order in which an epoch visits `n` samples: `0..n`, or a Fisher-Yates shuffle driven by
/// ChaCha8 keyed by `(seed, epoch)`.
pub fn epoch_order(n: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&epoch.to_le_bytes());
        key[24..].copy_from_slice(b"order\0\0\0");
        order.shuffle(&mut ChaCha8Rng::from_seed(key));
    }
    order
}

/// Which image of a pair with `n_images` images a sample uses, drawn from the sample's generator.
pub fn choose_image(n_images: usize, mode: Mode, rng: &mut impl Rng) -> usize {
    match mode {
        Mode::Train => rng.gen_range(0..n_images.clamp(1, MAX_IMAGES)),
        Mode::Eval => 0,
    }
}

/// Loads batches of one split.
pub struct Loader {
    shared: Arc<Shared>,
}

struct Shared {
    root: PathBuf,
    pairs: Vec<Pair>,
    cfg: LoaderConfig,
}

struct Raw {
    pixels: Vec<f32>,
    recipe_ids: Vec<String>,
    image_indices: Vec<usize>,
    samples: Vec<usize>,
    skipped: Vec<Skipped>,
    whitened: Vec<Skipped>,
}

impl Loader {
    /// A loader over `pairs`, whose images live under `root`.
    pub fn new(root: PathBuf, pairs: Vec<Pair>, cfg: LoaderConfig) -> Result<Self> {
        cfg.transform.validate()?;
        if cfg.batch_size == 0 || cfg.workers == 0 || cfg.prefetch == 0 {
            return Err(Error::Invalid {
                what: "loader".into(),
                problem: format!(
                    "batch size, workers and prefetch must be at least 1, got {}, {} and {}",
                    cfg.batch_size, cfg.workers, cfg.prefetch
                ),
            });
        }
        if let Some(p) = pairs.iter().find(|p| p.images.is_empty()) {
            return Err(Error::Invalid {
                what: format!("recipe {}", p.recipe_id),
                problem: "has no image to load".into(),
            });
        }
        Ok(Self {
            shared: Arc::new(Shared { root, pairs, cfg }),
        })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.shared.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.shared.pairs.is_empty()
    }

    /// Number of batches per epoch (the last partial one included).
    pub fn batches(&self) -> usize {
        self.len().div_ceil(self.shared.cfg.batch_size)
    }

    /// The batches of `epoch`, prepared by the worker threads; stops at the first error under
    /// [`ImagePolicy::Fail`].
    pub fn epoch(&self, epoch: u64) -> Batches {
        let cfg = &self.shared.cfg;
        let order = Arc::new(epoch_order(self.len(), cfg.seed, epoch, cfg.shuffle));
        let n_batches = self.batches();
        let workers = cfg.workers.min(n_batches.max(1));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Result<Raw>>(cfg.prefetch);
            let shared = Arc::clone(&self.shared);
            let order = Arc::clone(&order);
            handles.push(std::thread::spawn(move || {
                for b in (w..n_batches).step_by(workers) {
                    let batch = shared.build(&order, b, epoch);
                    let failed = batch.is_err();
                    if tx.send(batch).is_err() || failed {
                        return;
                    }
                }
            }));
            receivers.push(rx);
        }
        Batches {
            receivers,
            handles,
            next: 0,
            n_batches,
            crop: i64::from(cfg.transform.crop),
            done: false,
        }
    }
}

impl Shared {
    fn build(&self, order: &[usize], b: usize, epoch: u64) -> Result<Raw> {
        let cfg = &self.cfg;
        let start = b * cfg.batch_size;
        let end = (start + cfg.batch_size).min(order.len());
        let side = cfg.transform.crop as usize;
        let per = 3 * side * side;
        let mut raw = Raw {
            pixels: Vec::with_capacity((end - start) * per),
            recipe_ids: Vec::new(),
            image_indices: Vec::new(),
            samples: Vec::new(),
            skipped: Vec::new(),
            whitened: Vec::new(),
        };
        for &sample in &order[start..end] {
            let pair = &self.pairs[sample];
            let mut rng = sample_rng(cfg.seed, epoch, sample as u64);
            let k = choose_image(pair.images.len(), cfg.mode, &mut rng);
            let loaded =
                match images::load(&self.root, pair.partition, &pair.recipe_id, &pair.images[k]) {
                    Err(e) if cfg.policy == ImagePolicy::White => {
                        tracing::warn!(error = %e, "image replaced by a white image");
                        raw.whitened.push(Skipped {
                            sample,
                            reason: e.to_string(),
                        });
                        Ok(images::white_image())
                    }
                    other => other,
                }
                .and_then(|img| {
                    geometry(&img, &cfg.transform, cfg.mode, &mut rng).map_err(naming(format!(
                        "{} of recipe {}",
                        pair.images[k], pair.recipe_id
                    )))
                });
            match loaded {
                Ok((img, _)) => {
                    let at = raw.pixels.len();
                    raw.pixels.resize(at + per, 0.0);
                    normalize_into(&img, &cfg.transform, &mut raw.pixels[at..]);
                    raw.recipe_ids.push(pair.recipe_id.clone());
                    raw.image_indices.push(k);
                    raw.samples.push(sample);
                }
                Err(e) if cfg.policy == ImagePolicy::Skip => {
                    tracing::warn!(error = %e, "image skipped");
                    raw.skipped.push(Skipped {
                        sample,
                        reason: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(raw)
    }
}

/// Iterator over the batches of one epoch. Dropping it stops the workers.
pub struct Batches {
    receivers: Vec<Receiver<Result<Raw>>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    n_batches: usize,
    crop: i64,
    done: bool,
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.done || self.next >= self.n_batches {
            return None;
        }
        let rx = &self.receivers[self.next % self.receivers.len()];
        self.next += 1;
        let raw = match rx.recv() {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => {
                self.done = true;
                return Some(Err(e));
            }
            Err(_) => {
                self.done = true;
                return Some(Err(Error::Invalid {
                    what: "loader".into(),
                    problem: "a worker thread stopped unexpectedly".into(),
                }));
            }
        };
        let b = raw.samples.len() as i64;
        let images = Tensor::from_slice(&raw.pixels).view([b, 3, self.crop, self.crop]); // [B, 3, H, W]
        Some(Ok(Batch {
            images,
            recipe_ids: raw.recipe_ids,
            image_indices: raw.image_indices,
            samples: raw.samples,
            skipped: raw.skipped,
            whitened: raw.whitened,
        }))
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        // Closing the channels makes every worker's next send fail, so each returns.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
