// The CPU backends register their kernels: `cpu` (oneDNN primitives, OpenMP loops; backend/cpu/
// kernels/, onednn/) and `reference` (plain single-threaded loops; backend/cpu/reference/), each for
// every dtype it supports. This is the only file that instantiates the kernel templates.
//
// Header-only use (the default): <molm/molm.hpp> includes this file and the kernels register when the
// program starts. Compiled use (MOLM_COMPILED, CMake target molm::compiled): the library compiles
// this file once and consumers see only the declaration of register_cpu_backends(), so a file that
// includes <molm/molm.hpp> no longer compiles any kernel.
#pragma once

#include "molm/backend/kernels.hpp"

// The kernels are visible in header-only mode and to the library's own translation unit.
#if !defined(MOLM_COMPILED) || defined(MOLM_BUILDING_LIBRARY)
#define MOLM_CPU_KERNELS_VISIBLE 1
#else
#define MOLM_CPU_KERNELS_VISIBLE 0
#endif

#if MOLM_CPU_KERNELS_VISIBLE
#include "molm/backend/cpu/elementwise.hpp"
#include "molm/backend/cpu/reduce.hpp"
#include "molm/backend/cpu/kernels/attention.hpp"
#include "molm/backend/cpu/kernels/dropout.hpp"
#include "molm/backend/cpu/kernels/gaussian.hpp"
#include "molm/backend/cpu/kernels/indexing.hpp"
#include "molm/backend/cpu/kernels/join.hpp"
#include "molm/backend/cpu/kernels/loss.hpp"
#include "molm/backend/cpu/kernels/matmul.hpp"
#include "molm/backend/cpu/kernels/normalization.hpp"
#include "molm/backend/cpu/kernels/rotary.hpp"
#include "molm/backend/cpu/kernels/softmax.hpp"
#include "molm/backend/cpu/reference/attention.hpp"
#include "molm/backend/cpu/reference/dropout.hpp"
#include "molm/backend/cpu/reference/gaussian.hpp"
#include "molm/backend/cpu/reference/indexing.hpp"
#include "molm/backend/cpu/reference/join.hpp"
#include "molm/backend/cpu/reference/loss.hpp"
#include "molm/backend/cpu/reference/matmul.hpp"
#include "molm/backend/cpu/reference/normalization.hpp"
#include "molm/backend/cpu/reference/rotary.hpp"
#include "molm/backend/cpu/reference/softmax.hpp"
#endif

namespace molm::backend {

/// Fill the kernel tables of the `cpu` and `reference` backends. Idempotent; returns true.
#ifdef MOLM_COMPILED
bool register_cpu_backends();  // defined in the compiled library
#else
inline bool register_cpu_backends();
#endif

#if MOLM_CPU_KERNELS_VISIBLE
namespace cpu_registration {

template <class... T> struct types {};
using all_types = types<float, double, bfloat16, float16, std::int64_t, std::int32_t, std::uint8_t, bool>;
using floating_types = types<float, double, bfloat16, float16>;
using summable_types = types<float, double, bfloat16, float16, std::int64_t, std::int32_t, std::uint8_t>;

/// f.template operator()<T>() for each T of the list.
template <class... T, class F> void each(types<T...>, F&& f) { (f.template operator()<T>(), ...); }

/// Run f(type_tag<I>) for the index dtype of `index` (i64 or i32).
template <class F> void with_index(const Tensor& index, const char* op, F&& f) { visit_index(index.dtype(), op, f); }

template <class Tag> void register_all(BackendId b) {
  using namespace molm::backend;
  each(all_types{}, [&]<class T>() {
    const DType d = dtype_of<T>;
    register_kernel<Fill>(b, d, [](const Tensor& out, double v) { elementwise::fill<Tag, T>(out, v); });
    register_kernel<Copy>(b, d, [](const Tensor& s, const Tensor& o) { elementwise::copy<Tag, T>(s, o); });
    register_kernel<Unary>(b, d, [](UnaryOp op, const Tensor& x, const Tensor& y, double s) {
      elementwise::unary<Tag, T>(op, x, y, s);
    });
    register_kernel<Binary>(b, d, [](BinaryOp op, const Tensor& x, const Tensor& y, const Tensor& o) {
      elementwise::binary<Tag, T>(op, x, y, o);
    });
    register_kernel<Where>(b, d, [](const Tensor& c, const Tensor& x, const Tensor& y, const Tensor& o) {
      elementwise::where<Tag, T>(c, x, y, o);
    });
    register_kernel<MaskedFill>(b, d, [](const Tensor& x, const Tensor& m, bool when, double v, const Tensor& o) {
      elementwise::masked_fill<Tag, T>(x, m, when, v, o);
    });
    register_kernel<Max>(b, d, [](const Tensor& x, const std::vector<bool>& r, const Tensor& v, const Tensor& i) {
      reduce::max<Tag, T>(x, r, v, i);
    });
    register_kernel<Cat>(b, d, [](const std::vector<Tensor>& xs, int dim, const Tensor& o) {
      cat_forward<T>(Tag{}, xs, dim, o);
    });
    register_kernel<GatherForward>(b, d, [](const Tensor& x, int dim, const Tensor& index, const Tensor& o) {
      with_index(index, "gather", [&](auto it) { gather_forward<T, typename decltype(it)::type>(Tag{}, x, dim, index, o); });
    });
  });
  each(summable_types{}, [&]<class T>() {
    register_kernel<Sum>(b, dtype_of<T>, [](const Tensor& x, const std::vector<bool>& r, double s, const Tensor& o) {
      reduce::sum<Tag, T>(x, r, s, o);
    });
  });
  each(floating_types{}, [&]<class T>() {
    using A = acc_t<T>;
    const DType d = dtype_of<T>;
    register_kernel<UnaryBackward>(b, d, [](UnaryOp op, const Tensor& dy, const Tensor& s, const Tensor& dx,
                                            double v) { elementwise::unary_backward<Tag, T>(op, dy, s, dx, v); });
    register_kernel<MaxBackward>(b, d, [](const Tensor& dy, const Tensor& i, int dim, const Tensor& dx) {
      reduce::max_backward<T>(dy, i, dim, dx);
    });
    register_kernel<SoftmaxForward>(b, d, [](const Tensor& x, const Tensor& m, const Tensor& y, bool log) {
      softmax_forward<T>(Tag{}, x, m, y, log);
    });
    register_kernel<SoftmaxBackward>(b, d, [](const Tensor& y, const Tensor& dy, const Tensor& dx, bool log) {
      softmax_backward<T>(Tag{}, y, dy, dx, log);
    });
    register_kernel<LayerNormForward>(b, d, [](const Tensor& x, const Tensor& w, const Tensor& bb, double eps,
                                               const Tensor& y, const Tensor& mean, const Tensor& rstd) {
      layer_norm_forward<T>(Tag{}, x, w, bb, eps, y, mean, rstd);
    });
    register_kernel<LayerNormBackward>(b, d, [](const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                                                const Tensor& rstd, const Tensor& dx, const Tensor& dw, const Tensor& db) {
      layer_norm_backward<T>(Tag{}, dy, x, w, mean, rstd, dx, dw, db);
    });
    register_kernel<RmsNormForward>(b, d, [](const Tensor& x, const Tensor& w, double eps, const Tensor& y,
                                             const Tensor& rstd) { rms_norm_forward<T>(Tag{}, x, w, eps, y, rstd); });
    register_kernel<RmsNormBackward>(b, d, [](const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd,
                                              const Tensor& dx, const Tensor& dw) {
      rms_norm_backward<T>(Tag{}, dy, x, w, rstd, dx, dw);
    });
    register_kernel<AttentionForward>(b, d, [](const AttentionProblem& p, const Tensor& o, const Tensor& s,
                                               const Tensor& pr) { attention_forward<T>(Tag{}, p, o, s, pr); });
    register_kernel<AttentionBackward>(b, d, [](const AttentionProblem& p, const Tensor& pr, const Tensor& dout,
                                                const Tensor& ds, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                                const Tensor& dl) {
      attention_backward<T>(Tag{}, p, pr, dout, ds, dq, dk, dv, dl);
    });
    register_kernel<GaussianBasisForward>(b, d, [](const GaussianBasisProblem& p, const Tensor& out) {
      visit_floating(p.means.dtype(), "gaussian_basis",
                     [&](auto tp) { gaussian_basis_forward<T, typename decltype(tp)::type>(Tag{}, p, out); });
    });
    register_kernel<GaussianBasisBackward>(b, d, [](const GaussianBasisProblem& p, const Tensor& dout,
                                                    const GaussianBasisGrads& g) {
      visit_floating(p.means.dtype(), "gaussian_basis",
                     [&](auto tp) { gaussian_basis_backward<T, typename decltype(tp)::type>(Tag{}, p, dout, g); });
    });
    register_kernel<GatherBackward>(b, d, [](const Tensor& dy, int dim, const Tensor& index, std::int64_t skip,
                                             const Tensor& acc) {
      with_index(index, "gather",
                 [&](auto it) { gather_backward<T, typename decltype(it)::type, A>(Tag{}, dy, dim, index, skip, acc); });
    });
    register_kernel<Dropout>(b, d, [](const Tensor& x, std::uint64_t seed, std::uint64_t off, double keep, double scale,
                                      const Tensor& o) { dropout_forward<T>(Tag{}, x, seed, off, keep, scale, o); });
    register_kernel<RotaryForward>(b, d, [](const Tensor& x, const Tensor& c, const Tensor& s, const Tensor& o) {
      rotary_forward<T>(Tag{}, x, c, s, o);
    });
    register_kernel<RotaryBackward>(b, d, [](const Tensor& x, const Tensor& c, const Tensor& s, const Tensor& o) {
      rotary_backward<T>(Tag{}, x, c, s, o);
    });
    register_kernel<CrossEntropyForward>(b, d, [](const Tensor& logits, const Tensor& t, std::int64_t ignore,
                                                  double smoothing, const Tensor& row_loss, const Tensor& lse) {
      with_index(t, "cross_entropy", [&](auto it) {
        cross_entropy_forward<T, typename decltype(it)::type>(Tag{}, logits, t, ignore, smoothing, row_loss, lse);
      });
    });
    register_kernel<CrossEntropyBackward>(b, d, [](const Tensor& x, const Tensor& t, const Tensor& lse,
                                                   const Tensor& dloss, double scale, std::int64_t ignore,
                                                   double smoothing, const Tensor& dx) {
      with_index(t, "cross_entropy", [&](auto it) {
        cross_entropy_backward<T, typename decltype(it)::type>(Tag{}, x, t, lse, dloss, scale, ignore, smoothing, dx);
      });
    });
  });
  // Products: every floating dtype; the kernels choose oneDNN, Eigen or loops by dtype themselves.
  each(floating_types{}, [&]<class T>() {
    register_kernel<Matmul>(b, dtype_of<T>, [](const Tensor& a, const Tensor& bb, const Tensor& bias,
                                               const Tensor& out) { matmul_forward(Tag{}, a, bb, bias, out); });
  });
}

}  // namespace cpu_registration

#ifndef MOLM_COMPILED
inline
#endif
bool register_cpu_backends() {
  static const bool done = [] {
    cpu_registration::register_all<cpu_t>(kCpu);
    cpu_registration::register_all<reference_t>(kReference);
    return true;
  }();
  return done;
}
#endif

/// Registers the CPU backends when the program starts (in every program that includes this header).
inline const bool cpu_backends_registered = register_cpu_backends();

}  // namespace molm::backend
