// The CPU backends register their kernels: `cpu` (oneDNN primitives, OpenMP loops; backend/cpu/
// kernels/, onednn/) and `reference` (plain single-threaded loops; backend/cpu/reference/), each for
// every dtype it supports. This is the only file that instantiates the kernel templates.
//
// Header-only use (the default): every op header includes this file (through ops/map.hpp), and a
// program compiles the kernels it can reach only. The `cpu` versions of the kernels the tensor core
// calls register when the program starts; every other `cpu` kernel registers the first time an op
// calls it (LazyDefaults, backend/registry.hpp); the `reference` backend, which only tests use,
// registers all its kernels when the first ReferenceGuard is made. Compiled use (MOLM_COMPILED, CMake
// target molm::compiled): the library compiles this file once and registers everything at start-up;
// consumers see only the declaration of register_cpu_backends(), so a file that includes
// <molm/molm.hpp> compiles no kernel.
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
#include "molm/backend/cpu/kernels/quantized.hpp"
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

/// Fill the kernel tables of the `cpu` and `reference` backends with every kernel. Idempotent;
/// returns true. Header-only, it is a template so that only a program calling it compiles them all.
#ifdef MOLM_COMPILED
bool register_cpu_backends();  // defined in the compiled library
#else
template <class = void> bool register_cpu_backends();
#endif

#if MOLM_CPU_KERNELS_VISIBLE
namespace cpu_registration {

template <class... T> struct types {};
using all_types = types<float, double, bfloat16, float16, std::int64_t, std::int32_t, std::uint8_t, bool>;
using floating_types = types<float, double, bfloat16, float16>;
using q8_activation_types = types<float, bfloat16>;
using q8_weight_types = types<float, bfloat16, float16>;
using summable_types = types<float, double, bfloat16, float16, std::int64_t, std::int32_t, std::uint8_t>;

/// f.template operator()<T>() for each T of the list.
template <class... T, class F> void each(types<T...>, F&& f) { (f.template operator()<T>(), ...); }

/// Run f(type_tag<I>) for the index dtype of `index` (i64 or i32).
template <class F> void with_index(const Tensor& index, const char* op, F&& f) { visit_index(index.dtype(), op, f); }

/// How backend Tag (cpu_t, reference_t) runs kernel K: CpuKernel<K, Tag>::run<T> for each element
/// type T of CpuKernel<K, Tag>::types. run's parameters are K's signature (backend/kernels.hpp).
template <class K, class Tag> struct CpuKernel;

#define MOLM_CPU_KERNEL(K, TypeList, Params, ...)      \
  template <class Tag> struct CpuKernel<K, Tag> {       \
    using types = TypeList;                             \
    template <class T> static void run Params { __VA_ARGS__; } \
  }

MOLM_CPU_KERNEL(Fill, all_types, (const Tensor& out, double v), elementwise::fill<Tag, T>(out, v));
MOLM_CPU_KERNEL(Copy, all_types, (const Tensor& src, const Tensor& dst), elementwise::copy<Tag, T>(src, dst));
MOLM_CPU_KERNEL(Unary, all_types, (UnaryOp op, const Tensor& x, const Tensor& y, double s),
                elementwise::unary<Tag, T>(op, x, y, s));
MOLM_CPU_KERNEL(UnaryBackward, floating_types,
                (UnaryOp op, const Tensor& dy, const Tensor& saved, const Tensor& dx, double s),
                elementwise::unary_backward<Tag, T>(op, dy, saved, dx, s));
MOLM_CPU_KERNEL(Binary, all_types, (BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out),
                elementwise::binary<Tag, T>(op, a, b, out));
MOLM_CPU_KERNEL(Where, all_types, (const Tensor& c, const Tensor& a, const Tensor& b, const Tensor& out),
                elementwise::where<Tag, T>(c, a, b, out));
MOLM_CPU_KERNEL(MaskedFill, all_types,
                (const Tensor& x, const Tensor& mask, bool when, double value, const Tensor& out),
                elementwise::masked_fill<Tag, T>(x, mask, when, value, out));
MOLM_CPU_KERNEL(Sum, summable_types, (const Tensor& x, const std::vector<bool>& r, double scale, const Tensor& out),
                reduce::sum<Tag, T>(x, r, scale, out));
MOLM_CPU_KERNEL(Max, all_types, (const Tensor& x, const std::vector<bool>& r, const Tensor& v, const Tensor& i),
                reduce::max<Tag, T>(x, r, v, i));
MOLM_CPU_KERNEL(MaxBackward, floating_types, (const Tensor& dy, const Tensor& i, int dim, const Tensor& dx),
                reduce::max_backward<T>(dy, i, dim, dx));
MOLM_CPU_KERNEL(Matmul, floating_types, (const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out),
                (void)sizeof(T), matmul_forward(Tag{}, a, b, bias, out));  // one kernel; it picks oneDNN/Eigen by dtype
MOLM_CPU_KERNEL(SoftmaxForward, floating_types, (const Tensor& x, const Tensor& m, const Tensor& y, bool log),
                softmax_forward<T>(Tag{}, x, m, y, log));
MOLM_CPU_KERNEL(SoftmaxBackward, floating_types, (const Tensor& y, const Tensor& dy, const Tensor& dx, bool log),
                softmax_backward<T>(Tag{}, y, dy, dx, log));
MOLM_CPU_KERNEL(LayerNormForward, floating_types,
                (const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y, const Tensor& mean,
                 const Tensor& rstd),
                layer_norm_forward<T>(Tag{}, x, w, b, eps, y, mean, rstd));
MOLM_CPU_KERNEL(LayerNormBackward, floating_types,
                (const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                 const Tensor& dx, const Tensor& dw, const Tensor& db),
                layer_norm_backward<T>(Tag{}, dy, x, w, mean, rstd, dx, dw, db));
MOLM_CPU_KERNEL(RmsNormForward, floating_types,
                (const Tensor& x, const Tensor& w, double eps, const Tensor& y, const Tensor& rstd),
                rms_norm_forward<T>(Tag{}, x, w, eps, y, rstd));
MOLM_CPU_KERNEL(RmsNormBackward, floating_types,
                (const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& dx,
                 const Tensor& dw),
                rms_norm_backward<T>(Tag{}, dy, x, w, rstd, dx, dw));
MOLM_CPU_KERNEL(AttentionForward, floating_types,
                (const AttentionProblem& p, const Tensor& out, const Tensor& scores, const Tensor& probs),
                attention_forward<T>(Tag{}, p, out, scores, probs));
MOLM_CPU_KERNEL(AttentionBackward, floating_types,
                (const AttentionProblem& p, const Tensor& probs, const Tensor& dout, const Tensor& dscores,
                 const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dlogits),
                attention_backward<T>(Tag{}, p, probs, dout, dscores, dq, dk, dv, dlogits));
MOLM_CPU_KERNEL(GaussianBasisForward, floating_types, (const GaussianBasisProblem& p, const Tensor& out),
                visit_floating(p.means.dtype(), "gaussian_basis", [&](auto tp) {
                  gaussian_basis_forward<T, typename decltype(tp)::type>(Tag{}, p, out);
                }));
MOLM_CPU_KERNEL(GaussianBasisBackward, floating_types,
                (const GaussianBasisProblem& p, const Tensor& dout, const GaussianBasisGrads& g),
                visit_floating(p.means.dtype(), "gaussian_basis", [&](auto tp) {
                  gaussian_basis_backward<T, typename decltype(tp)::type>(Tag{}, p, dout, g);
                }));
MOLM_CPU_KERNEL(GatherForward, all_types, (const Tensor& x, int dim, const Tensor& index, const Tensor& out),
                with_index(index, "gather", [&](auto it) {
                  gather_forward<T, typename decltype(it)::type>(Tag{}, x, dim, index, out);
                }));
MOLM_CPU_KERNEL(GatherBackward, floating_types,
                (const Tensor& dy, int dim, const Tensor& index, std::int64_t skip, const Tensor& acc),
                with_index(index, "gather", [&](auto it) {
                  gather_backward<T, typename decltype(it)::type, acc_t<T>>(Tag{}, dy, dim, index, skip, acc);
                }));
MOLM_CPU_KERNEL(Cat, all_types, (const std::vector<Tensor>& xs, int dim, const Tensor& out),
                cat_forward<T>(Tag{}, xs, dim, out));
MOLM_CPU_KERNEL(Dropout, floating_types,
                (const Tensor& x, std::uint64_t seed, std::uint64_t offset, double keep, double scale,
                 const Tensor& out),
                dropout_forward<T>(Tag{}, x, seed, offset, keep, scale, out));
MOLM_CPU_KERNEL(RotaryForward, floating_types, (const Tensor& x, const Tensor& c, const Tensor& s, const Tensor& out),
                rotary_forward<T>(Tag{}, x, c, s, out));
MOLM_CPU_KERNEL(RotaryBackward, floating_types,
                (const Tensor& x, const Tensor& c, const Tensor& s, const Tensor& out),
                rotary_backward<T>(Tag{}, x, c, s, out));
MOLM_CPU_KERNEL(CrossEntropyForward, floating_types,
                (const Tensor& logits, const Tensor& t, std::int64_t ignore, double smoothing, const Tensor& row_loss,
                 const Tensor& lse),
                with_index(t, "cross_entropy", [&](auto it) {
                  cross_entropy_forward<T, typename decltype(it)::type>(Tag{}, logits, t, ignore, smoothing, row_loss,
                                                                        lse);
                }));
MOLM_CPU_KERNEL(CrossEntropyBackward, floating_types,
                (const Tensor& x, const Tensor& t, const Tensor& lse, const Tensor& dloss, double scale,
                 std::int64_t ignore, double smoothing, const Tensor& dx),
                with_index(t, "cross_entropy", [&](auto it) {
                  cross_entropy_backward<T, typename decltype(it)::type>(Tag{}, x, t, lse, dloss, scale, ignore,
                                                                         smoothing, dx);
                }));
MOLM_CPU_KERNEL(QuantizeQ8, q8_weight_types, (const Tensor& w, const Tensor& q, const Tensor& scales),
                quantize_q8<T>(Tag{}, w, q, scales));
MOLM_CPU_KERNEL(LinearQ8, q8_activation_types,
                (const Tensor& x, const Tensor& q, const Tensor& scales, const Tensor& bias, const Tensor& out),
                linear_q8<T>(Tag{}, x, q, scales, bias, out));
#undef MOLM_CPU_KERNEL

/// Backend b runs K with CpuKernel<K, Tag>, for each of its dtypes.
template <class K, class Tag> void add(BackendId b) {
  each(typename CpuKernel<K, Tag>::types{},
       [&]<class T>() { register_kernel<K>(b, dtype_of<T>, &CpuKernel<K, Tag>::template run<T>); });
}

/// K on both CPU backends.
template <class K> void add_cpu_and_reference() {
  add<K, cpu_t>(kCpu);
  add<K, reference_t>(kReference);
}

/// The kernels the tensor core itself calls (copies, fills, the gradient sums of autograd and
/// expand): their `cpu` versions register at start-up in every build.
using CoreKernels = std::tuple<Fill, Copy, Binary, Sum>;
template <class K> inline constexpr bool is_core_kernel =
    []<class... C>(std::tuple<C...>*) { return (std::is_same_v<K, C> || ...); }(static_cast<CoreKernels*>(nullptr));

inline bool register_core_kernels() {
  []<class... C>(std::tuple<C...>*) { (add<C, cpu_t>(kCpu), ...); }(static_cast<CoreKernels*>(nullptr));
  return true;
}

}  // namespace cpu_registration

#ifndef MOLM_COMPILED
template <class>
#endif
bool register_cpu_backends() {
  static const bool done = [] {
    for_each_kernel([]<class K>() { cpu_registration::add_cpu_and_reference<K>(); });
    return true;
  }();
  return done;
}

#ifndef MOLM_COMPILED
// Header-only: every kernel but the tensor core's registers its `cpu` version the first time an op
// calls it (backend::lookup), so a program compiles only the kernels of the ops it uses.
template <class K> struct LazyDefaults<K, std::enable_if_t<!cpu_registration::is_core_kernel<K>>> {
  static void add() { cpu_registration::add<K, cpu_t>(kCpu); }
};
#endif
#endif

/// RAII: ops called on this thread use the plain-loop `reference` kernels (`on` = false: the
/// optimised ones) — how tests check every optimised kernel. Header-only, the first guard made
/// registers the reference backend's kernels (the constructor is a template, so only a program that
/// makes a guard compiles them).
class ReferenceGuard {
 public:
  template <class = void>
  explicit ReferenceGuard(bool on = true) : guard_((register_cpu_backends(), on ? kReference : kCpu)) {}

 private:
  BackendGuard guard_;
};

/// Header-only: registers the `cpu` versions of the tensor core's kernels when the program starts
/// (the others register on first use). With MOLM_COMPILED, registry.hpp's initialiser registers every
/// kernel from the library.
#ifndef MOLM_COMPILED
inline const bool cpu_backends_registered = cpu_registration::register_core_kernels();
#endif

}  // namespace molm::backend
