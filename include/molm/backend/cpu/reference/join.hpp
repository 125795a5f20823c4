// Reference concatenation: every element of every input copied to its place in the output, with the
// offsets recomputed from the multi-index each time.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/tensor.hpp"

#include <vector>

namespace molm::backend {

/// out = inputs laid end to end along `dim` (shapes already checked to agree elsewhere).
template <class T> void cat_forward(reference_t, const std::vector<Tensor>& inputs, int dim, const Tensor& out) {
  T* po = out.data<T>();
  std::int64_t start = 0;  // where the current input begins along dim
  for (const Tensor& x : inputs) {
    const T* px = x.data<T>();
    reference::for_each_index(x.shape(), [&](const auto& idx) {
      auto dst = idx;
      dst[static_cast<std::size_t>(dim)] += start;
      po[reference::offset_of(dst, out.strides())] = px[reference::offset_of(idx, x.strides())];
    });
    start += x.shape()[dim];
  }
}

}  // namespace molm::backend
