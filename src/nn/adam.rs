//! Adam, written out so its state can be saved and a run resumed exactly.
//!
//! Spec: spec/phase2-adam.md. Paper: not specified there; the authors' `train.py` uses
//! `torch.optim.Adam` at lr 1e-4 (default betas) for the model and betas (0.5, 0.999) for the
//! discriminator (`train.py:87-90`, `train.py:42`). tch's optimiser wraps libtorch's C++ Adam, whose
//! moments cannot be read back, so resuming would restart them; this one keeps the moments and step
//! counts itself and updates them with one of PyTorch's three implementations ([`AdamKernel`]):
//! the single-tensor `_single_tensor_adam` written out operation for operation (the default), or
//! libtorch's multi-tensor and fused kernels through `nn::adam_kernels`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

use crate::error::{Error, Result};
use crate::nn::adam_kernels::{self, Group};

/// Which of PyTorch's Adam implementations a step mirrors. The three compute the same update in a
/// different order of floating-point operations, so their results agree to rounding, not bit for
/// bit; each is checked against its PyTorch counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdamKernel {
    /// `torch.optim.Adam(foreach=False)`: one parameter at a time, written out here (PyTorch's CPU
    /// default, and the only implementation in PyTorch 1.x, the authors' version).
    #[default]
    Single,
    /// `foreach=True`: libtorch's multi-tensor `_foreach_*` operations over all parameters at once
    /// (PyTorch's default on CUDA).
    Foreach,
    /// `fused=True`: libtorch's `_fused_adam_`, one kernel for the whole update.
    Fused,
}

impl AdamKernel {
    /// Whether this is the default, [`AdamKernel::Single`].
    pub fn is_single(&self) -> bool {
        *self == Self::Single
    }

    /// The name used in configurations and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Foreach => "foreach",
            Self::Fused => "fused",
        }
    }
}

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
    /// The implementation of the update.
    #[serde(default)]
    pub kernel: AdamKernel,
}

impl AdamConfig {
    /// `torch.optim.Adam(params, lr)` defaults: betas (0.9, 0.999), eps 1e-8, single-tensor.
    pub fn pytorch(lr: f64) -> Self {
        Self {
            lr,
            betas: [0.9, 0.999],
            eps: 1e-8,
            kernel: AdamKernel::Single,
        }
    }

    /// The same settings with another implementation of the update.
    pub fn with_kernel(self, kernel: AdamKernel) -> Self {
        Self { kernel, ..self }
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
    /// The fused kernel's own step count (float32 on the parameter's device, as PyTorch keeps it),
    /// always equal to `step`.
    step_tensor: Option<Tensor>,
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
                step_tensor: (cfg.kernel == AdamKernel::Fused)
                    .then(|| Tensor::zeros([], (Kind::Float, param.device()))),
                name,
                param,
                step: 0,
            })
            .collect();
        Self { slots, cfg }
    }

    /// The implementation of the update.
    pub fn kernel(&self) -> AdamKernel {
        self.cfg.kernel
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
    /// Fails only when libtorch's multi-tensor or fused kernel refuses its arguments.
    pub fn step(&mut self) -> Result<()> {
        match self.cfg.kernel {
            AdamKernel::Single => {
                self.single_step();
                Ok(())
            }
            AdamKernel::Foreach | AdamKernel::Fused => self.kernel_step(),
        }
    }

    fn single_step(&mut self) {
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

    /// The multi-tensor or fused update: the parameters with a gradient, grouped by device and
    /// dtype as PyTorch groups them, one kernel call per group. The step sizes are computed the
    /// way PyTorch's `_multi_tensor_adam` computes them, from the step count as a float.
    fn kernel_step(&mut self) -> Result<()> {
        let [beta1, beta2] = self.cfg.betas;
        let (lr, eps, kernel) = (self.cfg.lr, self.cfg.eps, self.cfg.kernel);
        let grads: Vec<Tensor> = self.slots.iter().map(|s| s.param.grad()).collect();
        let mut groups: Vec<((tch::Device, Kind), Vec<usize>)> = Vec::new();
        for (i, (s, g)) in self.slots.iter().zip(&grads).enumerate() {
            if !g.defined() {
                continue;
            }
            let key = (s.param.device(), s.param.kind());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        for (_, members) in &groups {
            for &i in members {
                self.slots[i].step += 1;
            }
            let pick = |f: &dyn Fn(&Slot) -> &Tensor| -> Vec<&Tensor> {
                members.iter().map(|&i| f(&self.slots[i])).collect()
            };
            let (params, exp_avgs, exp_avg_sqs) = (
                pick(&|s| &s.param),
                pick(&|s| &s.exp_avg),
                pick(&|s| &s.exp_avg_sq),
            );
            let grads: Vec<&Tensor> = members.iter().map(|&i| &grads[i]).collect();
            let group = Group {
                params: &params,
                grads: &grads,
                exp_avgs: &exp_avgs,
                exp_avg_sqs: &exp_avg_sqs,
            };
            tch::no_grad(|| match kernel {
                AdamKernel::Fused => {
                    let steps: Vec<&Tensor> = members
                        .iter()
                        .map(|&i| self.slots[i].step_tensor.as_ref().expect("made for fused"))
                        .collect();
                    adam_kernels::fused_step(&group, &steps, lr, [beta1, beta2], eps)
                }
                _ => {
                    let t: Vec<f64> = members.iter().map(|&i| self.slots[i].step as f64).collect();
                    let step_sizes: Vec<f64> =
                        t.iter().map(|&t| -(lr / (1.0 - beta1.powf(t)))).collect();
                    let bc2_sqrts: Vec<f64> =
                        t.iter().map(|&t| (1.0 - beta2.powf(t)).powf(0.5)).collect();
                    adam_kernels::foreach_step(&group, [beta1, beta2], eps, &step_sizes, &bc2_sqrts)
                }
            })?;
        }
        Ok(())
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
            if let Some(t) = &mut s.step_tensor {
                let _ = t.fill_(s.step as f64);
            }
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
