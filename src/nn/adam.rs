//! Adam, written out so its state can be saved and a run resumed exactly.
//!
//! Spec: spec/phase2-adam.md. Paper: not specified there; the authors' `train.py` uses
//! `torch.optim.Adam` at lr 1e-4 (default betas) for the model and betas (0.5, 0.999) for the
//! discriminator (`train.py:87-90`, `train.py:42`). tch's optimiser wraps libtorch's C++ Adam, whose
//! moments cannot be read back, so resuming would restart them; this one mirrors PyTorch's
//! single-tensor `_single_tensor_adam` (the CPU default) operation for operation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::error::{Error, Result};

/// Adam's hyper-parameters (no weight decay, no AMSGrad: the authors use neither).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// β1, β2.
    pub betas: [f64; 2],
    /// ε added to the denominator.
    pub eps: f64,
}

impl AdamConfig {
    /// `torch.optim.Adam(params, lr)` defaults: betas (0.9, 0.999), eps 1e-8.
    pub fn pytorch(lr: f64) -> Self {
        Self {
            lr,
            betas: [0.9, 0.999],
            eps: 1e-8,
        }
    }
}

/// Per-parameter state.
#[derive(Debug)]
struct Slot {
    name: String,
    param: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    step: i64,
}

/// Adam over the trainable variables of one `VarStore` (one parameter group).
#[derive(Debug)]
pub struct Adam {
    slots: Vec<Slot>,
    cfg: AdamConfig,
}

impl Adam {
    /// Takes every trainable variable of `vs`, in name order (a stable order for the state file).
    pub fn new(vs: &nn::VarStore, cfg: AdamConfig) -> Self {
        let trainable: Vec<Tensor> = vs.trainable_variables();
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| trainable.iter().any(|p| p.data_ptr() == t.data_ptr()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = named
            .into_iter()
            .map(|(name, param)| Slot {
                exp_avg: param.zeros_like(),
                exp_avg_sq: param.zeros_like(),
                name,
                param,
                step: 0,
            })
            .collect();
        Self { slots, cfg }
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.cfg.lr
    }

    /// Changes the learning rate (the authors' stage switch sets 1e-5).
    pub fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    /// Sets every parameter's gradient to zero (undefined gradients stay undefined).
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// One update of every parameter that has a gradient (others keep their state, as PyTorch).
    pub fn step(&mut self) {
        let [beta1, beta2] = self.cfg.betas;
        let (lr, eps) = (self.cfg.lr, self.cfg.eps);
        tch::no_grad(|| {
            for s in &mut self.slots {
                let grad = s.param.grad();
                if !grad.defined() {
                    continue;
                }
                s.step += 1;
                let _ = s.exp_avg.lerp_(&grad, 1.0 - beta1);
                let _ = s
                    .exp_avg_sq
                    .g_mul_scalar_(beta2)
                    .addcmul_(&(&grad * (1.0 - beta2)), &grad);
                let bias_correction1 = 1.0 - beta1.powi(s.step as i32);
                let bias_correction2 = 1.0 - beta2.powi(s.step as i32);
                let step_size = lr / bias_correction1;
                let denom = s.exp_avg_sq.sqrt() / bias_correction2.sqrt() + eps;
                let _ = s.param.addcdiv_(&(&s.exp_avg * -step_size), &denom);
            }
        });
    }

    /// The state as named tensors: `exp_avg.<param>`, `exp_avg_sq.<param>`, `step.<param>`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(3 * self.slots.len());
        for s in &self.slots {
            out.push((format!("exp_avg.{}", s.name), s.exp_avg.shallow_clone()));
            out.push((
                format!("exp_avg_sq.{}", s.name),
                s.exp_avg_sq.shallow_clone(),
            ));
            out.push((format!("step.{}", s.name), Tensor::from(s.step)));
        }
        out
    }

    /// Restores a state written by [`Adam::state`]; every parameter must be present with its
    /// shape, and nothing else may be.
    pub fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        let mut by_name: BTreeMap<String, Tensor> = state.into_iter().collect();
        for s in &mut self.slots {
            let mut take = |key: String, like: &Tensor| -> Result<Tensor> {
                let t = by_name.remove(&key).ok_or_else(|| Error::Invalid {
                    what: "optimiser state".into(),
                    problem: format!("`{key}` is missing"),
                })?;
                if t.size() != like.size() {
                    return Err(Error::Shape {
                        what: format!("optimiser state `{key}`"),
                        expected: format!("{:?}", like.size()),
                        got: t.size(),
                    });
                }
                Ok(t.to_kind(like.kind()).to_device(like.device()))
            };
            let exp_avg = take(format!("exp_avg.{}", s.name), &s.param)?;
            let exp_avg_sq = take(format!("exp_avg_sq.{}", s.name), &s.param)?;
            let step = take(format!("step.{}", s.name), &Tensor::from(0i64))?;
            tch::no_grad(|| {
                s.exp_avg.copy_(&exp_avg);
                s.exp_avg_sq.copy_(&exp_avg_sq);
            });
            s.step = i64::try_from(&step.to_kind(Kind::Int64))?;
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(Error::Invalid {
                what: "optimiser state".into(),
                problem: format!("`{extra}` names no parameter of this model"),
            });
        }
        Ok(())
    }
}
