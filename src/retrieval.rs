//! Retrieval for people: a persistent gallery index of a trained run's embeddings (`seje index`)
//! and queries against it (`seje query`): a photo finds recipes, a recipe (JSON or free text)
//! finds photos, by exact nearest-neighbour search in the joint embedding space.
//!
//! Spec: spec/retrieval.md. Paper: the retrieval use case of the joint embedding (§1, §6;
//! numbering unverified). The authors released no retrieval tool; this is ours.

pub mod features;
pub mod html;
pub mod index;
pub mod query;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::data::transforms::{self, Mode, TransformConfig};
use crate::phase2::run_model::{load_run_model, RunModel};
use crate::{Error, Result};

use features::{PhotoFeatures, RecipeFeatures, Vectors};
pub use index::{build_index, Index, IndexMeta, PhaseOneArtefacts, RunIdentity, FORMAT, INDEX_KEY};
pub use query::RecipeQuery;

/// What a query searches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A photo finds recipes.
    ImageToRecipe,
    /// A recipe finds photos.
    RecipeToImage,
}

/// One retrieved gallery row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// 1-based rank.
    pub rank: usize,
    /// Euclidean distance in the joint space.
    pub distance: f32,
    /// Recipe id.
    pub id: String,
    /// Recipe title.
    pub title: String,
    /// The row's photo, relative to the data root.
    pub image: String,
}

/// Milliseconds spent per stage of one query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Phase I features (decoding and categorising a photo; f_term and f_sent of a recipe).
    pub feature_ms: f64,
    /// The encoder's forward pass.
    pub embedding_ms: f64,
    /// Distances to every gallery row and the top K.
    pub search_ms: f64,
    /// The sum.
    pub total_ms: f64,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// What was searched for.
    pub direction: Direction,
    /// The photo, for a photo query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<PathBuf>,
    /// The categoriser's top-1 class of the photo (whose vector is f_cat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_class: Option<String>,
    /// The recipe, for a recipe query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipe: Option<RecipeQuery>,
    /// Gallery rows searched.
    pub gallery: usize,
    /// The nearest rows, nearest first.
    pub hits: Vec<Hit>,
    /// Time per stage.
    pub latency: Latency,
    /// Distance to every gallery row (row order); not serialised.
    #[serde(skip)]
    pub distances: Vec<f32>,
    /// The query's embedding (D values); not serialised.
    #[serde(skip)]
    pub embedding: Vec<f32>,
}

/// A loaded model, its index and, once needed, the Phase I artefacts of each query kind.
pub struct Retriever {
    index: Index,
    model: RunModel,
    transform: TransformConfig,
    artefacts: PhaseOneArtefacts,
    vectors: Option<Vectors>,
    photo: Option<PhotoFeatures>,
    recipe: Option<RecipeFeatures>,
    image_gallery: Tensor,
    recipe_gallery: Tensor,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

impl Retriever {
    /// Loads the index at `index_path` and checkpoint `checkpoint` of `run_dir` (default: the
    /// index's) on `device`, and refuses a model whose identity differs from the index's.
    /// `overrides` replace the index's Phase I locations.
    pub fn open(
        run_dir: &Path,
        index_path: &Path,
        checkpoint: Option<&str>,
        device: Option<&str>,
        overrides: &PhaseOneArtefacts,
    ) -> Result<Self> {
        let index = Index::read(index_path)?;
        let checkpoint = checkpoint.unwrap_or(&index.meta.run.checkpoint).to_string();
        let model = load_run_model(run_dir, &checkpoint, device)?;
        let identity = RunIdentity::of(run_dir, &checkpoint, model.state.epoch)?;
        if !identity.same_model(&index.meta.run) {
            return Err(Error::IndexMismatch {
                index: index_path.to_path_buf(),
                index_run: index.meta.run.describe(),
                model_run: identity.describe(),
            });
        }
        let cfg = &model.config;
        let transform = TransformConfig::sized(cfg.data.resize, cfg.data.crop);
        let to = |v: &[f32]| {
            Tensor::from_slice(v)
                .view([index.n as i64, index.d as i64])
                .to_device(model.device)
        };
        let (image_gallery, recipe_gallery) = (to(&index.image), to(&index.recipe));
        let artefacts = index.meta.phase1.overridden_by(&overrides.absolute()?);
        Ok(Self {
            index,
            model,
            transform,
            artefacts,
            vectors: None,
            photo: None,
            recipe: None,
            image_gallery,
            recipe_gallery,
        })
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    fn need(&self, what: Option<&PathBuf>, option: &str, kind: &str) -> Result<PathBuf> {
        what.cloned().ok_or_else(|| Error::Invalid {
            what: format!("{kind} query"),
            problem: format!("needs {option} (give it to `seje index` or to `seje query`)"),
        })
    }

    fn load_vectors(&mut self, kind: &str) -> Result<()> {
        if self.vectors.is_none() {
            let path = self.need(
                self.artefacts.vectors().as_ref(),
                "--text-features DIR or --w2v FILE (the word vectors)",
                kind,
            )?;
            self.vectors = Some(Vectors::read(&path)?);
        }
        Ok(())
    }

    fn photo_features(&mut self) -> Result<&PhotoFeatures> {
        if self.photo.is_none() {
            let dir = self.need(
                self.artefacts.categoriser.as_ref(),
                "--categoriser DIR",
                "photo",
            )?;
            self.load_vectors("photo")?;
            let vectors = &self.vectors.as_ref().expect("loaded").vectors;
            self.photo = Some(PhotoFeatures::load(&dir, vectors)?);
        }
        Ok(self.photo.as_ref().expect("loaded"))
    }

    fn recipe_features(&mut self) -> Result<&RecipeFeatures> {
        if self.recipe.is_none() {
            let text = self.need(
                self.artefacts.text_features.as_ref(),
                "--text-features DIR",
                "recipe",
            )?;
            let sentences = self.need(
                self.artefacts.sentences.as_ref(),
                "--sentences DIR",
                "recipe",
            )?;
            let vectors_path = self.need(
                self.artefacts.vectors().as_ref(),
                "--text-features DIR or --w2v FILE",
                "recipe",
            )?;
            let vectors = Vectors::read(&vectors_path)?;
            self.recipe = Some(RecipeFeatures::load(
                &self.index.meta.data_root,
                &text,
                &sentences,
                vectors,
                self.model.device,
            )?);
        }
        Ok(self.recipe.as_ref().expect("loaded"))
    }

    /// Loads every artefact a query of `direction` needs now, so the first query's latency
    /// does not include loading.
    pub fn prepare(&mut self, direction: Direction) -> Result<()> {
        match direction {
            Direction::ImageToRecipe => self.photo_features().map(|_| ()),
            Direction::RecipeToImage => self.recipe_features().map(|_| ()),
        }
    }

    /// The `top` nearest recipes of the photo at `path`.
    pub fn query_image(&mut self, path: &Path, top: usize) -> Result<QueryResult> {
        self.photo_features()?;
        let t = Instant::now();
        let img = crate::phase1::categoriser::decode(path)?;
        let photo = self.photo.as_ref().expect("loaded");
        let (class, f_cat) = photo.category(&img, path)?;
        let mut unused = rand::rngs::mock::StepRng::new(0, 0); // evaluation draws nothing
        let (pixels, _) = transforms::transform(&img, &self.transform, Mode::Eval, &mut unused)
            .map_err(transforms::naming(path.display()))?;
        let feature_ms = ms(t);
        let t = Instant::now();
        let device = self.model.device;
        let c = i64::from(self.transform.crop);
        let images = Tensor::from_slice(&pixels)
            .view([1, 3, c, c])
            .to_device(device);
        let mut f_cat = Tensor::from_slice(&f_cat).view([1, -1]).to_device(device);
        if !self.model.config.model.use_category_feature {
            f_cat = f_cat.zeros_like();
        }
        let emb = tch::no_grad(|| {
            self.model
                .trainer
                .model
                .image
                .forward(&images, &f_cat, false)
        })?;
        let embedding_ms = ms(t);
        let mut result = self.search(&emb, &self.recipe_gallery, top, feature_ms, embedding_ms)?;
        result.direction = Direction::ImageToRecipe;
        result.image = Some(path.to_path_buf());
        result.predicted_class = Some(class);
        Ok(result)
    }

    /// The `top` nearest photos of a recipe.
    pub fn query_recipe(&mut self, recipe: &RecipeQuery, top: usize) -> Result<QueryResult> {
        self.recipe_features()?;
        let t = Instant::now();
        let (term, (sent, len), (s, h)) = {
            let f = self.recipe.as_ref().expect("loaded");
            let term = f.term(
                recipe.id.as_deref(),
                &recipe.title,
                &recipe.ingredients,
                &recipe.instructions,
            )?;
            (term, f.sentences(&recipe.instructions)?, f.sentence_shape())
        };
        let feature_ms = ms(t);
        let t = Instant::now();
        let device = self.model.device;
        let mut term = Tensor::from_slice(&term).view([1, -1]).to_device(device);
        if !self.model.config.model.use_term_feature {
            term = term.zeros_like();
        }
        let sentences = Tensor::from_slice(&sent)
            .view([1, s as i64, h as i64])
            .to_device(device);
        let lengths = Tensor::from_slice(&[len]).to_device(device);
        let emb = tch::no_grad(|| {
            self.model
                .trainer
                .model
                .recipe
                .forward(&sentences, &lengths, &term, false)
        })?;
        let embedding_ms = ms(t);
        let mut result = self.search(&emb, &self.image_gallery, top, feature_ms, embedding_ms)?;
        result.direction = Direction::RecipeToImage;
        result.recipe = Some(recipe.clone());
        Ok(result)
    }

    /// Distances from the query embedding `q` `[1, D]` to every row of `gallery` `[N, D]` by one
    /// matrix product: d = sqrt(max(‖q‖² + ‖g‖² − 2 q·g, 0)); the top K by ascending distance.
    fn search(
        &self,
        q: &Tensor,
        gallery: &Tensor,
        top: usize,
        feature_ms: f64,
        embedding_ms: f64,
    ) -> Result<QueryResult> {
        let t = Instant::now();
        let q = q.to_kind(Kind::Float);
        let qq = (&q * &q).sum(Kind::Float); // []
        let gg = (gallery * gallery).sum_dim_intlist([1i64].as_slice(), false, Kind::Float); // [N]
        let cross = gallery.matmul(&q.transpose(0, 1)).squeeze_dim(1); // [N]
        let dist = (gg + qq - cross * 2.0).clamp_min(0.0).sqrt(); // [N]
        let k = top.clamp(1, self.index.n) as i64;
        let (values, rows) = dist.topk(k, 0, false, true);
        let values = Vec::<f32>::try_from(values.to_device(Device::Cpu))?;
        let rows = Vec::<i64>::try_from(rows.to_device(Device::Cpu))?;
        let search_ms = ms(t);
        let distances = Vec::<f32>::try_from(dist.to_device(Device::Cpu))?;
        let embedding = Vec::<f32>::try_from(q.to_device(Device::Cpu).view([-1]))?;
        let hits = rows
            .iter()
            .zip(values)
            .enumerate()
            .map(|(r, (&row, distance))| {
                let row = row as usize;
                Hit {
                    rank: r + 1,
                    distance,
                    id: self.index.ids[row].clone(),
                    title: self.index.meta.titles[row].clone(),
                    image: self.index.meta.images[row].clone(),
                }
            })
            .collect();
        Ok(QueryResult {
            direction: Direction::ImageToRecipe,
            image: None,
            predicted_class: None,
            recipe: None,
            gallery: self.index.n,
            hits,
            latency: Latency {
                feature_ms,
                embedding_ms,
                search_ms,
                total_ms: feature_ms + embedding_ms + search_ms,
            },
            distances,
            embedding,
        })
    }
}

/// How often a gallery photo, queried through the whole photo path, finds its own recipe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfRetrieval {
    /// Photos queried (= gallery rows).
    pub queries: usize,
    /// The K of each rate.
    pub ks: Vec<usize>,
    /// Share of queries whose own recipe ranks within the top K.
    pub hit_rates: Vec<f64>,
    /// K / N: the share a random ranking would reach.
    pub chance: Vec<f64>,
    /// Median 1-based rank of the own recipe.
    pub median_rank: f64,
    /// Median per-query latency (feature + embedding + search), ms.
    pub median_latency_ms: f64,
    /// Mean per-query latency, ms.
    pub mean_latency_ms: f64,
    /// Wall-clock time of all the queries, s (what the stages leave out included).
    pub wall_seconds: f64,
    /// Median of each stage, ms.
    pub median_feature_ms: f64,
    /// See `median_feature_ms`.
    pub median_embedding_ms: f64,
    /// See `median_feature_ms`.
    pub median_search_ms: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Queries every gallery photo and ranks its own recipe among all N (rank = 1 + the number of
/// recipes strictly nearer). `progress` gets the queries done.
pub fn photo_self_retrieval(
    retriever: &mut Retriever,
    ks: &[usize],
    progress: &dyn Fn(usize),
) -> Result<SelfRetrieval> {
    retriever.prepare(Direction::ImageToRecipe)?;
    let n = retriever.index.n;
    let (mut ranks, mut lat) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let start = Instant::now();
    for i in 0..n {
        let r = retriever.query_image(&retriever.index.photo(i), 1)?;
        let own = r.distances[i];
        ranks.push(1 + r.distances.iter().filter(|&&d| d < own).count());
        lat.push(r.latency);
        progress(i + 1);
    }
    let rate = |k: usize| ranks.iter().filter(|&&r| r <= k).count() as f64 / n as f64;
    let med = |f: fn(&Latency) -> f64| median(lat.iter().map(f).collect());
    Ok(SelfRetrieval {
        queries: n,
        ks: ks.to_vec(),
        hit_rates: ks.iter().map(|&k| rate(k)).collect(),
        chance: ks.iter().map(|&k| (k.min(n)) as f64 / n as f64).collect(),
        median_rank: median(ranks.iter().map(|&r| r as f64).collect()),
        median_latency_ms: med(|l| l.total_ms),
        mean_latency_ms: lat.iter().map(|l| l.total_ms).sum::<f64>() / n as f64,
        wall_seconds: start.elapsed().as_secs_f64(),
        median_feature_ms: med(|l| l.feature_ms),
        median_embedding_ms: med(|l| l.embedding_ms),
        median_search_ms: med(|l| l.search_ms),
    })
}

impl SelfRetrieval {
    /// The lines `seje query --each-gallery-photo` prints.
    pub fn render(&self) -> String {
        let mut s = format!("queries     {} gallery photos\n", self.queries);
        for ((k, r), c) in self.ks.iter().zip(&self.hit_rates).zip(&self.chance) {
            s.push_str(&format!(
                "top-{k:<7} {:>6.1}% own recipe (chance {:.1}%)\n",
                100.0 * r,
                100.0 * c
            ));
        }
        s.push_str(&format!("median rank {}\n", self.median_rank));
        s.push_str(&format!(
            "latency     median {:.2} ms per query (feature {:.2}, embedding {:.2}, search {:.2}); mean {:.2} ms\n",
            self.median_latency_ms,
            self.median_feature_ms,
            self.median_embedding_ms,
            self.median_search_ms,
            self.mean_latency_ms
        ));
        s.push_str(&format!(
            "wall        {:.1} s for all queries\n",
            self.wall_seconds
        ));
        s
    }
}

impl QueryResult {
    /// The text table `seje query` prints.
    pub fn render(&self) -> String {
        let mut s = String::new();
        match (&self.image, &self.recipe) {
            (Some(p), _) => s.push_str(&format!(
                "photo       {} (category {})\n",
                p.display(),
                self.predicted_class.as_deref().unwrap_or("?")
            )),
            (_, Some(r)) => s.push_str(&format!("recipe      {}\n", r.title)),
            _ => {}
        }
        s.push_str(&format!(
            "{:>4}  {:>8}  {:<12} {:<40} image\n",
            "rank", "distance", "id", "title"
        ));
        for h in &self.hits {
            s.push_str(&format!(
                "{:>4}  {:>8.4}  {:<12} {:<40} {}\n",
                h.rank, h.distance, h.id, h.title, h.image
            ));
        }
        s.push_str(&format!(
            "latency     {:.2} ms (feature {:.2}, embedding {:.2}, search {:.2}) over {} rows\n",
            self.latency.total_ms,
            self.latency.feature_ms,
            self.latency.embedding_ms,
            self.latency.search_ms,
            self.gallery
        ));
        s
    }
}
