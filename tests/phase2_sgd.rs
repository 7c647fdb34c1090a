//! SGD with momentum and weight decay against `torch.optim.SGD` (single-tensor path).
//!
//! Spec: spec/phase1-categoriser-training.md (the optimiser of the categoriser).

#[path = "support/tensors.rs"]
mod tensors;
use tensors::max_abs_diff;

use std::collections::HashMap;

use seje::nn::sgd::{Sgd, SgdConfig};
use tch::{nn, Device, Kind, Tensor};

// Python: torch.optim.SGD([a, b], lr=0.05, momentum=0.9, weight_decay=1e-4, foreach=False)
#[test]
fn golden_three_steps_equal_pytorch() {
    let g: HashMap<String, Tensor> = tensors::npz("sgd/golden.npz");
    let vs = nn::VarStore::new(Device::Cpu);
    let a = vs.root().var("a", &[3, 4], nn::Init::Const(0.0));
    let b = vs.root().var("b", &[5], nn::Init::Const(0.0));
    tch::no_grad(|| {
        let (mut a, mut b) = (a.shallow_clone(), b.shallow_clone());
        a.copy_(&g["init.a"]);
        b.copy_(&g["init.b"]);
    });
    let mut opt = Sgd::new(
        &vs,
        SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
        },
    );
    for step in 0..3 {
        opt.zero_grad();
        let loss_a = (&a * &g[&format!("grad{step}.a")]).sum(Kind::Float);
        let loss = if step > 0 {
            loss_a + (&b * &g[&format!("grad{step}.b")]).sum(Kind::Float)
        } else {
            loss_a
        };
        loss.backward();
        opt.step();
        // Same operations in the same order: agreement to float32 rounding.
        for (name, p) in [("a", &a), ("b", &b)] {
            let d = max_abs_diff(p, &g[&format!("after{step}.{name}")]);
            assert!(d <= 1e-7, "{name} after step {step}: {d}");
        }
        let state = opt.state();
        let buf = &state
            .iter()
            .find(|(k, _)| k == "momentum_buffer.a")
            .expect("a has a buffer")
            .1;
        let d = max_abs_diff(buf, &g[&format!("after{step}.momentum_buffer.a")]);
        assert!(d <= 1e-7, "momentum buffer after step {step}: {d}");
        // b has no buffer until its first gradient (step 1).
        assert_eq!(
            state.iter().any(|(k, _)| k == "momentum_buffer.b"),
            step > 0
        );
    }
}
