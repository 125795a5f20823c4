// Optimised layer_norm and rms_norm over the last dimension (forward and backward). Rows run in
// parallel on per-thread scratch rows of acc_t<T>; weight and bias are converted to acc_t<T> once.
// Row bodies are plain `#pragma omp simd` loops (those between built-in types: a 16-bit float
// conversion branches and would not vectorise), compiled also for AVX-512 and run that way where the
// CPU has it (run_rows_vectorised, rows.hpp).
// dweight/dbias are sums over rows: each thread keeps double partial sums, added in thread order at
// the end so the result does not depend on scheduling. The maths is in ops/normalization.hpp.
#pragma once

#include "molm/backend/cpu/rows.hpp"
#include "molm/core/device.hpp"

#include <cmath>
#include <vector>

namespace molm::backend {
namespace norm_detail {

/// t (a 1-d [C] tensor, any stride) as acc_t<T> values; all ones when t is undefined.
template <class T> std::vector<acc_t<T>> load_param(const Tensor& t, std::int64_t C, double fill) {
  std::vector<acc_t<T>> v(static_cast<std::size_t>(C), static_cast<acc_t<T>>(fill));
  if (!t.defined()) return v;
  const T* p = t.data<T>();
  const std::int64_t s = t.stride(0);
  for (std::int64_t j = 0; j < C; ++j) v[static_cast<std::size_t>(j)] = static_cast<acc_t<T>>(p[j * s]);
  return v;
}

/// Per-thread [C] partial sums in double, reduced in thread order into a [C] tensor of T.
struct ColumnPartials {
  std::vector<std::vector<double>> part;
  ColumnPartials(int threads, std::int64_t C)
      : part(static_cast<std::size_t>(threads), std::vector<double>(static_cast<std::size_t>(C), 0.0)) {}
  double* of(int thread) { return part[static_cast<std::size_t>(thread)].data(); }
  template <class T> void write(const Tensor& out) const {
    T* p = out.data<T>();
    for (std::int64_t j = 0; j < out.numel(); ++j) {
      double s = 0;
      for (const auto& t : part) s += t[static_cast<std::size_t>(j)];
      p[j] = static_cast<T>(static_cast<acc_t<T>>(s));
    }
  }
};

/// Σ f(z[j]) over a row of C values in four independent accumulators (four contiguous quarters,
/// then the remainder): one vector accumulator makes every add wait for the one before it (a
/// latency-bound chain, measured as most of LayerNorm's forward); four keep the adders busy.
template <class A, class F> A row_sum4(const A* z, std::int64_t C, F f) {
  const std::int64_t q = C / 4;
  A s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
  for (std::int64_t j = 0; j < q; ++j) {
    s0 += f(z[j]);
    s1 += f(z[j + q]);
    s2 += f(z[j + 2 * q]);
    s3 += f(z[j + 3 * q]);
  }
  A rest = 0;
  for (std::int64_t j = 4 * q; j < C; ++j) rest += f(z[j]);
  return ((s0 + s1) + (s2 + s3)) + rest;
}

}  // namespace norm_detail

/// y = (x − mean) · rstd · w + b per row; also writes mean and rstd ([rows], acc_t<T> dtype).
template <class T>
void layer_norm_forward(cpu_t, const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y,
                        const Tensor& mean, const Tensor& rstd) {
  using A = acc_t<T>;
  const std::int64_t C = x.shape().back();
  const RowLayout lx = row_layout(x, x.shape());
  const std::vector<A> wv = norm_detail::load_param<T>(w, C, 1.0), bv = norm_detail::load_param<T>(b, C, 0.0);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  A* pmean = mean.data<A>();
  A* prstd = rstd.data<A>();
  const std::int64_t R = lx.rows();
  const int threads = row_threads(R, C);
  std::vector<std::vector<A>> scratch(static_cast<std::size_t>(threads), std::vector<A>(static_cast<std::size_t>(C)));

  run_rows_vectorised(R, threads, [&](std::int64_t r, int t) {
    // The row in acc_t<T>: read in place when it already is (contiguous f32/f64), else converted.
    A* scratch_row = scratch[static_cast<std::size_t>(t)].data();
    const A* z = scratch_row;
    if constexpr (std::is_same_v<T, A>)
      if (lx.inner_stride == 1) z = px + lx.row_offset(r);
    if (z == scratch_row) load_row(scratch_row, px + lx.row_offset(r), lx.inner_stride, C);
    // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] − E[x]².
    const A mu = norm_detail::row_sum4(z, C, [](A v) { return v; }) / static_cast<A>(C);
    const A ss = norm_detail::row_sum4(z, C, [mu](A v) { return (v - mu) * (v - mu); });
    const A rs = A(1) / std::sqrt(ss / static_cast<A>(C) + static_cast<A>(eps));
    T* yr = py + r * C;
    const A* w_ = wv.data();
    const A* b_ = bv.data();
    if constexpr (std::is_same_v<T, A>) {
#pragma omp simd
      for (std::int64_t j = 0; j < C; ++j) yr[j] = (z[j] - mu) * rs * w_[j] + b_[j];
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < C; ++j) scratch_row[j] = (z[j] - mu) * rs * w_[j] + b_[j];
      convert_row(yr, scratch_row, C);
    }
    pmean[r] = mu;
    prstd[r] = rs;
  });
}

/// dx = rstd · (g − mean(g) − x̂ · mean(g · x̂)) with g = dy · w, x̂ = (x − mean) · rstd;
/// dw = Σ_rows dy · x̂, db = Σ_rows dy. Any of dx, dw, db may be undefined (not wanted).
template <class T>
void layer_norm_backward(cpu_t, const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dx, const Tensor& dw, const Tensor& db) {
  using A = acc_t<T>;
  const Shape& shape = x.shape();
  const std::int64_t C = shape.back();
  const RowLayout lx = row_layout(x, shape), ld = row_layout(dy, shape);
  const std::vector<A> wv = norm_detail::load_param<T>(w, C, 1.0);
  const T* px = x.data<T>();
  const T* pd = dy.data<T>();
  const A* pmean = mean.data<A>();
  const A* prstd = rstd.data<A>();
  T* pdx = dx.defined() ? dx.data<T>() : nullptr;
  const std::int64_t R = lx.rows();
  const int threads = row_threads(R, C);
  std::vector<std::vector<A>> scratch(static_cast<std::size_t>(threads),
                                      std::vector<A>(static_cast<std::size_t>(2 * C)));
  norm_detail::ColumnPartials dw_part(dw.defined() ? threads : 0, C), db_part(db.defined() ? threads : 0, C);

  run_rows_vectorised(R, threads, [&](std::int64_t r, int t) {
    A* xh = scratch[static_cast<std::size_t>(t)].data();
    A* g = xh + C;
    load_row(xh, px + lx.row_offset(r), lx.inner_stride, C);
    load_row(g, pd + ld.row_offset(r), ld.inner_stride, C);
    const A mu = pmean[r], rs = prstd[r];
#pragma omp simd
    for (std::int64_t j = 0; j < C; ++j) xh[j] = (xh[j] - mu) * rs;
    if (dw.defined()) {
      double* acc = dw_part.of(t);
#pragma omp simd
      for (std::int64_t j = 0; j < C; ++j) acc[j] += static_cast<double>(g[j] * xh[j]);
    }
    if (db.defined()) {
      double* acc = db_part.of(t);
#pragma omp simd
      for (std::int64_t j = 0; j < C; ++j) acc[j] += static_cast<double>(g[j]);
    }
    const A* w_ = wv.data();
    if (!pdx) return;
    A s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
    for (std::int64_t j = 0; j < C; ++j) {
      s1 += g[j] * w_[j];
      s2 += g[j] * w_[j] * xh[j];
    }
    const A m1 = s1 / static_cast<A>(C), m2 = s2 / static_cast<A>(C);
#pragma omp simd
    for (std::int64_t j = 0; j < C; ++j) g[j] = rs * (g[j] * w_[j] - m1 - xh[j] * m2);
    convert_row(pdx + r * C, g, C);
  });
  if (dw.defined()) dw_part.write<T>(dw);
  if (db.defined()) db_part.write<T>(db);
}

/// y = w · T(x · rstd), rstd = 1/sqrt(mean(x²) + eps); the normalised value is rounded to T
/// before the weight multiply, as HF LlamaRMSNorm does. Also writes rstd ([rows], acc_t<T>).
template <class T>
void rms_norm_forward(cpu_t, const Tensor& x, const Tensor& w, double eps, const Tensor& y, const Tensor& rstd) {
  using A = acc_t<T>;
  const std::int64_t C = x.shape().back();
  const RowLayout lx = row_layout(x, x.shape());
  const std::vector<A> wv = norm_detail::load_param<T>(w, C, 1.0);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  A* prstd = rstd.data<A>();
  const std::int64_t R = lx.rows();
  const int threads = row_threads(R, C);
  std::vector<std::vector<A>> scratch(static_cast<std::size_t>(threads), std::vector<A>(static_cast<std::size_t>(C)));

  run_rows_vectorised(R, threads, [&](std::int64_t r, int t) {
    A* z = scratch[static_cast<std::size_t>(t)].data();
    load_row(z, px + lx.row_offset(r), lx.inner_stride, C);
    A ss = 0;
#pragma omp simd reduction(+ : ss)
    for (std::int64_t j = 0; j < C; ++j) ss += z[j] * z[j];
    const A rs = A(1) / std::sqrt(ss / static_cast<A>(C) + static_cast<A>(eps));
    T* yr = py + r * C;
    const A* w_ = wv.data();
    for (std::int64_t j = 0; j < C; ++j) yr[j] = static_cast<T>(w_[j] * static_cast<A>(static_cast<T>(z[j] * rs)));
    prstd[r] = rs;
  });
}

/// dx = rstd · (g − h · mean(g · h)) with g = dy · w, h = x · rstd;  dw = Σ_rows dy · T(h).
template <class T>
void rms_norm_backward(cpu_t, const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                       const Tensor& dx, const Tensor& dw) {
  using A = acc_t<T>;
  const Shape& shape = x.shape();
  const std::int64_t C = shape.back();
  const RowLayout lx = row_layout(x, shape), ld = row_layout(dy, shape);
  const std::vector<A> wv = norm_detail::load_param<T>(w, C, 1.0);
  const T* px = x.data<T>();
  const T* pd = dy.data<T>();
  const A* prstd = rstd.data<A>();
  T* pdx = dx.defined() ? dx.data<T>() : nullptr;
  const std::int64_t R = lx.rows();
  const int threads = row_threads(R, C);
  std::vector<std::vector<A>> scratch(static_cast<std::size_t>(threads),
                                      std::vector<A>(static_cast<std::size_t>(2 * C)));
  norm_detail::ColumnPartials dw_part(dw.defined() ? threads : 0, C);

  run_rows_vectorised(R, threads, [&](std::int64_t r, int t) {
    A* h = scratch[static_cast<std::size_t>(t)].data();
    A* g = h + C;
    load_row(h, px + lx.row_offset(r), lx.inner_stride, C);
    load_row(g, pd + ld.row_offset(r), ld.inner_stride, C);
    const A rs = prstd[r];
#pragma omp simd
    for (std::int64_t j = 0; j < C; ++j) h[j] *= rs;
    const A* w_ = wv.data();
    if (dw.defined()) {
      double* acc = dw_part.of(t);
      for (std::int64_t j = 0; j < C; ++j)
        acc[j] += static_cast<double>(g[j] * static_cast<A>(static_cast<T>(h[j])));
    }
    if (!pdx) return;
    A s = 0;
#pragma omp simd reduction(+ : s)
    for (std::int64_t j = 0; j < C; ++j) s += g[j] * w_[j] * h[j];
    const A m = s / static_cast<A>(C);
    T* out = pdx + r * C;
    for (std::int64_t j = 0; j < C; ++j) out[j] = static_cast<T>(rs * (g[j] * w_[j] - h[j] * m));
  });
  if (dw.defined()) dw_part.write<T>(dw);
}

}  // namespace molm::backend
