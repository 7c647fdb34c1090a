//! Batch-hard soft-margin triplet loss with instance-class double negative sampling.
//!
//! Spec: spec/phase2-triplet-loss.md. Paper: the primary loss L_TRI of Phase II with the
//! instance-class double hard negative sampling of its negative-sampling figure (§5, numbering
//! unverified). Authors' code: `triplet_loss.py` (`euclidean_dist`, `triplet_loss.py:32-42`;
//! `hard_example_mining`, `triplet_loss.py:45-88`; `global_loss` with `nn.SoftMarginLoss`,
//! `triplet_loss.py:7-23, 91-100`), git-disl/SEJE @ 694a835, which implements the instance term
//! only.
//!
//! Which one we follow: the paper (`double`) by default in `paper.toml`; `instance` reproduces the
//! released code, `class` is the class term alone (an ablation); spec/deviations.md L1.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::phase2::embedding_space::pairwise_distance_loss_form;

/// Which hardest negatives enter the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NegativeMode {
    /// The hardest other instance of the other modality (the authors' released code).
    Instance,
    /// The hardest candidate whose category differs from the anchor's.
    Class,
    /// Both terms, summed (the paper's instance-class double sampling).
    Double,
}

impl NegativeMode {
    /// Parses `instance`, `class` or `double`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "instance" => Ok(Self::Instance),
            "class" => Ok(Self::Class),
            "double" => Ok(Self::Double),
            other => Err(Error::Invalid {
                what: "negative sampling mode".into(),
                problem: format!("unknown mode `{other}` (instance, class, double)"),
            }),
        }
    }

    fn uses_instance(self) -> bool {
        matches!(self, Self::Instance | Self::Double)
    }

    fn uses_class(self) -> bool {
        matches!(self, Self::Class | Self::Double)
    }
}

/// Hyper-parameters of L_TRI.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TripletConfig {
    /// Scale γ inside the soft margin (`--gama 16` in the authors' code).
    pub gamma: f64,
    /// Margin m (`--margin 0` in the authors' code).
    pub margin: f64,
    /// Negative sampling.
    pub negatives: NegativeMode,
}

impl TripletConfig {
    /// The paper: γ = 16, m = 0, instance-class double negatives.
    pub fn paper() -> Self {
        Self {
            gamma: 16.0,
            margin: 0.0,
            negatives: NegativeMode::Double,
        }
    }

    /// The authors' released code: γ = 16, m = 0, instance negatives only.
    pub fn authors_code() -> Self {
        Self {
            negatives: NegativeMode::Instance,
            ..Self::paper()
        }
    }
}

/// L_TRI and what it was computed from (for logging and tests).
#[derive(Debug)]
pub struct TripletOutput {
    /// The scalar loss.
    pub loss: Tensor,
    /// d⁺ per anchor; rows 0..B are image anchors, B..2B recipe anchors. `[2B]`
    pub positive: Tensor,
    /// Hardest instance negative per anchor (instance and double modes). `[2B]`
    pub instance_negative: Option<Tensor>,
    /// Hardest different-category negative per anchor; equals `positive` where none exists
    /// (class and double modes). `[2B]`
    pub class_negative: Option<Tensor>,
    /// Anchors whose batch holds no candidate of another category (their class term is dropped).
    pub anchors_without_class_negative: i64,
}

/// L_TRI = (1/2B) Σ_a softplus(γ(d⁺_a − d⁻ins_a + m)) + (1/2B) Σ_a softplus(γ(d⁺_a − d⁻cls_a + m)),
/// with the terms selected by `cfg.negatives`; dropped class terms count as 0 and each sum is
/// divided by 2B. The instance term is computed as the authors' `nn.SoftMarginLoss` computes it
/// (the mean of `log1p(exp(x))`), so its bits are PyTorch's.
///
/// # Shapes
/// `images: [B, D]`, `recipes: [B, D]` (row i of both is one pair), `classes: [B]` (int64,
/// required for `class` and `double`) → scalar.
pub fn triplet_loss(
    images: &Tensor,
    recipes: &Tensor,
    classes: Option<&Tensor>,
    cfg: &TripletConfig,
) -> Result<TripletOutput> {
    if images.size().len() != 2 {
        return Err(shape("image embeddings", "[B, D]", images));
    }
    if recipes.size() != images.size() {
        return Err(Error::Shape {
            what: "recipe embeddings".into(),
            expected: format!("{:?} (the image embeddings' shape)", images.size()),
            got: recipes.size(),
        });
    }
    // As `global_loss(triplet_loss, torch.cat((img, rec)))` (`train.py:268`, `triplet_loss.py:32-41`):
    // the distances are taken between the two halves of one concatenation, so each embedding's
    // gradient from L_TRI arrives as one sum, as in PyTorch.
    let b = images.size()[0];
    let both = Tensor::cat(&[images, recipes], 0); // [2B, D]
    let d = pairwise_distance_loss_form(&both.narrow(0, 0, b), &both.narrow(0, b, b))?; // [B, B] images × recipes
    triplet_loss_from_distances(&d, classes, cfg)
}

/// L_TRI from the image × recipe distance matrix (rows images, columns recipes, pairs on the
/// diagonal).
///
/// # Shapes
/// `d: [B, B]`, `classes: [B]` → scalar
pub fn triplet_loss_from_distances(
    d: &Tensor,
    classes: Option<&Tensor>,
    cfg: &TripletConfig,
) -> Result<TripletOutput> {
    let b = match d.size()[..] {
        [n, m] if n == m => n,
        _ => return Err(shape("image × recipe distances", "[B, B]", d)),
    };
    if b < 2 && cfg.negatives.uses_instance() {
        return Err(Error::Invalid {
            what: "triplet batch".into(),
            problem: format!("{b} pair(s): instance negatives need at least 2 pairs"),
        });
    }
    let device = d.device();
    let stacked = Tensor::cat(&[d, &d.transpose(0, 1)], 0); // [2B, B] anchors × candidates
    let positive = Tensor::cat(&[d.diagonal(0, 0, 1), d.diagonal(0, 0, 1)], 0); // [2B]
                                                                                // γ(d⁺ − d⁻ + m), the argument of `nn.SoftMarginLoss` with target −1, whose per-anchor
                                                                                // value is log(1 + exp(x)) = softplus(x) (`triplet_loss.py:18-23`).
    let scaled = |neg: &Tensor| (&positive - neg + cfg.margin) * cfg.gamma; // [2B]
    let minus_one = positive.ones_like().neg().detach(); // [2B]
    let mut loss: Option<Tensor> = None;

    let mut instance_negative = None;
    if cfg.negatives.uses_instance() {
        let eye = Tensor::eye(b, (Kind::Bool, device));
        let own = Tensor::cat(&[&eye, &eye], 0); // [2B, B] the anchor's own pair
        let neg = stacked.masked_fill(&own, f64::INFINITY).min_dim(1, false).0; // [2B]
                                                                                // The mean over the 2B anchors, as `nn.SoftMarginLoss()` reduces it.
        loss = Some(scaled(&neg).soft_margin_loss(&minus_one, tch::Reduction::Mean));
        instance_negative = Some(neg);
    }

    let mut class_negative = None;
    let mut anchors_without_class_negative = 0;
    if cfg.negatives.uses_class() {
        let c = classes.ok_or_else(|| Error::Invalid {
            what: "category labels".into(),
            problem: format!(
                "negative mode {:?} needs a category per pair",
                cfg.negatives
            ),
        })?;
        if c.size() != [b] || c.kind() != Kind::Int64 {
            return Err(Error::Shape {
                what: "category labels".into(),
                expected: format!("[{b}] int64"),
                got: c.size(),
            });
        }
        let differ = c.unsqueeze(1).ne_tensor(&c.unsqueeze(0)); // [B, B] anchor × candidate
        let differ = Tensor::cat(&[&differ, &differ], 0); // [2B, B]
        let has = differ.any_dim(1, false); // [2B]
        let hardest = stacked
            .masked_fill(&differ.logical_not(), f64::INFINITY)
            .min_dim(1, false)
            .0;
        // Where no candidate of another category exists, use d⁺ so nothing infinite enters the
        // graph; the term is then masked to 0.
        let neg = hardest.where_self(&has, &positive.detach()); // [2B]
        let per_anchor = scaled(&neg).soft_margin_loss(&minus_one, tch::Reduction::None)
            * has.to_kind(positive.kind()); // [2B]
        let term = per_anchor.sum(positive.kind()) / (2 * b) as f64;
        loss = Some(match loss {
            Some(instance) => instance + term,
            None => term,
        });
        anchors_without_class_negative = i64::try_from(has.logical_not().sum(Kind::Int64))?;
        if anchors_without_class_negative > 0 {
            tracing::debug!(
                anchors_without_class_negative,
                "class term dropped for some anchors"
            );
        }
        class_negative = Some(neg);
    }

    Ok(TripletOutput {
        loss: loss.expect("every negative mode has at least one term"),
        positive,
        instance_negative,
        class_negative,
        anchors_without_class_negative,
    })
}

fn shape(what: &str, expected: &str, t: &Tensor) -> Error {
    Error::Shape {
        what: what.into(),
        expected: expected.into(),
        got: t.size(),
    }
}
