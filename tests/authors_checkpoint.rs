//! A checkpoint in the authors' layout (DataParallel names, the dict `train.py` saves) loads into
//! our model through the documented name mapping and reproduces their model's outputs.
//!
//! Spec: spec/phase2-encoders.md (the whole model and the authors' checkpoint).

#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;
use std::path::PathBuf;

use seje::checkpoint::{load_into, read_state_dict, read_torch_file};
use seje::phase2::backbone::BackboneConfig;
use seje::phase2::discriminator::{Discriminator, DiscriminatorConfig};
use seje::phase2::model::{authors_checkpoint_name, JointEmbedding, JointInput, ModelConfig};
use seje::phase2::recipe_encoder::RecipeEncoderConfig;
use tch::{nn, Device, Tensor};

/// The small widths `generate.py` uses.
fn tiny(classes: Option<i64>) -> ModelConfig {
    ModelConfig {
        backbone: BackboneConfig::tiny(),
        category_feature: 4,
        recipe: RecipeEncoderConfig {
            sentence: 6,
            hidden: 6,
            term: 5,
            embedding: 8,
        },
        classes,
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden/authors_checkpoint")
}

// Python: AuthorsModel(...).eval()(img, cat, sents, lengths, term) and disc(e_r) (generate.py)
#[test]
fn golden_the_authors_checkpoint_reproduces_their_outputs() {
    let g: HashMap<String, Tensor> = Tensor::read_npz(dir().join("golden.npz"))
        .unwrap()
        .into_iter()
        .collect();
    let cfg = tiny(Some(3));
    let vs = nn::VarStore::new(Device::Cpu);
    let model = JointEmbedding::new(vs.root(), &cfg);
    let file = dir().join("seje_tiny.pth.tar");
    let report = load_into(
        &vs,
        &file,
        read_state_dict(&file, Some("state_dict")).unwrap(),
        authors_checkpoint_name,
    )
    .unwrap();
    assert_eq!(report.loaded, vs.variables().len());
    assert!(
        report
            .skipped
            .iter()
            .all(|n| n.ends_with("num_batches_tracked")),
        "{:?}",
        report.skipped
    );
    let meta = read_torch_file(&file).unwrap();
    assert_eq!(meta.get("epoch").and_then(|v| v.as_int()), Some(7));

    let input = JointInput {
        images: &g["img"],
        category: &g["cat"],
        sentences: &g["sents"],
        lengths: &g["lengths"],
        term: &g["term"],
    };
    let out = tch::no_grad(|| model.forward(&input, false)).unwrap();
    for (what, got, want) in [
        ("e_v", &out.image, &g["e_v"]),
        ("e_r", &out.recipe, &g["e_r"]),
        (
            "image logits",
            out.image_logits.as_ref().unwrap(),
            &g["logits_v"],
        ),
        (
            "recipe logits",
            out.recipe_logits.as_ref().unwrap(),
            &g["logits_r"],
        ),
    ] {
        let d = max_abs_diff(got, want);
        assert!(d <= 1e-5, "{what}: max |ours - theirs| = {d:e}");
    }

    let dvs = nn::VarStore::new(Device::Cpu);
    let disc = Discriminator::new(
        dvs.root(),
        &DiscriminatorConfig {
            input: 8,
            hidden: [4, 2],
            slope: 0.2,
        },
    );
    let dfile = dir().join("seje_tiny_cm.pth.tar");
    load_into(
        &dvs,
        &dfile,
        read_state_dict(&dfile, Some("state_dict")).unwrap(),
        authors_checkpoint_name,
    )
    .unwrap();
    let d = max_abs_diff(
        &tch::no_grad(|| disc.score(&out.recipe)),
        &g["disc_on_recipes"],
    );
    assert!(d <= 1e-5, "discriminator: {d:e}");
}

#[test]
fn a_checkpoint_for_another_model_is_refused_naming_what_is_missing() {
    let cfg = tiny(None);
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = JointEmbedding::new(vs.root(), &cfg);
    let file = dir().join("seje_tiny.pth.tar");
    let err = load_into(
        &vs,
        &file,
        read_state_dict(&file, Some("state_dict")).unwrap(),
        authors_checkpoint_name,
    )
    .unwrap_err()
    .to_string();
    assert!(err.ends_with("expected only entries the model has, found unexpected `semantic_branch.weight`, `semantic_branch.bias`"), "{err}");
}
