//! Phase II losses and PyTorch's default initialisation against PyTorch 2.11 goldens, plus their
//! invariants as properties.
//!
//! Spec: spec/phase2-triplet-loss.md, spec/phase2-category-alignment.md,
//! spec/phase2-discriminator-alignment.md, spec/phase2-layers.md.

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/tensors.rs"]
mod tensors;
use fixtures::serial as rng_lock;
use tensors::max_abs_diff;

use std::collections::HashMap;

use proptest::prelude::*;
use seje::nn::layers;
use seje::phase2::category_alignment::cross_entropy;
use seje::phase2::discriminator::{
    alignment_loss, discriminator_loss, AlignmentForm, Discriminator, DiscriminatorConfig,
};
use seje::phase2::embedding_space::l2_normalize;
use seje::phase2::triplet::{
    triplet_loss, triplet_loss_from_distances, NegativeMode, TripletConfig,
};
use tch::{nn, Device, Kind, Tensor};

// libtorch's generator is process-global: every test that seeds it or draws from it (creating a
// VarStore draws the initial weights) holds `serial()`, so the init goldens see only their draws.

/// Float32 parity tolerance: the generator and libtorch run the same kernels on the same inputs;
/// what remains is summation order (a few ulps).
const TOL: f64 = 1e-5;

fn golden() -> HashMap<String, Tensor> {
    tensors::npz("phase2_losses/golden.npz")
}

fn get<'a>(g: &'a HashMap<String, Tensor>, k: &str) -> &'a Tensor {
    g.get(k).unwrap_or_else(|| panic!("golden has no {k}"))
}

fn assert_close(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.size(), want.size(), "{what}: shape");
    let diff = max_abs_diff(got, want);
    assert!(diff <= TOL, "{what}: max |got - want| = {diff:e} > {TOL:e}");
}

fn leaf(t: &Tensor) -> Tensor {
    t.detach().copy().set_requires_grad(true)
}

fn load_discriminator(g: &HashMap<String, Tensor>, prefix: &str) -> (nn::VarStore, Discriminator) {
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = DiscriminatorConfig {
        input: 16,
        hidden: [8, 4],
        slope: 0.2,
    };
    let d = Discriminator::new(vs.root(), &cfg);
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            var.copy_(get(g, &format!("{prefix}{name}")));
        }
    });
    (vs, d)
}

// Python: torch.manual_seed(0); nn.Linear(4, 3)
#[test]
fn golden_linear_init_draws_what_pytorch_draws() {
    let g = golden();
    let _rng = rng_lock();
    seje::runtime::seed_everything(0, Some(1));
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = layers::linear(vs.root(), 4, 3);
    let vars = vs.variables();
    assert_close("weight", &vars["weight"], get(&g, "init.linear.weight"));
    assert_close("bias", &vars["bias"], get(&g, "init.linear.bias"));
}

// Python: torch.manual_seed(1); nn.Sequential(Linear(16,8), LeakyReLU(.2), Linear(8,4), LeakyReLU(.2), Linear(4,1))
#[test]
fn golden_discriminator_init_draws_what_pytorch_draws() {
    let g = golden();
    let _rng = rng_lock();
    seje::runtime::seed_everything(1, Some(1));
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = Discriminator::new(
        vs.root(),
        &DiscriminatorConfig {
            input: 16,
            hidden: [8, 4],
            slope: 0.2,
        },
    );
    let vars = vs.variables();
    assert_eq!(vars.len(), 6);
    for (name, var) in vars {
        assert_close(&name, &var, get(&g, &format!("init.disc.{name}")));
    }
}

// Python: batch-hard soft margin (γ = 16, m = 0) per mode; loss.backward()
#[test]
fn golden_triplet_loss_and_gradients_match_pytorch() {
    let g = golden();
    let classes = get(&g, "triplet.classes");
    for mode in ["instance", "class", "double"] {
        let x = leaf(get(&g, "triplet.images"));
        let y = leaf(get(&g, "triplet.recipes"));
        let cfg = TripletConfig {
            negatives: NegativeMode::parse(mode).unwrap(),
            ..TripletConfig::paper()
        };
        let out = triplet_loss(&x, &y, Some(classes), &cfg).unwrap();
        out.loss.backward();
        assert_close(
            &format!("{mode} loss"),
            &out.loss,
            get(&g, &format!("triplet.{mode}.loss")),
        );
        assert_close(
            &format!("{mode} dL/dimages"),
            &x.grad(),
            get(&g, &format!("triplet.{mode}.grad_images")),
        );
        assert_close(
            &format!("{mode} dL/drecipes"),
            &y.grad(),
            get(&g, &format!("triplet.{mode}.grad_recipes")),
        );
    }
}

// Python: nn.CrossEntropyLoss()(logits, targets); backward
#[test]
fn golden_cross_entropy_matches_pytorch() {
    let g = golden();
    let logits = leaf(get(&g, "ce.logits"));
    let loss = cross_entropy("logits", &logits, get(&g, "ce.targets")).unwrap();
    loss.backward();
    assert_close("ce", &loss, get(&g, "ce.loss"));
    assert_close("dce/dlogits", &logits.grad(), get(&g, "ce.grad_logits"));
}

// Python: L_D with gradient penalty (create_graph=True), both forms; L_DA and dL_DA/dfake
#[test]
fn golden_discriminator_losses_and_gradients_match_pytorch() {
    let _rng = rng_lock();
    let g = golden();
    for (name, form) in [
        ("wgan_gp", AlignmentForm::WganGp),
        ("seje_log", AlignmentForm::SejeLog),
    ] {
        let (vs, d) = load_discriminator(&g, "disc.");
        let real = get(&g, "disc.real");
        let fake = get(&g, "disc.fake");
        let out = discriminator_loss(&d, real, fake, get(&g, "disc.alpha"), form, 10.0).unwrap();
        out.loss.backward();
        assert_close(
            &format!("{name} L_D"),
            &out.loss,
            get(&g, &format!("disc.{name}.loss_d")),
        );
        assert_close(
            &format!("{name} GP"),
            &out.gradient_penalty,
            get(&g, &format!("disc.{name}.gp")),
        );
        for (var, t) in vs.variables() {
            assert_close(
                &format!("{name} dL_D/d{var}"),
                &t.grad(),
                get(&g, &format!("disc.{name}.grad.{var}")),
            );
        }
        let f = leaf(fake);
        let l_da = alignment_loss(&d, &f, form).unwrap();
        l_da.backward();
        assert_close(
            &format!("{name} L_DA"),
            &l_da,
            get(&g, &format!("disc.{name}.loss_da")),
        );
        assert_close(
            &format!("{name} dL_DA/dfake"),
            &f.grad(),
            get(&g, &format!("disc.{name}.grad_fake")),
        );
    }
}

#[test]
fn log_form_reports_instead_of_spreading_nan() {
    let _rng = rng_lock();
    let g = golden();
    let (_vs, d) = load_discriminator(&g, "disc.");
    // Shift every output by pushing the last bias to 2: mean D(real) >= 1.
    tch::no_grad(|| {
        for (name, mut v) in _vs.variables() {
            if name == "model.4.bias" {
                let _ = v.fill_(2.0);
            }
        }
    });
    let err = discriminator_loss(
        &d,
        get(&g, "disc.real"),
        get(&g, "disc.fake"),
        get(&g, "disc.alpha"),
        AlignmentForm::SejeLog,
        10.0,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("non-finite L_D (seje_log form): mean D(real) = "),
        "{err}"
    );
    let err = alignment_loss(&d, get(&g, "disc.fake"), AlignmentForm::SejeLog)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("non-finite L_DA (seje_log form): mean D(fake) = "),
        "{err}"
    );
    // The standard form is defined everywhere.
    assert!(alignment_loss(&d, get(&g, "disc.fake"), AlignmentForm::WganGp).is_ok());
}

#[test]
fn out_of_range_categories_name_the_row() {
    let logits = Tensor::zeros([3, 4], (Kind::Float, Device::Cpu));
    let err = cross_entropy(
        "image category logits",
        &logits,
        &Tensor::from_slice(&[0i64, 4, 1]),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "category labels: row 1 has category 4, outside 0..4"
    );
}

#[test]
fn the_paper_discriminator_has_the_authors_parameter_count() {
    let _rng = rng_lock();
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = Discriminator::new(vs.root(), &DiscriminatorConfig::paper());
    let count: i64 = vs
        .trainable_variables()
        .iter()
        .map(Tensor::numel)
        .map(|n| n as i64)
        .sum();
    assert_eq!(
        count, 656_385,
        "discriminator parameters (spec/phase2-discriminator-alignment.md)"
    );
}

fn unit_rows(b: usize, d: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, b * d)
}

fn embed(v: &[f32], b: usize) -> Tensor {
    l2_normalize(
        &Tensor::from_slice(v)
            .view([b as i64, -1])
            .to_kind(Kind::Double),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn triplet_loss_is_positive_and_invariant_to_batch_order(
        (x, y) in (unit_rows(5, 6), unit_rows(5, 6)),
        classes in prop::collection::vec(0i64..3, 5),
        perm in Just((0..5i64).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let (xi, yr) = (embed(&x, 5), embed(&y, 5));
        let c = Tensor::from_slice(&classes);
        let p = Tensor::from_slice(&perm);
        for mode in [NegativeMode::Instance, NegativeMode::Class, NegativeMode::Double] {
            let cfg = TripletConfig { negatives: mode, ..TripletConfig::paper() };
            let a = f64::try_from(triplet_loss(&xi, &yr, Some(&c), &cfg).unwrap().loss).unwrap();
            let b = f64::try_from(triplet_loss(&xi.index_select(0, &p), &yr.index_select(0, &p), Some(&c.index_select(0, &p)), &cfg).unwrap().loss).unwrap();
            prop_assert!(a >= 0.0);
            prop_assert!((a - b).abs() <= 1e-12 * a.max(1.0), "{mode:?}: {a} vs {b}");
        }
    }

    #[test]
    fn shrinking_a_positive_distance_never_raises_the_loss(
        d in prop::collection::vec(0.0f64..2.0, 16),
        classes in prop::collection::vec(0i64..2, 4),
        anchor in 0usize..4,
        factor in 0.0f64..1.0,
    ) {
        let before = Tensor::from_slice(&d).view([4, 4]);
        let mut shrunk = d.clone();
        shrunk[anchor * 4 + anchor] *= factor;
        let after = Tensor::from_slice(&shrunk).view([4, 4]);
        let c = Tensor::from_slice(&classes);
        for mode in [NegativeMode::Instance, NegativeMode::Class, NegativeMode::Double] {
            let cfg = TripletConfig { negatives: mode, ..TripletConfig::paper() };
            let l0 = f64::try_from(triplet_loss_from_distances(&before, Some(&c), &cfg).unwrap().loss).unwrap();
            let l1 = f64::try_from(triplet_loss_from_distances(&after, Some(&c), &cfg).unwrap().loss).unwrap();
            prop_assert!(l1 <= l0, "{mode:?}: {l1} > {l0}");
        }
    }

    #[test]
    fn a_single_category_batch_drops_every_class_term((x, y) in (unit_rows(4, 3), unit_rows(4, 3))) {
        let (xi, yr) = (embed(&x, 4), embed(&y, 4));
        let same = Tensor::from_slice(&[2i64, 2, 2, 2]);
        let class = TripletConfig { negatives: NegativeMode::Class, ..TripletConfig::paper() };
        let out = triplet_loss(&xi, &yr, Some(&same), &class).unwrap();
        prop_assert_eq!(out.anchors_without_class_negative, 8);
        prop_assert_eq!(f64::try_from(&out.loss).unwrap(), 0.0);
        let double = TripletConfig::paper();
        let instance = TripletConfig::authors_code();
        let a = f64::try_from(triplet_loss(&xi, &yr, Some(&same), &double).unwrap().loss).unwrap();
        let b = f64::try_from(triplet_loss(&xi, &yr, Some(&same), &instance).unwrap().loss).unwrap();
        prop_assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn wgan_gradient_penalty_is_non_negative(seed in 0i64..1000) {
        let _rng = rng_lock();
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let d = Discriminator::new(vs.root(), &DiscriminatorConfig { input: 6, hidden: [5, 4], slope: 0.2 });
        let real = Tensor::randn([3, 6], (Kind::Float, Device::Cpu));
        let fake = Tensor::randn([3, 6], (Kind::Float, Device::Cpu));
        let alpha = Tensor::rand([3], (Kind::Float, Device::Cpu));
        let out = discriminator_loss(&d, &real, &fake, &alpha, AlignmentForm::WganGp, 10.0).unwrap();
        prop_assert!(f64::try_from(&out.gradient_penalty).unwrap() >= 0.0);
    }
}
