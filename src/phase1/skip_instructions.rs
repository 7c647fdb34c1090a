//! The skip-instructions model: an LSTM encoder turns one instruction sentence (its word vectors)
//! into a vector, and an LSTM decoder started from that vector is trained to predict the next
//! instruction, word by word, over a capped output vocabulary.
//!
//! Spec: spec/phase1-skip-instructions.md. Paper: sentence (instruction) features f_sent,
//! skip-instructions (§4.d in our reconstruction), after im2recipe's skip-instructions and
//! Kiros et al.'s skip-thoughts. The authors released only the vectors, not this model.
//!
//! This module is the model (parameters, the sentence vector, the training loss); tokenising,
//! the vocabularies, batching and the training loop belong to the `seje features sentences`
//! pipeline.

use tch::nn::{self, Module};
use tch::{Kind, Reduction, Tensor};

use crate::error::{Error, Result};
use crate::nn::layers;

/// The target value of a padding position (PyTorch's `ignore_index` default).
pub const IGNORE_INDEX: i64 = -100;

/// Widths of the skip-instructions model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipInstructionsConfig {
    /// Width of an input word vector (the frozen word2vec vectors: 300).
    pub word_dim: i64,
    /// LSTM hidden width, the width of a sentence vector (1024).
    pub hidden: i64,
    /// Size of the decoder's output vocabulary: the V most frequent training words plus `<unk>`
    /// and `<eos>` (20,000 + 2).
    pub output_vocab: i64,
}

impl SkipInstructionsConfig {
    /// The paper's widths: 300-d word vectors, 1024-d sentence vectors, 20,000 words + 2.
    pub fn paper() -> Self {
        Self {
            word_dim: 300,
            hidden: 1024,
            output_vocab: 20_002,
        }
    }

    /// Every width at least 1, and room for `<unk>` and `<eos>` in the output vocabulary.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, problem: String| Error::Invalid {
            what: format!("skip-instructions {what}"),
            problem,
        };
        if self.word_dim < 1 {
            return Err(bad(
                "word_dim",
                format!("must be at least 1, got {}", self.word_dim),
            ));
        }
        if self.hidden < 1 {
            return Err(bad(
                "hidden",
                format!("must be at least 1, got {}", self.hidden),
            ));
        }
        if self.output_vocab < 2 {
            return Err(bad(
                "output_vocab",
                format!(
                    "must be at least 2 (`<unk>` and `<eos>`), got {}",
                    self.output_vocab
                ),
            ));
        }
        Ok(())
    }
}

/// The encoder–decoder. Variables, named as the PyTorch golden's `state_dict`:
/// `encoder.{weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0}`, `decoder.{…}` (the same four)
/// and `output.{weight, bias}`.
#[derive(Debug)]
pub struct SkipInstructions {
    encoder: layers::Lstm,
    decoder: layers::Lstm,
    output: nn::Linear,
    cfg: SkipInstructionsConfig,
}

impl SkipInstructions {
    /// Creates the variables under `p` with PyTorch's default initialisation, drawn in PyTorch's
    /// order (encoder, decoder, output), so the same seed gives the same parameters as the
    /// PyTorch module.
    pub fn new(p: &nn::Path, cfg: SkipInstructionsConfig) -> Result<Self> {
        cfg.validate()?;
        let model = Self {
            encoder: layers::Lstm::new(p / "encoder", cfg.word_dim, cfg.hidden),
            decoder: layers::Lstm::new(p / "decoder", cfg.word_dim, cfg.hidden),
            output: layers::linear(p / "output", cfg.hidden, cfg.output_vocab),
            cfg,
        };
        tracing::debug!(
            word_dim = cfg.word_dim,
            hidden = cfg.hidden,
            output_vocab = cfg.output_vocab,
            "skip-instructions model created"
        );
        Ok(model)
    }

    /// The widths.
    pub fn config(&self) -> SkipInstructionsConfig {
        self.cfg
    }

    /// The sentence vectors: the encoder's hidden state after each sentence's last real word.
    /// Runs in inference mode (use [`SkipInstructions::loss`] to train).
    ///
    /// # Shapes
    /// `inputs: [B, L, word_dim]` (zero-padded word vectors), `lengths: [B]` int64 in 1..=L →
    /// `[B, hidden]`
    pub fn encode(&self, inputs: &Tensor, lengths: &Tensor) -> Result<Tensor> {
        self.encode_t(inputs, lengths, false)
    }

    fn encode_t(&self, inputs: &Tensor, lengths: &Tensor, train: bool) -> Result<Tensor> {
        let (b, l) = self.check_words("source word vectors", "L", inputs, None)?;
        if lengths.size() != [b] || lengths.kind() != Kind::Int64 {
            return Err(Error::Shape {
                what: "source lengths".into(),
                expected: format!("[{b}] int64"),
                got: lengths.size(),
            });
        }
        let bad = lengths.lt(1).logical_or(&lengths.gt(l));
        if bool::try_from(bad.any())? {
            let row = i64::try_from(bad.to_kind(Kind::Int64).argmax(0, false))?;
            return Err(Error::Invalid {
                what: "source lengths".into(),
                problem: format!(
                    "sentence {row} has {} words, outside 1..={l}",
                    i64::try_from(lengths.get(row))?
                ),
            });
        }
        let out = self.encoder.outputs(inputs, train); // [B, L, H]
        let last = (lengths - 1)
            .to_device(out.device())
            .view([b, 1, 1])
            .expand([b, 1, self.cfg.hidden], false);
        Ok(out.gather(1, &last, false).squeeze_dim(1))
    }

    /// The training loss: the mean cross-entropy, over the non-padding target words, of the
    /// decoder's prediction of the next sentence given the current one (teacher forcing).
    ///
    /// # Shapes
    /// `src: [B, L, word_dim]`, `src_lengths: [B]` int64 (as [`SkipInstructions::encode`]);
    /// `dec_inputs: [B, T, word_dim]` (the zero `<bos>` vector, then the vectors of the target
    /// words but the last); `targets: [B, T]` int64 in 0..output_vocab, or −100 for padding →
    /// a scalar.
    pub fn loss(
        &self,
        src: &Tensor,
        src_lengths: &Tensor,
        dec_inputs: &Tensor,
        targets: &Tensor,
    ) -> Result<Tensor> {
        let b = self.check_words("source word vectors", "L", src, None)?.0;
        let (_, t) = self.check_words("decoder input vectors", "T", dec_inputs, Some(b))?;
        if targets.size() != [b, t] || targets.kind() != Kind::Int64 {
            return Err(Error::Shape {
                what: "targets".into(),
                expected: format!("[{b}, {t}] int64 (the decoder inputs' B and T)"),
                got: targets.size(),
            });
        }
        let flat = targets.reshape([-1]);
        let real = flat.ne(IGNORE_INDEX);
        let bad = real.logical_and(&flat.lt(0).logical_or(&flat.ge(self.cfg.output_vocab)));
        if bool::try_from(bad.any())? {
            let at = i64::try_from(bad.to_kind(Kind::Int64).argmax(0, false))?;
            return Err(Error::Invalid {
                what: "targets".into(),
                problem: format!(
                    "sentence {}, position {} holds {}, neither {IGNORE_INDEX} (padding) nor in \
                     0..{}",
                    at / t,
                    at % t,
                    i64::try_from(flat.get(at))?,
                    self.cfg.output_vocab
                ),
            });
        }
        let keep = real.nonzero().squeeze_dim(1); // the non-padding positions of [B·T]
        if keep.size()[0] == 0 {
            return Err(Error::Invalid {
                what: "targets".into(),
                problem: format!(
                    "every position is padding ({IGNORE_INDEX}): the mean is undefined"
                ),
            });
        }
        let h = self.encode_t(src, src_lengths, true)?.unsqueeze(0); // [1, B, H]
                                                                     // Teacher forcing from (h0 = sentence vector, c0 = 0): [B, T, H].
        let out = self
            .decoder
            .outputs_from(dec_inputs, &h, &h.zeros_like(), true);
        // Only the real positions go through the output layer, the costly O(H·V_out) part.
        let rows = out.reshape([b * t, self.cfg.hidden]).index_select(0, &keep);
        let logits = self.output.forward(&rows); // [N, V_out]
        Ok(logits.cross_entropy_loss::<Tensor>(
            &flat.index_select(0, &keep),
            None,
            Reduction::Mean,
            IGNORE_INDEX,
            0.0,
        ))
    }

    /// Checks `[B, L, word_dim]` with B, L ≥ 1 (and B = `batch` when given); returns (B, L).
    /// `steps` names the second axis in the message (`L`, `T`).
    fn check_words(
        &self,
        what: &str,
        steps: &str,
        x: &Tensor,
        batch: Option<i64>,
    ) -> Result<(i64, i64)> {
        match x.size()[..] {
            [b, l, d]
                if d == self.cfg.word_dim && b >= 1 && l >= 1 && batch.is_none_or(|n| n == b) =>
            {
                Ok((b, l))
            }
            _ => Err(Error::Shape {
                what: what.into(),
                expected: match batch {
                    Some(n) => format!("[{n}, {steps}, {}] with {steps} >= 1", self.cfg.word_dim),
                    None => format!("[B, {steps}, {}] with B, {steps} >= 1", self.cfg.word_dim),
                },
                got: x.size(),
            }),
        }
    }
}
