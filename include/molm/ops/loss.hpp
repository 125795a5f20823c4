// cross_entropy: softmax cross-entropy of logits [..., C] against integer class targets [...],
// with PyTorch's ignore_index, label smoothing and reductions (F.cross_entropy with class-index
// targets and no class weights; the classes are the LAST dimension, leading dims are rows).
//
// Per row i with target y (not ignored), lse = log Σ_c exp(z_c), −log p_c = lse − z_c:
//   loss_i = (1 − ε)·(lse − z_y) + ε/C · Σ_c (lse − z_c)
//   dz_c   = g_i · (p_c − ε/C − (1 − ε)·[c = y])
// Ignored rows have loss 0 and gradient 0 and are not counted. Reductions:
//   none: loss_i (targets' shape)   sum: Σ_i loss_i   mean: Σ_i loss_i / (number of rows not ignored)
// so mean over zero counted rows is 0/0 = NaN (as in PyTorch 2.1; its gradient is 0).
// Row sums run in acc_t<T>; the sum over rows in double.
#pragma once

#include "molm/autograd/autocast.hpp"
#include "molm/backend/kernels.hpp"
#include "molm/ops/factory.hpp"

namespace molm {

enum class Reduction { none, mean, sum };

struct CrossEntropyOptions {
  std::int64_t ignore_index = -100;  ///< rows with this target add nothing and are not counted
  double label_smoothing = 0.0;      ///< ε in [0, 1]: weight moved from the target to a uniform target
  Reduction reduction = Reduction::mean;
};

namespace ops::detail {

inline void check_cross_entropy_args(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& o) {
  constexpr const char* op = "cross_entropy";
  check_cpu(logits, op);
  check_cpu(targets, op);
  MOLM_CHECK(is_floating(logits.dtype()), op, "logits must be floating-point, got {} {}", name(logits.dtype()),
             logits.shape().str());
  MOLM_CHECK(targets.dtype() == DType::i64 || targets.dtype() == DType::i32, op,
             "targets must hold class indices (i64 or i32), got {} {} for logits {}", name(targets.dtype()),
             targets.shape().str(), logits.shape().str());
  MOLM_CHECK(logits.dim() >= 1 && logits.shape().back() > 0, op,
             "logits need a non-empty class dimension (the last), got shape {}", logits.shape().str());
  Shape rows = logits.shape();
  rows.erase(rows.size() - 1);
  MOLM_CHECK(targets.shape() == rows, op, "targets of shape {} do not match logits of shape {} (expected targets {})",
             targets.shape().str(), logits.shape().str(), rows.str());
  MOLM_CHECK(o.label_smoothing >= 0.0 && o.label_smoothing <= 1.0, op, "label_smoothing must be in [0, 1], got {}",
             o.label_smoothing);
}

/// Number of rows that are not ignored; throws on a target outside [0, C). `t` is dense.
template <class TI>
std::int64_t count_valid_targets(const Tensor& t, const Tensor& logits, const Tensor& targets, std::int64_t ignore) {
  const std::int64_t C = logits.shape().back();
  const TI* p = t.data<TI>();
  std::int64_t valid = 0;
  for (std::int64_t r = 0; r < t.numel(); ++r) {
    const auto y = static_cast<std::int64_t>(p[r]);
    if (y == ignore) continue;
    MOLM_CHECK(y >= 0 && y < C, "cross_entropy",
               "target {} (row {}) is outside the class range [0, {}) for logits of shape {} and targets of shape {}; "
               "ignore_index is {}",
               y, r, C, logits.shape().str(), targets.shape().str(), ignore);
    ++valid;
  }
  return valid;
}

}  // namespace ops::detail

/// Cross-entropy of `logits` [..., C] against class indices `targets` [...] (i64 or i32).
/// Returns a 0-d tensor (mean, sum) or one loss per row with the targets' shape (none).
inline Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options = {}) {
  constexpr const char* op = "cross_entropy";
  if (autograd::autocast_widens(logits.dtype(), DType::f32))  // autocast: an f32 loss, as torch's fp32 list
    return cross_entropy(logits.to(DType::f32), targets, options);
  ops::detail::check_cross_entropy_args(logits, targets, options);
  const Tensor t = targets.contiguous();  // row r's target at t[r]
  const std::int64_t valid = visit_index(t.dtype(), op, [&](auto tag) {
    return ops::detail::count_valid_targets<typename decltype(tag)::type>(t, logits, targets, options.ignore_index);
  });
  const std::int64_t R = t.numel();
  const DType stats = acc_dtype(logits.dtype());
  Tensor row_loss = Tensor::empty({R}, stats), lse = Tensor::empty({R}, stats);
  Tensor out;
  visit_floating(logits.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    backend::call<backend::CrossEntropyForward>(logits.device(), logits.dtype(), logits, t, options.ignore_index,
                                                options.label_smoothing, row_loss, lse);
    const A* pl = row_loss.data<A>();
    if (options.reduction == Reduction::none) {
      out = Tensor::empty(targets.shape(), logits.dtype());
      for (std::int64_t r = 0; r < R; ++r) out.data<T>()[r] = static_cast<T>(pl[r]);
    } else {
      double total = 0;
      for (std::int64_t r = 0; r < R; ++r) total += static_cast<double>(pl[r]);
      if (options.reduction == Reduction::mean) total /= static_cast<double>(valid);  // 0/0 = NaN when none count
      out = scalar_tensor(total, logits.dtype());
    }
  });
  if (autograd::any_requires_grad({&logits})) {
    autograd::SavedTensor sx(logits, op), st(t, op), slse(lse, op);
    const double scale = options.reduction == Reduction::mean ? 1.0 / static_cast<double>(valid) : 1.0;
    const CrossEntropyOptions o = options;
    autograd::record(op, {logits}, {out}, [sx, st, slse, scale, o](const std::vector<Tensor>& g) {
      const Tensor& x = sx.get();
      const Tensor dloss = g[0].contiguous();
      Tensor dx = Tensor::empty(x.shape(), x.dtype());
      backend::call<backend::CrossEntropyBackward>(x.device(), x.dtype(), x, st.get(), slse.get(), dloss, scale,
                                                   o.ignore_index, o.label_smoothing, dx);
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

}  // namespace molm
