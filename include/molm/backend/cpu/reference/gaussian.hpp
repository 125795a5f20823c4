// Reference Gaussian basis kernel (Uni-Mol's GaussianLayer, reference-model.md §2.4): one pair at a
// time, one kernel at a time, plain loops. The oracle for backend/cpu/kernels/gaussian.hpp, and the
// home of the per-element maths both kernels share.
//
// For a pair with distance d and edge type e, and kernel k:
//   x   = mul[e]·d + bias[e]                 (parameters cast to dist's dtype, each op rounded to it)
//   s_k = |stds_k| + 1e-5,  z_k = (x − μ_k)/s_k
//   g_k = exp(−z_k²/2) / (a·s_k),  a = sqrt(2·3.14159)   (Uni-Mol's literal π)
// computed in float32 (in double only when dist and parameters are both f64, so that f64 gradient
// checks are meaningful), stored in the parameters' dtype. Backward, with t_k = dg_k·g_k:
//   dx = Σ_k −t_k z_k / s_k;  dd = dx·mul[e];  dmul[e] += dx·d;  dbias[e] += dx
//   dμ_k += t_k z_k / s_k;    dstds_k += sign(stds_k) · t_k (z_k² − 1) / s_k
// Rounding inside x is treated as the identity in backward. Sums accumulate in double.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/tensor.hpp"

#include <cmath>
#include <type_traits>
#include <vector>

namespace molm::backend {

namespace gaussian {

/// float32, except double when dist and parameters are both f64.
template <class TD, class TP>
using compute_t = std::conditional_t<std::is_same_v<TD, double> && std::is_same_v<TP, double>, double, float>;

/// Convert between element types the way torch's .to() does (through the wider arithmetic type).
template <class To, class From> To cast(From v) {
  return static_cast<To>(static_cast<acc_t<To>>(static_cast<acc_t<From>>(v)));
}

/// x = mul·d + bias in dist's dtype TD (Uni-Mol: mul(edge_type).type_as(x) * x + bias).
template <class C, class TD, class TP> C input(TD d, TP mul, TP bias) {
  using AD = acc_t<TD>;
  const AD prod = static_cast<AD>(static_cast<TD>(static_cast<AD>(cast<TD>(mul)) * static_cast<AD>(d)));
  return static_cast<C>(static_cast<AD>(static_cast<TD>(prod + static_cast<AD>(cast<TD>(bias)))));
}

/// mul[e] as the forward multiplies d by it (in dist's dtype): dx/dd.
template <class TD, class TP> double mul_in_dist(TP mul) { return static_cast<double>(static_cast<acc_t<TD>>(cast<TD>(mul))); }

/// Per-kernel constants: μ_k, s_k and a·s_k, in the compute type.
template <class C> struct Kernels {
  std::vector<C> mu, s, as;
  std::vector<C> sign;  // sign(stds_k), the derivative of |stds_k|
  template <class TP> Kernels(const TP* means, const TP* stds, std::int64_t K) {
    const C a = static_cast<C>(std::sqrt(2.0 * 3.14159));
    for (std::int64_t k = 0; k < K; ++k) {
      const C raw = cast<C>(stds[k]);
      mu.push_back(cast<C>(means[k]));
      s.push_back(std::abs(raw) + static_cast<C>(1e-5));
      as.push_back(a * s.back());
      sign.push_back(raw > 0 ? C(1) : raw < 0 ? C(-1) : C(0));
    }
  }
};

/// g_k for one x (the formula's exact order of operations, as the PyTorch code runs it).
template <class C> C value(C x, const Kernels<C>& kn, std::int64_t k) {
  const C z = (x - kn.mu[k]) / kn.s[k];
  return std::exp(C(-0.5) * (z * z)) / kn.as[k];
}

}  // namespace gaussian

/// out [P, K] (TP, dense) = g(x_p)_k.
template <class TD, class TP>
void gaussian_basis_forward(reference_t, const GaussianBasisProblem& p, const Tensor& out) {
  using C = gaussian::compute_t<TD, TP>;
  const gaussian::Kernels<C> kn(p.means.data<TP>(), p.stds.data<TP>(), p.K);
  const TD* d = p.dist.data<TD>();
  const std::int64_t* e = p.edge_type.data<std::int64_t>();
  const TP *mul = p.mul.data<TP>(), *bias = p.bias.data<TP>();
  TP* o = out.data<TP>();
  for (std::int64_t i = 0; i < p.pairs; ++i) {
    const C x = gaussian::input<C>(d[i], mul[e[i]], bias[e[i]]);
    for (std::int64_t k = 0; k < p.K; ++k) o[i * p.K + k] = gaussian::cast<TP>(gaussian::value(x, kn, k));
  }
}

/// Fill the defined gradients from dout [P, K] (TP, dense).
template <class TD, class TP>
void gaussian_basis_backward(reference_t, const GaussianBasisProblem& p, const Tensor& dout,
                             const GaussianBasisGrads& g) {
  using C = gaussian::compute_t<TD, TP>;
  const gaussian::Kernels<C> kn(p.means.data<TP>(), p.stds.data<TP>(), p.K);
  const TD* d = p.dist.data<TD>();
  const std::int64_t* e = p.edge_type.data<std::int64_t>();
  const TP *mul = p.mul.data<TP>(), *bias = p.bias.data<TP>(), *dg = dout.data<TP>();
  std::vector<double> dmu(p.K), dstd(p.K), dmul(p.E), dbias(p.E);
  for (std::int64_t i = 0; i < p.pairs; ++i) {
    const C x = gaussian::input<C>(d[i], mul[e[i]], bias[e[i]]);
    double dx = 0;
    for (std::int64_t k = 0; k < p.K; ++k) {
      const C z = (x - kn.mu[k]) / kn.s[k];
      const double t = static_cast<double>(gaussian::cast<C>(dg[i * p.K + k])) * gaussian::value(x, kn, k);
      dx -= t * z / kn.s[k];
      dmu[k] += t * z / kn.s[k];
      dstd[k] += kn.sign[k] * t * (static_cast<double>(z) * z - 1.0) / kn.s[k];
    }
    if (g.dist.defined()) g.dist.data<TD>()[i] = gaussian::cast<TD>(dx * gaussian::mul_in_dist<TD>(mul[e[i]]));
    dmul[e[i]] += dx * static_cast<double>(acc_t<TD>(d[i]));
    dbias[e[i]] += dx;
  }
  auto write = [](const Tensor& t, const std::vector<double>& v) {
    if (t.defined())
      for (std::size_t n = 0; n < v.size(); ++n) t.data<TP>()[n] = gaussian::cast<TP>(v[n]);
  };
  write(g.means, dmu);
  write(g.stds, dstd);
  write(g.mul, dmul);
  write(g.bias, dbias);
}

}  // namespace molm::backend
