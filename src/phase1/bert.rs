//! A BERT encoder (Devlin et al. 2019) in tch with Hugging Face's variable names, its WordPiece
//! tokeniser (the `tokenizers` crate, never a hand-written WordPiece) and mask-weighted mean
//! pooling: the model behind the BERT-family term rating (§4.b in our reconstruction). It reads a
//! Hugging Face model directory (`config.json`; `model.safetensors` or the `torch.save` file
//! `pytorch_model.bin`; `tokenizer.json` or `vocab.txt`) and mirrors transformers' `BertModel` in
//! evaluation mode.
//!
//! Spec: spec/phase1-bert-rating.md.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{Tokenizer, TruncationParams};

use crate::checkpoint;
use crate::{Error, Result};

/// The model's configuration file.
pub const CONFIG_FILE: &str = "config.json";
/// Weights as safetensors (preferred when both files are present).
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// Weights as a `torch.save` state dict.
pub const TORCH_FILE: &str = "pytorch_model.bin";
/// The tokeniser as the `tokenizers` library serialises it.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The WordPiece vocabulary, one token a line (used when there is no `tokenizer.json`).
pub const VOCAB_FILE: &str = "vocab.txt";
/// Where `do_lower_case` is read from when the tokeniser is built from `vocab.txt`.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// The fields of a Hugging Face `config.json` the encoder uses; defaults are `BertConfig`'s.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Must be `bert` when present (RoBERTa and DistilBERT lay their weights out otherwise).
    #[serde(default)]
    pub model_type: Option<String>,
    /// Rows of the word embedding.
    pub vocab_size: i64,
    /// Width of every hidden state.
    pub hidden_size: i64,
    /// Transformer layers.
    pub num_hidden_layers: i64,
    /// Attention heads per layer (must divide `hidden_size`).
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer.
    pub intermediate_size: i64,
    /// `gelu` (the exact erf form), `gelu_new` / `gelu_pytorch_tanh` (tanh form) or `relu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Positions, and so the longest input in tokens.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: i64,
    /// Rows of the token-type embedding.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    /// The LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// The padding token's id.
    #[serde(default)]
    pub pad_token_id: i64,
    /// Only `absolute` is implemented.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// Standard deviation of the normal initial weights (transformers' `initializer_range`).
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
}

fn default_initializer_range() -> f64 {
    0.02
}

fn default_act() -> String {
    "gelu".into()
}
fn default_positions() -> i64 {
    512
}
fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}

/// The feed-forward activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

impl BertConfig {
    /// Reads and checks `path` (a `config.json`).
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read, [`Error::Config`] when it is not JSON, lacks a
    /// field or holds an unsupported value (the message names it).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg: BertConfig = serde_json::from_str(&text).map_err(|e| Error::Config {
            origin: path.display().to_string(),
            problem: e.to_string(),
        })?;
        cfg.check().map_err(|problem| Error::Config {
            origin: path.display().to_string(),
            problem,
        })?;
        Ok(cfg)
    }

    /// The parameters of the encoder this configuration describes, without the pooler:
    /// embeddings (word, position, token type, LayerNorm), then per layer the four attention
    /// projections, two LayerNorms and the feed-forward pair; `None` past `u64`.
    pub fn parameter_count(&self) -> Option<u64> {
        let v = |x: i64| u64::try_from(x).ok();
        let (h, i) = (v(self.hidden_size)?, v(self.intermediate_size)?);
        let embeddings = v(self.vocab_size)?
            .checked_add(v(self.max_position_embeddings)?)?
            .checked_add(v(self.type_vocab_size)?)?
            .checked_mul(h)?
            .checked_add(h.checked_mul(2)?)?;
        let attention = h.checked_mul(h)?.checked_add(h)?.checked_mul(4)?;
        let feed_forward = h
            .checked_mul(i)?
            .checked_mul(2)?
            .checked_add(i)?
            .checked_add(h)?;
        let layer = attention
            .checked_add(feed_forward)?
            .checked_add(h.checked_mul(4)?)?;
        embeddings.checked_add(layer.checked_mul(v(self.num_hidden_layers)?)?)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if let Some(t) = self.model_type.as_deref() {
            if t != "bert" {
                return Err(format!(
                    "model_type `{t}` is not supported (only `bert`: other families name and \
                     place their weights differently)"
                ));
            }
        }
        if let Some(t) = self.position_embedding_type.as_deref() {
            if t != "absolute" {
                return Err(format!(
                    "position_embedding_type `{t}` is not supported (only `absolute`)"
                ));
            }
        }
        self.activation()?;
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v < 1 {
                return Err(format!("{name} must be >= 1, got {v}"));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }

    fn activation(&self) -> std::result::Result<Activation, String> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(format!(
                "hidden_act `{other}` is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
            )),
        }
    }
}

/// One transformer layer (`encoder.layer.N`).
#[derive(Debug)]
struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attention_output: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
}

fn layer_norm(p: nn::Path, width: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![width],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}

/// `nn.Linear` as transformers initialises it in a BERT: weight `init`, bias 0.
fn linear(p: nn::Path, i: i64, o: i64, init: nn::Init) -> nn::Linear {
    nn::linear(
        p,
        i,
        o,
        nn::LinearConfig {
            ws_init: init,
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        },
    )
}

/// transformers' `BertModel` (no dropout: evaluation mode), variables named as its
/// `state_dict`.
#[derive(Debug)]
pub struct BertModel {
    word_embeddings: nn::Embedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    embeddings_norm: nn::LayerNorm,
    layers: Vec<Layer>,
    pooler: Option<nn::Linear>,
    heads: i64,
    activation: Activation,
    config: BertConfig,
}

impl BertModel {
    /// The model under `p` (`embeddings.…`, `encoder.layer.N.…`, and `pooler.dense` when
    /// `pooler`), initialised as transformers' `BertPreTrainedModel._init_weights` does until
    /// weights are loaded: linear and embedding weights N(0, `initializer_range`), the padding
    /// token's embedding row 0, biases 0, LayerNorm weight 1 and bias 0.
    ///
    /// # Errors
    /// [`Error::Config`] for a configuration [`BertConfig::from_file`] would refuse.
    pub fn new(p: &nn::Path, config: &BertConfig, pooler: bool) -> Result<Self> {
        config.check().map_err(|problem| Error::Config {
            origin: "bert config".into(),
            problem,
        })?;
        let activation = config.activation().expect("checked above");
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let e = p / "embeddings";
        let normal = nn::Init::Randn {
            mean: 0.0,
            stdev: config.initializer_range,
        };
        let emb = |name: &str, rows: i64| {
            nn::embedding(
                &e / name,
                rows,
                h,
                nn::EmbeddingConfig {
                    ws_init: normal,
                    ..Default::default()
                },
            )
        };
        let word_embeddings = emb("word_embeddings", config.vocab_size);
        if (0..config.vocab_size).contains(&config.pad_token_id) {
            tch::no_grad(|| {
                let _ = word_embeddings.ws.get(config.pad_token_id).zero_();
            });
        }
        let position_embeddings = emb("position_embeddings", config.max_position_embeddings);
        let token_type_embeddings = emb("token_type_embeddings", config.type_vocab_size);
        let embeddings_norm = layer_norm(&e / "LayerNorm", h, eps);
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let l = p / "encoder" / "layer" / i;
                let a = &l / "attention";
                let s = &a / "self";
                let lin = |q: nn::Path, i: i64, o: i64| linear(q, i, o, normal);
                Layer {
                    query: lin(&s / "query", h, h),
                    key: lin(&s / "key", h, h),
                    value: lin(&s / "value", h, h),
                    attention_output: lin(&a / "output" / "dense", h, h),
                    attention_norm: layer_norm(&a / "output" / "LayerNorm", h, eps),
                    intermediate: lin(&l / "intermediate" / "dense", h, config.intermediate_size),
                    output: lin(&l / "output" / "dense", config.intermediate_size, h),
                    output_norm: layer_norm(&l / "output" / "LayerNorm", h, eps),
                }
            })
            .collect();
        let pooler = pooler.then(|| linear(p / "pooler" / "dense", h, h, normal));
        Ok(Self {
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embeddings_norm,
            layers,
            pooler,
            heads: config.num_attention_heads,
            activation,
            config: config.clone(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Whether the model has `pooler.dense`.
    pub fn has_pooler(&self) -> bool {
        self.pooler.is_some()
    }

    /// The last hidden states of a batch: `input_ids` I64 [B, L], `attention_mask` [B, L]
    /// (1 for a token, 0 for padding), one token type (0) and positions 0..L as `BertModel`
    /// uses them for a single sequence. Padding positions are computed too (they attend to the
    /// real tokens), as transformers computes them.
    ///
    /// # Shapes
    /// `[B, L]`, `[B, L]` → `[B, L, hidden_size]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the inputs are not [B, L] alike or L exceeds the positions.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let size = input_ids.size();
        let (b, l) = match size.as_slice() {
            &[b, l]
                if attention_mask.size() == size && l <= self.config.max_position_embeddings =>
            {
                (b, l)
            }
            _ => {
                return Err(Error::Shape {
                    what: "bert input ids and attention mask".into(),
                    expected: format!(
                        "[B, L] alike with L <= {} (max_position_embeddings)",
                        self.config.max_position_embeddings
                    ),
                    got: size,
                })
            }
        };
        let device = input_ids.device();
        let positions = Tensor::arange(l, (Kind::Int64, device)).unsqueeze(0); // [1, L]
        let types = input_ids.zeros_like(); // [B, L]
        let x = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(&positions)
            + self.token_type_embeddings.forward(&types);
        let mut x = self.embeddings_norm.forward(&x); // [B, L, H]
        let kind = x.kind();
        // Additive mask as transformers builds it: 0 for a token, the dtype's minimum for padding.
        let min = match kind {
            Kind::Double => f64::MIN,
            Kind::Half => -65504.0,
            Kind::BFloat16 => -3.3895313892515355e38,
            _ => f64::from(f32::MIN),
        };
        let mask = (attention_mask.to_kind(kind).neg() + 1.0).view([b, 1, 1, l]) * min;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &mask);
        }
        Ok(x)
    }

    fn layer_forward(&self, layer: &Layer, x: &Tensor, mask: &Tensor) -> Tensor {
        let (b, l, h) = x.size3().expect("[B, L, H] by construction");
        let d = h / self.heads;
        let split = |t: Tensor| t.view([b, l, self.heads, d]).transpose(1, 2); // [B, heads, L, d]
        let q = split(layer.query.forward(x));
        let k = split(layer.key.forward(x));
        let v = split(layer.value.forward(x));
        let scores = q.matmul(&k.transpose(-1, -2)) / (d as f64).sqrt() + mask; // [B, heads, L, L]
        let probs = scores.softmax(-1, scores.kind());
        let context = probs
            .matmul(&v)
            .transpose(1, 2)
            .contiguous()
            .view([b, l, h]);
        let a = layer
            .attention_norm
            .forward(&(layer.attention_output.forward(&context) + x));
        let i = layer.intermediate.forward(&a);
        let i = match self.activation {
            Activation::GeluErf => i.gelu("none"),
            Activation::GeluTanh => i.gelu("tanh"),
            Activation::Relu => i.relu(),
        };
        layer.output_norm.forward(&(layer.output.forward(&i) + a))
    }

    /// The pooler output, `tanh(pooler.dense(h_[CLS]))`, of last hidden states [B, L, H];
    /// `None` for a model without a pooler.
    pub fn pool(&self, hidden: &Tensor) -> Option<Tensor> {
        self.pooler
            .as_ref()
            .map(|p| p.forward(&hidden.select(1, 0)).tanh())
    }
}

/// The attention-mask-weighted mean of the last hidden states over the sequence (the mean over
/// the real tokens, `[CLS]` and `[SEP]` included), as sentence-transformers' mean pooling.
///
/// # Shapes
/// `hidden` [B, L, H], `mask` [B, L] → [B, H].
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(hidden.kind()).unsqueeze(-1); // [B, L, 1]
    let sum = (hidden * &m).sum_dim_intlist(1, false, hidden.kind()); // [B, H]
    let count = m.sum_dim_intlist(1, false, hidden.kind()).clamp_min(1e-9); // [B, 1]
    sum / count
}

/// Maps a file's tensor name to the model's: the `bert.` prefix of `BertForMaskedLM`-style
/// files is dropped and LayerNorm's pre-2019 names `gamma`/`beta` become `weight`/`bias` (as
/// transformers renames them when loading); entries with no counterpart in `BertModel` (the
/// heads under `cls.`, the `position_ids`/`token_type_ids` buffers) map to `None`.
pub fn hf_name(name: &str) -> Option<String> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    if name.starts_with("cls.")
        || name.ends_with("position_ids")
        || name.ends_with("token_type_ids")
    {
        return None;
    }
    let name = if let Some(stem) = name.strip_suffix("LayerNorm.gamma") {
        format!("{stem}LayerNorm.weight")
    } else if let Some(stem) = name.strip_suffix("LayerNorm.beta") {
        format!("{stem}LayerNorm.bias")
    } else {
        name.to_string()
    };
    Some(name)
}

/// The weights file of a model directory: `model.safetensors`, else `pytorch_model.bin`.
///
/// # Errors
/// [`Error::Invalid`] naming both files when neither exists.
pub fn weights_file(dir: &Path) -> Result<PathBuf> {
    [SAFETENSORS_FILE, TORCH_FILE]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Invalid {
            what: dir.display().to_string(),
            problem: format!("holds neither {SAFETENSORS_FILE} nor {TORCH_FILE}"),
        })
}

/// Loads a BERT model from a Hugging Face model directory onto `device`, with a pooler when the
/// file has `pooler.dense`. Every variable must be filled and every kept entry must be used.
///
/// # Errors
/// Those of [`BertConfig::from_file`] and [`weights_file`], of reading the weights, and
/// [`Error::Checkpoint`] for missing, unexpected or misshapen entries.
pub fn load_model(dir: &Path, device: Device) -> Result<(nn::VarStore, BertModel)> {
    let config = BertConfig::from_file(&dir.join(CONFIG_FILE))?;
    let file = weights_file(dir)?;
    let tensors = if file.extension().is_some_and(|e| e == "safetensors") {
        checkpoint::safetensors::read_safetensors(&file)?
    } else {
        checkpoint::read_state_dict(&file, None)?
    };
    // The model is built from config.json before the weights are checked against it: a config
    // that describes more parameters than the weights file holds is refused first, so a hostile
    // config cannot make the build allocate without bound (spec/phase1-bert.md, Limits).
    let held: u64 = tensors.iter().map(|(_, t)| t.numel() as u64).sum();
    let wanted = config.parameter_count();
    if wanted.is_none_or(|w| w > held) {
        return Err(Error::Checkpoint {
            file: file.clone(),
            expected: format!(
                "at least the {} parameters {} describes",
                wanted.map_or_else(|| "more than 2^64".to_string(), |w| w.to_string()),
                dir.join(CONFIG_FILE).display()
            ),
            found: format!("{held} values in {} tensors", tensors.len()),
        });
    }
    let pooler = tensors
        .iter()
        .any(|(n, _)| hf_name(n).is_some_and(|n| n.starts_with("pooler.")));
    let vs = nn::VarStore::new(device);
    let model = BertModel::new(&vs.root(), &config, pooler)?;
    let report = checkpoint::load_into(&vs, &file, tensors, hf_name)?;
    tracing::info!(
        file = %file.display(),
        loaded = report.loaded,
        skipped = report.skipped.len(),
        layers = config.num_hidden_layers,
        hidden = config.hidden_size,
        "bert model loaded"
    );
    Ok((vs, model))
}

/// The WordPiece tokeniser of a model directory, truncating to the model's positions.
#[derive(Debug, Clone)]
pub struct WordPieceTokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

fn tokenizer_error(file: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format {
        path: file.to_path_buf(),
        problem: format!("tokenizer: {e}"),
    }
}

impl WordPieceTokenizer {
    /// `dir/tokenizer.json` when present, else a BERT WordPiece tokeniser built from
    /// `dir/vocab.txt` with the `tokenizers` crate's BERT normaliser (lower-casing unless
    /// `tokenizer_config.json` says `"do_lower_case": false`), pre-tokeniser and
    /// `[CLS] … [SEP]` post-processor. Encodings are truncated to `max_length` tokens, special
    /// tokens included; `pad_id` fills the batches.
    ///
    /// # Errors
    /// [`Error::Invalid`] when neither file exists, [`Error::Format`] when the tokeniser cannot be
    /// read or lacks `[CLS]`/`[SEP]`.
    pub fn load(dir: &Path, max_length: usize, pad_id: u32) -> Result<Self> {
        let json = dir.join(TOKENIZER_FILE);
        let vocab = dir.join(VOCAB_FILE);
        let (mut inner, file) = if json.is_file() {
            (
                Tokenizer::from_file(&json).map_err(|e| tokenizer_error(&json, e))?,
                json,
            )
        } else if vocab.is_file() {
            (Self::from_vocab(dir, &vocab)?, vocab)
        } else {
            return Err(Error::Invalid {
                what: dir.display().to_string(),
                problem: format!("holds neither {TOKENIZER_FILE} nor {VOCAB_FILE}"),
            });
        };
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| tokenizer_error(&file, e))?;
        inner.with_padding(None);
        tracing::debug!(file = %file.display(), max_length, "tokenizer loaded");
        Ok(Self { inner, pad_id })
    }

    fn from_vocab(dir: &Path, vocab: &Path) -> Result<Tokenizer> {
        let lowercase = match std::fs::read_to_string(dir.join(TOKENIZER_CONFIG_FILE)) {
            Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("do_lower_case").and_then(serde_json::Value::as_bool))
                .unwrap_or(true),
            Err(_) => true,
        };
        let path = vocab.to_str().ok_or_else(|| Error::Format {
            path: vocab.to_path_buf(),
            problem: "path is not UTF-8".into(),
        })?;
        let model = WordPiece::from_file(path)
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| tokenizer_error(vocab, e))?;
        let mut t = Tokenizer::new(model);
        let id = |t: &Tokenizer, token: &str| {
            t.token_to_id(token)
                .ok_or_else(|| tokenizer_error(vocab, format!("no `{token}` in the vocabulary")))
        };
        let (cls, sep) = (id(&t, "[CLS]")?, id(&t, "[SEP]")?);
        t.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)));
        t.with_pre_tokenizer(Some(BertPreTokenizer));
        t.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), sep),
            ("[CLS]".into(), cls),
        )));
        Ok(t)
    }

    /// Token ids of each text, `[CLS] … [SEP]`, truncated, unpadded.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the tokeniser fails on a text.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings =
            self.inner
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| Error::Invalid {
                    what: "text to tokenise".into(),
                    problem: e.to_string(),
                })?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// The tokens of one text, `[CLS] … [SEP]`, truncated.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the tokeniser fails on the text.
    pub fn tokens(&self, text: &str) -> Result<Vec<String>> {
        let e = self.inner.encode(text, true).map_err(|e| Error::Invalid {
            what: format!("text `{text}` to tokenise"),
            problem: e.to_string(),
        })?;
        Ok(e.get_tokens().to_vec())
    }

    /// A padded batch: ids I64 [B, L] (`pad_id` after each sequence) and the attention mask I64
    /// [B, L], L the longest sequence (at least 1).
    pub fn batch(&self, ids: &[Vec<u32>], device: Device) -> (Tensor, Tensor) {
        let l = ids.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let b = ids.len();
        let mut flat = vec![i64::from(self.pad_id); b * l];
        let mut mask = vec![0i64; b * l];
        for (r, seq) in ids.iter().enumerate() {
            for (c, &t) in seq.iter().enumerate() {
                flat[r * l + c] = i64::from(t);
                mask[r * l + c] = 1;
            }
        }
        let shape = [b as i64, l as i64];
        (
            Tensor::from_slice(&flat).view(shape).to_device(device),
            Tensor::from_slice(&mask).view(shape).to_device(device),
        )
    }
}

/// What one batch gave, on the CPU.
#[derive(Debug)]
pub struct Encoded {
    /// Token ids of each text (unpadded).
    pub ids: Vec<Vec<u32>>,
    /// Last hidden states F32 [B, L, H], padding positions included.
    pub hidden: Tensor,
    /// Attention mask I64 [B, L].
    pub mask: Tensor,
    /// [`mean_pool`] of `hidden`, F32 [B, H].
    pub mean: Tensor,
    /// The pooler output F32 [B, H], for a model with a pooler.
    pub pooled: Option<Tensor>,
}

/// A loaded model with its tokeniser: texts in, vectors out.
#[derive(Debug)]
pub struct BertEncoder {
    _vs: nn::VarStore,
    model: BertModel,
    tokenizer: WordPieceTokenizer,
    device: Device,
    dir: PathBuf,
}

impl BertEncoder {
    /// Loads model and tokeniser from a Hugging Face model directory ([`load_model`],
    /// [`WordPieceTokenizer::load`]), truncating to `max_position_embeddings` tokens.
    ///
    /// # Errors
    /// Those of [`load_model`] and [`WordPieceTokenizer::load`].
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let (vs, model) = load_model(dir, device)?;
        let c = model.config();
        let tokenizer = WordPieceTokenizer::load(
            dir,
            c.max_position_embeddings as usize,
            u32::try_from(c.pad_token_id).unwrap_or(0),
        )?;
        Ok(Self {
            _vs: vs,
            model,
            tokenizer,
            device,
            dir: dir.to_path_buf(),
        })
    }

    /// The model.
    pub fn model(&self) -> &BertModel {
        &self.model
    }

    /// The tokeniser.
    pub fn tokenizer(&self) -> &WordPieceTokenizer {
        &self.tokenizer
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Width of the vectors.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size as usize
    }

    /// Tokenises and encodes one batch of texts (all in one padded batch).
    ///
    /// # Errors
    /// Those of [`WordPieceTokenizer::encode`] and [`BertModel::forward`].
    pub fn encode(&self, texts: &[&str]) -> Result<Encoded> {
        let ids = self.tokenizer.encode(texts)?;
        let (input, mask) = self.tokenizer.batch(&ids, self.device);
        tch::no_grad(|| {
            let hidden = self.model.forward(&input, &mask)?;
            let mean = mean_pool(&hidden, &mask);
            let pooled = self.model.pool(&hidden);
            let cpu = |t: Tensor| t.to_kind(Kind::Float).to_device(Device::Cpu);
            Ok(Encoded {
                ids,
                hidden: cpu(hidden),
                mask: mask.to_device(Device::Cpu),
                mean: cpu(mean),
                pooled: pooled.map(cpu),
            })
        })
    }

    /// The mean-pooled vectors of `texts`, encoded `batch` texts at a time: one `Vec<f32>` per
    /// text.
    ///
    /// # Errors
    /// Those of [`BertEncoder::encode`].
    pub fn embed(&self, texts: &[&str], batch: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch.max(1)) {
            let mean = self.encode(chunk)?.mean;
            let rows = Vec::<Vec<f32>>::try_from(&mean)?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// SHA-256 over the files that decide the vectors (`config.json`, the weights file, the
    /// tokeniser file), each entering by its own digest: what a feature store records instead
    /// of the directory's path.
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be read.
    pub fn files_sha256(&self) -> Result<String> {
        let tokenizer = if self.dir.join(TOKENIZER_FILE).is_file() {
            self.dir.join(TOKENIZER_FILE)
        } else {
            self.dir.join(VOCAB_FILE)
        };
        let mut all = Sha256::new();
        for f in [
            self.dir.join(CONFIG_FILE),
            weights_file(&self.dir)?,
            tokenizer,
        ] {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
            all.update(name.unwrap_or_default().as_bytes());
            all.update(file_sha256(&f)?);
        }
        Ok(hex::encode(all.finalize()))
    }
}

fn file_sha256(path: &Path) -> Result<[u8; 32]> {
    let io = |e: std::io::Error| Error::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}
