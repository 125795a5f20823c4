// The elementwise kernels of the CPU backends: what each UnaryOp / BinaryOp computes, run through
// the map loops (kernels/map.hpp: OpenMP, vectorisable runs; reference/map.hpp: one plain loop).
// Tag is cpu_t or reference_t. Arithmetic happens in acc_t<T> (float for bf16/f16), as PyTorch does.
//
//   exp: dy·y        log: dy/x          sqrt: dy/(2y)        rsqrt: -dy·y³/2      pow(x,p): dy·p·x^(p-1)
//   tanh: dy(1-y²)   sigmoid: dy·y(1-y)  relu: dy·[x>0]     silu: dy·s(1+x(1-s)), s = σ(x)
//   gelu (erf):  y = x·Φ(x),                         dy·(Φ(x) + x·φ(x))
//   gelu (tanh): y = x/2·(1+tanh(u)), u = √(2/π)(x+0.044715x³)   (PyTorch approximate="tanh")
#pragma once

#include "molm/backend/cpu/kernels/gelu.hpp"
#include "molm/backend/cpu/kernels/map.hpp"
#include "molm/backend/cpu/rows.hpp"
#include "molm/backend/cpu/reference/map.hpp"
#include "molm/backend/kernels.hpp"

#include <cmath>
#include <cstring>

namespace molm::backend::elementwise {

template <class A> A normal_cdf(A x) { return A(0.5) * (A(1) + std::erf(x * A(0.70710678118654752440))); }
template <class A> A normal_pdf(A x) { return A(0.39894228040143267794) * std::exp(A(-0.5) * x * x); }
template <class A> A sigmoid_of(A x) { return A(1) / (A(1) + std::exp(-x)); }

/// Which unary ops exist for element type T: the scalar ones for every type, the rest for floats.
template <class T> constexpr bool unary_defined(UnaryOp op) {
  if constexpr (is_floating_v<T>) return true;
  else return op == UnaryOp::neg || op == UnaryOp::add_scalar || op == UnaryOp::mul_scalar || op == UnaryOp::rdiv_scalar;
}

[[noreturn]] inline void unsupported(const char* kernel, int op, DType dt) {
  MOLM_THROW(kernel, "operation {} is not defined for dtype {}", op, name(dt));
}

template <class Tag, class T> void unary(UnaryOp op, const Tensor& x, const Tensor& y, double s) {
  using A = acc_t<T>;
  auto run = [&](auto f) { map_forward<T, T>(Tag{}, y, f, x); };
  const A sa = static_cast<A>(s);
  switch (op) {
    case UnaryOp::neg: return run([](A v) { return -v; });
    case UnaryOp::add_scalar: return run([sa](A v) { return v + sa; });
    case UnaryOp::mul_scalar: return run([sa](A v) { return v * sa; });
    case UnaryOp::rdiv_scalar: return run([sa](A v) { return sa / v; });
    default: break;
  }
  if constexpr (is_floating_v<T>) {
    // Contiguous GELU and SiLU on the optimised backend: the vectorised kernels where this CPU has
    // them for T (kernels/gelu.hpp).
    if constexpr (std::is_same_v<Tag, cpu_t>)
      if (x.is_contiguous() && y.is_contiguous() && x.shape() == y.shape() &&
          try_fast_activation_forward<T>(op, x.template data<T>(), y.template data<T>(), x.numel()))
        return;
    switch (op) {
      case UnaryOp::exp: return run([](A v) { return std::exp(v); });
      case UnaryOp::log: return run([](A v) { return std::log(v); });
      case UnaryOp::sqrt: return run([](A v) { return std::sqrt(v); });
      case UnaryOp::rsqrt: return run([](A v) { return A(1) / std::sqrt(v); });
      case UnaryOp::pow: return run([sa](A v) { return std::pow(v, sa); });
      case UnaryOp::tanh: return run([](A v) { return std::tanh(v); });
      case UnaryOp::sigmoid: return run([](A v) { return sigmoid_of(v); });
      case UnaryOp::relu: return run([](A v) { return v > A(0) ? v : A(0); });
      case UnaryOp::silu: return run([](A v) { return v * sigmoid_of(v); });
      case UnaryOp::gelu: return run([](A v) { return v * normal_cdf(v); });
      case UnaryOp::gelu_tanh:
        return run([](A v) {
          const A k = A(0.79788456080286535588), c = A(0.044715);
          return A(0.5) * v * (A(1) + std::tanh(k * (v + c * v * v * v)));
        });
      default: break;
    }
  }
  unsupported("unary", static_cast<int>(op), dtype_of<T>);
}

template <class Tag, class T>
void unary_backward(UnaryOp op, const Tensor& dy, const Tensor& saved, const Tensor& dx, double s) {
  if constexpr (!is_floating_v<T>) {
    unsupported("unary_backward", static_cast<int>(op), dtype_of<T>);
  } else {
    using A = acc_t<T>;
    auto run = [&](auto f) { map_forward<T, T, T>(Tag{}, dx, f, dy, saved); };
    if constexpr (std::is_same_v<Tag, cpu_t>)
      if (dy.is_contiguous() && saved.is_contiguous() && dx.is_contiguous() && dy.shape() == dx.shape() &&
          saved.shape() == dx.shape() &&
          try_fast_activation_backward<T>(op, dy.template data<T>(), saved.template data<T>(),
                                          dx.template data<T>(), dx.numel()))
        return;
    const A sa = static_cast<A>(s);
    switch (op) {
      case UnaryOp::exp: return run([](A g, A y) { return g * y; });
      case UnaryOp::log: return run([](A g, A v) { return g / v; });
      case UnaryOp::sqrt: return run([](A g, A y) { return g / (y + y); });
      case UnaryOp::rsqrt: return run([](A g, A y) { return A(-0.5) * g * y * y * y; });
      case UnaryOp::pow:
        return run([sa, s](A g, A v) { return s == 0.0 ? A(0) : g * sa * std::pow(v, static_cast<A>(s - 1.0)); });
      case UnaryOp::tanh: return run([](A g, A y) { return g * (A(1) - y * y); });
      case UnaryOp::sigmoid: return run([](A g, A y) { return g * y * (A(1) - y); });
      case UnaryOp::relu: return run([](A g, A v) { return v > A(0) ? g : A(0); });
      case UnaryOp::silu:
        return run([](A g, A v) {
          const A sg = sigmoid_of(v);
          return g * sg * (A(1) + v * (A(1) - sg));
        });
      case UnaryOp::gelu: return run([](A g, A v) { return g * (normal_cdf(v) + v * normal_pdf(v)); });
      case UnaryOp::gelu_tanh:
        return run([](A g, A v) {
          const A k = A(0.79788456080286535588), c = A(0.044715);
          const A t = std::tanh(k * (v + c * v * v * v));
          const A du = k * (A(1) + A(3) * c * v * v);
          return g * (A(0.5) * (A(1) + t) + A(0.5) * v * (A(1) - t * t) * du);
        });
      default: break;  // the scalar ops: their ops compose the gradient from other ops
    }
    unsupported("unary_backward", static_cast<int>(op), dtype_of<T>);
  }
}

template <class Tag, class T> void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  using A = acc_t<T>;
  auto arith = [&](auto f) { map_forward<T, T, T>(Tag{}, out, f, a, b); };
  auto compare = [&](auto f) { map_forward<bool, T, T>(Tag{}, out, f, a, b); };
  switch (op) {
    case BinaryOp::add: return arith([](A u, A v) { return u + v; });
    case BinaryOp::sub: return arith([](A u, A v) { return u - v; });
    case BinaryOp::mul: return arith([](A u, A v) { return u * v; });
    case BinaryOp::div: return arith([](A u, A v) { return u / v; });
    case BinaryOp::eq: return compare([](A u, A v) { return u == v; });
    case BinaryOp::ne: return compare([](A u, A v) { return u != v; });
    case BinaryOp::lt: return compare([](A u, A v) { return u < v; });
    case BinaryOp::le: return compare([](A u, A v) { return u <= v; });
    case BinaryOp::gt: return compare([](A u, A v) { return u > v; });
    case BinaryOp::ge: return compare([](A u, A v) { return u >= v; });
  }
  unsupported("binary", static_cast<int>(op), dtype_of<T>);
}

template <class Tag, class T> void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  using A = acc_t<T>;
  map_forward<T, bool, T, T>(Tag{}, out, [](bool c, A u, A v) { return c ? u : v; }, cond, a, b);
}

template <class Tag, class T>
void masked_fill(const Tensor& x, const Tensor& mask, bool when, double value, const Tensor& out) {
  using A = acc_t<T>;
  const A v = static_cast<A>(value);
  map_forward<T, bool, T>(Tag{}, out, [v, when](bool m, A u) { return m == when ? v : u; }, mask, x);
}

template <class Tag, class T> void fill(const Tensor& out, double value) {
  const T v = static_cast<T>(static_cast<acc_t<T>>(value));
  map_forward<T>(Tag{}, out, [v]() { return v; });
}

/// dst = src converted to dst's dtype (through acc_t: bf16 → float → f16, as torch's .to()).
/// Dense f32 ↔ bf16 (autocast's casts) and dense same-dtype copies go through convert_row in
/// blocks on all threads: AVX-512 conversion where the CPU has it, bit-identical to the generic walk.
template <class Tag, class TO> void copy(const Tensor& src, const Tensor& dst) {
  visit_dtype(src.dtype(), [&](auto from) {
    using TI = typename decltype(from)::type;
    constexpr bool same = std::is_same_v<TI, TO>;
    constexpr bool f32_bf16 = (std::is_same_v<TI, float> && std::is_same_v<TO, bfloat16>) ||
                              (std::is_same_v<TI, bfloat16> && std::is_same_v<TO, float>);
    if constexpr (std::is_same_v<Tag, cpu_t> && (same || f32_bf16)) {
      if (src.is_contiguous() && dst.is_contiguous() && src.shape() == dst.shape()) {
        const TI* s = src.data<TI>();
        TO* d = dst.data<TO>();
        molm::detail::parallel_for_chunks(dst.numel(), std::int64_t{1} << 14, 1, [&](std::int64_t i, std::int64_t n) {
          if constexpr (same) std::memcpy(d + i, s + i, static_cast<std::size_t>(n) * sizeof(TO));
          else convert_row(d + i, s + i, n);
        });
        return;
      }
    }
    map_forward<TO, TI>(Tag{}, dst, [](auto v) { return v; }, src);
  });
}

}  // namespace molm::backend::elementwise
