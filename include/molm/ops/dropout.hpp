// Inverted dropout with a counter-based mask.
//
//   training:  y_i = m_i · x_i / (1-p),   m_i = [u_i < 1-p],   u_i = philox_uniform(seed, offset, i)
//              dx_i = m_i · dy_i / (1-p)
//   eval, or p == 0: y = x (the same tensor, so autograd passes dy straight through)
//   p == 1:    y = 0, dx = 0
// i is the row-major position of the element, so the mask is a pure function of (seed, offset, i):
// the same on any thread count and for any memory layout of x. The backward regenerates the mask from
// (seed, offset) instead of storing it: no extra memory, and the cost is one more Philox pass.
// Each call takes a fresh stream from the generator (Generator::next_offset(), the element index is
// the low half of Philox's 128-bit counter), so consecutive calls draw different masks and streams of
// any length never overlap.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/core/random.hpp"
#include "molm/autograd/node.hpp"
#include "molm/ops/map.hpp"

namespace molm {
namespace ops::detail {

/// x masked by the stream (seed, offset) and scaled, into a new dense tensor; no history.
inline Tensor dropout_apply(const Tensor& x, std::uint64_t seed, std::uint64_t offset, double keep_prob, double scale) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  backend::call<backend::Dropout>(x.device(), x.dtype(), x, seed, offset, keep_prob, scale, out);
  return out;
}

}  // namespace ops::detail

/// Zero each element of x with probability p and scale the others by 1/(1-p) when `training`;
/// otherwise return x unchanged. The mask comes from `gen`, whose offset advances by one stream.
inline Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  constexpr const char* op = "dropout";
  ops::detail::check_cpu(x, op);
  MOLM_CHECK(p >= 0.0 && p <= 1.0, op, "the drop probability must lie in [0, 1], got {} (input shape {})", p,
             x.shape().str());
  MOLM_CHECK(is_floating(x.dtype()), op, "needs a floating-point tensor, got {} (input shape {})", name(x.dtype()),
             x.shape().str());
  if (!training || p == 0.0) return x;

  const std::uint64_t seed = gen.seed(), offset = gen.next_offset();
  const double keep_prob = 1.0 - p, scale = p < 1.0 ? 1.0 / keep_prob : 0.0;
  Tensor y = ops::detail::dropout_apply(x, seed, offset, keep_prob, scale);
  if (autograd::any_requires_grad({&x}))
    autograd::record(op, {x}, {y}, [seed, offset, keep_prob, scale](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{ops::detail::dropout_apply(g[0], seed, offset, keep_prob, scale)};
    });
  return y;
}

}  // namespace molm
