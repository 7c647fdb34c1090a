//! The Phase I features of one query, computed as the batch stages compute a dataset row: f_cat of
//! a photo (`seje features categories`), f_term (`seje features text`) and f_sent (`seje features
//! sentences`) of a recipe. Every step calls the helpers the batch stages use.
//!
//! Spec: spec/retrieval.md (query features).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use image::RgbImage;
use tch::{nn, Device, Kind, Tensor};

use crate::data::feature_store::{self, FeatureStore};
use crate::data::recipe1m::{self, Detections, DET_INGRS};
use crate::data::splits::Partition;
use crate::phase1::categoriser::Categoriser;
use crate::phase1::categoriser_training::load_trained;
use crate::phase1::category_feature::class_name_vector;
use crate::phase1::entities::EntitySet;
use crate::phase1::key_terms::Lexicon;
use crate::phase1::rating::Tfidf;
use crate::phase1::sentence_features::{
    encoder_batch, input_index, input_table, instruction_words, SentenceFeaturesConfig,
    CHECKPOINT_DIR, SENTENCES_FILE,
};
use crate::phase1::skip_instructions::{SkipInstructions, SkipInstructionsConfig};
use crate::phase1::text_features::{
    line_entity_names, recipe_term_feature, recipe_text, Extractor, KeyTermSource, TERM_FILE,
};
use crate::phase1::word2vec::WordVectors;
use crate::{Error, Result};

fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Error {
    Error::Invalid {
        what: what.into(),
        problem: problem.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Word vectors with the SHA-256 of their file (the stores record it).
pub struct Vectors {
    /// The vectors.
    pub vectors: WordVectors,
    /// SHA-256 of the `-binary 1` file.
    pub sha256: String,
    /// The file.
    pub path: PathBuf,
}

impl Vectors {
    /// Reads a `-binary 1` vectors file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read(path)?;
        let vectors = WordVectors::from_binary(&bytes)
            .map_err(|problem| invalid(format!("word2vec file {}", path.display()), problem))?;
        Ok(Self {
            vectors,
            sha256: feature_store::config_sha256(&bytes),
            path: path.to_path_buf(),
        })
    }
}

/// f_cat of a photo: the categoriser's top-1 class as its class-name vector.
pub struct PhotoFeatures {
    categoriser: Categoriser,
    table: Vec<Vec<f32>>,
}

impl PhotoFeatures {
    /// Loads the trained categoriser in `dir` and the vector of each of its class names.
    pub fn load(dir: &Path, vectors: &WordVectors) -> Result<Self> {
        let categoriser = load_trained(dir)?;
        let table = categoriser
            .labels()
            .iter()
            .map(|name| class_name_vector(name, vectors).0)
            .collect();
        Ok(Self { categoriser, table })
    }

    /// The top-1 class name and f_cat of a decoded photo.
    pub fn category(&self, img: &RgbImage, path: &Path) -> Result<(String, Vec<f32>)> {
        let p = self.categoriser.predict(img, path, 1)?;
        let (class, name, _) = &p.top[0];
        Ok((name.clone(), self.table[*class as usize].clone()))
    }
}

/// f_term and f_sent of a recipe.
pub struct RecipeFeatures {
    extractor: Extractor,
    entities: EntitySet,
    detections: HashMap<String, Detections>,
    tfidf: Tfidf,
    vectors: Vectors,
    sentences: SentenceEncoder,
}

impl RecipeFeatures {
    /// Loads what f_term and f_sent need: the data root's entity set and detections, the TF-IDF
    /// refitted on the root's training split (the batch stage's fit: one key-term document per
    /// training recipe of `layer1.json`), the extractor named by `text_dir/term.safetensors`, the
    /// word vectors, and the skip-instructions encoder of `sentences_dir`.
    pub fn load(
        root: &Path,
        text_dir: &Path,
        sentences_dir: &Path,
        vectors: Vectors,
        device: Device,
    ) -> Result<Self> {
        let store = FeatureStore::open(&text_dir.join(TERM_FILE))?;
        let file = text_dir.join(TERM_FILE).display().to_string();
        let config: serde_json::Value = store
            .metadata()
            .get("text_features_config")
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| Error::FeatureStore {
                file: file.clone(),
                problem: "no readable `text_features_config` metadata".into(),
            })?;
        if config["rating"] != "tfidf" {
            return Err(Error::FeatureStore {
                file,
                problem: format!(
                    "rated by {}; queries compute f_term with the tf-idf rating only",
                    config["rating"]
                ),
            });
        }
        let source = match &config["key_terms"] {
            serde_json::Value::Object(m) => match m.get("tagger").and_then(|v| v.as_str()) {
                Some(p) => KeyTermSource::Tagger(PathBuf::from(p)),
                None => KeyTermSource::Lexicon,
            },
            _ => KeyTermSource::Lexicon,
        };
        if let Some(sha) = config["word2vec"]["loaded_sha256"].as_str() {
            if sha != vectors.sha256 {
                return Err(invalid(
                    format!("word2vec file {}", vectors.path.display()),
                    format!("is not the file {file} was computed with (sha256 {sha})"),
                ));
            }
        }
        let extractor = Extractor::load(&source)?;
        let entities = EntitySet::from_root(root)?;
        let mut detections = HashMap::new();
        recipe1m::read_det_ingrs(root, |d| {
            detections.insert(d.id.clone(), d);
            Ok(())
        })?;
        let mut df: BTreeMap<String, usize> = BTreeMap::new();
        let mut documents = 0usize;
        recipe1m::read_layer1(root, |r| {
            if r.partition != Partition::Train {
                return Ok(());
            }
            let d = detections.get(&r.id).ok_or_else(|| Error::MissingRecord {
                file: DET_INGRS.to_string(),
                id: r.id.clone(),
            })?;
            let names = line_entity_names(&entities, d);
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut doc =
                recipe_text(&extractor, &entities, &refs, &r.title, &r.instructions).document;
            doc.sort_unstable();
            doc.dedup();
            for t in doc {
                *df.entry(t).or_insert(0) += 1;
            }
            documents += 1;
            Ok(())
        })?;
        let tfidf = Tfidf::from_document_frequencies(df, documents)?;
        tracing::info!(
            documents,
            terms = tfidf.len(),
            "tf-idf refitted for queries"
        );
        let sentences = SentenceEncoder::load(sentences_dir, &vectors, device)?;
        Ok(Self {
            extractor,
            entities,
            detections,
            tfidf,
            vectors,
            sentences,
        })
    }

    /// The recipe's ingredient entities: the detections of `det_ingrs.json` when `id` has an
    /// entry there (as the batch stage reads them), otherwise every line re-examined.
    pub fn line_entities(&self, id: Option<&str>, ingredients: &[String]) -> Vec<String> {
        match id.and_then(|id| self.detections.get(id)) {
            Some(d) => line_entity_names(&self.entities, d),
            None => {
                let d = Detections {
                    id: String::new(),
                    ingredients: ingredients.to_vec(),
                    valid: vec![false; ingredients.len()],
                };
                line_entity_names(&self.entities, &d)
            }
        }
    }

    /// f_term of a recipe (`vectors.dim()` values).
    pub fn term(
        &self,
        id: Option<&str>,
        title: &str,
        ingredients: &[String],
        instructions: &[String],
    ) -> Result<Vec<f32>> {
        let names = self.line_entities(id, ingredients);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Ok(recipe_term_feature(
            &self.extractor,
            &self.entities,
            &refs,
            title,
            instructions,
            &self.tfidf,
            &self.vectors.vectors,
        )?
        .vector)
    }

    /// f_sent of a recipe: `[max_sentences, hidden]` row-major, zero rows after its sentences,
    /// and its number of sentences (1 with one zero row for a recipe without an instruction).
    pub fn sentences(&self, instructions: &[String]) -> Result<(Vec<f32>, i64)> {
        self.sentences.encode(&self.entities, instructions)
    }

    /// `(max_sentences, hidden)` of the sentence store.
    pub fn sentence_shape(&self) -> (usize, usize) {
        (
            self.sentences.cfg.max_sentences,
            self.sentences.cfg.hidden as usize,
        )
    }
}

/// The trained skip-instructions encoder of a sentences output directory.
struct SentenceEncoder {
    _vs: nn::VarStore,
    model: SkipInstructions,
    table: Tensor,
    index: HashMap<String, u32>,
    lexicon: Lexicon,
    cfg: SentenceFeaturesConfig,
    device: Device,
}

impl SentenceEncoder {
    /// Reads the settings from `dir/sentences.safetensors`, checks that `vectors` and the
    /// checkpoint `dir/skip_instructions/` are the ones that store was made with, and loads it.
    fn load(dir: &Path, vectors: &Vectors, device: Device) -> Result<Self> {
        let path = dir.join(SENTENCES_FILE);
        let store = FeatureStore::open(&path)?;
        let bad = |problem: String| Error::FeatureStore {
            file: path.display().to_string(),
            problem,
        };
        let meta: serde_json::Value = store
            .metadata()
            .get("sentence_features_config")
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| {
                bad("no readable `sentence_features_config` metadata (a converted .t7 store has no encoder)".into())
            })?;
        let cfg: SentenceFeaturesConfig = serde_json::from_value(meta["config"].clone())
            .map_err(|e| bad(format!("`sentence_features_config`: {e}")))?;
        if meta["vectors_sha256"].as_str() != Some(vectors.sha256.as_str()) {
            return Err(invalid(
                format!("word2vec file {}", vectors.path.display()),
                format!(
                    "is not the file {} was computed with (sha256 {})",
                    path.display(),
                    meta["vectors_sha256"]
                ),
            ));
        }
        let ckpt = dir.join(CHECKPOINT_DIR);
        let state_file = ckpt.join("state.json");
        let state: serde_json::Value = serde_json::from_slice(&read(&state_file)?)
            .map_err(|e| invalid(state_file.display().to_string(), e.to_string()))?;
        if state["fingerprint"] != meta["fingerprint"] {
            return Err(invalid(
                format!("checkpoint {}", ckpt.display()),
                format!("is not the encoder {} was computed with", path.display()),
            ));
        }
        let weights = ckpt.join("model.safetensors");
        let tensors = crate::checkpoint::safetensors::read_safetensors(&weights)?;
        let output_vocab = tensors
            .iter()
            .find(|(n, _)| n == "output.weight")
            .map(|(_, t)| t.size()[0])
            .ok_or_else(|| invalid(weights.display().to_string(), "no `output.weight`"))?;
        let mut vs = nn::VarStore::new(device);
        let model = SkipInstructions::new(
            &vs.root(),
            SkipInstructionsConfig {
                word_dim: vectors.vectors.dim() as i64,
                hidden: cfg.hidden,
                output_vocab,
            },
        )?;
        vs.load(&weights)?;
        let index = input_index(&vectors.vectors)
            .into_iter()
            .map(|(w, i)| (w.to_string(), i))
            .collect();
        Ok(Self {
            _vs: vs,
            model,
            table: input_table(&vectors.vectors, device),
            index,
            lexicon: Lexicon::standard(),
            cfg,
            device,
        })
    }

    fn encode(&self, entities: &EntitySet, instructions: &[String]) -> Result<(Vec<f32>, i64)> {
        let (s, h) = (self.cfg.max_sentences, self.cfg.hidden as usize);
        let mut out = vec![0f32; s * h];
        let ids: Vec<Vec<u32>> = instructions
            .iter()
            .take(s)
            .map(|text| {
                let (words, _) =
                    instruction_words(&self.lexicon, entities, text, self.cfg.max_words);
                words
                    .iter()
                    .map(|w| self.index.get(w.as_str()).map_or(0, |&i| i + 1))
                    .collect()
            })
            .collect();
        if ids.is_empty() {
            return Ok((out, 1));
        }
        let _guard = tch::no_grad_guard();
        let (src, len) = encoder_batch(ids.iter().map(Vec::as_slice), &self.table, self.device);
        let enc = self
            .model
            .encode(&src, &len)?
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let values = Vec::<f32>::try_from(enc.view([-1]))?;
        out[..values.len()].copy_from_slice(&values);
        Ok((out, ids.len() as i64))
    }
}
