// Optimised gather and its scatter-add (OpenMP). embedding and index_select run on these too: they
// are gathers whose index is broadcast (stride 0) along the copied dimensions.
//
// forward: the output's index space is split across threads and walked in runs of the innermost
// coalesced dimension. When the index is constant along a run (embedding, index_select) the run
// is one strided row copy.
//
// backward: a scatter-add, made race-free and deterministic by partitioning the *destination*.
// Two index positions can only write the same dx element when they agree on every coordinate but
// `dim`, so the work is split into tasks over (outer coordinates × a chunk of inner coordinates)
// and each task walks `dim` in ascending order. Every dx element therefore sums its contributions
// in the same order as the reference loop, whatever the thread count: results are bit-identical.
#pragma once

#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

#include <algorithm>

namespace molm::backend {

template <class T, class I>
void gather_forward(cpu_t, const Tensor& x, int dim, const Tensor& index, const Tensor& out) {
  // x's stride along `dim` is zeroed in the loop geometry: the index supplies that coordinate.
  Shape xs = x.strides();
  const std::int64_t x_dim_stride = xs[dim];
  xs[dim] = 0;
  const molm::detail::LoopGeometry<3> g{index.shape(), {out.strides(), index.strides(), xs}};
  const T* px = x.data<T>();
  const I* pi = index.data<I>();
  T* po = out.data<T>();
  molm::detail::parallel_for_each_run<3>(molm::detail::coalesce(g), [&](const auto& off, std::int64_t n,
                                                                        const auto& s) {
    T* o = po + off[0];
    const I* ip = pi + off[1];
    const T* xb = px + off[2];
    if (s[1] == 0) {  // one index for the whole run: copy a row of x
      const T* src = xb + static_cast<std::int64_t>(ip[0]) * x_dim_stride;
      if (s[0] == 1 && s[2] == 1) std::copy(src, src + n, o);
      else
        for (std::int64_t i = 0; i < n; ++i) o[i * s[0]] = src[i * s[2]];
    } else {
      for (std::int64_t i = 0; i < n; ++i)
        o[i * s[0]] = xb[i * s[2] + static_cast<std::int64_t>(ip[i * s[1]]) * x_dim_stride];
    }
  });
}

template <class T, class I, class A>
void gather_backward(cpu_t, const Tensor& dy, int dim, const Tensor& index, std::int64_t skip, const Tensor& dx_acc) {
  const Shape& shape = index.shape();
  const Shape &sdx = dx_acc.strides(), &sdy = dy.strides(), &si = index.strides();
  // Split the coordinates into outer (before dim), the scattered one, and inner (after dim).
  Shape outer_shape, inner_shape;
  std::array<Shape, 3> outer_strides, inner_strides;  // per operand: dx, dy, index
  for (int d = 0; d < shape.size(); ++d) {
    if (d == dim) continue;
    Shape& ext = d < dim ? outer_shape : inner_shape;
    auto& st = d < dim ? outer_strides : inner_strides;
    ext.push_back(shape[d]);
    st[0].push_back(sdx[d]);
    st[1].push_back(sdy[d]);
    st[2].push_back(si[d]);
  }
  const molm::detail::LoopGeometry<3> inner = molm::detail::coalesce(molm::detail::LoopGeometry<3>{inner_shape, inner_strides});
  const std::int64_t n_outer = outer_shape.numel(), n_inner = inner_shape.numel(), len = shape[dim];
  if (n_outer * n_inner * len == 0) return;

  // Enough tasks to keep every thread busy, but chunks of at least 16 inner elements. The partition
  // changes no sum's order, so it may depend on the thread count.
  const std::int64_t want = 4 * static_cast<std::int64_t>(num_threads());
  const std::int64_t chunks = std::clamp<std::int64_t>((want + n_outer - 1) / n_outer, 1, (n_inner + 15) / 16);
  const std::int64_t chunk = (n_inner + chunks - 1) / chunks;

  const T* pdy = dy.data<T>();
  const I* pi = index.data<I>();
  A* pdx = dx_acc.data<A>();
  const std::int64_t dx_dim_stride = sdx[dim];
  molm::detail::parallel_for(n_outer * chunks, len * chunk, [&](std::int64_t task) {
    // Offsets of this task's outer coordinates in each operand.
    std::array<std::int64_t, 3> base{};
    std::int64_t rem = task / chunks;
    for (int d = outer_shape.size() - 1; d >= 0; --d) {
      const std::int64_t c = rem % outer_shape[d];
      rem /= outer_shape[d];
      for (std::size_t k = 0; k < 3; ++k) base[k] += c * outer_strides[k][d];
    }
    const std::int64_t b = (task % chunks) * chunk, e = std::min(b + chunk, n_inner);
    for (std::int64_t j = 0; j < len; ++j) {  // ascending along dim: the reference's order
      A* dxb = pdx + base[0];
      const T* dyb = pdy + base[1] + j * sdy[dim];
      const I* ib = pi + base[2] + j * si[dim];
      molm::detail::for_each_run<3>(inner, b, e, [&](const auto& off, std::int64_t n, const auto& s) {
        const I* ip = ib + off[2];
        const T* g = dyb + off[1];
        if (s[2] == 0) {  // one index for the run: add a row of dy into a row of dx
          const auto k = static_cast<std::int64_t>(ip[0]);
          if (k == skip) return;
          A* row = dxb + off[0] + k * dx_dim_stride;
          if (s[0] == 1 && s[1] == 1)
            for (std::int64_t i = 0; i < n; ++i) row[i] += static_cast<A>(g[i]);
          else
            for (std::int64_t i = 0; i < n; ++i) row[i * s[0]] += static_cast<A>(g[i * s[1]]);
        } else {
          for (std::int64_t i = 0; i < n; ++i) {
            const auto k = static_cast<std::int64_t>(ip[i * s[2]]);
            if (k != skip) dxb[off[0] + i * s[0] + k * dx_dim_stride] += static_cast<A>(g[i * s[1]]);
          }
        }
      });
    }
  });
}

}  // namespace molm::backend
