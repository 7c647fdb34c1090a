//! Category alignment: a shared category head on both embeddings and its cross-entropy losses.
//!
//! Spec: spec/phase2-category-alignment.md. Paper: the auxiliary losses L_CA-V and L_CA-R of
//! Phase II (§5, numbering unverified). Authors' code: `trijoint.py`
//! (`semantic_branch = nn.Linear(1024, numClasses)` on the normalised embeddings,
//! `trijoint.py:111, 128-130`) and `train.py` (`nn.CrossEntropyLoss(weight=ones)`,
//! `train.py:73-75`; each term weighted 0.005, `train.py:269-274`), git-disl/SEJE @ 694a835.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::nn::layers;

/// The shared category head `semantic_branch`: Linear(dim → classes), applied to the normalised
/// image and recipe embeddings alike.
#[derive(Debug)]
pub struct CategoryHead {
    linear: nn::Linear,
    classes: i64,
}

impl CategoryHead {
    /// Creates `weight [classes, dim]` and `bias [classes]` under `p` with PyTorch's defaults.
    pub fn new(p: nn::Path, dim: i64, classes: i64) -> Self {
        Self {
            linear: layers::linear(p, dim, classes),
            classes,
        }
    }

    /// Number of categories C (1005 in the paper).
    pub fn classes(&self) -> i64 {
        self.classes
    }

    /// Category logits. `[N, dim]` → `[N, C]`
    pub fn logits(&self, embeddings: &Tensor) -> Tensor {
        self.linear.forward(embeddings)
    }
}

/// L_CA-V and L_CA-R, each the batch mean of the cross-entropy against the pair's category.
#[derive(Debug)]
pub struct CategoryAlignment {
    /// Cross-entropy of the image logits (L_CA-V).
    pub image: Tensor,
    /// Cross-entropy of the recipe logits (L_CA-R).
    pub recipe: Tensor,
}

/// Mean cross-entropy with uniform class weights, as `nn.CrossEntropyLoss()`.
///
/// # Shapes
/// `logits: [B, C]`, `classes: [B]` (int64 in `0..C`) → scalar
pub fn cross_entropy(what: &str, logits: &Tensor, classes: &Tensor) -> Result<Tensor> {
    let (b, c) = match logits.size()[..] {
        [b, c] => (b, c),
        _ => {
            return Err(Error::Shape {
                what: what.into(),
                expected: "[B, C]".into(),
                got: logits.size(),
            })
        }
    };
    if classes.size() != [b] || classes.kind() != Kind::Int64 {
        return Err(Error::Shape {
            what: "category labels".into(),
            expected: format!("[{b}] int64"),
            got: classes.size(),
        });
    }
    // libtorch aborts on out-of-range targets; name the first offending row instead.
    let bad = classes.lt(0).logical_or(&classes.ge(c));
    if bool::try_from(bad.any())? {
        let row = i64::try_from(bad.to_kind(Kind::Int64).argmax(0, false))?;
        let value = i64::try_from(classes.get(row))?;
        return Err(Error::Invalid {
            what: "category labels".into(),
            problem: format!("row {row} has category {value}, outside 0..{c}"),
        });
    }
    Ok(logits.log_softmax(-1, logits.kind()).nll_loss(classes))
}

/// L_CA-V and L_CA-R for one batch. `image_logits, recipe_logits: [B, C]`, `classes: [B]`.
pub fn category_alignment(
    image_logits: &Tensor,
    recipe_logits: &Tensor,
    classes: &Tensor,
) -> Result<CategoryAlignment> {
    Ok(CategoryAlignment {
        image: cross_entropy("image category logits", image_logits, classes)?,
        recipe: cross_entropy("recipe category logits", recipe_logits, classes)?,
    })
}
