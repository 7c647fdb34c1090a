//! PyTorch-compatible building blocks: default initialisation and leaky ReLU.
//!
//! Spec: spec/phase2-layers.md. The authors' model is built from `nn.Linear`, `nn.LSTM`,
//! `nn.BatchNorm1d` with PyTorch's defaults (../shared/SEJE-SPEC.md §9 A17). tch's defaults differ
//! (Kaiming-uniform with ReLU gain, zero biases), so every layer of this package is created through
//! the helpers below.

use tch::{nn, Tensor};

/// `F.leaky_relu(x, slope)`: x where x > 0, slope·x elsewhere (so the gradient at 0 is `slope`,
/// as in PyTorch). tch's `leaky_relu` has a fixed slope of 0.01; SEJE uses 0.02 and 0.2.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    x.where_self(&x.gt(0.0), &(x * slope))
}

/// PyTorch's bound for `nn.Linear` and the bias of convolutions: `kaiming_uniform_(a = √5)` on the
/// weight gives `gain·√(3/fan_in)` with `gain = √(2/(1+5))`, which is `1/√fan_in`; the bias is
/// uniform on the same interval. Computed the way PyTorch computes it, so the interval's float
/// endpoints are the same.
pub fn linear_bound(fan_in: i64) -> f64 {
    let a = 5.0f64.sqrt(); // torch.nn.init.calculate_gain("leaky_relu", a) with a = √5
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let std = gain / (fan_in as f64).sqrt();
    3.0f64.sqrt() * std
}

/// The bias bound of `nn.Linear`: `1/√fan_in`.
pub fn bias_bound(fan_in: i64) -> f64 {
    1.0 / (fan_in as f64).sqrt()
}

/// `nn.Linear(in_dim, out_dim)` with PyTorch's default initialisation. Variables `weight`
/// `[out_dim, in_dim]` and `bias` `[out_dim]` are drawn in that order, as PyTorch draws them, so
/// the same seed gives the same values. (tch's own `nn::linear` draws the bias first.)
pub fn linear(p: nn::Path, in_dim: i64, out_dim: i64) -> nn::Linear {
    let w = linear_bound(in_dim);
    let b = bias_bound(in_dim);
    let ws = p.var(
        "weight",
        &[out_dim, in_dim],
        nn::Init::Uniform { lo: -w, up: w },
    );
    let bs = p.var("bias", &[out_dim], nn::Init::Uniform { lo: -b, up: b });
    nn::Linear { ws, bs: Some(bs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_equal_one_over_root_fan_in() {
        for fan in [1, 3, 300, 1024, 2348] {
            let expected = 1.0 / (fan as f64).sqrt();
            assert!((linear_bound(fan) - expected).abs() < 1e-15, "fan {fan}");
            assert_eq!(bias_bound(fan), expected);
        }
    }
}
