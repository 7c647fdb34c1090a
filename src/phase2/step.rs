//! One training iteration of Phase II: the discriminator step, then the main step.
//!
//! Spec: spec/phase2-training-step.md. Paper: the joint embedding optimisation of Phase II (§5,
//! numbering unverified). Authors' code: the body of the batch loop in `train.py:235-290`
//! (git-disl/SEJE @ 694a835), update order and all.
//!
//! Randomness: the interpolation weights α of the gradient penalty are what the authors' code
//! draws: `np.random.random((B, 1))` in the main process (`train.py:48`), whose global NumPy
//! generator `test.py:20` seeds with `np.random.seed(1234)` at import and nothing else in the main
//! process draws from; so α is the legacy MT19937 stream of `run.seed`, B doubles per iteration,
//! each cast to float32. The trainer keeps its position (α drawn so far), which a checkpoint
//! records, so a resumed run draws exactly what the uninterrupted run drew.

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::cpython_random::CpythonRandom;
use crate::error::{Error, Result};
use crate::nn::adam::{Adam, AdamConfig, AdamKernel};
use crate::phase2::category_alignment::category_alignment;
use crate::phase2::discriminator::{
    alignment_loss, discriminator_loss, Discriminator, DiscriminatorConfig,
};
use crate::phase2::model::{JointEmbedding, JointInput, ModelConfig};
use crate::phase2::objective::{total_loss, LossTerms, ObjectiveConfig};
use crate::phase2::triplet::triplet_loss;

/// The losses of one iteration, as plain numbers for logging; also their mean over an epoch
/// (`metrics.jsonl`, see [`StepLosses::add`] and [`StepLosses::mean`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepLosses {
    /// L (what the main step minimised).
    pub total: f64,
    /// L_TRI.
    pub triplet: f64,
    /// L_CA-V, when category alignment is on.
    pub category_image: Option<f64>,
    /// L_CA-R, when category alignment is on.
    pub category_recipe: Option<f64>,
    /// L_DA, when the discriminator is on.
    pub alignment: Option<f64>,
    /// L_D of the discriminator step, when the discriminator is on.
    pub discriminator: Option<f64>,
    /// The unweighted gradient penalty inside L_D.
    pub gradient_penalty: Option<f64>,
}

impl StepLosses {
    /// Adds `other` term by term (a term present in either side is present in the sum).
    pub fn add(&mut self, other: &StepLosses) {
        let acc = |s: &mut Option<f64>, v: Option<f64>| {
            if let Some(v) = v {
                *s = Some(s.unwrap_or(0.0) + v);
            }
        };
        self.total += other.total;
        self.triplet += other.triplet;
        acc(&mut self.category_image, other.category_image);
        acc(&mut self.category_recipe, other.category_recipe);
        acc(&mut self.alignment, other.alignment);
        acc(&mut self.discriminator, other.discriminator);
        acc(&mut self.gradient_penalty, other.gradient_penalty);
    }

    /// Every term divided by `n` (a sum of `n` iterations becomes their mean).
    pub fn mean(&self, n: f64) -> StepLosses {
        let m = |o: Option<f64>| o.map(|v| v / n);
        StepLosses {
            total: self.total / n,
            triplet: self.triplet / n,
            category_image: m(self.category_image),
            category_recipe: m(self.category_recipe),
            alignment: m(self.alignment),
            discriminator: m(self.discriminator),
            gradient_penalty: m(self.gradient_penalty),
        }
    }
}

/// The gradient penalty's α: NumPy's legacy `np.random.seed(seed)` then `np.random.random`, one
/// double per pair, cast to float32 (`train.py:48`), at a known position in the stream.
#[derive(Debug, Clone)]
pub struct AlphaStream {
    seed: u32,
    rng: CpythonRandom,
    drawn: u64,
}

impl AlphaStream {
    /// The stream of `seed` after `drawn` values (NumPy accepts seeds below 2³²; so does the
    /// configuration, see `TrainConfig::parse`).
    pub fn at(seed: u32, drawn: u64) -> Self {
        let mut rng = CpythonRandom::from_u32(seed);
        for _ in 0..drawn {
            rng.random();
        }
        Self { seed, rng, drawn }
    }

    /// Moves to the position after `drawn` values (a resumed run's).
    pub fn seek(&mut self, drawn: u64) {
        if drawn != self.drawn {
            *self = Self::at(self.seed, drawn);
        }
    }

    /// The next `n` values.
    pub fn take(&mut self, n: usize) -> Vec<f32> {
        self.drawn += n as u64;
        (0..n).map(|_| self.rng.random() as f32).collect()
    }

    /// Values drawn so far.
    pub fn drawn(&self) -> u64 {
        self.drawn
    }
}

/// What one iteration reports: its losses and the random numbers it drew.
#[derive(Debug)]
pub struct StepOutcome {
    /// The loss terms before the updates.
    pub losses: StepLosses,
    /// The gradient penalty's α (when the discriminator is on). `[B]`
    pub alpha: Option<Tensor>,
}

/// The trainable state: model and discriminator with their optimisers.
#[derive(Debug)]
pub struct Trainer {
    /// The model's variables.
    pub vs: nn::VarStore,
    /// The joint embedding model.
    pub model: JointEmbedding,
    /// The discriminator's own variables and network, when L_DA is on.
    pub disc: Option<(nn::VarStore, Discriminator)>,
    /// Adam over the model (one group: the authors' two groups, `train.py:87-90`, share one
    /// learning rate, and Adam's update is per tensor, so one group is the same update).
    pub opt: Adam,
    /// Adam over the discriminator.
    pub opt_d: Option<Adam>,
    /// The objective.
    pub objective: ObjectiveConfig,
    /// The gradient penalty's α stream.
    pub alphas: AlphaStream,
    /// Run the forward pass and the losses under CUDA autocast (see
    /// [`crate::runtime::use_bf16_autocast`]); backward passes and updates stay outside it.
    pub autocast: bool,
}

impl Trainer {
    /// Builds the model (and discriminator) on `device` with fresh weights; the α stream starts
    /// at `seed`; both optimisers update with `adam` (PyTorch's single-tensor Adam by default).
    pub fn new(
        model_cfg: &ModelConfig,
        objective: &ObjectiveConfig,
        lr: f64,
        adam: AdamKernel,
        device: tch::Device,
        seed: u32,
    ) -> Result<Self> {
        objective.validate()?;
        let vs = nn::VarStore::new(device);
        let classes = model_cfg.classes.filter(|_| objective.uses_categories());
        let model = JointEmbedding::new(
            vs.root(),
            &ModelConfig {
                classes,
                ..*model_cfg
            },
        );
        let opt = Adam::new(&vs, AdamConfig::pytorch(lr).with_kernel(adam));
        let (disc, opt_d) = if objective.uses_discriminator() {
            let dvs = nn::VarStore::new(device);
            let cfg = DiscriminatorConfig {
                input: model_cfg.recipe.embedding,
                ..DiscriminatorConfig::paper()
            };
            let d = Discriminator::new(dvs.root(), &cfg);
            // The authors' discriminator optimiser: Adam(lr, betas=(0.5, 0.999)) (`train.py:42`).
            let opt_d = Adam::new(
                &dvs,
                AdamConfig {
                    betas: [0.5, 0.999],
                    ..AdamConfig::pytorch(lr).with_kernel(adam)
                },
            );
            (Some((dvs, d)), Some(opt_d))
        } else {
            (None, None)
        };
        Ok(Self {
            vs,
            model,
            disc,
            opt,
            opt_d,
            objective: *objective,
            alphas: AlphaStream::at(seed, 0),
            autocast: false,
        })
    }

    /// Sets the learning rate of the model and of the discriminator (the stage switch).
    pub fn set_lr(&mut self, lr: f64) {
        self.opt.set_lr(lr);
        if let Some(o) = &mut self.opt_d {
            o.set_lr(lr);
        }
    }

    /// One iteration on a batch, in the order of `train.py:235-290`: the forward pass in
    /// training mode; the discriminator step on detached embeddings (`train.py:255-262`); then
    /// L_DA through the *updated* discriminator, L_TRI, both category terms and the main step on
    /// L (`train.py:264-290`). `classes` are the pairs' categories (needed by category alignment
    /// and class negatives). A non-finite loss term stops with [`Error::NonFinite`] before any
    /// update of the model, so the last good weights are kept.
    pub fn step(&mut self, x: &JointInput<'_>, classes: Option<&Tensor>) -> Result<StepOutcome> {
        let ac = self.autocast;
        let out = crate::runtime::autocast(ac, || self.model.forward(x, true))?;
        let b = out.image.size()[0];

        // (1) discriminator step
        let (mut l_d, mut gp, mut drawn) = (None, None, None);
        if let (Some((_, d)), Some(opt_d)) = (&self.disc, &mut self.opt_d) {
            let alpha =
                Tensor::from_slice(&self.alphas.take(b as usize)).to_device(out.image.device());
            let dl = crate::runtime::autocast(ac, || {
                discriminator_loss(
                    d,
                    &out.image,
                    &out.recipe,
                    &alpha,
                    self.objective.alignment_form,
                    self.objective.penalty_weight,
                )
            })?;
            let v = finite("L_D", &dl.loss)?;
            opt_d.zero_grad();
            dl.loss.backward();
            opt_d.step()?;
            l_d = Some(v);
            gp = Some(f64::try_from(&dl.gradient_penalty)?);
            drawn = Some(alpha);
        }

        // (2) main step, its terms built in the authors' order (L_DA, L_TRI, then the category
        // terms, train.py:264-270): e_r then receives its gradients from L_TRI, L_DA and L_CA-R
        // in PyTorch's order, and a sum of three floats depends on its order.
        let alignment = match &self.disc {
            Some((_, d)) => Some(crate::runtime::autocast(ac, || {
                alignment_loss(d, &out.recipe, self.objective.alignment_form)
            })?),
            None => None,
        };
        let triplet = crate::runtime::autocast(ac, || {
            triplet_loss(&out.image, &out.recipe, classes, &self.objective.triplet)
        })?
        .loss;
        let (category_image, category_recipe) =
            match (&out.image_logits, &out.recipe_logits, classes) {
                (Some(li), Some(lr), Some(c)) => {
                    let ca = crate::runtime::autocast(ac, || category_alignment(li, lr, c))?;
                    (Some(ca.image), Some(ca.recipe))
                }
                (Some(_), Some(_), None) => {
                    return Err(Error::Invalid {
                        what: "training batch".into(),
                        problem: "category alignment is on but the batch has no categories".into(),
                    })
                }
                _ => (None, None),
            };
        let terms = LossTerms {
            triplet,
            category_image,
            category_recipe,
            alignment,
        };
        let losses = StepLosses {
            triplet: finite("L_TRI", &terms.triplet)?,
            category_image: terms
                .category_image
                .as_ref()
                .map(|t| finite("L_CA-V", t))
                .transpose()?,
            category_recipe: terms
                .category_recipe
                .as_ref()
                .map(|t| finite("L_CA-R", t))
                .transpose()?,
            alignment: terms
                .alignment
                .as_ref()
                .map(|t| finite("L_DA", t))
                .transpose()?,
            total: 0.0,
            discriminator: l_d,
            gradient_penalty: gp,
        };
        let total = total_loss(&terms, &self.objective);
        let total_value = finite("L", &total)?;
        self.opt.zero_grad();
        total.backward();
        self.opt.step()?;
        Ok(StepOutcome {
            losses: StepLosses {
                total: total_value,
                ..losses
            },
            alpha: drawn,
        })
    }
}

/// The gradient penalty's α for pairs `offset..offset + n` of a run seeded with `seed` (see
/// [`AlphaStream`]).
pub fn interpolation_weights(seed: u32, n: usize, offset: u64) -> Vec<f32> {
    AlphaStream::at(seed, offset).take(n)
}

/// The value of a scalar loss, or [`Error::NonFinite`] naming the term.
fn finite(term: &str, t: &Tensor) -> Result<f64> {
    let v = f64::try_from(&t.detach().to_kind(Kind::Double))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::NonFinite {
            term: term.into(),
            problem: format!("its value is {v}; no update was made"),
        })
    }
}
