//! SGD with momentum and weight decay, written out so its momentum buffers can be saved and a run
//! resumed exactly.
//!
//! Spec: spec/phase1-categoriser-training.md (section "SGD"). Paper: the Food-101 fine-tuning of
//! Phase I's categoriser (the paper gives no hyper-parameters; the authors released no Phase I
//! code). tch's `Sgd`
//! wraps libtorch's C++ optimiser, whose momentum buffers cannot be read back; this one mirrors
//! PyTorch's single-tensor `_single_tensor_sgd` (the CPU default, no dampening, no Nesterov)
//! operation for operation, as src/nn/adam.rs does for Adam.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

use crate::error::{Error, Result};

/// SGD's hyper-parameters (`torch.optim.SGD(params, lr, momentum, weight_decay=...)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate (changed between steps by a schedule with [`Sgd::set_lr`]).
    pub lr: f64,
    /// Momentum μ.
    pub momentum: f64,
    /// L2 weight decay λ, added to the gradient (every parameter, batch norm included).
    pub weight_decay: f64,
}

#[derive(Debug)]
struct Slot {
    name: String,
    param: Tensor,
    /// PyTorch's `momentum_buffer`: none until the parameter's first gradient.
    buf: Option<Tensor>,
}

/// SGD over the trainable variables of one `VarStore` (one parameter group).
#[derive(Debug)]
pub struct Sgd {
    slots: Vec<Slot>,
    cfg: SgdConfig,
}

impl Sgd {
    /// Takes every trainable variable of `vs`, in name order (a stable order for the state file).
    pub fn new(vs: &nn::VarStore, cfg: SgdConfig) -> Self {
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
                name,
                param,
                buf: None,
            })
            .collect();
        Self { slots, cfg }
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.cfg.lr
    }

    /// Changes the learning rate (the cosine schedule sets it before every step).
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

    /// One update of every parameter that has a gradient:
    /// `d = g + λ·p`; `buf = d` at the first step, else `buf = μ·buf + d`; `p -= lr·buf`.
    pub fn step(&mut self) {
        let SgdConfig {
            lr,
            momentum,
            weight_decay,
        } = self.cfg;
        tch::no_grad(|| {
            for s in &mut self.slots {
                let grad = s.param.grad();
                if !grad.defined() {
                    continue;
                }
                let d = if weight_decay != 0.0 {
                    grad.g_add(&(&s.param * weight_decay))
                } else {
                    grad.shallow_clone()
                };
                let d = if momentum != 0.0 {
                    match &mut s.buf {
                        None => {
                            let b = d.copy();
                            s.buf = Some(b.shallow_clone());
                            b
                        }
                        Some(b) => {
                            let _ = b.g_mul_scalar_(momentum).g_add_(&d);
                            b.shallow_clone()
                        }
                    }
                } else {
                    d
                };
                let _ = s.param.g_add_(&(&d * -lr));
            }
        });
    }

    /// The state as named tensors: `momentum_buffer.<param>` for every parameter that has one.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.slots
            .iter()
            .filter_map(|s| {
                s.buf
                    .as_ref()
                    .map(|b| (format!("momentum_buffer.{}", s.name), b.shallow_clone()))
            })
            .collect()
    }

    /// Restores a state written by [`Sgd::state`]: a parameter without an entry has no buffer
    /// yet; an entry must name a parameter and have its shape.
    pub fn load_state(&mut self, state: Vec<(String, Tensor)>) -> Result<()> {
        let mut by_name: BTreeMap<String, Tensor> = state.into_iter().collect();
        for s in &mut self.slots {
            let key = format!("momentum_buffer.{}", s.name);
            s.buf = match by_name.remove(&key) {
                None => None,
                Some(t) if t.size() != s.param.size() => {
                    return Err(Error::Shape {
                        what: format!("optimiser state `{key}`"),
                        expected: format!("{:?}", s.param.size()),
                        got: t.size(),
                    })
                }
                Some(t) => Some(t.to_kind(s.param.kind()).to_device(s.param.device()).copy()),
            };
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn one_param(init: f64) -> (nn::VarStore, Tensor) {
        let vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root().var("p", &[1], nn::Init::Const(init));
        (vs, p)
    }

    fn steps(opt: &mut Sgd, p: &Tensor, grads: &[f64]) {
        for &g in grads {
            opt.zero_grad();
            (p * g).sum(Kind::Double).backward();
            opt.step();
        }
    }

    // By hand: p = 1, λ = 0.1, μ = 0.9, lr = 0.1.
    // step 1: d = 0.5 + 0.1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94
    // step 2: d = -2 + 0.094 = -1.906, buf = 0.54 - 1.906 = -1.366, p = 0.94 + 0.1366 = 1.0766
    #[test]
    fn two_steps_by_hand() {
        let (vs, p) = one_param(1.0);
        let cfg = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.1,
        };
        let mut opt = Sgd::new(&vs, cfg);
        steps(&mut opt, &p, &[0.5]);
        assert!((p.double_value(&[0]) - 0.94).abs() < 1e-6);
        steps(&mut opt, &p, &[-2.0]);
        assert!((p.double_value(&[0]) - 1.0766).abs() < 1e-6);
        let st = opt.state();
        assert_eq!(st.len(), 1);
        assert!((st[0].1.double_value(&[0]) + 1.366).abs() < 1e-6);
    }

    #[test]
    fn a_restored_state_continues_exactly() {
        let cfg = SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
        };
        let (vs, p) = one_param(0.3);
        let mut whole = Sgd::new(&vs, cfg);
        steps(&mut whole, &p, &[0.2, -0.7, 1.1, 0.4]);

        let (vs2, p2) = one_param(0.3);
        let mut first = Sgd::new(&vs2, cfg);
        steps(&mut first, &p2, &[0.2, -0.7]);
        let saved: Vec<(String, Tensor)> = first
            .state()
            .into_iter()
            .map(|(k, t)| (k, t.copy()))
            .collect();
        let mut second = Sgd::new(&vs2, cfg);
        second.load_state(saved).unwrap();
        steps(&mut second, &p2, &[1.1, 0.4]);
        assert_eq!(p.double_value(&[0]), p2.double_value(&[0]));

        let e = second
            .load_state(vec![("momentum_buffer.q".into(), Tensor::from(1.0))])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "optimiser state: `momentum_buffer.q` names no parameter of this model"
        );
    }
}
