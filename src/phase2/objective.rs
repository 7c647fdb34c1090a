//! The total Phase II objective L = L_TRI + λ_V·L_CA-V + λ_R·L_CA-R + λ_DA·L_DA.
//!
//! Spec: spec/phase2-objective.md. Paper: the caption formula L = L_TRI + λ1·L_CA + λ2·L_DA of
//! the Phase II framework figure (§5, numbering unverified); the weights 0.005 come from the
//! authors' code, `loss = tri_loss + 0.005 * img_loss + 0.005 * rec_loss + 0.005 * loss_cmG`
//! (`train.py:272-274`, git-disl/SEJE @ 694a835), added in that order.

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::{Error, Result};
use crate::phase2::discriminator::AlignmentForm;
use crate::phase2::triplet::TripletConfig;

/// Every weight and switch of the objective. A weight of 0 turns its term off (it is then not
/// computed at all), which is how the ablations are expressed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveConfig {
    /// L_TRI's hyper-parameters and negative sampling.
    pub triplet: TripletConfig,
    /// λ of L_CA-V (image category cross-entropy).
    pub category_image_weight: f64,
    /// λ of L_CA-R (recipe category cross-entropy).
    pub category_recipe_weight: f64,
    /// λ of L_DA (discriminator alignment of the recipe embeddings).
    pub alignment_weight: f64,
    /// Discriminator objective.
    pub alignment_form: AlignmentForm,
    /// Gradient-penalty weight inside L_D.
    pub penalty_weight: f64,
}

impl ObjectiveConfig {
    /// The paper: double negatives, λ = 0.005 for each auxiliary term, WGAN-GP with weight 10
    /// (the standard form: the authors' log form is NaN-prone, see the discriminator page).
    pub fn paper() -> Self {
        Self {
            triplet: TripletConfig::paper(),
            category_image_weight: 0.005,
            category_recipe_weight: 0.005,
            alignment_weight: 0.005,
            alignment_form: AlignmentForm::WganGp,
            penalty_weight: 10.0,
        }
    }

    /// The authors' released code: instance negatives and the log-form discriminator.
    pub fn authors_code() -> Self {
        Self {
            triplet: TripletConfig::authors_code(),
            alignment_form: AlignmentForm::SejeLog,
            ..Self::paper()
        }
    }

    /// Rejects negative or non-finite weights, naming the key.
    pub fn validate(&self) -> Result<()> {
        let weights = [
            ("triplet.gamma", self.triplet.gamma),
            ("category_image_weight", self.category_image_weight),
            ("category_recipe_weight", self.category_recipe_weight),
            ("alignment_weight", self.alignment_weight),
            ("penalty_weight", self.penalty_weight),
        ];
        for (key, w) in weights {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::Invalid {
                    what: format!("objective.{key}"),
                    problem: format!("must be a finite number >= 0, got {w}"),
                });
            }
        }
        if !self.triplet.margin.is_finite() {
            return Err(Error::Invalid {
                what: "objective.triplet.margin".into(),
                problem: format!("must be finite, got {}", self.triplet.margin),
            });
        }
        Ok(())
    }

    /// Whether the category head and its losses are needed.
    pub fn uses_categories(&self) -> bool {
        self.category_image_weight > 0.0 || self.category_recipe_weight > 0.0
    }

    /// Whether the discriminator is trained and L_DA computed.
    pub fn uses_discriminator(&self) -> bool {
        self.alignment_weight > 0.0
    }
}

/// The loss terms of one main step (`None` for a term whose weight is 0).
#[derive(Debug)]
pub struct LossTerms {
    /// L_TRI.
    pub triplet: Tensor,
    /// L_CA-V.
    pub category_image: Option<Tensor>,
    /// L_CA-R.
    pub category_recipe: Option<Tensor>,
    /// L_DA.
    pub alignment: Option<Tensor>,
}

/// L = L_TRI + λ_V·L_CA-V + λ_R·L_CA-R + λ_DA·L_DA over the terms present.
pub fn total_loss(terms: &LossTerms, cfg: &ObjectiveConfig) -> Tensor {
    [
        (&terms.category_image, cfg.category_image_weight),
        (&terms.category_recipe, cfg.category_recipe_weight),
        (&terms.alignment, cfg.alignment_weight),
    ]
    .into_iter()
    .filter_map(|(term, weight)| term.as_ref().map(|t| t * weight))
    .fold(terms.triplet.shallow_clone(), |total, weighted| {
        total + weighted
    })
}
