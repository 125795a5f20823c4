// Plain-loop helpers for the reference kernels: visit every index of a shape in row-major order,
// single-threaded, with the offset of each operand computed from scratch. Slow and obviously right.
#pragma once

#include "molm/core/shape.hpp"

#include <array>
#include <cstdint>

namespace molm::backend::reference {

/// Offset (in elements) of multi-index `idx` under `strides`.
inline std::int64_t offset_of(const std::array<std::int64_t, kMaxDims>& idx, const Shape& strides) {
  std::int64_t off = 0;
  for (int d = 0; d < strides.size(); ++d) off += idx[d] * strides[d];
  return off;
}

/// Call f(idx) for every multi-index of `shape`, last dimension fastest.
template <class F> void for_each_index(const Shape& shape, F&& f) {
  const std::int64_t n = shape.numel();
  std::array<std::int64_t, kMaxDims> idx{};
  for (std::int64_t lin = 0; lin < n; ++lin) {
    std::int64_t rem = lin;
    for (int d = shape.size() - 1; d >= 0; --d) {
      idx[d] = rem % shape[d];
      rem /= shape[d];
    }
    f(idx);
  }
}

}  // namespace molm::backend::reference
