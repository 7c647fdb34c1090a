//! Image categorisation, inference: a ResNet-family classifier (WideResNet-50-2 fine-tuned on
//! Food-101 in the paper; any torchvision classifier for checking weights) on the evaluation
//! transform, top-k classes with probabilities.
//!
//! Spec: spec/phase1-categoriser.md. Paper: Phase I image categorisation (§4.e in our
//! reconstruction, numbering unverified). The authors released only
//! its output (`id2img_101_cls_vec.pkl`), not the classifier.

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Serialize;
use tch::{nn, Kind, Tensor};

use crate::checkpoint;
use crate::data::transforms::{self, Mode, TransformConfig};
use crate::error::{Error, Result};
use crate::nn::backbone::{Backbone, BackboneConfig};

/// A loaded classifier with its class names.
#[derive(Debug)]
pub struct Categoriser {
    _vs: nn::VarStore,
    model: Backbone,
    labels: Vec<String>,
    transform: TransformConfig,
}

/// One image's prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The image file.
    pub image: PathBuf,
    /// The `k` most probable classes, most probable first: (index, label, probability).
    pub top: Vec<(i64, String, f64)>,
    /// Every logit, in class order.
    pub logits: Vec<f32>,
}

impl Categoriser {
    /// Builds `arch` with as many classes as the weights' `fc.weight` has rows and loads the
    /// weights: a `torch.save` state dict (torchvision's `.pth`) or a `.safetensors` file, with
    /// torchvision's names. `labels` default to the class indices.
    pub fn load(
        arch: &str,
        weights: &Path,
        labels: Option<Vec<String>>,
        transform: TransformConfig,
    ) -> Result<Self> {
        let tensors = if weights.extension().is_some_and(|e| e == "safetensors") {
            checkpoint::safetensors::read_safetensors(weights)?
        } else {
            checkpoint::read_state_dict(weights, None)?
        };
        let fc = tensors
            .iter()
            .find(|(n, _)| n == "fc.weight")
            .map(|(_, t)| t)
            .ok_or_else(|| Error::Checkpoint {
                file: weights.to_path_buf(),
                expected: "a classifier with an `fc.weight` entry".into(),
                found: "no `fc.weight`".into(),
            })?;
        let classes = fc.size().first().copied().unwrap_or(0);
        let cfg = BackboneConfig::by_name(arch)?.with_classes(Some(classes));
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let model = Backbone::new(vs.root(), &cfg);
        checkpoint::load_into(&vs, weights, tensors, checkpoint::torchvision_name)?;
        let labels = match labels {
            Some(l) if l.len() as i64 != classes => {
                return Err(Error::Invalid {
                    what: "class names".into(),
                    problem: format!("{} names for a classifier with {classes} classes", l.len()),
                })
            }
            Some(l) => l,
            None => (0..classes).map(|i| i.to_string()).collect(),
        };
        Ok(Self {
            _vs: vs,
            model,
            labels,
            transform,
        })
    }

    /// The class names, in class order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The evaluation transform of one image: `[3, crop, crop]` float32, ImageNet-normalised.
    pub fn preprocess(&self, img: &RgbImage) -> Result<Tensor> {
        let mut unused = rand::rngs::mock::StepRng::new(0, 0); // eval draws nothing
        let (buf, _) = transforms::transform(img, &self.transform, Mode::Eval, &mut unused)?;
        let c = i64::from(self.transform.crop);
        Ok(Tensor::from_slice(&buf).view([3, c, c]))
    }

    /// Top-`k` predictions for image files (decoded as JPEG or PNG by content).
    pub fn classify(&self, images: &[PathBuf], k: usize) -> Result<Vec<Prediction>> {
        images
            .iter()
            .map(|path| self.predict(&decode(path)?, path, k))
            .collect()
    }

    /// Top-`k` prediction for one decoded image; `path` only labels the result.
    pub fn predict(&self, img: &RgbImage, path: &Path, k: usize) -> Result<Prediction> {
        let x = self
            .preprocess(img)
            .map_err(transforms::naming(path.display()))?
            .unsqueeze(0); // [1, 3, crop, crop]
        let logits = tch::no_grad(|| self.model.logits(&x, false))?.squeeze_dim(0); // [C]
        let probs = logits.to_kind(Kind::Double).softmax(0, Kind::Double);
        let k = k.min(self.labels.len()) as i64;
        let (p, idx) = probs.topk(k, 0, true, true);
        let p = Vec::<f64>::try_from(&p)?;
        let idx = Vec::<i64>::try_from(&idx)?;
        Ok(Prediction {
            image: path.to_path_buf(),
            top: idx
                .into_iter()
                .zip(p)
                .map(|(i, p)| (i, self.labels[i as usize].clone(), p))
                .collect(),
            logits: Vec::<f32>::try_from(&logits)?,
        })
    }
}

/// Reads and decodes an image file (JPEG or PNG by content); errors name the path.
pub fn decode(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    crate::data::images::decode_bytes(bytes).map_err(|problem| Error::Invalid {
        what: format!("image {}", path.display()),
        problem,
    })
}
