// Optimised concatenation (OpenMP). One parallel region copies every input: each thread takes the
// same fraction of each input's elements, so many small inputs parallelise as well as one large one.
// Inside a thread, an input is walked in runs of its innermost coalesced dimension; a dense input
// against the dense output becomes one straight copy per outer row.
#pragma once

#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace molm::backend {

template <class T> void cat_forward(cpu_t, const std::vector<Tensor>& inputs, int dim, const Tensor& out) {
  // Per input: its loop geometry against the output, and where it starts in the output.
  std::vector<molm::detail::LoopGeometry<2>> geoms;
  std::vector<T*> dst;
  T* po = out.data<T>();
  std::int64_t start = 0;
  for (const Tensor& x : inputs) {
    geoms.push_back(molm::detail::coalesce(molm::detail::LoopGeometry<2>{x.shape(), {out.strides(), x.strides()}}));
    dst.push_back(po + start * out.strides()[dim]);
    start += x.shape()[dim];
  }
  auto copy_share = [&](std::int64_t part, std::int64_t parts) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::int64_t n = geoms[i].shape.numel();
      const T* px = inputs[i].template data<T>();
      T* o = dst[i];
      molm::detail::for_each_run<2>(geoms[i], n * part / parts, n * (part + 1) / parts,
                                    [&](const auto& off, std::int64_t len, const auto& s) {
                                      if (s[0] == 1 && s[1] == 1)
                                        std::copy(px + off[1], px + off[1] + len, o + off[0]);
                                      else
                                        for (std::int64_t j = 0; j < len; ++j) o[off[0] + j * s[0]] = px[off[1] + j * s[1]];
                                    });
    }
  };
  const int threads = static_cast<int>(
      std::min<std::int64_t>(molm::num_threads(), std::max<std::int64_t>(1, out.numel() / 32768)));
  if (threads <= 1) {
    copy_share(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  copy_share(omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace molm::backend
