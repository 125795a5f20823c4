// Reduction kernels of the CPU backends: sum (scaled, for mean), max with the first argmax, and the
// scatter max's backward needs. Tag is cpu_t (outputs in parallel, inner elements walked in runs,
// column blocks for bias-gradient-shaped sums) or reference_t (one plain loop per output).
// Float sums accumulate in double (f32/f64) or float (bf16/f16); NaN propagates through max.
#pragma once

#include "molm/backend/cpu/kernels/avx512.hpp"
#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/backend/kernels.hpp"
#include "molm/tensor/iter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace molm::backend::reduce {

/// Accumulator type of a sum: double for float, float for the 16-bit floats, int64 for integers.
template <class T>
using sum_acc_t = std::conditional_t<std::is_same_v<T, float> || std::is_same_v<T, double>, double,
                                     std::conditional_t<is_floating_v<T>, float, std::int64_t>>;

/// Geometry splitting x into (outer = kept dims) x (inner = reduced dims).
struct RowGeometry {
  Shape outer_shape, outer_strides, inner_shape, inner_strides;
};
inline RowGeometry split_rows(const Tensor& x, const std::vector<bool>& reduced) {
  RowGeometry g;
  for (int i = 0; i < x.dim(); ++i) {
    if (reduced[static_cast<std::size_t>(i)]) {
      g.inner_shape.push_back(x.shape()[i]);
      g.inner_strides.push_back(x.strides()[i]);
    } else {
      g.outer_shape.push_back(x.shape()[i]);
      g.outer_strides.push_back(x.strides()[i]);
    }
  }
  return g;
}

/// Reduce x into `out` (dense) with init/step/finish functors per output element.
template <class Tag, class T, class TO, class Init, class Step, class Finish>
void reduce_into(const Tensor& x, const std::vector<bool>& reduced, const Tensor& out, Init init, Step step,
                 Finish finish) {
  const RowGeometry g = split_rows(x, reduced);
  const T* px = x.data<T>();
  TO* po = out.data<TO>();
  const std::int64_t n_out = g.outer_shape.numel();
  const std::int64_t n_in = g.inner_shape.numel();
  if constexpr (std::is_same_v<Tag, reference_t>) {
    std::int64_t o = 0;
    reference::for_each_index(g.outer_shape, [&](const auto& oi) {
      auto acc = init();
      const std::int64_t base = reference::offset_of(oi, g.outer_strides);
      reference::for_each_index(g.inner_shape, [&](const auto& ii) {
        step(acc, px[base + reference::offset_of(ii, g.inner_strides)]);
      });
      po[o++] = finish(acc);
    });
  } else {
    const molm::detail::LoopGeometry<1> inner =
        molm::detail::coalesce(molm::detail::LoopGeometry<1>{g.inner_shape, {g.inner_strides}});
    molm::detail::parallel_for(n_out, n_in, [&](std::int64_t o) {
      std::int64_t rem = o, base = 0;
      for (int d = g.outer_shape.size() - 1; d >= 0; --d) {
        base += (rem % g.outer_shape[d]) * g.outer_strides[d];
        rem /= g.outer_shape[d];
      }
      auto acc = init();
      molm::detail::for_each_run<1>(inner, 0, n_in, [&](const auto& off, std::int64_t n, const auto& s) {
        const T* row = px + base + off[0];
        if (s[0] == 1)
          for (std::int64_t i = 0; i < n; ++i) step(acc, row[i]);
        else
          for (std::int64_t i = 0; i < n; ++i) step(acc, row[i * s[0]]);
      });
      po[o] = finish(acc);
    });
  }
}

/// The rows-then-columns shape of a contiguous x whose reduced dims are exactly its leading ones
/// (a bias gradient: [rows, out] summed over rows): {R, C}, or {0, 0} when x is not like that.
inline std::pair<std::int64_t, std::int64_t> leading_reduction(const Tensor& x, const std::vector<bool>& reduced) {
  if (!x.is_contiguous() || x.dim() < 2) return {0, 0};
  int k = 0;
  while (k < x.dim() && reduced[static_cast<std::size_t>(k)]) ++k;
  if (k == 0 || k == x.dim()) return {0, 0};
  for (int i = k; i < x.dim(); ++i)
    if (reduced[static_cast<std::size_t>(i)]) return {0, 0};
  std::int64_t R = 1, C = 1;
  for (int i = 0; i < k; ++i) R *= x.shape()[i];
  for (int i = k; i < x.dim(); ++i) C *= x.shape()[i];
  return {R, C};
}

/// Column sums of a contiguous [R, C]: each output accumulates its rows in order 0 … R-1 — the
/// order reduce_into uses, so the result is bit-identical — but a task walks a block of columns
/// row by row, reading memory contiguously instead of striding down one column at a time.
template <class T, class A, class Finish>
void column_sums(const T* x, std::int64_t R, std::int64_t C, T* out, Finish finish) {
  constexpr std::int64_t kBlock = 256;
  const std::int64_t blocks = (C + kBlock - 1) / kBlock;
  molm::detail::parallel_for(blocks, R * kBlock, [&](std::int64_t b) {
    const std::int64_t c0 = b * kBlock, n = std::min(kBlock, C - c0);
    A acc[kBlock];
    for (std::int64_t j = 0; j < n; ++j) acc[j] = A{0};
    for (std::int64_t r = 0; r < R; ++r) {
      const T* row = x + r * C + c0;
      for (std::int64_t j = 0; j < n; ++j) acc[j] += static_cast<A>(static_cast<acc_t<T>>(row[j]));
    }
    for (std::int64_t j = 0; j < n; ++j) out[c0 + j] = finish(acc[j]);
  });
}

/// Σ of one chunk in kLanes interleaved accumulators (lane j takes elements j, j+kLanes, …), the
/// lanes then added in order. Independent chains: the compiler vectorises them without reordering
/// any addition, so every instruction set gives the same bits.
inline constexpr std::int64_t kSumLanes = 16;
#define MOLM_CHUNK_SUM_BODY                                                                 \
  const std::int64_t body = len - len % kSumLanes;                                          \
  A lane[kSumLanes] = {};                                                                   \
  for (std::int64_t i = 0; i < body; i += kSumLanes)                                        \
    for (std::int64_t j = 0; j < kSumLanes; ++j) lane[j] += static_cast<A>(static_cast<acc_t<T>>(p[i + j])); \
  A total = 0;                                                                              \
  for (std::int64_t j = 0; j < kSumLanes; ++j) total += lane[j];                            \
  for (std::int64_t i = body; i < len; ++i) total += static_cast<A>(static_cast<acc_t<T>>(p[i])); \
  return total;

template <class T, class A> A chunk_sum(const T* p, std::int64_t len) { MOLM_CHUNK_SUM_BODY }
#ifdef MOLM_HAVE_AVX512_KERNELS
/// The same loop compiled for AVX-512 (8 floats widened to 8 doubles per instruction), chosen at
/// run time where the CPU has it; the library itself stays baseline x86-64.
MOLM_AVX512 inline double chunk_sum_f32_avx512(const float* p, std::int64_t len) {
  using T = float;
  using A = double;
  MOLM_CHUNK_SUM_BODY
}
#endif
#undef MOLM_CHUNK_SUM_BODY

/// Σ of a contiguous run of n elements on every thread, deterministically: the run is cut into
/// chunks of a fixed size (not a fixed count), each summed by chunk_sum, and the chunk sums are added
/// in chunk order. The result is the same for any thread count and any instruction set.
template <class T, class A> A sum_contiguous(const T* x, std::int64_t n) {
  constexpr std::int64_t kChunk = std::int64_t{1} << 16;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<A> partial(static_cast<std::size_t>(chunks));
  molm::detail::parallel_for(chunks, kChunk, [&](std::int64_t c) {
    const T* p = x + c * kChunk;
    const std::int64_t len = std::min(kChunk, n - c * kChunk);
#ifdef MOLM_HAVE_AVX512_KERNELS
    if constexpr (std::is_same_v<T, float> && std::is_same_v<A, double>)
      if (cpu_has_avx512()) {
        partial[static_cast<std::size_t>(c)] = chunk_sum_f32_avx512(p, len);
        return;
      }
#endif
    partial[static_cast<std::size_t>(c)] = chunk_sum<T, A>(p, len);
  });
  A total = 0;
  for (A v : partial) total += v;
  return total;
}

template <class Tag, class T> void sum(const Tensor& x, const std::vector<bool>& reduced, double scale, const Tensor& out) {
  using A = sum_acc_t<T>;
  if constexpr (std::is_same_v<Tag, cpu_t> && is_floating_v<T>) {
    // A whole-tensor sum (one output): all threads, fixed chunking (sum_contiguous).
    if (out.numel() == 1 && x.is_contiguous() && x.numel() >= (std::int64_t{1} << 16)) {
      const A total = sum_contiguous<T, A>(x.data<T>(), x.numel());
      out.data<T>()[0] = static_cast<T>(static_cast<acc_t<T>>(static_cast<double>(total) * scale));
      return;
    }
  }
  if constexpr (is_floating_v<T>) {  // f32, f64, and bf16/f16 (a bias gradient under autocast)
    if constexpr (std::is_same_v<Tag, cpu_t>) {
      const auto rc = leading_reduction(x, reduced);
      if (rc.first > 1 && rc.second >= 16) {
        column_sums<T, A>(x.data<T>(), rc.first, rc.second, out.data<T>(), [scale](A a) {
          return static_cast<T>(static_cast<acc_t<T>>(static_cast<double>(a) * scale));
        });
        return;
      }
    }
  }
  reduce_into<Tag, T, T>(
      x, reduced, out, [] { return A{0}; }, [](A& a, T v) { a += static_cast<A>(static_cast<acc_t<T>>(v)); },
      [scale](A a) {
        (void)scale;  // unused for integers (clang warns about the capture otherwise)
        if constexpr (std::is_integral_v<T>) return static_cast<T>(a);
        else return static_cast<T>(static_cast<acc_t<T>>(static_cast<double>(a) * scale));
      });
}

template <class T> struct MaxAcc {
  acc_t<T> v;
  std::int64_t i;  // inner position of the next element
  std::int64_t k;  // inner position of the maximum so far; -1 before the first element
};

template <class Tag, class T>
void max(const Tensor& x, const std::vector<bool>& reduced, const Tensor& values, const Tensor& index) {
  using A = acc_t<T>;
  // The accumulator tracks the running maximum, its position k, and the inner position i.
  auto init = [] { return MaxAcc<T>{std::numeric_limits<A>::lowest(), /*i=*/0, /*k=*/-1}; };
  auto step = [](MaxAcc<T>& a, T v) {
    const A x = static_cast<A>(v);
    if constexpr (std::is_floating_point_v<A>) {
      if (!(std::isnan(a.v) && a.k >= 0) && (a.k < 0 || x > a.v || std::isnan(x))) {
        a.v = x;
        a.k = a.i;
      }
    } else if (a.k < 0 || x > a.v) {
      a.v = x;
      a.k = a.i;
    }
    ++a.i;
  };
  reduce_into<Tag, T, T>(x, reduced, values, init, step, [](const MaxAcc<T>& a) { return static_cast<T>(a.v); });
  if (index.defined())
    reduce_into<Tag, T, std::int64_t>(x, reduced, index, init, step, [](const MaxAcc<T>& a) { return a.k; });
}

/// dx[.., index, ..] = dy along `dim` (one plain loop: it writes one element per output).
template <class T> void max_backward(const Tensor& dy, const Tensor& index, int dim, const Tensor& dx) {
  T* pdx = dx.data<T>();
  const T* pdy = dy.data<T>();
  const std::int64_t* pi = index.data<std::int64_t>();
  const Shape st = dx.strides(), dense = contiguous_strides(dy.shape());
  reference::for_each_index(dy.shape(), [&](const auto& idx) {
    const std::int64_t o = reference::offset_of(idx, dense);
    pdx[reference::offset_of(idx, st) + pi[o] * st[dim]] = pdy[o];
  });
}

}  // namespace molm::backend::reduce
