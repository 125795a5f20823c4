// Reference cross-entropy: single-threaded, an explicit log-softmax per row with every logit
// addressed through its multi-index and strides. The oracle for backend/cpu/kernels/loss.hpp.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/tensor.hpp"

#include <cmath>
#include <limits>

namespace molm::backend {
namespace reference {

/// log Σ_c exp(z_c) of the logits row addressed by idx (idx[last] is overwritten).
template <class T, class Idx> acc_t<T> row_logsumexp(const Tensor& logits, Idx& idx) {
  using A = acc_t<T>;
  const int last = logits.dim() - 1;
  const std::int64_t C = logits.shape().back();
  auto z = [&](std::int64_t j) {
    idx[last] = j;
    return static_cast<A>(logits.data<T>()[offset_of(idx, logits.strides())]);
  };
  A mx = -std::numeric_limits<A>::infinity();
  for (std::int64_t j = 0; j < C; ++j)
    if (z(j) > mx || std::isnan(z(j))) mx = z(j);
  A sum = 0;
  for (std::int64_t j = 0; j < C; ++j) sum += std::exp(z(j) - mx);
  return mx + std::log(sum);
}

}  // namespace reference

template <class T, class TI>
void cross_entropy_forward(reference_t, const Tensor& logits, const Tensor& targets, std::int64_t ignore_index,
                           double smoothing, const Tensor& loss, const Tensor& lse) {
  using A = acc_t<T>;
  const int last = logits.dim() - 1;
  const std::int64_t C = logits.shape().back();
  Shape rows = logits.shape();
  rows[last] = 1;
  std::int64_t r = 0;
  reference::for_each_index(rows, [&](auto idx) {
    const A l = reference::row_logsumexp<T>(logits, idx);
    lse.data<A>()[r] = l;
    const auto y = static_cast<std::int64_t>(targets.data<TI>()[r]);
    A v = 0;
    if (y != ignore_index) {
      // −log p_c = lse − z_c; the loss mixes the target's term with the mean over all classes.
      A nll_target = 0, nll_all = 0;
      for (std::int64_t c = 0; c < C; ++c) {
        idx[last] = c;
        const A nll = l - static_cast<A>(logits.data<T>()[reference::offset_of(idx, logits.strides())]);
        if (c == y) nll_target = nll;
        nll_all += nll;
      }
      v = static_cast<A>(1.0 - smoothing) * nll_target;
      if (smoothing != 0.0) v += static_cast<A>(smoothing) * nll_all / static_cast<A>(C);
    }
    loss.data<A>()[r] = v;
    ++r;
  });
}

template <class T, class TI>
void cross_entropy_backward(reference_t, const Tensor& logits, const Tensor& targets, const Tensor& lse,
                            const Tensor& dloss, double scale, std::int64_t ignore_index, double smoothing,
                            const Tensor& dlogits) {
  using A = acc_t<T>;
  const int last = logits.dim() - 1;
  const std::int64_t C = logits.shape().back();
  Shape rows = logits.shape();
  rows[last] = 1;
  std::int64_t r = 0;
  reference::for_each_index(rows, [&](auto idx) {
    const auto y = static_cast<std::int64_t>(targets.data<TI>()[r]);
    const A s = static_cast<A>(dloss.data<T>()[dloss.numel() == 1 ? 0 : r]) * static_cast<A>(scale);
    for (std::int64_t c = 0; c < C; ++c) {
      idx[last] = c;
      A v = 0;
      if (y != ignore_index) {
        const A p = std::exp(static_cast<A>(logits.data<T>()[reference::offset_of(idx, logits.strides())]) -
                             lse.data<A>()[r]);
        const A target = c == y ? static_cast<A>(1.0 - smoothing) : A(0);
        v = s * (p - static_cast<A>(smoothing / static_cast<double>(C)) - target);
      }
      dlogits.data<T>()[reference::offset_of(idx, dlogits.strides())] = static_cast<T>(v);
    }
    ++r;
  });
}

}  // namespace molm::backend
