// libtorch's multi-tensor ("foreach") and fused Adam kernels, which tch 0.24 does not wrap, behind
// two C functions for src/nn/adam_kernels.rs.
//
// Spec: spec/phase2-adam.md ("Kernels"). Built by build.rs against the headers of the libtorch the
// build links (the same headers torch-sys compiles its own C++ against). A tensor handle from tch is
// a pointer to an `at::Tensor` (torch-sys's `tensor` type), so lists of handles become
// `std::vector<at::Tensor>` without copying data. Every C++ exception is caught here and returned
// as a message that the caller frees with `seje_adam_free_error`; nothing unwinds into Rust.

#include <ATen/core/Tensor.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_addcdiv.h>
#include <ATen/ops/_foreach_addcmul.h>
#include <ATen/ops/_foreach_div.h>
#include <ATen/ops/_foreach_lerp.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_sqrt.h>
#include <ATen/ops/_fused_adam.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

namespace {

std::vector<at::Tensor> list(at::Tensor *const *handles, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*handles[i]);
  return out;
}

std::vector<at::Scalar> scalars(const double *values, size_t n) {
  std::vector<at::Scalar> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.emplace_back(values[i]);
  return out;
}

char *message(const char *what) {
  size_t len = std::strlen(what);
  char *copy = static_cast<char *>(std::malloc(len + 1));
  if (copy != nullptr) std::memcpy(copy, what, len + 1);
  return copy;
}

}  // namespace

extern "C" {

// PyTorch's `_multi_tensor_adam` without weight decay, AMSGrad or capturable steps, over one
// device-and-dtype group: the step counts are kept by the caller, which passes each parameter's
// step size `-lr / (1 - beta1^t)` and `sqrt(1 - beta2^t)`.
char *seje_adam_foreach(at::Tensor *const *params, at::Tensor *const *grads,
                        at::Tensor *const *exp_avgs, at::Tensor *const *exp_avg_sqs, size_t n,
                        double beta1, double beta2, double eps, const double *step_sizes,
                        const double *bias_correction2_sqrts) {
  try {
    auto p = list(params, n), g = list(grads, n), m = list(exp_avgs, n), v = list(exp_avg_sqs, n);
    at::_foreach_lerp_(m, g, at::Scalar(1.0 - beta1));
    at::_foreach_mul_(v, at::Scalar(beta2));
    at::_foreach_addcmul_(v, g, g, at::Scalar(1.0 - beta2));
    auto denom = at::_foreach_sqrt(v);
    at::_foreach_div_(denom, scalars(bias_correction2_sqrts, n));
    at::_foreach_add_(denom, at::Scalar(eps));
    at::_foreach_addcdiv_(p, m, denom, scalars(step_sizes, n));
    return nullptr;
  } catch (const std::exception &e) {
    return message(e.what());
  } catch (...) {
    return message("unknown C++ exception in the foreach Adam kernel");
  }
}

// PyTorch's `_fused_adam` (`fused=True`) over one device-and-dtype group: the float32 step-count
// tensors `steps` are incremented (one `_foreach_add_`, as PyTorch does before the kernel), then
// `torch._fused_adam_` reads them for the bias corrections.
char *seje_adam_fused(at::Tensor *const *params, at::Tensor *const *grads,
                      at::Tensor *const *exp_avgs, at::Tensor *const *exp_avg_sqs,
                      at::Tensor *const *steps, size_t n, double lr, double beta1, double beta2,
                      double eps) {
  try {
    auto p = list(params, n), g = list(grads, n), m = list(exp_avgs, n), v = list(exp_avg_sqs, n),
         t = list(steps, n);
    std::vector<at::Tensor> none;
    at::_foreach_add_(t, at::Scalar(1.0));
    at::_fused_adam_(p, g, m, v, none, t, lr, beta1, beta2, /*weight_decay=*/0.0, eps,
                     /*amsgrad=*/false, /*maximize=*/false);
    return nullptr;
  } catch (const std::exception &e) {
    return message(e.what());
  } catch (...) {
    return message("unknown C++ exception in the fused Adam kernel");
  }
}

void seje_adam_free_error(char *error) { std::free(error); }

}  // extern "C"
