// Optimised Gaussian basis kernel: OpenMP over pairs in the forward; in the backward, OpenMP over
// fixed chunks of pairs, each with private sums for the per-kernel (μ, stds) and per-edge-type
// (mul, bias) gradients, added up chunk by chunk afterwards. The chunking does not depend on the
// thread count, so the scatter over edge types is race-free and the result reproducible.
// Same maths as backend/cpu/reference/gaussian.hpp.
#pragma once

#include "molm/backend/cpu/reference/gaussian.hpp"
#include "molm/tensor/iter.hpp"

#include <algorithm>

namespace molm::backend {

/// out [P, K] (TP, dense) = g(x_p)_k.
template <class TD, class TP>
void gaussian_basis_forward(cpu_t, const GaussianBasisProblem& p, const Tensor& out) {
  using C = gaussian::compute_t<TD, TP>;
  const gaussian::Kernels<C> kn(p.means.data<TP>(), p.stds.data<TP>(), p.K);
  const TD* d = p.dist.data<TD>();
  const std::int64_t* e = p.edge_type.data<std::int64_t>();
  const TP *mul = p.mul.data<TP>(), *bias = p.bias.data<TP>();
  TP* o = out.data<TP>();
  const C *mu = kn.mu.data(), *s = kn.s.data(), *as = kn.as.data();
  const std::int64_t K = p.K;
  molm::detail::parallel_for(p.pairs, K * 16, [&](std::int64_t i) {
    const C x = gaussian::input<C>(d[i], mul[e[i]], bias[e[i]]);
    TP* row = o + i * K;
    for (std::int64_t k = 0; k < K; ++k) {
      const C z = (x - mu[k]) / s[k];
      row[k] = gaussian::cast<TP>(std::exp(C(-0.5) * (z * z)) / as[k]);
    }
  });
}

/// Fill the defined gradients from dout [P, K] (TP, dense).
template <class TD, class TP>
void gaussian_basis_backward(cpu_t, const GaussianBasisProblem& p, const Tensor& dout, const GaussianBasisGrads& g) {
  using C = gaussian::compute_t<TD, TP>;
  const gaussian::Kernels<C> kn(p.means.data<TP>(), p.stds.data<TP>(), p.K);
  const TD* d = p.dist.data<TD>();
  const std::int64_t* e = p.edge_type.data<std::int64_t>();
  const TP *mul = p.mul.data<TP>(), *bias = p.bias.data<TP>(), *dg = dout.data<TP>();
  TD* ddist = g.dist.defined() ? g.dist.data<TD>() : nullptr;
  const std::int64_t K = p.K, E = p.E;
  // Private sums per chunk, laid out [chunk][dμ (K) | dstds (K) | dmul (E) | dbias (E)].
  constexpr std::int64_t kPairsPerChunk = 2048;
  const std::int64_t chunks = std::max<std::int64_t>(1, (p.pairs + kPairsPerChunk - 1) / kPairsPerChunk);
  const std::int64_t width = 2 * K + 2 * E;
  std::vector<double> partial(static_cast<std::size_t>(chunks * width), 0.0);
  molm::detail::parallel_for(chunks, kPairsPerChunk * K * 16, [&](std::int64_t c) {
    double* dmu = partial.data() + c * width;
    double *dstd = dmu + K, *dmul = dstd + K, *dbias = dmul + E;
    const std::int64_t end = std::min(p.pairs, (c + 1) * kPairsPerChunk);
    for (std::int64_t i = c * kPairsPerChunk; i < end; ++i) {
      const C x = gaussian::input<C>(d[i], mul[e[i]], bias[e[i]]);
      const TP* dgi = dg + i * K;
      double dx = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        const C z = (x - kn.mu[k]) / kn.s[k];
        const double t = static_cast<double>(gaussian::cast<C>(dgi[k])) * gaussian::value(x, kn, k);
        const double tz = t * z / kn.s[k];
        dx -= tz;
        dmu[k] += tz;
        dstd[k] += kn.sign[k] * t * (static_cast<double>(z) * z - 1.0) / kn.s[k];
      }
      if (ddist) ddist[i] = gaussian::cast<TD>(dx * gaussian::mul_in_dist<TD>(mul[e[i]]));
      dmul[e[i]] += dx * static_cast<double>(static_cast<acc_t<TD>>(d[i]));
      dbias[e[i]] += dx;
    }
  });
  // Add the chunks up in chunk order, then write the parameter gradients.
  std::vector<double> total(static_cast<std::size_t>(width), 0.0);
  for (std::int64_t c = 0; c < chunks; ++c)
    for (std::int64_t n = 0; n < width; ++n) total[n] += partial[c * width + n];
  auto write = [&](const Tensor& t, std::int64_t from, std::int64_t count) {
    if (t.defined())
      for (std::int64_t n = 0; n < count; ++n) t.data<TP>()[n] = gaussian::cast<TP>(total[from + n]);
  };
  write(g.means, 0, K);
  write(g.stds, K, K);
  write(g.mul, 2 * K, E);
  write(g.bias, 2 * K + E, E);
}

}  // namespace molm::backend
