//! Adam against `torch.optim.Adam` (single-tensor path), and an exact save/restore of its state.
//!
//! Spec: spec/phase2-adam.md.

#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;

use seje::nn::adam::{Adam, AdamConfig};
use tch::{nn, Device, Kind, Tensor};

fn golden() -> HashMap<String, Tensor> {
    tensors::npz("adam/golden.npz")
}

fn setup(g: &HashMap<String, Tensor>) -> (nn::VarStore, Tensor, Tensor) {
    let vs = nn::VarStore::new(Device::Cpu);
    let a = vs.root().var("a", &[3, 4], nn::Init::Const(0.0));
    let b = vs.root().var("b", &[5], nn::Init::Const(0.0));
    tch::no_grad(|| {
        let (mut a, mut b) = (a.shallow_clone(), b.shallow_clone());
        a.copy_(&g["init.a"]);
        b.copy_(&g["init.b"]);
    });
    (vs, a, b)
}

fn run_step(opt: &mut Adam, g: &HashMap<String, Tensor>, a: &Tensor, b: &Tensor, step: usize) {
    opt.zero_grad();
    let loss_a = (a * &g[&format!("grad{step}.a")]).sum(Kind::Float);
    let loss = if step > 0 {
        loss_a + (b * &g[&format!("grad{step}.b")]).sum(Kind::Float)
    } else {
        loss_a
    };
    loss.backward();
    opt.step();
}

// Python: torch.optim.Adam([a, b], lr=1e-3, betas=(0.5, 0.999), foreach=False), three steps
#[test]
fn golden_three_steps_equal_pytorch() {
    let g = golden();
    let (vs, a, b) = setup(&g);
    let mut opt = Adam::new(
        &vs,
        AdamConfig {
            lr: 1e-3,
            betas: [0.5, 0.999],
            eps: 1e-8,
        },
    );
    for step in 0..3 {
        run_step(&mut opt, &g, &a, &b, step);
        // Same operations in the same order: agreement to float32 rounding.
        assert!(
            max_abs_diff(&a, &g[&format!("after{step}.a")]) <= 1e-7,
            "a after step {step}"
        );
        assert!(
            max_abs_diff(&b, &g[&format!("after{step}.b")]) <= 1e-7,
            "b after step {step}"
        );
        let sq = opt
            .state()
            .into_iter()
            .find(|(k, _)| k == "exp_avg_sq.a")
            .unwrap()
            .1;
        assert!(
            max_abs_diff(&sq, &g[&format!("after{step}.exp_avg_sq.a")]) <= 1e-9,
            "exp_avg_sq after step {step}"
        );
    }
}

#[test]
fn restoring_the_state_continues_exactly() {
    let g = golden();
    let cfg = AdamConfig {
        lr: 1e-3,
        betas: [0.5, 0.999],
        eps: 1e-8,
    };
    // Uninterrupted: three steps.
    let (vs1, a1, b1) = setup(&g);
    let mut opt1 = Adam::new(&vs1, cfg);
    for step in 0..3 {
        run_step(&mut opt1, &g, &a1, &b1, step);
    }
    // Interrupted after two steps: save parameters and state, rebuild, restore, one more step.
    let (vs2, a2, b2) = setup(&g);
    let mut opt2 = Adam::new(&vs2, cfg);
    for step in 0..2 {
        run_step(&mut opt2, &g, &a2, &b2, step);
    }
    let state = opt2
        .state()
        .into_iter()
        .map(|(k, t)| (k, t.copy()))
        .collect::<Vec<_>>();
    let (pa, pb) = (a2.copy(), b2.copy());
    let (vs3, a3, b3) = setup(&g);
    tch::no_grad(|| {
        let (mut a3, mut b3) = (a3.shallow_clone(), b3.shallow_clone());
        a3.copy_(&pa);
        b3.copy_(&pb);
    });
    let mut opt3 = Adam::new(&vs3, cfg);
    opt3.load_state(state).unwrap();
    run_step(&mut opt3, &g, &a3, &b3, 2);
    assert!(
        a3.equal(&a1) && b3.equal(&b1),
        "resumed run must equal the uninterrupted one bit for bit"
    );
}

#[test]
fn a_state_for_another_model_is_refused() {
    let g = golden();
    let (vs, _a, _b) = setup(&g);
    let mut opt = Adam::new(&vs, AdamConfig::pytorch(1e-4));
    let mut state = opt.state();
    state.retain(|(k, _)| k != "exp_avg.b");
    let err = opt.load_state(state).unwrap_err().to_string();
    assert_eq!(err, "optimiser state: `exp_avg.b` is missing");
    let mut state = opt.state();
    state.push(("step.c".into(), Tensor::from(1i64)));
    let err = opt.load_state(state).unwrap_err().to_string();
    assert_eq!(
        err,
        "optimiser state: `step.c` names no parameter of this model"
    );
}
