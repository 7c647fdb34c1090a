//! The skip-instructions model against PyTorch 2.11 (packed LSTM encoder, teacher-forced LSTM
//! decoder, cross-entropy with ignore_index −100), in float32 on the CPU, and its properties.
//!
//! Spec: spec/phase1-skip-instructions.md.

#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;

use proptest::prelude::*;
use seje::nn::adam::{Adam, AdamConfig};
use seje::phase1::skip_instructions::{SkipInstructions, SkipInstructionsConfig};
use tch::{nn, Device, Kind, Tensor};

const TINY: SkipInstructionsConfig = SkipInstructionsConfig {
    word_dim: 4,
    hidden: 6,
    output_vocab: 7,
};

fn golden() -> HashMap<String, Tensor> {
    tensors::npz("skip_instructions/golden.npz")
}

fn model(cfg: SkipInstructionsConfig) -> (nn::VarStore, SkipInstructions) {
    let vs = nn::VarStore::new(Device::Cpu);
    let m = SkipInstructions::new(&vs.root(), cfg).expect("a valid config");
    (vs, m)
}

/// The tiny model with the golden's parameters copied in.
fn golden_model(g: &HashMap<String, Tensor>) -> (nn::VarStore, SkipInstructions) {
    let (vs, m) = model(TINY);
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
        "same variables as the PyTorch state_dict"
    );
    (vs, m)
}

// Python: torch.manual_seed(29); SkipInstructions() draws encoder, decoder, output.
#[test]
fn the_same_seed_draws_the_same_parameters_as_pytorch() {
    let g = golden();
    // libtorch's generator is global: other tests of this binary must not draw in between.
    let rng = seje::runtime::torch_rng_lock();
    tch::manual_seed(i64::try_from(&g["seed"]).unwrap());
    let (vs, _m) = model(TINY);
    drop(rng);
    for (name, var) in vs.variables() {
        assert_eq!(
            max_abs_diff(&var, &g[&format!("param.{name}")]),
            0.0,
            "{name} differs from PyTorch's draw"
        );
    }
}

// Python: m.encode (packed), m.loss(...).backward()
#[test]
fn golden_encode_loss_and_gradients_match_pytorch() {
    let g = golden();
    let (vs, m) = golden_model(&g);
    let enc = m.encode(&g["in.src"], &g["in.src_lengths"]).unwrap();
    let d = max_abs_diff(&enc, &g["out.encode"]);
    eprintln!("encode: max |got - want| = {d:e}");
    assert!(d <= 1e-6, "encode: max |got - want| = {d:e}");
    let loss = m
        .loss(
            &g["in.src"],
            &g["in.src_lengths"],
            &g["in.dec_inputs"],
            &g["in.targets"],
        )
        .unwrap();
    let d = max_abs_diff(&loss, &g["out.loss"]);
    eprintln!("loss: |got - want| = {d:e}");
    assert!(d <= 1e-6, "loss: |got - want| = {d:e}");
    loss.backward();
    let vars = vs.variables();
    assert_eq!(vars.len(), 10);
    for (name, var) in vars {
        let d = max_abs_diff(&var.grad(), &g[&format!("grad.{name}")]);
        eprintln!("d loss / d {name}: max |got - want| = {d:e}");
        assert!(d <= 1e-5, "d loss / d {name}: max |got - want| = {d:e}");
    }
}

#[test]
fn bad_inputs_are_named() {
    let g = golden();
    let (_vs, m) = golden_model(&g);
    let (src, lens) = (&g["in.src"], &g["in.src_lengths"]);
    let (dec, tgt) = (&g["in.dec_inputs"], &g["in.targets"]);
    let msg = |r: seje::error::Result<Tensor>| r.unwrap_err().to_string();
    assert_eq!(
        msg(m.encode(src, &Tensor::from_slice(&[5i64, 0, 3]))),
        "source lengths: sentence 1 has 0 words, outside 1..=5"
    );
    assert_eq!(
        msg(m.encode(&src.narrow(2, 0, 3), lens)),
        "source word vectors: expected shape [B, L, 4] with B, L >= 1, got [3, 5, 3]"
    );
    assert_eq!(
        msg(m.loss(src, lens, &dec.narrow(0, 0, 2), tgt)),
        "decoder input vectors: expected shape [3, T, 4] with T >= 1, got [2, 4, 4]"
    );
    assert_eq!(
        msg(m.loss(src, lens, dec, &tgt.narrow(1, 0, 3))),
        "targets: expected shape [3, 4] int64 (the decoder inputs' B and T), got [3, 3]"
    );
    let bad = tgt.copy();
    let _ = bad.get(2).get(1).fill_(7);
    assert_eq!(
        msg(m.loss(src, lens, dec, &bad)),
        "targets: sentence 2, position 1 holds 7, neither -100 (padding) nor in 0..7"
    );
    let pad = tgt.full_like(-100);
    assert!(msg(m.loss(src, lens, dec, &pad)).starts_with("targets: every position is padding"));
    let cfg = SkipInstructionsConfig {
        output_vocab: 1,
        ..TINY
    };
    let vs = nn::VarStore::new(Device::Cpu);
    assert_eq!(
        SkipInstructions::new(&vs.root(), cfg)
            .unwrap_err()
            .to_string(),
        "skip-instructions output_vocab: must be at least 2 (`<unk>` and `<eos>`), got 1"
    );
}

#[test]
fn loss_decreases_on_a_fixed_batch_with_adam() {
    let g = golden();
    let (vs, m) = golden_model(&g);
    let mut opt = Adam::new(&vs, AdamConfig::pytorch(5e-2));
    let step_loss = |opt: &mut Adam| {
        opt.zero_grad();
        let loss = m
            .loss(
                &g["in.src"],
                &g["in.src_lengths"],
                &g["in.dec_inputs"],
                &g["in.targets"],
            )
            .unwrap();
        loss.backward();
        opt.step().unwrap();
        f64::try_from(&loss).unwrap()
    };
    let first = step_loss(&mut opt);
    let mut last = first;
    for _ in 0..20 {
        last = step_loss(&mut opt);
    }
    assert!(
        last < 0.5 * first,
        "20 Adam steps at lr 5e-2 took the loss from {first} to {last} only"
    );
}

/// Random word vectors `[B, L, D]`, zero after each length.
fn padded(lengths: &[i64], l: i64, d: i64) -> Tensor {
    let x = Tensor::randn([lengths.len() as i64, l, d], (Kind::Float, Device::Cpu));
    for (i, &n) in lengths.iter().enumerate() {
        if n < l {
            let _ = x.get(i as i64).narrow(0, n, l - n).zero_();
        }
    }
    x
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Extra zero rows after a sentence's last word (a larger L) never change its vector.
    #[test]
    fn padding_does_not_change_a_sentence_vector(
        seed in 0i64..1000, len in 1i64..6, extra in 1i64..5,
    ) {
        tch::manual_seed(seed);
        let (_vs, m) = model(TINY);
        let x = padded(&[len], len, TINY.word_dim);
        let lengths = Tensor::from_slice(&[len]);
        let alone = m.encode(&x, &lengths).unwrap();
        let longer = Tensor::cat(&[&x, &Tensor::zeros([1, extra, TINY.word_dim], (Kind::Float, Device::Cpu))], 1);
        let padded_vec = m.encode(&longer, &lengths).unwrap();
        prop_assert!(max_abs_diff(&alone, &padded_vec) <= 1e-6);
    }

    /// A sentence's vector does not depend on the other sentences of its batch.
    #[test]
    fn a_sentence_vector_does_not_depend_on_the_batch(
        seed in 0i64..1000, lengths in proptest::collection::vec(1i64..6, 1..5),
    ) {
        tch::manual_seed(seed);
        let (_vs, m) = model(TINY);
        let l = *lengths.iter().max().unwrap();
        let x = padded(&lengths, l, TINY.word_dim);
        let batch = m.encode(&x, &Tensor::from_slice(&lengths)).unwrap();
        for (i, &n) in lengths.iter().enumerate() {
            let one = x.narrow(0, i as i64, 1).narrow(1, 0, n);
            let alone = m.encode(&one, &Tensor::from_slice(&[n])).unwrap();
            prop_assert!(max_abs_diff(&alone, &batch.narrow(0, i as i64, 1)) <= 1e-6);
        }
    }

    /// The same seed gives identical parameters and an identical loss.
    #[test]
    fn the_same_seed_gives_the_same_parameters_and_loss(seed in 0i64..1000) {
        let g = golden();
        let run = || {
            let rng = seje::runtime::torch_rng_lock();
            tch::manual_seed(seed);
            let (vs, m) = model(TINY);
            drop(rng);
            let loss = m
                .loss(&g["in.src"], &g["in.src_lengths"], &g["in.dec_inputs"], &g["in.targets"])
                .unwrap();
            let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
            params.sort_by(|a, b| a.0.cmp(&b.0));
            (params, f64::try_from(&loss).unwrap())
        };
        let (p1, l1) = run();
        let (p2, l2) = run();
        prop_assert_eq!(l1.to_bits(), l2.to_bits());
        for ((n1, t1), (n2, t2)) in p1.iter().zip(&p2) {
            prop_assert_eq!(n1, n2);
            prop_assert!(t1.equal(t2), "{} differs", n1);
        }
    }
}
