// Gradient clipping by global norm: torch.nn.utils.clip_grad_norm_ (torch 2.1).
//
//   total = ‖(‖g_1‖_p, …, ‖g_n‖_p)‖_p       over the parameters that have a gradient (∞-norm: max |g|)
//   coef  = min(1, max_norm · (1 / (total + 1e-6)))
//   g_i  ← g_i · coef                         in place, also when coef = 1 (PyTorch does the same)
//
// PyTorch computes each per-tensor norm in its gradient's dtype, and `total` and `coef` in the
// promoted dtype (f64 if any gradient is f64, else f32); so does this. The per-tensor sums accumulate
// in double (PyTorch: f32 sums in f32, in SIMD-lane order), so an f32 norm may differ in its last
// bit. The blocked sums are added in a fixed order, so the result does not depend on the thread count.
#pragma once

#include "molm/optim/optimizer.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace molm::optim {

namespace detail {
/// ‖t‖_p in double (p > 0 or +∞), deterministic for any thread count.
inline double vector_norm(const Tensor& t, double p) {
  const Tensor c = t.contiguous();
  const std::int64_t n = c.numel();
  constexpr std::int64_t kBlock = std::int64_t{1} << 14;
  std::vector<double> partial(static_cast<std::size_t>((n + kBlock - 1) / kBlock), 0.0);
  const bool inf = std::isinf(p);
  visit_floating(c.dtype(), "clip_grad_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = c.data<T>();
    molm::detail::parallel_for(static_cast<std::int64_t>(partial.size()), kBlock, [&](std::int64_t b) {
      double acc = 0;
      for (std::int64_t i = b * kBlock, e = std::min(n, (b + 1) * kBlock); i < e; ++i) {
        const double a = std::abs(static_cast<double>(static_cast<acc_t<T>>(x[i])));
        if (inf) acc = std::isnan(a) || std::isnan(acc) ? NAN : std::max(acc, a);
        else if (p == 2) acc += a * a;
        else if (p == 1) acc += a;
        else acc += std::pow(a, p);
      }
      partial[static_cast<std::size_t>(b)] = acc;
    });
  });
  double total = 0;
  for (double v : partial) total = inf ? (std::isnan(v) || std::isnan(total) ? NAN : std::max(total, v)) : total + v;
  if (inf || p == 1) return total;
  return p == 2 ? std::sqrt(total) : std::pow(total, 1 / p);
}

/// Multiply the gradient of `p` by `coef` in place (made contiguous first if it is not).
template <class T> void scale_grad(const Tensor& p, T coef) {
  Tensor g = p.grad();
  if (!g.is_contiguous()) {
    g = g.contiguous();
    p.set_grad(g);
  }
  T* x = g.data<T>();
  for_each_block(g.numel(), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) x[i] = x[i] * coef;
  });
  g.storage()->bump_version();
}
}  // namespace detail

/// Scale all gradients of `params` together so that their joint p-norm is at most `max_norm`; return
/// the norm before clipping. Parameters without a gradient are ignored (none at all: returns 0).
/// `norm_type` is p > 0 or std::numeric_limits<double>::infinity(). With `error_if_nonfinite`, a NaN
/// or infinite norm throws instead of scaling every gradient by NaN.
inline double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                             bool error_if_nonfinite = false) {
  MOLM_CHECK(norm_type > 0, "clip_grad_norm", "norm_type must be positive or infinity, got {}", norm_type);
  MOLM_CHECK(max_norm >= 0, "clip_grad_norm", "max_norm must be >= 0, got {}", max_norm);
  no_grad guard;
  std::vector<Tensor> with_grad;
  bool any_f64 = false;
  for (std::size_t i = 0; i < params.size(); ++i) {
    MOLM_CHECK(params[i].defined(), "clip_grad_norm", "parameter {} is an undefined tensor", i);
    const Tensor g = params[i].grad();
    if (!g.defined()) continue;
    MOLM_CHECK(g.dtype() == DType::f32 || g.dtype() == DType::f64, "clip_grad_norm",
               "gradient of parameter {} ({}) is {}; only f32 and f64 gradients are supported", i, g.shape().str(),
               name(g.dtype()));
    any_f64 = any_f64 || g.dtype() == DType::f64;
    with_grad.push_back(params[i]);
  }
  if (with_grad.empty()) return 0.0;

  // Each per-tensor norm is rounded to its gradient's type, as PyTorch returns it.
  std::vector<double> norms;
  for (const Tensor& p : with_grad) {
    const double n = detail::vector_norm(p.grad(), norm_type);
    norms.push_back(p.grad().dtype() == DType::f64 ? n : static_cast<double>(static_cast<float>(n)));
  }
  double total = 0;
  if (std::isinf(norm_type)) {
    for (double v : norms) total = std::isnan(v) || std::isnan(total) ? NAN : std::max(total, v);
  } else {
    for (double v : norms) total += norm_type == 2 ? v * v : std::pow(v, norm_type);
    total = norm_type == 2 ? std::sqrt(total) : std::pow(total, 1 / norm_type);
  }
  MOLM_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm",
             "the total norm of order {} of the gradients of {} parameters is {}, so they cannot be clipped "
             "(pass error_if_nonfinite = false to scale them by it anyway)",
             norm_type, with_grad.size(), total);

  // Same arithmetic as PyTorch: `max_norm / t` on a tensor is t.reciprocal() * max_norm.
  auto coefficient = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T t = static_cast<T>(total);
    const T coef = static_cast<T>(max_norm) * (T(1) / (t + static_cast<T>(1e-6)));
    return std::pair<double, double>{static_cast<double>(t), static_cast<double>(std::min(coef, T(1)))};
  };
  const auto [rounded_total, coef] = any_f64 ? coefficient(type_tag<double>{}) : coefficient(type_tag<float>{});
  for (const Tensor& p : with_grad) {
    if (p.grad().dtype() == DType::f64) detail::scale_grad<double>(p, coef);
    else detail::scale_grad<float>(p, static_cast<float>(coef));
  }
  return rounded_total;
}

}  // namespace molm::optim
