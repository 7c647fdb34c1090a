//! One training iteration of Phase II: the discriminator step, then the main step.
//!
//! Spec: spec/phase2-training-step.md. Paper: the joint embedding optimisation of Phase II (§5,
//! numbering unverified). Authors' code: the body of the batch loop in `train.py`
//! (git-disl/SEJE @ 694a835; ../shared/SEJE-SPEC.md §5.2).
//!
//! Randomness: the interpolation weights α of the gradient penalty come from a ChaCha stream keyed
//! by (seed, iteration), not from libtorch's generator, so an interrupted run resumed from a
//! checkpoint draws exactly the α it would have drawn (libtorch's generator state is not
//! exposed by tch). The authors draw α with NumPy, unseeded per worker (§9 A19).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::error::{Error, Result};
use crate::phase2::adam::{Adam, AdamConfig};
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

/// The trainable state: model and discriminator with their optimisers.
#[derive(Debug)]
pub struct Trainer {
    /// The model's variables.
    pub vs: nn::VarStore,
    /// The joint embedding model.
    pub model: JointEmbedding,
    /// The discriminator's own variables and network, when L_DA is on.
    pub disc: Option<(nn::VarStore, Discriminator)>,
    /// Adam over the model (one group: the authors' two groups share one learning rate).
    pub opt: Adam,
    /// Adam over the discriminator.
    pub opt_d: Option<Adam>,
    /// The objective.
    pub objective: ObjectiveConfig,
    /// Seed of the α stream.
    pub seed: u64,
    /// Run the forward pass and the losses under CUDA autocast (see
    /// [`crate::runtime::use_bf16_autocast`]); backward passes and updates stay outside it.
    pub autocast: bool,
}

impl Trainer {
    /// Builds the model (and discriminator) on `device` with fresh weights.
    pub fn new(
        model_cfg: &ModelConfig,
        objective: &ObjectiveConfig,
        lr: f64,
        device: tch::Device,
        seed: u64,
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
        let opt = Adam::new(&vs, AdamConfig::pytorch(lr));
        let (disc, opt_d) = if objective.uses_discriminator() {
            let dvs = nn::VarStore::new(device);
            let cfg = DiscriminatorConfig {
                input: model_cfg.recipe.embedding,
                ..DiscriminatorConfig::paper()
            };
            let d = Discriminator::new(dvs.root(), &cfg);
            // The authors' discriminator optimiser: Adam(lr, betas=(0.5, 0.999)).
            let opt_d = Adam::new(
                &dvs,
                AdamConfig {
                    lr,
                    betas: [0.5, 0.999],
                    eps: 1e-8,
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
            seed,
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

    fn alphas(seed: u64, n: i64, iteration: u64, device: tch::Device) -> Tensor {
        Tensor::from_slice(&interpolation_weights(seed, n as usize, iteration)).to_device(device)
    }

    /// One iteration on a batch: the discriminator step on detached embeddings, then the main
    /// step on L. `classes` are the pairs' categories (needed by category alignment and class
    /// negatives). A non-finite loss term stops with [`Error::NonFinite`] before any update of
    /// the model, so the last good weights are kept.
    pub fn step(
        &mut self,
        x: &JointInput<'_>,
        classes: Option<&Tensor>,
        iteration: u64,
    ) -> Result<StepLosses> {
        let ac = self.autocast;
        let out = crate::runtime::autocast(ac, || self.model.forward(x, true))?;
        let b = out.image.size()[0];

        // (1) discriminator step
        let (mut l_d, mut gp) = (None, None);
        if let (Some((_, d)), Some(opt_d)) = (&self.disc, &mut self.opt_d) {
            let alpha = Self::alphas(self.seed, b, iteration, out.image.device());
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
            opt_d.step();
            l_d = Some(v);
            gp = Some(f64::try_from(&dl.gradient_penalty)?);
        }

        // (2) main step
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
        let alignment = match &self.disc {
            Some((_, d)) => Some(crate::runtime::autocast(ac, || {
                alignment_loss(d, &out.recipe, self.objective.alignment_form)
            })?),
            None => None,
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
        self.opt.step();
        Ok(StepLosses {
            total: total_value,
            ..losses
        })
    }
}

/// The gradient penalty's α_i ∈ [0, 1) for one iteration: a ChaCha8 stream seeded with `seed`,
/// stream number `iteration`, `n` draws of `f32`.
pub fn interpolation_weights(seed: u64, n: usize, iteration: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(iteration);
    (0..n).map(|_| rng.gen::<f32>()).collect()
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
