//! Image and recipe encoders against PyTorch 2.11 modules in the authors' layout (packed LSTM).
//!
//! Spec: spec/phase2-encoders.md.

#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;

use proptest::prelude::*;
use seje::phase2::image_encoder::ImageHead;
use seje::phase2::recipe_encoder::{RecipeEncoder, RecipeEncoderConfig};
use tch::{nn, Device, Kind, Tensor};

const CFG: RecipeEncoderConfig = RecipeEncoderConfig {
    sentence: 10,
    hidden: 12,
    term: 6,
    embedding: 8,
};

fn golden() -> HashMap<String, Tensor> {
    tensors::npz("encoders/golden.npz")
}

fn build(g: &HashMap<String, Tensor>) -> (nn::VarStore, ImageHead, RecipeEncoder) {
    let vs = nn::VarStore::new(Device::Cpu);
    let image = ImageHead::new(&vs.root(), 20, 5, 8);
    let recipe = RecipeEncoder::new(&vs.root(), &CFG);
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            var.copy_(
                g.get(&format!("param.{name}"))
                    .unwrap_or_else(|| panic!("golden lacks {name}")),
            );
        }
    });
    assert_eq!(
        vs.variables().len(),
        g.keys().filter(|k| k.starts_with("param.")).count(),
        "same variables as PyTorch"
    );
    (vs, image, recipe)
}

// Python: Model.image / Model.recipe (packed LSTM) in eval and train mode; (e_r * w).sum().backward()
#[test]
fn golden_encoders_match_pytorch_in_both_modes() {
    let g = golden();
    for mode in ["eval", "train"] {
        let (vs, image, recipe) = build(&g);
        let train = mode == "train";
        let e_v = image.embed(&g["in.feats"], &g["in.cat"], train).unwrap();
        let term = g["in.term"].detach().copy().set_requires_grad(true);
        let e_r = recipe
            .forward(&g["in.sents"], &g["in.lengths"], &term, train)
            .unwrap();
        (&e_r * &g["in.w"]).sum(Kind::Float).backward();
        for (what, got, want, tol) in [
            ("e_v", &e_v, &g[&format!("{mode}.e_v")], 1e-6),
            ("e_r", &e_r, &g[&format!("{mode}.e_r")], 1e-6),
            (
                "d/dterm",
                &term.grad(),
                &g[&format!("{mode}.grad_term")],
                1e-5,
            ),
            (
                "d/dweight_hh",
                &vs.variables()["stRNN_.lstm.weight_hh_l0"].grad(),
                &g[&format!("{mode}.grad_weight_hh")],
                1e-5,
            ),
        ] {
            let d = max_abs_diff(got, want);
            assert!(
                d <= tol,
                "{mode} {what}: max |got - want| = {d:e} > {tol:e}"
            );
        }
    }
}

#[test]
fn bad_lengths_and_shapes_are_named() {
    let g = golden();
    let (_vs, image, recipe) = build(&g);
    let lengths = Tensor::from_slice(&[5i64, 0, 3, 1]);
    let err = recipe
        .forward(&g["in.sents"], &lengths, &g["in.term"], false)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sentence counts: row 1 has 0 sentences, outside 1..=5"
    );
    let err = image
        .embed(&g["in.feats"], &g["in.term"], false)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("image features and category features: expected shape [B, 20] and [B, 5]"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Padding after a recipe's last sentence never changes its embedding, and embeddings have
    /// unit length.
    #[test]
    fn padding_does_not_change_the_embedding_and_rows_are_unit(noise in -5.0f32..5.0) {
        let g = golden();
        let (_vs, _image, recipe) = build(&g);
        let sents = g["in.sents"].copy();
        let lengths = &g["in.lengths"];
        let base = recipe.forward(&sents, lengths, &g["in.term"], false).unwrap();
        // Overwrite the padded steps of recipe 1 (2 sentences of 5) with garbage.
        let _ = sents.get(1).narrow(0, 2, 3).fill_(f64::from(noise));
        let noisy = recipe.forward(&sents, lengths, &g["in.term"], false).unwrap();
        prop_assert!(max_abs_diff(&base, &noisy) == 0.0);
        let norms = base.norm_scalaropt_dim(2, [1i64].as_slice(), false);
        prop_assert!(max_abs_diff(&norms, &norms.ones_like()) < 1e-6);
    }
}

#[test]
fn the_tiny_joint_model_produces_unit_embeddings_and_logits() {
    use seje::nn::backbone::BackboneConfig;
    use seje::phase2::model::{JointEmbedding, JointInput, ModelConfig};
    let cfg = ModelConfig {
        backbone: BackboneConfig::tiny(),
        category_feature: 5,
        recipe: CFG,
        classes: Some(7),
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let model = JointEmbedding::new(vs.root(), &cfg);
    let opts = (Kind::Float, Device::Cpu);
    let (images, category) = (
        Tensor::randn([3, 3, 40, 40], opts),
        Tensor::randn([3, 5], opts),
    );
    let (sentences, term) = (Tensor::randn([3, 4, 10], opts), Tensor::randn([3, 6], opts));
    let lengths = Tensor::from_slice(&[4i64, 1, 2]);
    let input = JointInput {
        images: &images,
        category: &category,
        sentences: &sentences,
        lengths: &lengths,
        term: &term,
    };
    let out = model.forward(&input, true).unwrap();
    assert_eq!(out.image.size(), [3, 8]);
    assert_eq!(out.recipe.size(), [3, 8]);
    assert_eq!(out.image_logits.unwrap().size(), [3, 7]);
    assert_eq!(out.recipe_logits.unwrap().size(), [3, 7]);
    for e in [&out.image, &out.recipe] {
        let norms = e.norm_scalaropt_dim(2, [1i64].as_slice(), false);
        assert!(max_abs_diff(&norms, &norms.ones_like()) < 1e-6);
    }
}
