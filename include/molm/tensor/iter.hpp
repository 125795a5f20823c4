// Strided N-d iteration shared by every elementwise-style kernel.
//
// A loop is described by one shape and, per operand, strides aligned to that shape (stride 0 on a
// broadcast dimension). Dimensions are coalesced first (extent-1 dims dropped, adjacent dims merged
// when every operand walks them contiguously), then the index space is cut into runs along the
// innermost dimension: the callback gets the operands' starting offsets, the run length and the
// operands' inner strides, so its inner loop is a plain (vectorisable) loop.
#pragma once

#include "molm/core/threads.hpp"
#include "molm/tensor/tensor.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <memory>
#include <type_traits>

namespace molm::detail {

template <int K> struct LoopGeometry {
  Shape shape;
  std::array<Shape, K> strides;
};

/// Strides of `t` aligned (right-justified) to `out_shape`; 0 where `t` is broadcast.
inline Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape s;
  const int off = out_shape.size() - t.dim();
  for (int i = 0; i < out_shape.size(); ++i) {
    const int j = i - off;
    s.push_back(j < 0 || t.shape()[j] == 1 ? 0 : t.strides()[j]);
  }
  return s;
}

/// Drop extent-1 dimensions and merge neighbours that every operand walks contiguously.
template <int K> LoopGeometry<K> coalesce(const LoopGeometry<K>& in) {
  LoopGeometry<K> g;
  for (int d = 0; d < in.shape.size(); ++d) {
    if (in.shape[d] == 1) continue;
    const int last = g.shape.size() - 1;
    bool merge = last >= 0;
    for (int k = 0; merge && k < K; ++k) merge = g.strides[k][last] == in.strides[k][d] * in.shape[d];
    if (merge) {
      g.shape[last] *= in.shape[d];
      for (int k = 0; k < K; ++k) g.strides[k][last] = in.strides[k][d];
    } else {
      g.shape.push_back(in.shape[d]);
      for (int k = 0; k < K; ++k) g.strides[k].push_back(in.strides[k][d]);
    }
  }
  return g;
}

/// The callback of a run walk behind a plain function pointer: the walk (for_each_run_erased and
/// its OpenMP split) is compiled once per operand count K, not once per kernel and dtype, which keeps
/// the code every elementwise kernel instantiates to its own inner loops. One indirect call per run.
template <int K> struct RunVisitor {
  using Offsets = std::array<std::int64_t, K>;
  void (*call)(void* f, const Offsets& off, std::int64_t n, const Offsets& s);
  void* f;

  template <class F> static RunVisitor of(F& f) {
    using Fn = std::remove_reference_t<F>;
    return {[](void* p, const Offsets& off, std::int64_t n, const Offsets& s) { (*static_cast<Fn*>(p))(off, n, s); },
            const_cast<void*>(static_cast<const void*>(std::addressof(f)))};
  }
  void operator()(const Offsets& off, std::int64_t n, const Offsets& s) const { call(f, off, n, s); }
};

/// Visit the linear index range [begin, end) of `g` as runs along the innermost dimension:
/// f(const std::array<int64_t,K>& offsets, int64_t run, const std::array<int64_t,K>& inner_strides).
template <int K>
void for_each_run_erased(const LoopGeometry<K>& g, std::int64_t begin, std::int64_t end, RunVisitor<K> f) {
  std::array<std::int64_t, K> off{}, inner{};
  const int nd = g.shape.size();
  if (begin >= end) return;
  if (nd == 0) {  // a single element
    f(off, std::int64_t{1}, inner);
    return;
  }
  std::array<std::int64_t, kMaxDims> idx{};
  std::int64_t rem = begin;
  for (int d = nd - 1; d >= 0; --d) {
    idx[d] = rem % g.shape[d];
    rem /= g.shape[d];
    for (int k = 0; k < K; ++k) off[k] += idx[d] * g.strides[k][d];
  }
  for (int k = 0; k < K; ++k) inner[k] = g.strides[k][nd - 1];
  const std::int64_t n_inner = g.shape[nd - 1];
  std::int64_t pos = begin;
  while (pos < end) {
    const std::int64_t run = std::min(n_inner - idx[nd - 1], end - pos);
    f(off, run, inner);
    pos += run;
    idx[nd - 1] += run;
    for (int k = 0; k < K; ++k) off[k] += run * inner[k];
    for (int d = nd - 1; d > 0 && idx[d] == g.shape[d]; --d) {
      for (int k = 0; k < K; ++k) off[k] -= g.shape[d] * g.strides[k][d] - g.strides[k][d - 1];
      idx[d] = 0;
      ++idx[d - 1];
    }
  }
}

/// for_each_run_erased with any callable (it must outlive the call).
template <int K, class F>
void for_each_run(const LoopGeometry<K>& g, std::int64_t begin, std::int64_t end, F&& f) {
  for_each_run_erased<K>(g, begin, end, RunVisitor<K>::of(f));
}

/// for_each_run over the whole space, split across OpenMP threads when it is large enough.
template <int K> void parallel_for_each_run_erased(const LoopGeometry<K>& g, RunVisitor<K> f, std::int64_t grain) {
  const std::int64_t n = g.shape.numel();
  const int threads = static_cast<int>(std::min<std::int64_t>(num_threads(), std::max<std::int64_t>(1, n / grain)));
  if (threads <= 1) {
    for_each_run_erased<K>(g, 0, n, f);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t b = n * t / nt, e = n * (t + 1) / nt;
    for_each_run_erased<K>(g, b, e, f);
  }
}

template <int K, class F>
void parallel_for_each_run(const LoopGeometry<K>& g, F&& f, std::int64_t grain = 32768) {
  parallel_for_each_run_erased<K>(g, RunVisitor<K>::of(f), grain);
}

/// Run `body(i)` for i in [0, n), in parallel when n * cost_per_item is large.
template <class F> void parallel_for(std::int64_t n, std::int64_t cost_per_item, F&& body) {
  const std::int64_t work = n * std::max<std::int64_t>(cost_per_item, 1);
  if (n <= 1 || work < 32768 || num_threads() <= 1) {
    for (std::int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (std::int64_t i = 0; i < n; ++i) body(i);
}

/// Run `body(begin, len)` over [0, n) cut into chunks of `chunk` elements (the last one shorter), in
/// parallel (parallel_for) when the chunks' work, `cost_per_element` each, is large.
template <class F>
void parallel_for_chunks(std::int64_t n, std::int64_t chunk, std::int64_t cost_per_element, F&& body) {
  parallel_for((n + chunk - 1) / chunk, chunk * cost_per_element, [&](std::int64_t c) {
    const std::int64_t begin = c * chunk;
    body(begin, std::min(chunk, n - begin));
  });
}

}  // namespace molm::detail
