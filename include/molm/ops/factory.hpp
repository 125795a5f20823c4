// Tensor factories: zeros, ones, full, arange, from_vector, and seeded rand/randn/randint.
#pragma once

#include "molm/tensor/iter.hpp"
#include "molm/core/random.hpp"
#include "molm/ops/view.hpp"

#include <vector>

namespace molm {

inline Tensor full(const Shape& shape, double value, DType dtype = DType::f32) {
  Tensor t = Tensor::empty(shape, dtype);
  no_grad g;
  t.fill_(value);
  return t;
}
inline Tensor zeros(const Shape& shape, DType dtype = DType::f32) { return full(shape, 0.0, dtype); }
inline Tensor ones(const Shape& shape, DType dtype = DType::f32) { return full(shape, 1.0, dtype); }
inline Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
inline Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }

/// A tensor holding a copy of `values`, in row-major order; the shape defaults to 1-d.
template <class T> Tensor from_vector(const std::vector<T>& values, Shape shape = {}) {
  if (shape.empty() && values.size() != 1) shape = Shape{static_cast<std::int64_t>(values.size())};
  MOLM_CHECK(shape.numel() == static_cast<std::int64_t>(values.size()), "from_vector",
             "{} values do not fill shape {}", values.size(), shape.str());
  Tensor t = Tensor::empty(shape, dtype_of<T>);
  T* p = t.data<T>();
  for (std::size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

/// A one-element 0-d tensor.
inline Tensor scalar_tensor(double v, DType dtype = DType::f32) { return full(Shape{}, v, dtype); }

/// 0, 1, ..., n-1 (or start, start+step, ... < end).
inline Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::i64) {
  MOLM_CHECK(step != 0.0, "arange", "step must not be zero");
  const auto n = static_cast<std::int64_t>(std::ceil((end - start) / step));
  Tensor t = Tensor::empty({std::max<std::int64_t>(n, 0)}, dtype);
  visit_dtype(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(static_cast<acc_t<T>>(start + static_cast<double>(i) * step));
  });
  return t;
}
inline Tensor arange(std::int64_t n, DType dtype = DType::i64) { return arange(0.0, static_cast<double>(n), 1.0, dtype); }

namespace ops::detail {
template <class Draw> Tensor random_fill(const Shape& shape, DType dtype, Draw draw) {
  Tensor t = Tensor::empty(shape, dtype);
  visit_floating(dtype, "random", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = t.data<T>();
    molm::detail::parallel_for(t.numel(), 16, [&](std::int64_t i) {
      p[i] = static_cast<T>(static_cast<acc_t<T>>(draw(static_cast<std::uint64_t>(i))));
    });
  });
  return t;
}
}  // namespace ops::detail

/// While a SkipInit lives on this thread, rand and randn return uninitialised tensors (the generator
/// still advances as if they had drawn, so later draws are unchanged). For building a model only to
/// overwrite its weights or to list its names and shapes: a paper-size model then costs its
/// allocation only.
class SkipInit {
 public:
  SkipInit() : previous_(active()) { active() = true; }
  ~SkipInit() { active() = previous_; }
  SkipInit(const SkipInit&) = delete;
  SkipInit& operator=(const SkipInit&) = delete;
  static bool& active() {
    thread_local bool on = false;
    return on;
  }

 private:
  bool previous_;
};

/// Uniform [low, high) from the generator; identical for any thread count.
inline Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::f32, double low = 0.0, double high = 1.0) {
  const std::uint64_t seed = gen.seed(), off = gen.next_offset();
  if (SkipInit::active()) return Tensor::empty(shape, dtype);
  return ops::detail::random_fill(shape, dtype, [=](std::uint64_t i) {
    return low + (high - low) * static_cast<double>(philox_uniform(seed, off, i));
  });
}

/// Normal(mean, std) from the generator; identical for any thread count.
inline Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, double mean = 0.0, double std = 1.0) {
  const std::uint64_t seed = gen.seed(), off = gen.next_offset();
  if (SkipInit::active()) return Tensor::empty(shape, dtype);
  return ops::detail::random_fill(shape, dtype, [=](std::uint64_t i) { return mean + std * philox_normal(seed, off, i); });
}

/// Integers uniform in [low, high), i64.
inline Tensor randint(std::int64_t low, std::int64_t high, const Shape& shape, Generator& gen) {
  MOLM_CHECK(high > low, "randint", "empty range [{}, {})", low, high);
  const std::uint64_t seed = gen.seed(), off = gen.next_offset();
  Tensor t = Tensor::empty(shape, DType::i64);
  auto* p = t.data<std::int64_t>();
  const auto span = static_cast<std::uint64_t>(high - low);
  for (std::int64_t i = 0; i < t.numel(); ++i) {
    const auto w = philox4x32(seed, off, static_cast<std::uint64_t>(i));
    const std::uint64_t r = (static_cast<std::uint64_t>(w[0]) << 32) | w[1];
    p[i] = low + static_cast<std::int64_t>(r % span);
  }
  return t;
}

}  // namespace molm
