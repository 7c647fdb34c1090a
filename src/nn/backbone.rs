//! ResNet-family image backbones with torchvision's variable names: ResNet-50, ResNeXt-101 32×8d,
//! WideResNet-50-2, and small CPU configurations of the same family.
//!
//! Spec: spec/phase2-backbones.md. Paper: the image encoder's CNN (§5, numbering unverified) and
//! Phase I's Food-101 categoriser; the authors' `resnext101_32x8d(pretrained=True)` without its
//! `fc` (`trijoint.py:83-85`, git-disl/SEJE @ 694a835). Reference:
//! torchvision 0.26 `models/resnet.py` (`Bottleneck`, `ResNet._make_layer`), whose `state_dict`
//! names (`conv1.weight`, `layer1.0.conv2.weight`, `layer2.0.downsample.1.running_var`, `fc.bias`)
//! are reproduced exactly so torchvision checkpoints load without renaming. torchvision's
//! `num_batches_tracked` buffers have no counterpart in tch's batch norm and are skipped on load.

use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::error::{Error, Result};

/// A bottleneck ResNet: depth per stage, grouped/widened 3×3 convolutions, base width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneConfig {
    /// Bottleneck blocks in layer1..layer4 (`[3, 4, 6, 3]` for ResNet-50).
    pub layers: [i64; 4],
    /// Groups of the 3×3 convolutions (32 for ResNeXt-101 32×8d).
    pub groups: i64,
    /// torchvision's `width_per_group` (64 plain, 8 for ResNeXt 32×8d, 128 for WideResNet-50-2).
    pub width_per_group: i64,
    /// Planes of the first stage (torchvision: 64); later stages double it. Smaller values give
    /// the CPU-sized configurations used on the synthetic benchmark.
    pub base_planes: i64,
    /// Classes of the final `fc` layer (1000 for ImageNet, 101 for Food-101), or none for a trunk.
    pub num_classes: Option<i64>,
}

/// Bottleneck expansion: the block's output has 4× its planes.
const EXPANSION: i64 = 4;

impl BackboneConfig {
    /// `torchvision.models.resnet50`.
    pub fn resnet50() -> Self {
        Self {
            layers: [3, 4, 6, 3],
            groups: 1,
            width_per_group: 64,
            base_planes: 64,
            num_classes: Some(1000),
        }
    }

    /// `torchvision.models.resnext101_32x8d` (the authors' released code).
    pub fn resnext101_32x8d() -> Self {
        Self {
            layers: [3, 4, 23, 3],
            groups: 32,
            width_per_group: 8,
            ..Self::resnet50()
        }
    }

    /// `torchvision.models.wide_resnet50_2` (Phase I's Food-101 categoriser).
    pub fn wide_resnet50_2() -> Self {
        Self {
            width_per_group: 128,
            ..Self::resnet50()
        }
    }

    /// A CPU-sized member of the family: one block per stage, base 8 planes (256-d features),
    /// grouped 3×3 convolutions as in ResNeXt.
    pub fn tiny() -> Self {
        Self {
            layers: [1, 1, 1, 1],
            groups: 2,
            width_per_group: 16,
            base_planes: 8,
            num_classes: None,
        }
    }

    /// By torchvision name (`resnet50`, `resnext101_32x8d`, `wide_resnet50_2`) or `tiny`.
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "resnet50" => Ok(Self::resnet50()),
            "resnext101_32x8d" => Ok(Self::resnext101_32x8d()),
            "wide_resnet50_2" => Ok(Self::wide_resnet50_2()),
            "tiny" => Ok(Self::tiny()),
            other => Err(Error::Invalid {
                what: "backbone".into(),
                problem: format!(
                    "unknown architecture `{other}` (resnet50, resnext101_32x8d, wide_resnet50_2, tiny)"
                ),
            }),
        }
    }

    /// Same configuration with a different classifier (or none).
    pub fn with_classes(self, num_classes: Option<i64>) -> Self {
        Self {
            num_classes,
            ..self
        }
    }

    /// Width of the pooled features: 8 × base planes × 4 (2048 for the torchvision models).
    pub fn feature_dim(&self) -> i64 {
        self.base_planes * 8 * EXPANSION
    }
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64, groups: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        groups,
        bias: false,
        // torchvision's ResNet: kaiming_normal_(mode="fan_out", nonlinearity="relu").
        ws_init: nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan: nn::init::FanInOut::FanOut,
            non_linearity: nn::init::NonLinearity::ReLU,
        },
        ..Default::default()
    };
    nn::conv2d(p, i, o, k, cfg)
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    // torchvision: weight 1, bias 0, eps 1e-5, momentum 0.1 (`ResNet.__init__`).
    crate::nn::layers::batch_norm2d(p, c)
}

/// torchvision's `Bottleneck` (v1.5: the stride sits on the 3×3 convolution).
#[derive(Debug)]
struct Bottleneck {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv3: nn::Conv2D,
    bn3: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Bottleneck {
    fn new(p: nn::Path, inplanes: i64, planes: i64, stride: i64, cfg: &BackboneConfig) -> Self {
        // width = int(planes * (base_width / 64.)) * groups, in integers.
        let width = planes * cfg.width_per_group / 64 * cfg.groups;
        let out = planes * EXPANSION;
        let downsample = (stride != 1 || inplanes != out).then(|| {
            let d = &p / "downsample";
            (
                conv(&d / "0", inplanes, out, 1, stride, 1),
                bn(&d / "1", out),
            )
        });
        Self {
            conv1: conv(&p / "conv1", inplanes, width, 1, 1, 1),
            bn1: bn(&p / "bn1", width),
            conv2: conv(&p / "conv2", width, width, 3, stride, cfg.groups),
            bn2: bn(&p / "bn2", width),
            conv3: conv(&p / "conv3", width, out, 1, 1, 1),
            bn3: bn(&p / "bn3", out),
            downsample,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.bn1.forward_t(&self.conv1.forward(x), train).relu();
        let h = self.bn2.forward_t(&self.conv2.forward(&h), train).relu();
        let h = self.bn3.forward_t(&self.conv3.forward(&h), train);
        let identity = match &self.downsample {
            Some((c, b)) => b.forward_t(&c.forward(x), train),
            None => x.shallow_clone(),
        };
        (h + identity).relu()
    }
}

/// The backbone: stem, four stages, global average pooling, optional `fc`.
#[derive(Debug)]
pub struct Backbone {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    stages: Vec<Vec<Bottleneck>>,
    fc: Option<nn::Linear>,
    cfg: BackboneConfig,
}

impl Backbone {
    /// Creates the variables under `p` with torchvision's names and initialisation rules.
    pub fn new(p: nn::Path, cfg: &BackboneConfig) -> Self {
        let stem = cfg.base_planes;
        let mut inplanes = stem;
        let mut stages = Vec::new();
        for (i, &blocks) in cfg.layers.iter().enumerate() {
            let planes = stem << i;
            let stride = if i == 0 { 1 } else { 2 };
            let lp = &p / format!("layer{}", i + 1);
            let mut stage = Vec::new();
            for b in 0..blocks {
                let s = if b == 0 { stride } else { 1 };
                stage.push(Bottleneck::new(&lp / b, inplanes, planes, s, cfg));
                inplanes = planes * EXPANSION;
            }
            stages.push(stage);
        }
        Self {
            conv1: conv(&p / "conv1", 3, stem, 7, 2, 1),
            bn1: bn(&p / "bn1", stem),
            stages,
            fc: cfg
                .num_classes
                .map(|n| crate::nn::layers::linear(&p / "fc", inplanes, n)),
            cfg: *cfg,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &BackboneConfig {
        &self.cfg
    }

    /// Pooled trunk features (everything but `fc`): `[B, 3, H, W]` → `[B, feature_dim]`.
    pub fn features(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        match images.size()[..] {
            [_, 3, h, w] if h >= 32 && w >= 32 => {}
            _ => {
                return Err(Error::Shape {
                    what: "images".into(),
                    expected: "[B, 3, H, W] with H, W >= 32".into(),
                    got: images.size(),
                })
            }
        }
        let mut h = self
            .bn1
            .forward_t(&self.conv1.forward(images), train)
            .relu();
        h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for stage in &self.stages {
            for block in stage {
                h = block.forward(&h, train);
            }
        }
        Ok(h.adaptive_avg_pool2d([1, 1]).flatten(1, -1)) // [B, feature_dim]
    }

    /// Class logits through `fc`: `[B, 3, H, W]` → `[B, num_classes]`.
    pub fn logits(&self, images: &Tensor, train: bool) -> Result<Tensor> {
        let fc = self.fc.as_ref().ok_or_else(|| Error::Invalid {
            what: "backbone".into(),
            problem: "built without a classifier (`num_classes` is none)".into(),
        })?;
        Ok(fc.forward(&self.features(images, train)?))
    }
}
