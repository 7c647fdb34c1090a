//! Spec operations of the categoriser-training page: the cosine learning rate and SGD steps with
//! momentum and weight decay on one float64 parameter.
//!
//! Spec: spec/phase1-categoriser-training.md.

use seje::nn::sgd::{Sgd, SgdConfig};
use seje::phase1::categoriser_training::cosine_lr;
use toml::{Table, Value};

use crate::inputs::{float, get, int, scalar};

/// `lr`, `total`, `steps = [t, …]` → the learning rate of each iteration `t`.
pub fn cosine(ex: &Table) -> Result<Value, String> {
    let lr = float(get(ex, "lr")?, "lr")?;
    let total = int(ex, "total")? as usize;
    let steps = get(ex, "steps")?
        .as_array()
        .ok_or("input `steps` must be an array")?;
    steps
        .iter()
        .map(|t| {
            let t = t.as_integer().ok_or("input `steps` must hold integers")?;
            Ok(Value::Float(cosine_lr(lr, t as usize, total)))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Value::Array)
}

/// `init`, `lr`, `momentum`, `weight_decay`, `grads = [g, …]` → the parameter after one step per
/// gradient (each the gradient of `p · g`).
pub fn sgd_steps(ex: &Table) -> Result<Value, String> {
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let init = float(get(ex, "init")?, "init")?;
    let p = vs.root().var("p", &[1], tch::nn::Init::Const(init));
    vs.double(); // converts in place: `p` now holds float64
    let mut opt = Sgd::new(
        &vs,
        SgdConfig {
            lr: float(get(ex, "lr")?, "lr")?,
            momentum: float(get(ex, "momentum")?, "momentum")?,
            weight_decay: float(get(ex, "weight_decay")?, "weight_decay")?,
        },
    );
    let grads = get(ex, "grads")?
        .as_array()
        .ok_or("input `grads` must be an array")?;
    for g in grads {
        opt.zero_grad();
        (&p * float(g, "grads")?).sum(tch::Kind::Double).backward();
        opt.step();
    }
    scalar(&p.get(0))
}
