//! ResNet-family backbones against torchvision 0.26: variable names and shapes of the three
//! architectures, and the forward pass of a tiny member built from torchvision's own blocks.
//!
//! Spec: spec/phase2-backbones.md.

#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;

use seje::nn::backbone::{Backbone, BackboneConfig};
use tch::{nn, Device, Kind, Tensor};

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/backbones")
}

/// `name [d0, d1, ...]` lines, sorted, for a VarStore.
fn layout(vs: &nn::VarStore) -> Vec<String> {
    let mut v: Vec<String> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| format!("{name} {:?}", t.size()))
        .collect();
    v.sort();
    v
}

// Python: for name, t in torchvision.models.<arch>(weights=None).state_dict().items()
#[test]
fn golden_variable_names_and_shapes_equal_torchvision_state_dicts() {
    for (arch, cfg) in [
        ("resnet50", BackboneConfig::resnet50()),
        ("resnext101_32x8d", BackboneConfig::resnext101_32x8d()),
        ("wide_resnet50_2", BackboneConfig::wide_resnet50_2()),
    ] {
        let text = std::fs::read_to_string(golden_dir().join(format!("{arch}.state_dict.txt")))
            .expect("golden list");
        let mut want: Vec<String> = text
            .lines()
            .filter(|l| !l.contains("num_batches_tracked"))
            .map(str::to_string)
            .collect();
        want.sort();
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = tch::no_grad(|| Backbone::new(vs.root(), &cfg));
        assert_eq!(layout(&vs), want, "{arch}");
    }
}

#[test]
fn tiny_layout_snapshot() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = Backbone::new(vs.root(), &BackboneConfig::tiny());
    insta::assert_snapshot!("backbone_tiny_layout", layout(&vs).join("\n"));
}

fn load_tiny() -> (nn::VarStore, Backbone, HashMap<String, Tensor>) {
    let path = golden_dir().join("tiny.npz");
    let g: HashMap<String, Tensor> = Tensor::read_npz(path)
        .expect("tiny.npz")
        .into_iter()
        .collect();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Backbone::new(vs.root(), &BackboneConfig::tiny());
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let src = g
                .get(&format!("param.{name}"))
                .unwrap_or_else(|| panic!("golden lacks {name}"));
            var.copy_(src);
        }
    });
    (vs, model, g)
}

// Python: TinyResNet(...).eval().features(x) and .train().features(x) (torchvision Bottleneck)
#[test]
fn golden_tiny_features_match_torchvision_blocks() {
    let (vs, model, g) = load_tiny();
    let x = &g["input"];
    let eval = tch::no_grad(|| model.features(x, false)).unwrap();
    let d = max_abs_diff(&eval, &g["features_eval"]);
    assert!(d <= 1e-5, "eval features differ by {d:e}");
    let train = tch::no_grad(|| model.features(x, true)).unwrap();
    let d = max_abs_diff(&train, &g["features_train"]);
    assert!(d <= 1e-5, "train features differ by {d:e}");
    let running = &vs.variables()["bn1.running_mean"];
    let d = max_abs_diff(running, &g["bn1_running_mean_after_train"]);
    assert!(d <= 1e-6, "running mean after one step differs by {d:e}");
}

#[test]
fn images_of_the_wrong_shape_are_named() {
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Backbone::new(vs.root(), &BackboneConfig::tiny());
    let x = Tensor::zeros([2, 1, 40, 40], (Kind::Float, Device::Cpu));
    let err = model.features(&x, false).unwrap_err().to_string();
    assert_eq!(
        err,
        "images: expected shape [B, 3, H, W] with H, W >= 32, got [2, 1, 40, 40]"
    );
    let err = model
        .logits(
            &Tensor::zeros([1, 3, 40, 40], (Kind::Float, Device::Cpu)),
            false,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "backbone: built without a classifier (`num_classes` is none)"
    );
}

#[test]
fn feature_widths() {
    assert_eq!(BackboneConfig::resnext101_32x8d().feature_dim(), 2048);
    assert_eq!(BackboneConfig::tiny().feature_dim(), 256);
    let err = BackboneConfig::by_name("vgg16").unwrap_err().to_string();
    assert!(
        err.starts_with("backbone: unknown architecture `vgg16`"),
        "{err}"
    );
}

/// Name and shape lines of a generated layout file, without `num_batches_tracked`, mapped through
/// the authors' checkpoint names.
fn authors_layout(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/golden/authors_layout")
            .join(file),
    )
    .expect("layout file");
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let (name, shape) = l.split_once(' ').expect("name shape");
            seje::phase2::model::authors_checkpoint_name(name).map(|n| format!("{n} {shape}"))
        })
        .collect();
    v.sort();
    v
}

// Python: AuthorsModel().state_dict() (trijoint.py layout, DataParallel backbone) and the
// DataParallel discriminator; see fixtures/golden/authors_layout/generate.py
#[test]
fn golden_authors_checkpoint_names_map_onto_our_model() {
    use seje::phase2::discriminator::{Discriminator, DiscriminatorConfig};
    use seje::phase2::model::{JointEmbedding, ModelConfig};
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = tch::no_grad(|| JointEmbedding::new(vs.root(), &ModelConfig::paper()));
    assert_eq!(layout(&vs), authors_layout("authors_model.state_dict.txt"));
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = Discriminator::new(vs.root(), &DiscriminatorConfig::paper());
    assert_eq!(
        layout(&vs),
        authors_layout("authors_discriminator.state_dict.txt")
    );
}

#[test]
fn checkpoint_name_mapping_examples() {
    use seje::phase2::model::authors_checkpoint_name as map;
    assert_eq!(
        map("visionMLP.module.0.weight").as_deref(),
        Some("visionMLP.conv1.weight")
    );
    assert_eq!(
        map("visionMLP.module.6.22.conv2.weight").as_deref(),
        Some("visionMLP.layer3.22.conv2.weight")
    );
    assert_eq!(map("visionMLP.module.1.num_batches_tracked"), None);
    assert_eq!(map("module.model.4.bias").as_deref(), Some("model.4.bias"));
    assert_eq!(
        map("stRNN_.lstm.weight_hh_l0").as_deref(),
        Some("stRNN_.lstm.weight_hh_l0")
    );
    assert_eq!(
        map("visionMLP.module.9.weight"),
        None,
        "no such child holds variables"
    );
}
