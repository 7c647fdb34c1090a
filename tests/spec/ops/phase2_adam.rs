//! Spec operations of phase2-adam.md: Adam steps on one parameter.
//!
//! Spec: spec/phase2-adam.md.

use toml::{Table, Value};

use crate::inputs::{float, get, scalar};

pub fn adam_steps(ex: &Table) -> Result<Value, String> {
    use seje::nn::adam::{Adam, AdamConfig, AdamKernel};
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let init = float(get(ex, "init")?, "init")?;
    let p = vs.root().var("p", &[1], tch::nn::Init::Const(init));
    vs.double(); // converts in place: `p` now holds float64
                 // `kernel` (optional): "single" (the default), "foreach" or "fused".
    let kernel: AdamKernel = match ex.get("kernel") {
        Some(v) => v
            .clone()
            .try_into()
            .map_err(|e| format!("input `kernel`: {e}"))?,
        None => AdamKernel::Single,
    };
    let cfg = AdamConfig::pytorch(float(get(ex, "lr")?, "lr")?).with_kernel(kernel);
    let mut opt = Adam::new(&vs, cfg);
    let grads = get(ex, "grads")?
        .as_array()
        .ok_or("input `grads` must be an array")?;
    for g in grads {
        opt.zero_grad();
        (&p * float(g, "grads")?).sum(tch::Kind::Double).backward();
        opt.step().map_err(|e| e.to_string())?;
    }
    scalar(&p.get(0))
}
