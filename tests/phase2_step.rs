//! One Phase II iteration on the tiny model: it learns a fixed batch, it is deterministic, and a
//! run restored from saved weights and optimiser state continues bit for bit.
//!
//! Spec: spec/phase2-training-step.md.

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::serial as lock;

use seje::nn::backbone::BackboneConfig;
use seje::phase2::model::{JointInput, ModelConfig};
use seje::phase2::objective::ObjectiveConfig;
use seje::phase2::recipe_encoder::RecipeEncoderConfig;
use seje::phase2::step::Trainer;
use tch::{Device, Kind, Tensor};

// libtorch's generator is process-global: tests that build models hold `serial()`.

fn tiny() -> ModelConfig {
    ModelConfig {
        backbone: BackboneConfig::tiny(),
        category_feature: 6,
        recipe: RecipeEncoderConfig {
            sentence: 8,
            hidden: 8,
            term: 6,
            embedding: 16,
        },
        classes: Some(3),
    }
}

struct Batch {
    images: Tensor,
    category: Tensor,
    sentences: Tensor,
    lengths: Tensor,
    term: Tensor,
    classes: Tensor,
}

impl Batch {
    fn new(seed: i64) -> Self {
        tch::manual_seed(seed);
        let o = (Kind::Float, Device::Cpu);
        Self {
            images: Tensor::randn([6, 3, 36, 36], o),
            category: Tensor::randn([6, 6], o),
            sentences: Tensor::randn([6, 4, 8], o),
            lengths: Tensor::from_slice(&[4i64, 2, 3, 1, 4, 2]),
            term: Tensor::randn([6, 6], o),
            classes: Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2]),
        }
    }

    fn input(&self) -> JointInput<'_> {
        JointInput {
            images: &self.images,
            category: &self.category,
            sentences: &self.sentences,
            lengths: &self.lengths,
            term: &self.term,
        }
    }
}

fn trainer(seed: u64) -> Trainer {
    seje::runtime::seed_everything(seed, Some(1));
    Trainer::new(
        &tiny(),
        &ObjectiveConfig::paper(),
        1e-3,
        seje::nn::adam::AdamKernel::Single,
        Device::Cpu,
        seed as u32,
    )
    .unwrap()
}

fn weights(t: &Trainer) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> =
        t.vs.variables()
            .into_iter()
            .map(|(k, t)| (k, t.copy()))
            .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn the_paper_objective_learns_a_fixed_batch() {
    let _g = lock();
    let batch = Batch::new(3);
    let mut t = trainer(1234);
    let first = t.step(&batch.input(), Some(&batch.classes)).unwrap().losses;
    assert!(
        first.category_image.is_some()
            && first.alignment.is_some()
            && first.discriminator.is_some()
    );
    let mut last = first;
    for _ in 1..40 {
        last = t.step(&batch.input(), Some(&batch.classes)).unwrap().losses;
    }
    assert!(
        last.triplet < 0.5 * first.triplet,
        "L_TRI {} -> {}",
        first.triplet,
        last.triplet
    );
    assert!(
        last.total < first.total,
        "L {} -> {}",
        first.total,
        last.total
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let _g = lock();
    let batch = Batch::new(4);
    let run = || {
        let mut t = trainer(7);
        let losses: Vec<_> = (0..3)
            .map(|_| t.step(&batch.input(), Some(&batch.classes)).unwrap().losses)
            .collect();
        (losses, weights(&t))
    };
    let (l1, w1) = run();
    let (l2, w2) = run();
    assert_eq!(l1, l2);
    for ((n1, a), (_, b)) in w1.iter().zip(&w2) {
        assert!(
            a.equal(b),
            "{n1} differs between two runs with the same seed"
        );
    }
}

#[test]
fn a_restored_run_continues_bit_for_bit() {
    let _g = lock();
    let batch = Batch::new(5);
    let mut straight = trainer(11);
    for _ in 0..4 {
        straight.step(&batch.input(), Some(&batch.classes)).unwrap();
    }
    let mut first = trainer(11);
    for _ in 0..2 {
        first.step(&batch.input(), Some(&batch.classes)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    first.vs.save(dir.path().join("model.safetensors")).unwrap();
    let (dvs, _) = first.disc.as_ref().unwrap();
    dvs.save(dir.path().join("disc.safetensors")).unwrap();
    let opt_state = first
        .opt
        .state()
        .into_iter()
        .map(|(k, t)| (k, t.copy()))
        .collect::<Vec<_>>();
    let opt_d_state = first
        .opt_d
        .as_ref()
        .unwrap()
        .state()
        .into_iter()
        .map(|(k, t)| (k, t.copy()))
        .collect::<Vec<_>>();
    let drawn = first.alphas.drawn();
    drop(first);
    // A new process would build fresh weights from another seed, then load the weights, the
    // optimiser states and the α stream's position (what a checkpoint's state.json records).
    let mut resumed = trainer(99);
    resumed.alphas = seje::phase2::step::AlphaStream::at(11, drawn);
    resumed
        .vs
        .load(dir.path().join("model.safetensors"))
        .unwrap();
    resumed
        .disc
        .as_mut()
        .unwrap()
        .0
        .load(dir.path().join("disc.safetensors"))
        .unwrap();
    resumed.opt.load_state(opt_state).unwrap();
    resumed
        .opt_d
        .as_mut()
        .unwrap()
        .load_state(opt_d_state)
        .unwrap();
    for _ in 2..4 {
        resumed.step(&batch.input(), Some(&batch.classes)).unwrap();
    }
    for ((name, a), (_, b)) in weights(&straight).iter().zip(&weights(&resumed)) {
        assert!(a.equal(b), "{name} differs after resuming");
    }
}

#[test]
fn a_non_finite_loss_stops_before_any_update() {
    let _g = lock();
    let batch = Batch::new(6);
    let mut t = trainer(13);
    let before = weights(&t);
    let poisoned = batch.term.copy();
    let _ = poisoned.get(0).get(0).fill_(f64::NAN);
    let input = JointInput {
        term: &poisoned,
        ..batch.input()
    };
    let err = t
        .step(&input, Some(&batch.classes))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("non-finite L_D: its value is NaN"), "{err}");
    for ((name, a), (_, b)) in before.iter().zip(&weights(&t)) {
        if name.contains("running_") {
            continue; // batch norm statistics move in the forward pass, as in PyTorch
        }
        assert!(a.equal(b), "{name} changed although the step was refused");
    }
}

#[test]
fn category_alignment_needs_categories() {
    let _g = lock();
    let batch = Batch::new(8);
    let mut t = trainer(17);
    let err = t.step(&batch.input(), None).unwrap_err().to_string();
    assert!(
        err.contains("needs a category per pair") || err.contains("has no categories"),
        "{err}"
    );
}
