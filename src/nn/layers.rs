//! PyTorch-compatible building blocks: default initialisation, batch norm, leaky ReLU and the
//! LSTM (padded, or packed as the authors' `stRNN` runs it).
//!
//! Spec: spec/phase2-layers.md. The authors' model is built from `nn.Linear`, `nn.LSTM`,
//! `nn.BatchNorm1d` with PyTorch's defaults. tch's defaults differ (Kaiming-uniform with ReLU gain
//! and the bias drawn first for `nn::linear`; a batch-norm weight uniform in [0, 1) instead of 1),
//! so every layer of this package is created through the helpers below; `tests/nn_init.rs` checks
//! every tensor of every model against PyTorch's law. The LSTM is shared by the recipe encoder
//! (spec/phase2-encoders.md) and the skip-instructions model (spec/phase1-skip-instructions.md).

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

/// `nn.BatchNorm1d` / `nn.BatchNorm2d` as PyTorch creates them (`reset_parameters`): weight 1,
/// bias 0, running mean 0, running variance 1, eps 1e-5, momentum 0.1. (tch's
/// `BatchNormConfig::default()` draws the weight uniformly in [0, 1).)
pub fn batch_norm_config() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    }
}

/// `nn.BatchNorm1d(c)` with PyTorch's initialisation (see [`batch_norm_config`]); variables
/// `weight`, `bias`, `running_mean`, `running_var` under `p`.
pub fn batch_norm1d(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm1d(p, c, batch_norm_config())
}

/// `nn.BatchNorm2d(c)` with PyTorch's initialisation (see [`batch_norm_config`]).
pub fn batch_norm2d(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, batch_norm_config())
}

/// PyTorch's `nn.LSTM(input, hidden, batch_first=True)`: one layer, unidirectional, all four
/// tensors U(±1/√hidden), drawn in PyTorch's order. Variables `weight_ih_l0` `[4H, input]`,
/// `weight_hh_l0` `[4H, H]`, `bias_ih_l0` `[4H]`, `bias_hh_l0` `[4H]` (gates in PyTorch's order
/// i, f, g, o).
#[derive(Debug)]
pub struct Lstm {
    params: [Tensor; 4], // weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0
    hidden: i64,
}

impl Lstm {
    /// The four variables under `p`.
    pub fn new(p: nn::Path, input: i64, hidden: i64) -> Self {
        let k = 1.0 / (hidden as f64).sqrt();
        let init = nn::Init::Uniform { lo: -k, up: k };
        let params = [
            p.var("weight_ih_l0", &[4 * hidden, input], init),
            p.var("weight_hh_l0", &[4 * hidden, hidden], init),
            p.var("bias_ih_l0", &[4 * hidden], init),
            p.var("bias_hh_l0", &[4 * hidden], init),
        ];
        if p.device().is_cuda() && tch::Cuda::cudnn_is_available() {
            // As PyTorch's nn.LSTM (flatten_parameters): cudnn wants the four tensors as views
            // of one buffer, otherwise it copies them at every call. Values are unchanged;
            // later in-place updates and loads keep the shared storage.
            let _ = Tensor::internal_cudnn_rnn_flatten_weight(
                &params, 4, input, 2, hidden, 0, 1, true, false,
            );
        }
        Self { params, hidden }
    }

    /// The hidden width H.
    pub fn hidden(&self) -> i64 {
        self.hidden
    }

    /// Outputs of every step from a zero initial state: `[B, T, input]` → `[B, T, hidden]`.
    /// `train` only matters to cuDNN, which needs it for a backward pass (there is no dropout).
    pub fn outputs(&self, x: &Tensor, train: bool) -> Tensor {
        let b = x.size()[0];
        let zeros = Tensor::zeros([1, b, self.hidden], (x.kind(), x.device()));
        self.outputs_from(x, &zeros, &zeros, train)
    }

    /// The output at each row's last real step, computed as the authors' `stRNN.forward`
    /// (`trijoint.py:51-75`): rows sorted by length (descending), packed, run, unpacked and
    /// unsorted, then the output at step `L_b − 1` gathered. The padded run
    /// ([`Lstm::outputs`]) gives the same vectors up to float rounding (the matrix products
    /// have other shapes); this one gives PyTorch's bits.
    ///
    /// # Shapes
    /// `x: [B, T, input]` (zero-padded), `lengths: [B]` int64 in 1..=T → `[B, hidden]`
    pub fn last_outputs(&self, x: &Tensor, lengths: &Tensor, train: bool) -> Tensor {
        let b = x.size()[0];
        let (sorted_len, sorted_idx) = lengths.sort(0, true);
        let sorted_inputs = x.gather(0, &sorted_idx.view([-1, 1, 1]).expand_as(x), false);
        // pack_padded_sequence takes the lengths on the CPU, as `sorted_len.cpu()` there.
        let (data, batch_sizes) = Tensor::internal_pack_padded_sequence(
            &sorted_inputs,
            &sorted_len.to_device(tch::Device::Cpu),
            true,
        );
        let zeros = Tensor::zeros([1, b, self.hidden], (x.kind(), x.device()));
        let (out, _, _) = Tensor::lstm_data(
            &data,
            &batch_sizes,
            &[&zeros, &zeros],
            &self.params.each_ref(),
            true,
            1,
            0.0,
            train,
            false,
        );
        let (_, original_idx) = sorted_idx.sort(0, false);
        let steps = batch_sizes.size()[0];
        let (unpacked, _) =
            Tensor::internal_pad_packed_sequence(&out, &batch_sizes, true, 0.0, steps); // [B, T', H]
        let unsorted = unpacked.gather(
            0,
            &original_idx.view([-1, 1, 1]).expand_as(&unpacked),
            false,
        );
        let last = (lengths - 1)
            .view([-1, 1])
            .expand([b, self.hidden], false)
            .unsqueeze(1); // [B, 1, H]
        unsorted.gather(1, &last, false).view([b, self.hidden])
    }

    /// Outputs of every step from the initial state `(h0, c0)`, each `[1, B, hidden]`.
    pub fn outputs_from(&self, x: &Tensor, h0: &Tensor, c0: &Tensor, train: bool) -> Tensor {
        let (out, _, _) = x.lstm(
            &[h0, c0],
            &self.params.each_ref(),
            true,
            1,
            0.0,
            train,
            false,
            true,
        );
        out
    }
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
