//! libtorch's multi-tensor ("foreach") and fused Adam kernels, reached through the C++ shim
//! `src/nn/adam_kernels.cpp` that build.rs compiles against libtorch's headers (tch 0.24 wraps
//! neither).
//!
//! Spec: spec/phase2-adam.md ("Kernels"). This file is the only place that crosses into the
//! shim. The argument for its `unsafe` blocks: every pointer handed over is a live `tch::Tensor`
//! handle (a `*mut at::Tensor`, borrowed for the call from slices that outlive it), the lengths
//! passed are the lengths of those slices (checked equal first), the shim copies the handles into
//! its own `at::Tensor` values (reference-counted, no data copied) and returns before we continue,
//! and a C++ exception comes back as an owned C string that we free with the shim's own `free`.

use std::ffi::{c_char, c_void, CStr};

use tch::Tensor;

use crate::error::{Error, Result};

type Handle = *const c_void;

unsafe extern "C" {
    fn seje_adam_foreach(
        params: *const Handle,
        grads: *const Handle,
        exp_avgs: *const Handle,
        exp_avg_sqs: *const Handle,
        n: usize,
        beta1: f64,
        beta2: f64,
        eps: f64,
        step_sizes: *const f64,
        bias_correction2_sqrts: *const f64,
    ) -> *mut c_char;

    fn seje_adam_fused(
        params: *const Handle,
        grads: *const Handle,
        exp_avgs: *const Handle,
        exp_avg_sqs: *const Handle,
        steps: *const Handle,
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    ) -> *mut c_char;

    fn seje_adam_free_error(error: *mut c_char);
}

/// The tensors of one device-and-dtype group, parameter by parameter.
pub struct Group<'a> {
    /// The parameters, updated in place.
    pub params: &'a [&'a Tensor],
    /// Their gradients.
    pub grads: &'a [&'a Tensor],
    /// First moments, updated in place.
    pub exp_avgs: &'a [&'a Tensor],
    /// Second moments, updated in place.
    pub exp_avg_sqs: &'a [&'a Tensor],
}

impl Group<'_> {
    fn check(&self, extra: &[usize]) -> Result<usize> {
        let n = self.params.len();
        let lens = [
            self.grads.len(),
            self.exp_avgs.len(),
            self.exp_avg_sqs.len(),
        ];
        if lens.iter().chain(extra).any(|&l| l != n) {
            return Err(Error::Invalid {
                what: "Adam kernel arguments".into(),
                problem: format!(
                    "lists of different lengths ({n} parameters, {lens:?} and {extra:?})"
                ),
            });
        }
        Ok(n)
    }
}

fn handles(ts: &[&Tensor]) -> Vec<Handle> {
    ts.iter().map(|t| t.as_ptr() as Handle).collect()
}

fn outcome(kernel: &str, error: *mut c_char) -> Result<()> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string the shim allocated with malloc; we
    // copy it out, then hand it back to the shim's free exactly once.
    let text = unsafe { CStr::from_ptr(error) }
        .to_string_lossy()
        .into_owned();
    unsafe { seje_adam_free_error(error) };
    Err(Error::Invalid {
        what: format!("libtorch's {kernel} Adam kernel"),
        problem: text,
    })
}

/// PyTorch's `_multi_tensor_adam` step on one group (no weight decay, no AMSGrad); the caller
/// keeps the step counts and passes, per parameter, `-lr / (1 - β1^t)` and `√(1 - β2^t)`.
pub fn foreach_step(
    group: &Group<'_>,
    betas: [f64; 2],
    eps: f64,
    step_sizes: &[f64],
    bias_correction2_sqrts: &[f64],
) -> Result<()> {
    let n = group.check(&[step_sizes.len(), bias_correction2_sqrts.len()])?;
    let (p, g) = (handles(group.params), handles(group.grads));
    let (m, v) = (handles(group.exp_avgs), handles(group.exp_avg_sqs));
    // SAFETY: see the module header; all six arrays have length `n`.
    let error = unsafe {
        seje_adam_foreach(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            n,
            betas[0],
            betas[1],
            eps,
            step_sizes.as_ptr(),
            bias_correction2_sqrts.as_ptr(),
        )
    };
    outcome("foreach", error)
}

/// PyTorch's fused step on one group; `steps` are float32 scalars on the parameters' device, which
/// the shim increments before `torch._fused_adam_` reads them.
pub fn fused_step(
    group: &Group<'_>,
    steps: &[&Tensor],
    lr: f64,
    betas: [f64; 2],
    eps: f64,
) -> Result<()> {
    let n = group.check(&[steps.len()])?;
    let (p, g) = (handles(group.params), handles(group.grads));
    let (m, v, t) = (
        handles(group.exp_avgs),
        handles(group.exp_avg_sqs),
        handles(steps),
    );
    // SAFETY: see the module header; all five arrays have length `n`.
    let error = unsafe {
        seje_adam_fused(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            t.as_ptr(),
            n,
            lr,
            betas[0],
            betas[1],
            eps,
        )
    };
    outcome("fused", error)
}
