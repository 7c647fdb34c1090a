//! The joint embedding model (image encoder, recipe encoder, shared category head) and the name
//! mapping that loads the authors' released checkpoint.
//!
//! Spec: spec/phase2-encoders.md (model layout and checkpoint names). Paper: Phase II network
//! (§5, numbering unverified). Authors' code: `trijoint.py` (`im2recipe` module,
//! `trijoint.py:78-135`), checkpoints written by `train.py:197-206` with the backbone wrapped in
//! `DataParallel` (`train.py:69`), git-disl/SEJE @ 694a835.

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::error::Result;
use crate::nn::backbone::BackboneConfig;
use crate::phase2::category_alignment::CategoryHead;
use crate::phase2::image_encoder::ImageEncoder;
use crate::phase2::recipe_encoder::{RecipeEncoder, RecipeEncoderConfig};

/// Architecture of the joint model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The image CNN.
    pub backbone: BackboneConfig,
    /// Width of the category feature f_cat (300).
    pub category_feature: i64,
    /// The recipe branch's widths (its `embedding` is the joint embedding width).
    pub recipe: RecipeEncoderConfig,
    /// Categories C of the shared head (1005), or none without category alignment.
    pub classes: Option<i64>,
}

impl ModelConfig {
    /// The authors' released model: ResNeXt-101 32×8d, 300-d f_cat and f_term, 1024-d sentences,
    /// LSTM and embedding, 1005 categories.
    pub fn paper() -> Self {
        Self {
            backbone: BackboneConfig::resnext101_32x8d(),
            category_feature: 300,
            recipe: RecipeEncoderConfig::paper(),
            classes: Some(1005),
        }
    }
}

/// Everything one forward pass produces.
#[derive(Debug)]
pub struct JointOutput {
    /// Normalised image embeddings. `[B, E]`
    pub image: Tensor,
    /// Normalised recipe embeddings. `[B, E]`
    pub recipe: Tensor,
    /// Category logits of the images (with a head). `[B, C]`
    pub image_logits: Option<Tensor>,
    /// Category logits of the recipes (with a head). `[B, C]`
    pub recipe_logits: Option<Tensor>,
}

/// One batch of model inputs.
#[derive(Debug)]
pub struct JointInput<'a> {
    /// Normalised images. `[B, 3, H, W]`
    pub images: &'a Tensor,
    /// Category features f_cat. `[B, 300]`
    pub category: &'a Tensor,
    /// Zero-padded sentence features. `[B, T, 1024]`
    pub sentences: &'a Tensor,
    /// Sentences per recipe, int64. `[B]`
    pub lengths: &'a Tensor,
    /// Weighted term features f_term. `[B, 300]`
    pub term: &'a Tensor,
}

/// The SEJE joint embedding model. Variables sit at the root with the authors' names
/// (`visionMLP.*` with torchvision's names inside, `visual_embedding.*`, `stRNN_.lstm.*`,
/// `tfidf_embedding.0.*`, `recipe_embedding.*`, `semantic_branch.*`).
#[derive(Debug)]
pub struct JointEmbedding {
    /// The image branch.
    pub image: ImageEncoder,
    /// The recipe branch.
    pub recipe: RecipeEncoder,
    /// The shared category head.
    pub head: Option<CategoryHead>,
}

impl JointEmbedding {
    /// Creates every variable under `p` with PyTorch's / torchvision's initialisation.
    pub fn new(p: nn::Path, cfg: &ModelConfig) -> Self {
        let e = cfg.recipe.embedding;
        Self {
            image: ImageEncoder::new(&p, &cfg.backbone, cfg.category_feature, e),
            recipe: RecipeEncoder::new(&p, &cfg.recipe),
            head: cfg
                .classes
                .map(|c| CategoryHead::new(&p / "semantic_branch", e, c)),
        }
    }

    /// Both embeddings and, with a head, both category logits.
    pub fn forward(&self, x: &JointInput<'_>, train: bool) -> Result<JointOutput> {
        let image = self.image.forward(x.images, x.category, train)?;
        let recipe = self.recipe.forward(x.sentences, x.lengths, x.term, train)?;
        let (image_logits, recipe_logits) = match &self.head {
            Some(h) => (Some(h.logits(&image)), Some(h.logits(&recipe))),
            None => (None, None),
        };
        Ok(JointOutput {
            image,
            recipe,
            image_logits,
            recipe_logits,
        })
    }
}

/// torchvision child index → name inside `nn.Sequential(*list(resnet.children())[:-1])`: 0 conv1,
/// 1 bn1, 2 relu, 3 maxpool, 4–7 layer1–4, 8 avgpool (2, 3 and 8 hold no variables).
const SEQUENTIAL_CHILDREN: [(&str, &str); 6] = [
    ("0", "conv1"),
    ("1", "bn1"),
    ("4", "layer1"),
    ("5", "layer2"),
    ("6", "layer3"),
    ("7", "layer4"),
];

/// Our variable name for an entry of the authors' checkpoint `state_dict`, or `None` for entries
/// with no counterpart (`num_batches_tracked`). Model: `visionMLP.module.<i>.rest` →
/// `visionMLP.<child>.rest`, everything else unchanged; discriminator (saved from DataParallel):
/// `module.model.<i>.*` → `model.<i>.*`.
pub fn authors_checkpoint_name(name: &str) -> Option<String> {
    if name.ends_with("num_batches_tracked") {
        return None;
    }
    if let Some(rest) = name.strip_prefix("visionMLP.module.") {
        let (index, tail) = rest.split_once('.')?;
        let child = SEQUENTIAL_CHILDREN.iter().find(|(i, _)| *i == index)?.1;
        return Some(format!("visionMLP.{child}.{tail}"));
    }
    Some(name.strip_prefix("module.").unwrap_or(name).to_string())
}

/// The authors' `state_dict` name of one of our variables, the inverse of
/// [`authors_checkpoint_name`]: `visionMLP.<child>.rest` → `visionMLP.module.<i>.rest` (their
/// backbone is an `nn.Sequential` of the torchvision children inside `DataParallel`,
/// `train.py:69`), everything else unchanged.
pub fn authors_name(ours: &str) -> String {
    if let Some(rest) = ours.strip_prefix("visionMLP.") {
        if let Some((child, tail)) = rest.split_once('.') {
            if let Some((index, _)) = SEQUENTIAL_CHILDREN.iter().find(|(_, c)| *c == child) {
                return format!("visionMLP.module.{index}.{tail}");
            }
        }
    }
    ours.to_string()
}
