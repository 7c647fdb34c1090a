//! The BERT-family term rating (§4.b in our reconstruction), KeyBERT-style:
//! s(t, r) = max(0, cos(e(r), e(t))), with e(·) the mask-weighted mean of a BERT model's last
//! hidden states (src/phase1/bert.rs) over the recipe's text and over the term alone. The paper
//! names "deep NLP models from the BERT family" but not how they score a term; KeyBERT's scoring
//! is this package's choice.
//!
//! Spec: spec/phase1-bert-rating.md.

use std::collections::HashMap;
use std::path::Path;

use tch::Device;

use crate::phase1::bert::BertEncoder;
use crate::{Error, Result};

/// Settings of the BERT rating in `seje features text --rating bert`.
#[derive(Debug, Clone, PartialEq)]
pub struct BertRatingConfig {
    /// A Hugging Face model directory (`config.json`, `model.safetensors` or
    /// `pytorch_model.bin`, `tokenizer.json` or `vocab.txt`).
    pub dir: std::path::PathBuf,
    /// Where the model runs.
    pub device: Device,
    /// Texts per forward pass (recipes, and terms not seen before).
    pub batch: usize,
    /// The person asked for this device explicitly (`--device cpu`): a model sized for a GPU
    /// ([`sized_for_a_gpu`]) then runs on the CPU after its estimate is shown; otherwise it is
    /// refused there with the estimate (spec/cli.md, heavy work announced).
    pub device_asked: bool,
}

impl BertRatingConfig {
    /// `dir` on the CPU, 32 texts a batch.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            device: Device::Cpu,
            batch: 32,
            device_asked: false,
        }
    }
}

/// Parameters from which a BERT model is sized for a GPU when it rates on the CPU: 50 million.
/// BERT-base has 110 million, DistilBERT 66 million; the models of the tests, a few thousand.
pub const GPU_SIZED_PARAMETERS: u64 = 50_000_000;

/// Whether rating with the model `config` describes is a GPU-sized job (at least
/// [`GPU_SIZED_PARAMETERS`] parameters, or more than `u64` can count).
pub fn sized_for_a_gpu(config: &crate::phase1::bert::BertConfig) -> bool {
    config
        .parameter_count()
        .is_none_or(|n| n >= GPU_SIZED_PARAMETERS)
}

/// Estimates the rating of `recipes` recipe texts from one timed forward pass of a batch of
/// texts at the model's full length (`max_position_embeddings` tokens): an upper bound per
/// batch, since shorter texts are padded only to the longest of their batch. The distinct key
/// terms, encoded once each, come on top. Nothing is written.
///
/// # Errors
/// Those of [`BertEncoder::encode`].
pub fn time_first_batch(
    rater: &BertRater,
    recipes: usize,
) -> Result<crate::runtime::heavy::Estimate> {
    use crate::runtime::heavy::{peak_memory_bytes, Estimate};
    let config = rater.encoder.model().config();
    let words = usize::try_from(config.max_position_embeddings).unwrap_or(512);
    let text = "salt ".repeat(words);
    let texts = vec![text.as_str(); rater.batch];
    let start = std::time::Instant::now();
    let encoded = rater.encoder.encode(&texts)?;
    drop(encoded);
    let per_batch = start.elapsed();
    Ok(Estimate {
        job: format!(
            "rating key terms with the BERT model in {} ({} parameters) for {recipes} recipes",
            rater.dir().display(),
            config
                .parameter_count()
                .map_or_else(|| "uncountably many".to_string(), |n| n.to_string()),
        ),
        per_batch,
        batches: Some(recipes.div_ceil(rater.batch) as u64),
        peak_memory_bytes: peak_memory_bytes(),
    })
}

/// The rating of a cosine: the cosine where it is positive, else 0. The weighted term feature
/// (spec/phase1-term-feature.md) takes ratings >= 0; a term whose vector points away from the
/// recipe's is taken as unrelated (weight 0) rather than shifted, as (1 + cos)/2 would, which
/// gives an unrelated term (cos 0) half the weight of a perfect one. A NaN cosine is refused.
///
/// # Errors
/// [`Error::Invalid`] for a NaN cosine.
pub fn rating_from_cosine(cosine: f64) -> Result<f64> {
    if cosine.is_nan() {
        return Err(Error::Invalid {
            what: "cosine of a term and its recipe".into(),
            problem: "is NaN".into(),
        });
    }
    Ok(cosine.max(0.0))
}

/// cos(a, b) in f64; 0 when either vector is zero (scikit-learn's `cosine_similarity` does the
/// same).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// The text a key term is encoded as: its words, entity underscores as spaces (`olive_oil` →
/// `olive oil`).
pub fn term_text(term: &str) -> String {
    term.replace('_', " ")
}

/// The text a recipe is encoded as: title, ingredient lines, instructions, joined by spaces
/// (the model truncates it to its positions, 512 tokens for BERT-base).
pub fn recipe_text(title: &str, ingredients: &[String], instructions: &[String]) -> String {
    std::iter::once(title)
        .chain(ingredients.iter().map(String::as_str))
        .chain(instructions.iter().map(String::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A term's rating and the cosine it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TermRating {
    /// The key term as given.
    pub term: String,
    /// cos(e(recipe), e(term)).
    pub cosine: f64,
    /// [`rating_from_cosine`] of it.
    pub rating: f64,
}

/// Rates key terms against recipe texts, caching every term's vector (one vector of
/// `hidden_size` floats per distinct term).
#[derive(Debug)]
pub struct BertRater {
    encoder: BertEncoder,
    batch: usize,
    terms: HashMap<String, Vec<f32>>,
}

impl BertRater {
    /// The rater of a loaded encoder, `batch` texts a forward pass.
    pub fn new(encoder: BertEncoder, batch: usize) -> Self {
        Self {
            encoder,
            batch: batch.max(1),
            terms: HashMap::new(),
        }
    }

    /// Loads the encoder `cfg` names.
    ///
    /// # Errors
    /// Those of [`BertEncoder::load`].
    pub fn load(cfg: &BertRatingConfig) -> Result<Self> {
        Ok(Self::new(
            BertEncoder::load(&cfg.dir, cfg.device)?,
            cfg.batch,
        ))
    }

    /// The encoder.
    pub fn encoder(&self) -> &BertEncoder {
        &self.encoder
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        self.encoder.dir()
    }

    /// Distinct terms whose vectors are cached.
    pub fn cached_terms(&self) -> usize {
        self.terms.len()
    }

    /// Rates each recipe's terms: `recipes[i] = (text, terms)` gives one [`TermRating`] per
    /// term of recipe i, in the order given. Recipe texts are encoded `batch` at a time; terms
    /// not cached yet likewise.
    ///
    /// # Errors
    /// Those of [`BertEncoder::embed`]; a NaN cosine ([`rating_from_cosine`]).
    pub fn rate(&mut self, recipes: &[(&str, &[String])]) -> Result<Vec<Vec<TermRating>>> {
        let mut missing: Vec<&str> = Vec::new();
        for (_, terms) in recipes {
            for t in terms.iter() {
                if !self.terms.contains_key(t) && !missing.contains(&t.as_str()) {
                    missing.push(t);
                }
            }
        }
        if !missing.is_empty() {
            let texts: Vec<String> = missing.iter().map(|t| term_text(t)).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let vectors = self.encoder.embed(&refs, self.batch)?;
            for (t, v) in missing.into_iter().zip(vectors) {
                self.terms.insert(t.to_string(), v);
            }
        }
        let texts: Vec<&str> = recipes.iter().map(|(text, _)| *text).collect();
        let docs = self.encoder.embed(&texts, self.batch)?;
        recipes
            .iter()
            .zip(docs)
            .map(|((_, terms), doc)| {
                terms
                    .iter()
                    .map(|t| {
                        let c = cosine(&doc, &self.terms[t]);
                        Ok(TermRating {
                            term: t.clone(),
                            cosine: c,
                            rating: rating_from_cosine(c)?,
                        })
                    })
                    .collect()
            })
            .collect()
    }
}
