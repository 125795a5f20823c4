// Optimised dropout (OpenMP). Same mask as the reference: element i keeps or drops by the i-th word
// of the Philox stream (seed, offset). One Philox block yields the words of 4 consecutive elements,
// so a run draws a block only at every 4th position. Threads split the elements; since the mask is a
// pure function of the position, it is the same on any thread count.
#pragma once

#include "molm/core/device.hpp"
#include "molm/core/random.hpp"
#include "molm/tensor/iter.hpp"

namespace molm::backend {

template <class T>
void dropout_forward(cpu_t, const Tensor& x, std::uint64_t seed, std::uint64_t offset, double keep_prob, double scale,
                     const Tensor& out) {
  using A = acc_t<T>;
  const A s = static_cast<A>(scale);
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const molm::detail::LoopGeometry<2> g{x.shape(), {out.strides(), x.strides()}};
  // Philox costs far more than the multiply, so a smaller grain than a plain map's pays off.
  molm::detail::parallel_for_each_run<2>(
      molm::detail::coalesce(g),
      [&](const auto& off, std::int64_t n, const auto& st) {
        // out is dense, so its offset is the element's row-major position (and st[0] == 1).
        const auto first = static_cast<std::uint64_t>(off[0]);
        std::array<std::uint32_t, 4> words = philox4x32(seed, offset, first / 4);
        for (std::int64_t j = 0; j < n; ++j) {
          const std::uint64_t i = first + static_cast<std::uint64_t>(j);
          if (i % 4 == 0 && j > 0) words = philox4x32(seed, offset, i / 4);
          const bool kept = uniform01(words[i % 4]) < keep_prob;
          po[i] = static_cast<T>(kept ? static_cast<A>(px[off[1] + j * st[1]]) * s : A(0));
        }
      },
      8192);
}

}  // namespace molm::backend
