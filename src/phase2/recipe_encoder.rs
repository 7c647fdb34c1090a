//! The recipe encoder: LSTM over the sentence features (output at each recipe's last sentence) ⊕
//! Linear+LeakyReLU of the term feature → Linear → BatchNorm1d → LeakyReLU(0.02) → L2
//! normalisation.
//!
//! Spec: spec/phase2-encoders.md. Paper: recipe embedding learning of Phase II, sequence feature
//! plus term feature (§5, numbering unverified). Authors' code: `trijoint.py` (`stRNN_`,
//! `tfidf_embedding`, `recipe_embedding` at `trijoint.py:93-102`, the forward pass at
//! `trijoint.py:115-118`), git-disl/SEJE @ 694a835.
//!
//! The LSTM runs as the authors' `stRNN` (`trijoint.py:51-75`): sorted by length, packed, run,
//! unpacked and unsorted, the output at step L_b − 1 taken. Running it on the padded batch would
//! give the same vectors up to float rounding (a unidirectional LSTM's outputs before L_b never
//! see the padding), but not PyTorch's bits, and the training-iteration golden
//! (spec/phase2-training-step.md) compares at 1e-5 after several updates.

use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::nn::layers;
use crate::phase2::embedding_space::l2_normalize;
use crate::phase2::image_encoder::ENCODER_SLOPE;

/// Widths of the recipe branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeEncoderConfig {
    /// Width of a sentence feature (`stDim = 1024`).
    pub sentence: i64,
    /// LSTM hidden width (`srnnDim = 1024`).
    pub hidden: i64,
    /// Width of the weighted term feature (300).
    pub term: i64,
    /// Width of the joint embedding (`embDim = 1024`).
    pub embedding: i64,
}

impl RecipeEncoderConfig {
    /// The authors' widths.
    pub fn paper() -> Self {
        Self {
            sentence: 1024,
            hidden: 1024,
            term: 300,
            embedding: 1024,
        }
    }
}

/// The recipe branch.
#[derive(Debug)]
pub struct RecipeEncoder {
    lstm: layers::Lstm,
    term: nn::Linear,
    fuse: nn::Linear,
    bn: nn::BatchNorm,
    cfg: RecipeEncoderConfig,
}

impl RecipeEncoder {
    /// Variables `stRNN_.lstm.*`, `tfidf_embedding.0.*`, `recipe_embedding.{0,1}.*` under `p`.
    pub fn new(p: &nn::Path, cfg: &RecipeEncoderConfig) -> Self {
        Self {
            lstm: layers::Lstm::new(p / "stRNN_" / "lstm", cfg.sentence, cfg.hidden),
            term: layers::linear(p / "tfidf_embedding" / "0", cfg.term, cfg.embedding),
            fuse: layers::linear(
                p / "recipe_embedding" / "0",
                cfg.hidden + cfg.embedding,
                cfg.embedding,
            ),
            bn: layers::batch_norm1d(p / "recipe_embedding" / "1", cfg.embedding),
            cfg: *cfg,
        }
    }

    /// e_r = norm(LReLU(BN(W [LSTM(f_sent)_{L−1} ; LReLU(W_t f_term + b_t)] + b))).
    ///
    /// # Shapes
    /// `sentences: [B, T, S]` (zero-padded), `lengths: [B]` int64 in 1..=T, `term: [B, 300]` →
    /// `[B, E]`
    pub fn forward(
        &self,
        sentences: &Tensor,
        lengths: &Tensor,
        term: &Tensor,
        train: bool,
    ) -> Result<Tensor> {
        let (b, t) = match sentences.size()[..] {
            [b, t, s] if s == self.cfg.sentence && t >= 1 => (b, t),
            _ => {
                return Err(Error::Shape {
                    what: "sentence features".into(),
                    expected: format!("[B, T, {}] with T >= 1", self.cfg.sentence),
                    got: sentences.size(),
                })
            }
        };
        if lengths.size() != [b] || lengths.kind() != Kind::Int64 {
            return Err(Error::Shape {
                what: "sentence counts".into(),
                expected: format!("[{b}] int64"),
                got: lengths.size(),
            });
        }
        if term.size() != [b, self.cfg.term] {
            return Err(Error::Shape {
                what: "term features".into(),
                expected: format!("[{b}, {}]", self.cfg.term),
                got: term.size(),
            });
        }
        let bad = lengths.lt(1).logical_or(&lengths.gt(t));
        if bool::try_from(bad.any())? {
            let row = i64::try_from(bad.to_kind(Kind::Int64).argmax(0, false))?;
            return Err(Error::Invalid {
                what: "sentence counts".into(),
                problem: format!(
                    "row {row} has {} sentences, outside 1..={t}",
                    i64::try_from(lengths.get(row))?
                ),
            });
        }
        let seq = self.lstm.last_outputs(sentences, lengths, train); // [B, H]
        let term = layers::leaky_relu(&self.term.forward(term), ENCODER_SLOPE); // [B, E]
        let h = self.fuse.forward(&Tensor::cat(&[&seq, &term], 1)); // [B, E]
        l2_normalize(&layers::leaky_relu(
            &self.bn.forward_t(&h, train),
            ENCODER_SLOPE,
        ))
    }
}
