// Reference dropout: one element at a time, each drawing its own Philox word.
//
//   out[i] = u_i < keep_prob ? x[i] * scale : 0,   u_i = philox_uniform(seed, offset, i)
// where i is the element's row-major position, so the mask does not depend on x's memory layout.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/core/random.hpp"
#include "molm/tensor/tensor.hpp"

namespace molm::backend {

/// out (dense, x's shape) = x masked by the stream (seed, offset) and scaled. Also the backward,
/// applied to dy: the same stream regenerates the same mask.
template <class T>
void dropout_forward(reference_t, const Tensor& x, std::uint64_t seed, std::uint64_t offset, double keep_prob,
                     double scale, const Tensor& out) {
  using A = acc_t<T>;
  const A s = static_cast<A>(scale);
  const T* px = x.data<T>();
  T* po = out.data<T>();
  std::uint64_t i = 0;
  reference::for_each_index(x.shape(), [&](const auto& idx) {
    const bool kept = philox_uniform(seed, offset, i++) < keep_prob;
    po[reference::offset_of(idx, out.strides())] =
        static_cast<T>(kept ? static_cast<A>(px[reference::offset_of(idx, x.strides())]) * s : A(0));
  });
}

}  // namespace molm::backend
