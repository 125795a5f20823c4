// softmax and log_softmax over the last dimension, with an optional additive mask (attention).
//
//   z = x + mask                      (mask broadcasts to x: [B, 1, 1, N] against [B, H, N, N])
//   softmax:      y_j = exp(z_j − m) / Σ_k exp(z_k − m),       m = max_k z_k
//   log_softmax:  y_j = z_j − m − log Σ_k exp(z_k − m)
//   backward:     softmax      dz = y · (dy − Σ_k dy_k y_k)
//                 log_softmax  dz = dy − exp(y) · Σ_k dy_k
//   dx = dz,  dmask = sum_to(dz, mask's shape)
// Sums run in acc_t<T> (float for bf16/f16, double for f64).
//
// Masked entries (mask = −inf) get y = 0 (softmax) or −inf (log_softmax) and zero gradient: the
// output does not depend on them. For log_softmax this differs from PyTorch, whose formula hands
// them dy (and adds their dy into Σ dy); the two agree whenever dy is 0 there, as it is for any
// finite loss.
// A row whose entries are ALL −inf (a query that may attend to nothing) is defined here as
// softmax = 0 and log_softmax = −inf, with zero gradient, so padding rows never produce NaN.
// PyTorch returns NaN for such rows. NaN inputs still propagate to the whole row.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/ops/binary.hpp"

namespace molm {
namespace ops::detail {

inline void check_last_dim_input(const Tensor& x, const char* op) {
  check_cpu(x, op);
  MOLM_CHECK(x.dim() >= 1, op, "works along the last dimension and needs at least a 1-d tensor, got shape {}",
             x.shape().str());
}

/// The mask must have x's dtype and broadcast to x's shape without enlarging it.
inline void check_softmax_mask(const Tensor& x, const Tensor& mask, const char* op) {
  if (!mask.defined()) return;
  check_cpu(mask, op);
  check_same_dtype(x, mask, op);
  MOLM_CHECK(broadcast_shapes(mask.shape(), x.shape(), op) == x.shape(), op,
             "mask of shape {} does not broadcast to the input shape {}", mask.shape().str(), x.shape().str());
}

inline Tensor softmax_backward(const Tensor& y, const Tensor& dy, bool log, const char* op) {
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  MOLM_CHECK(is_floating(y.dtype()), op, "expects a floating-point tensor, got {}", name(y.dtype()));
  backend::call<backend::SoftmaxBackward>(y.device(), y.dtype(), y, dy, dx, log);
  return dx;
}

inline Tensor softmax_op(const Tensor& x, const Tensor& mask, bool log, const char* op) {
  check_last_dim_input(x, op);
  check_softmax_mask(x, mask, op);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  MOLM_CHECK(is_floating(x.dtype()), op, "expects a floating-point tensor, got {}", name(x.dtype()));
  backend::call<backend::SoftmaxForward>(x.device(), x.dtype(), x, mask, y, log);
  if (autograd::any_requires_grad({&x, &mask})) {
    // Backward needs only the output, which is also what makes masked entries' gradients exact zeros.
    autograd::SavedTensor saved_y(y, op);
    const bool need_dx = x.requires_grad();
    const bool need_dmask = mask.defined() && mask.requires_grad();
    const Shape mask_shape = mask.defined() ? mask.shape() : Shape{};
    autograd::record(op, {x, mask}, {y}, [=](const std::vector<Tensor>& g) {
      const Tensor dz = softmax_backward(saved_y.get(), g[0], log, op);
      return std::vector<Tensor>{need_dx ? dz : Tensor(), need_dmask ? sum_to(dz, mask_shape) : Tensor()};
    });
  }
  return y;
}

}  // namespace ops::detail

/// softmax(x + mask) over the last dimension; `mask` (optional) is additive and broadcasts to x.
/// Fully masked rows give zeros (see the header comment).
inline Tensor softmax(const Tensor& x, const Tensor& mask = {}) {
  return ops::detail::softmax_op(x, mask, false, "softmax");
}

/// log_softmax(x + mask) over the last dimension; masked entries and fully masked rows give −inf.
inline Tensor log_softmax(const Tensor& x, const Tensor& mask = {}) {
  return ops::detail::softmax_op(x, mask, true, "log_softmax");
}

}  // namespace molm
