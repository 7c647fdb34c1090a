//! The image encoder: CNN trunk features ⊕ category feature → Linear → BatchNorm1d →
//! LeakyReLU(0.02) → L2 normalisation.
//!
//! Spec: spec/phase2-encoders.md. Paper: image embedding learning of Phase II, pixel feature plus
//! category feature (§5, numbering unverified). Authors' code: `trijoint.py` (`visionMLP`,
//! `visual_embedding` at `trijoint.py:83-91`, the forward pass at `trijoint.py:121-126`),
//! git-disl/SEJE @ 694a835.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use crate::error::{Error, Result};
use crate::nn::backbone::{Backbone, BackboneConfig};
use crate::nn::layers;
use crate::phase2::embedding_space::l2_normalize;

/// Negative slope of the encoders' leaky ReLUs (`nn.LeakyReLU(0.02)` in `trijoint.py`).
pub const ENCODER_SLOPE: f64 = 0.02;

/// `visual_embedding`: Linear(features + category → embedding), BatchNorm1d, LeakyReLU(0.02).
#[derive(Debug)]
pub struct ImageHead {
    linear: nn::Linear,
    bn: nn::BatchNorm,
    features: i64,
    category: i64,
}

impl ImageHead {
    /// Variables `visual_embedding.0.{weight,bias}` and `visual_embedding.1.*` under `p`.
    pub fn new(p: &nn::Path, features: i64, category: i64, embedding: i64) -> Self {
        let v = p / "visual_embedding";
        Self {
            linear: layers::linear(&v / "0", features + category, embedding),
            bn: layers::batch_norm1d(&v / "1", embedding),
            features,
            category,
        }
    }

    /// e_v = norm(LReLU(BN(W [features ; f_cat] + b))).
    ///
    /// # Shapes
    /// `features: [B, F]`, `category: [B, C]` → `[B, E]`
    pub fn embed(&self, features: &Tensor, category: &Tensor, train: bool) -> Result<Tensor> {
        let b = features.size()[0];
        if features.size() != [b, self.features] || category.size() != [b, self.category] {
            return Err(Error::Shape {
                what: "image features and category features".into(),
                expected: format!("[B, {}] and [B, {}]", self.features, self.category),
                got: [features.size(), category.size()].concat(),
            });
        }
        let h = Tensor::cat(&[features, category], 1); // [B, F + C]
        let h = self.bn.forward_t(&h.apply(&self.linear), train); // [B, E]
        l2_normalize(&layers::leaky_relu(&h, ENCODER_SLOPE))
    }
}

/// The whole image branch: backbone trunk (variables under `visionMLP`) and [`ImageHead`].
#[derive(Debug)]
pub struct ImageEncoder {
    /// The CNN; its variables carry torchvision's names under `visionMLP.`.
    pub backbone: Backbone,
    /// The fusion head.
    pub head: ImageHead,
}

impl ImageEncoder {
    /// Creates the branch under `p` (the trunk is built without `fc`).
    pub fn new(p: &nn::Path, backbone: &BackboneConfig, category: i64, embedding: i64) -> Self {
        let cfg = backbone.with_classes(None);
        Self {
            backbone: Backbone::new(p / "visionMLP", &cfg),
            head: ImageHead::new(p, cfg.feature_dim(), category, embedding),
        }
    }

    /// `images: [B, 3, H, W]`, `category: [B, C]` → `[B, E]`
    pub fn forward(&self, images: &Tensor, category: &Tensor, train: bool) -> Result<Tensor> {
        let f = self.backbone.features(images, train)?;
        self.head.embed(&f, category, train)
    }
}
