// Reference gather and its scatter-add: one loop over every index position, offsets recomputed each
// time. embedding and index_select run on these too (ops/indexing.hpp turns them into a gather).
//
//   forward:  out[p] = x[p with coordinate `dim` replaced by index[p]]
//   backward: dx[p with coordinate `dim` replaced by index[p]] += dy[p]
// The backward visits index positions in row-major order, so each element of dx sums its
// contributions in ascending order along `dim`: the optimised kernel keeps that order exactly.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/tensor.hpp"

namespace molm::backend {

/// out (shape of index) = x gathered along `dim`. Index values are already range-checked.
template <class T, class I>
void gather_forward(reference_t, const Tensor& x, int dim, const Tensor& index, const Tensor& out) {
  const T* px = x.data<T>();
  const I* pi = index.data<I>();
  T* po = out.data<T>();
  reference::for_each_index(index.shape(), [&](const auto& idx) {
    auto src = idx;
    src[static_cast<std::size_t>(dim)] = static_cast<std::int64_t>(pi[reference::offset_of(idx, index.strides())]);
    po[reference::offset_of(idx, out.strides())] = px[reference::offset_of(src, x.strides())];
  });
}

/// dx_acc (dense, x's shape, accumulation type A, zero on entry) += dy scattered along `dim`;
/// positions whose index equals `skip` contribute nothing (embedding's padding row).
template <class T, class I, class A>
void gather_backward(reference_t, const Tensor& dy, int dim, const Tensor& index, std::int64_t skip,
                     const Tensor& dx_acc) {
  const T* pdy = dy.data<T>();
  const I* pi = index.data<I>();
  A* pdx = dx_acc.data<A>();
  reference::for_each_index(index.shape(), [&](const auto& idx) {
    const auto k = static_cast<std::int64_t>(pi[reference::offset_of(idx, index.strides())]);
    if (k == skip) return;
    auto dst = idx;
    dst[static_cast<std::size_t>(dim)] = k;
    pdx[reference::offset_of(dst, dx_acc.strides())] += static_cast<A>(pdy[reference::offset_of(idx, dy.strides())]);
  });
}

}  // namespace molm::backend
