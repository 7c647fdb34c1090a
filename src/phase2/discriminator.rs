//! The cross-modal discriminator and the discriminator-based alignment losses L_D and L_DA.
//!
//! Spec: spec/phase2-discriminator-alignment.md. Paper: the discriminator alignment of Phase II
//! (§5, numbering unverified). Authors' code: `trijoint.py::cross_modal_discriminator`
//! (`trijoint.py:29-43`), `compute_gradient_penalty` (`train.py:45-64`) and the discriminator
//! step (`train.py:255-262`) and L_DA (`train.py:264-265`), git-disl/SEJE @ 694a835. Image
//! embeddings play the real distribution, recipe embeddings the fake one.
//!
//! Two forms. `WganGp` (default) is the standard WGAN-GP of ACME and the authors' MSJE code;
//! `SejeLog` is SEJE's released code exactly (logs of mean outputs and a gradient penalty on
//! log D), which is undefined whenever an argument of a log leaves (0, ∞) — D has no sigmoid. The
//! log form checks every argument first and returns [`Error::NonFinite`] instead of spreading NaN
//! (spec/deviations.md L2 and L3).

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::nn::layers;

/// Which discriminator objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlignmentForm {
    /// L_D = −mean D(real) + mean D(fake) + w·GP(D); L_DA = −mean D(fake).
    WganGp,
    /// L_D = log(1 − mean D(real)) + log(mean D(fake)) + w·GP(log D); L_DA = log(1 − mean D(fake)).
    SejeLog,
}

/// Layer widths of the discriminator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscriminatorConfig {
    /// Input width (the embedding dimension).
    pub input: i64,
    /// The two hidden widths.
    pub hidden: [i64; 2],
    /// Negative slope of the leaky ReLUs.
    pub slope: f64,
}

impl DiscriminatorConfig {
    /// The paper's discriminator: 1024 → 512 → 256 → 1, LeakyReLU(0.2).
    pub fn paper() -> Self {
        Self {
            input: 1024,
            hidden: [512, 256],
            slope: 0.2,
        }
    }
}

/// Linear → LReLU → Linear → LReLU → Linear(→1), no output sigmoid. Variables are named as the
/// authors' `nn.Sequential` inside `cross_modal_discriminator`: `model.0`, `model.2`, `model.4`.
#[derive(Debug)]
pub struct Discriminator {
    layers: [nn::Linear; 3],
    slope: f64,
}

impl Discriminator {
    /// Creates the discriminator's variables under `p` with PyTorch's default initialisation.
    pub fn new(p: nn::Path, cfg: &DiscriminatorConfig) -> Self {
        let m = p / "model";
        let [h1, h2] = cfg.hidden;
        Self {
            layers: [
                layers::linear(&m / "0", cfg.input, h1),
                layers::linear(&m / "2", h1, h2),
                layers::linear(&m / "4", h2, 1),
            ],
            slope: cfg.slope,
        }
    }

    /// D(x). `[N, input]` → `[N]`
    pub fn score(&self, x: &Tensor) -> Tensor {
        let [l1, l2, l3] = &self.layers;
        let h = layers::leaky_relu(&l1.forward(x), self.slope);
        let h = layers::leaky_relu(&l2.forward(&h), self.slope);
        l3.forward(&h).squeeze_dim(1)
    }
}

/// The discriminator step's loss and its parts.
#[derive(Debug)]
pub struct DiscriminatorLoss {
    /// L_D, to minimise over the discriminator's parameters.
    pub loss: Tensor,
    /// The gradient penalty (unweighted).
    pub gradient_penalty: Tensor,
    /// mean D(real) (images).
    pub real_mean: f64,
    /// mean D(fake) (recipes).
    pub fake_mean: f64,
}

/// L_D on detached embeddings. `alpha: [N]` holds the interpolation weights α_i ∈ [0, 1) of
/// x̂_i = α_i·real_i + (1 − α_i)·fake_i (drawn by the caller, so tests can fix them).
///
/// # Shapes
/// `real, fake: [N, input]`, `alpha: [N]` → scalar
pub fn discriminator_loss(
    d: &Discriminator,
    real: &Tensor,
    fake: &Tensor,
    alpha: &Tensor,
    form: AlignmentForm,
    penalty_weight: f64,
) -> Result<DiscriminatorLoss> {
    let n = real.size().first().copied().unwrap_or(0);
    if fake.size() != real.size() || alpha.size() != [n] {
        return Err(Error::Shape {
            what: "discriminator inputs".into(),
            expected: format!(
                "real {:?}, fake of the same shape, alpha [{n}]",
                real.size()
            ),
            got: [fake.size(), alpha.size()].concat(),
        });
    }
    let (real, fake) = (real.detach(), fake.detach());
    let d_real = d.score(&real);
    let d_fake = d.score(&fake);
    let real_mean = f64::try_from(d_real.mean(Kind::Double))?;
    let fake_mean = f64::try_from(d_fake.mean(Kind::Double))?;
    let adversarial = critic_loss(&d_real, &d_fake, form)?;

    let a = alpha.unsqueeze(1);
    let x_hat = (&a * &real + (a.ones_like() - &a) * &fake).set_requires_grad(true); // [N, input]
    let d_hat = d.score(&x_hat);
    let critic = match form {
        AlignmentForm::WganGp => d_hat,
        AlignmentForm::SejeLog => {
            let bad = i64::try_from(d_hat.le(0.0).sum(Kind::Int64))?;
            if bad > 0 {
                return Err(non_finite(
                    "gradient penalty (seje_log form)",
                    format!("{bad} of {n} interpolates have D(x̂) <= 0, so log D(x̂) is undefined"),
                ));
            }
            d_hat.log()
        }
    };
    // ∂/∂x̂ Σ_i critic_i = per-row gradients (grad_outputs = ones); keep the graph so the
    // penalty itself can be differentiated w.r.t. D's parameters.
    let grad = Tensor::run_backward(&[critic.sum(critic.kind())], &[&x_hat], true, true)
        .pop()
        .expect("one gradient per input");
    let gradient_penalty = (grad.norm_scalaropt_dim(2, [1i64].as_slice(), false) - 1.0)
        .pow_tensor_scalar(2)
        .mean(real.kind());

    Ok(DiscriminatorLoss {
        loss: adversarial + &gradient_penalty * penalty_weight,
        gradient_penalty,
        real_mean,
        fake_mean,
    })
}

/// The adversarial part of L_D from the discriminator's scores (the gradient penalty is added
/// by [`discriminator_loss`]).
///
/// # Shapes
/// `d_real, d_fake: [N]` → scalar
pub fn critic_loss(d_real: &Tensor, d_fake: &Tensor, form: AlignmentForm) -> Result<Tensor> {
    let real = d_real.mean(d_real.kind());
    let fake = d_fake.mean(d_fake.kind());
    match form {
        AlignmentForm::WganGp => Ok(fake - real),
        AlignmentForm::SejeLog => {
            let (r, f) = (f64::try_from(&real)?, f64::try_from(&fake)?);
            if r >= 1.0 {
                return Err(non_finite(
                    "L_D (seje_log form)",
                    format!("mean D(real) = {r} >= 1, so log(1 - mean D(real)) is undefined"),
                ));
            }
            if f <= 0.0 {
                return Err(non_finite(
                    "L_D (seje_log form)",
                    format!("mean D(fake) = {f} <= 0, so log(mean D(fake)) is undefined"),
                ));
            }
            Ok((real.neg() + 1.0).log() + fake.log())
        }
    }
}

/// L_DA from the discriminator's scores of the (non-detached) recipe embeddings.
///
/// # Shapes
/// `d_fake: [N]` → scalar
pub fn alignment_from_scores(d_fake: &Tensor, form: AlignmentForm) -> Result<Tensor> {
    let mean = d_fake.mean(d_fake.kind());
    match form {
        AlignmentForm::WganGp => Ok(-mean),
        AlignmentForm::SejeLog => {
            let m = f64::try_from(&mean)?;
            if m >= 1.0 {
                return Err(non_finite(
                    "L_DA (seje_log form)",
                    format!("mean D(fake) = {m} >= 1, so log(1 - mean D(fake)) is undefined"),
                ));
            }
            Ok((mean.neg() + 1.0).log())
        }
    }
}

/// L_DA, back-propagated into the recipe encoder through `fake` (not detached).
///
/// # Shapes
/// `fake: [N, input]` → scalar
pub fn alignment_loss(d: &Discriminator, fake: &Tensor, form: AlignmentForm) -> Result<Tensor> {
    alignment_from_scores(&d.score(fake), form)
}

fn non_finite(term: &str, problem: String) -> Error {
    Error::NonFinite {
        term: term.into(),
        problem,
    }
}
