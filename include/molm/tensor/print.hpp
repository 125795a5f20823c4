// Readable printing: `tensor(f32 [2, 3]) [[1, 2, 3], [4, 5, 6]]`, abridged to the first and last 3
// entries of any dimension longer than 6, like NumPy.
#pragma once

#include "molm/autograd/engine.hpp"
#include "molm/tensor/tensor.hpp"
#include "molm/tensor/views.hpp"

#include <fmt/format.h>

#include <ostream>

namespace molm {

namespace detail {
inline void print_rec(std::string& s, const Tensor& t, int d, std::int64_t off) {
  if (d == t.dim()) {
    visit_dtype(t.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* base = static_cast<const T*>(t.storage()->data());
      if constexpr (is_floating_v<T>) s += fmt::format("{:.6g}", static_cast<double>(static_cast<acc_t<T>>(base[off])));
      else if constexpr (std::is_same_v<T, bool>) s += base[off] ? "true" : "false";
      else s += fmt::format("{}", static_cast<std::int64_t>(base[off]));
    });
    return;
  }
  const std::int64_t n = t.shape()[d];
  s += "[";
  for (std::int64_t i = 0; i < n; ++i) {
    if (n > 6 && i == 3) {
      s += "..., ";
      i = n - 3;
    }
    print_rec(s, t, d + 1, off + i * t.strides()[d]);
    if (i + 1 < n) s += ", ";
  }
  s += "]";
}
}  // namespace detail

inline std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::string s = fmt::format("tensor({} {}", name(dtype()), shape().str());
  if (requires_grad()) s += grad_fn() ? fmt::format(", grad_fn={}", grad_fn()->name()) : ", requires_grad";
  s += ") ";
  if (device().type != DeviceType::cpu) return s + "<on " + device().str() + ">";
  detail::print_rec(s, *this, 0, offset());
  return s;
}

inline std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace molm
