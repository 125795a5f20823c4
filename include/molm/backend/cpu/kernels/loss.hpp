// Optimised cross-entropy over rows of logits (last dimension = classes), fused with its
// log-softmax: forward writes each row's loss and log-sum-exp, backward rebuilds the
// probabilities from the saved log-sum-exp. Rows run in parallel on per-thread scratch rows of
// acc_t<T>. Targets are valid here (ops/loss.hpp checks them first). Maths in ops/loss.hpp.
#pragma once

#include "molm/backend/cpu/rows.hpp"
#include "molm/core/device.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace molm::backend {

/// loss[r] = (1−ε)·(lse − z_y) + ε·(lse − mean_c z_c), or 0 where target == ignore_index;
/// lse[r] = log Σ_c exp(z_c). logits: any strides; targets: dense [rows] of TI; loss, lse: dense
/// [rows] of acc_t<T>.
template <class T, class TI>
void cross_entropy_forward(cpu_t, const Tensor& logits, const Tensor& targets, std::int64_t ignore_index,
                           double smoothing, const Tensor& loss, const Tensor& lse) {
  using A = acc_t<T>;
  const Shape& shape = logits.shape();
  const std::int64_t C = shape.back();
  const RowLayout lx = row_layout(logits, shape);
  const T* px = logits.data<T>();
  const TI* pt = targets.data<TI>();
  A* ploss = loss.data<A>();
  A* plse = lse.data<A>();
  const A eps = static_cast<A>(smoothing);
  const std::int64_t R = lx.rows();
  const int threads = row_threads(R, C);
  std::vector<std::vector<A>> scratch(static_cast<std::size_t>(threads), std::vector<A>(static_cast<std::size_t>(C)));

  run_rows(R, threads, [&](std::int64_t r, int t) {
    A* z = scratch[static_cast<std::size_t>(t)].data();
    load_row(z, px + lx.row_offset(r), lx.inner_stride, C);
    A mx = -std::numeric_limits<A>::infinity();
    for (std::int64_t j = 0; j < C; ++j)
      if (z[j] > mx || std::isnan(z[j])) mx = z[j];
    A sum = 0, zsum = 0;
#pragma omp simd reduction(+ : sum, zsum)
    for (std::int64_t j = 0; j < C; ++j) {
      sum += std::exp(z[j] - mx);
      zsum += z[j];
    }
    const A l = mx + std::log(sum);
    plse[r] = l;
    const auto y = static_cast<std::int64_t>(pt[r]);
    if (y == ignore_index) {
      ploss[r] = 0;
      return;
    }
    A v = (A(1) - eps) * (l - z[y]);
    if (smoothing != 0.0) v += eps * (l - zsum / static_cast<A>(C));  // skipped at ε = 0: −inf logits would give 0·∞
    ploss[r] = v;
  });
}

/// dlogits[r, c] = s_r · (exp(z_c − lse_r) − ε/C − (1−ε)·[c = y_r]), 0 on ignored rows, where
/// s_r = dloss[r] · scale (dloss holds one value per row, or a single value for all rows).
/// dlogits is dense.
template <class T, class TI>
void cross_entropy_backward(cpu_t, const Tensor& logits, const Tensor& targets, const Tensor& lse,
                            const Tensor& dloss, double scale, std::int64_t ignore_index, double smoothing,
                            const Tensor& dlogits) {
  using A = acc_t<T>;
  const Shape& shape = logits.shape();
  const std::int64_t C = shape.back();
  const RowLayout lx = row_layout(logits, shape);
  const T* px = logits.data<T>();
  const TI* pt = targets.data<TI>();
  const A* plse = lse.data<A>();
  const T* pg = dloss.data<T>();
  const bool per_row = dloss.numel() != 1;
  T* pdx = dlogits.data<T>();
  const A eps = static_cast<A>(smoothing), off = static_cast<A>(smoothing / static_cast<double>(C));
  const std::int64_t R = lx.rows();

  run_rows(R, row_threads(R, C), [&](std::int64_t r, int) {
    T* out = pdx + r * C;
    const auto y = static_cast<std::int64_t>(pt[r]);
    if (y == ignore_index) {
      for (std::int64_t j = 0; j < C; ++j) out[j] = static_cast<T>(A(0));
      return;
    }
    const A s = static_cast<A>(static_cast<A>(pg[per_row ? r : 0]) * static_cast<A>(scale));
    const A l = plse[r];
    const T* xr = px + lx.row_offset(r);
    const std::int64_t sx = lx.inner_stride;
    for (std::int64_t j = 0; j < C; ++j) out[j] = static_cast<T>(s * (std::exp(static_cast<A>(xr[j * sx]) - l) - off));
    out[y] = static_cast<T>(s * (std::exp(static_cast<A>(xr[y * sx]) - l) - off - (A(1) - eps)));
  });
}

}  // namespace molm::backend
