//! Adam against `torch.optim.Adam` in its three implementations (single-tensor, foreach, fused), and
//! an exact save/restore of its state with each.
//!
//! Spec: spec/phase2-adam.md.

#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;

use seje::nn::adam::{Adam, AdamConfig, AdamKernel};

const KERNELS: [AdamKernel; 3] = [AdamKernel::Single, AdamKernel::Foreach, AdamKernel::Fused];

/// The golden file's key prefix of each implementation.
fn prefix(kernel: AdamKernel) -> &'static str {
    match kernel {
        AdamKernel::Single => "",
        AdamKernel::Foreach => "foreach.",
        AdamKernel::Fused => "fused.",
    }
}

fn config(kernel: AdamKernel) -> AdamConfig {
    AdamConfig {
        betas: [0.5, 0.999],
        ..AdamConfig::pytorch(1e-3).with_kernel(kernel)
    }
}
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
    opt.step().unwrap();
}

// Python: torch.optim.Adam([a, b], lr=1e-3, betas=(0.5, 0.999)) with foreach=False, foreach=True
// and fused=True, three steps each
#[test]
fn golden_three_steps_equal_pytorch() {
    let g = golden();
    for kernel in KERNELS {
        let p = prefix(kernel);
        let (vs, a, b) = setup(&g);
        let mut opt = Adam::new(&vs, config(kernel));
        for step in 0..3 {
            run_step(&mut opt, &g, &a, &b, step);
            // The same implementation as PyTorch's: agreement to float32 rounding.
            assert!(
                max_abs_diff(&a, &g[&format!("{p}after{step}.a")]) <= 1e-7,
                "{kernel:?}: a after step {step}"
            );
            assert!(
                max_abs_diff(&b, &g[&format!("{p}after{step}.b")]) <= 1e-7,
                "{kernel:?}: b after step {step}"
            );
            let sq = opt
                .state()
                .into_iter()
                .find(|(k, _)| k == "exp_avg_sq.a")
                .unwrap()
                .1;
            assert!(
                max_abs_diff(&sq, &g[&format!("{p}after{step}.exp_avg_sq.a")]) <= 1e-9,
                "{kernel:?}: exp_avg_sq after step {step}"
            );
        }
    }
}

#[test]
fn restoring_the_state_continues_exactly() {
    let g = golden();
    for kernel in KERNELS {
        let cfg = config(kernel);
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
            "{kernel:?}: resumed run must equal the uninterrupted one bit for bit"
        );
    }
}

/// The three implementations on parameters of many sizes (vectorised bodies and tails, several
/// tensors per kernel call) over many steps: the same update to float32 rounding.
#[test]
fn the_three_implementations_agree_on_many_parameters() {
    let shapes: [&[i64]; 5] = [&[1], &[7], &[64, 33], &[1000], &[3, 5, 17]];
    let run = |kernel: AdamKernel| -> Vec<Tensor> {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let params: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                vs.root().var(
                    &format!("p{i}"),
                    s,
                    nn::Init::Randn {
                        mean: 0.0,
                        stdev: 1.0,
                    },
                )
            })
            .collect();
        let mut opt = Adam::new(&vs, AdamConfig::pytorch(1e-2).with_kernel(kernel));
        for step in 0..40 {
            opt.zero_grad();
            let loss = params
                .iter()
                .map(|p| (p * p * (1.0 + step as f64 / 10.0)).sin().sum(Kind::Float))
                .fold(Tensor::zeros([], (Kind::Float, Device::Cpu)), |acc, l| {
                    acc + l
                });
            loss.backward();
            opt.step().unwrap();
        }
        params.iter().map(|p| p.detach().copy()).collect()
    };
    let single = run(AdamKernel::Single);
    for kernel in [AdamKernel::Foreach, AdamKernel::Fused] {
        for (i, (x, y)) in run(kernel).iter().zip(&single).enumerate() {
            let d = max_abs_diff(x, y);
            assert!(d <= 1e-5, "{kernel:?}: parameter p{i} differs by {d}");
        }
    }
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
