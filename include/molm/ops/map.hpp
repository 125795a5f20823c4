// Dispatch of elementwise maps to the optimised or the reference kernel (backend::use_reference()).
// Ops build on these: `map<TO, TI...>(out_shape, out_dtype, f, inputs...)`.
#pragma once

#include "molm/backend/cpu/kernels/map.hpp"
#include "molm/backend/cpu/reference/map.hpp"
#include "molm/backend/dispatch.hpp"

namespace molm::ops::detail {

template <class TO, class... TI, class F, class... In>
void map_into(const Tensor& out, F f, const In&... ins) {
  if (backend::use_reference())
    backend::map_forward<TO, TI...>(reference_t{}, out, f, ins...);
  else
    backend::map_forward<TO, TI...>(cpu_t{}, out, f, ins...);
}

/// A new tensor of `shape`/`dtype` holding f(ins...) elementwise (inputs broadcast to `shape`).
template <class TO, class... TI, class F, class... In>
Tensor map(const Shape& shape, F f, const In&... ins) {
  Tensor out = Tensor::empty(shape, dtype_of<TO>);
  map_into<TO, TI...>(out, f, ins...);
  return out;
}

inline void check_cpu(const Tensor& t, const char* op) {
  MOLM_CHECK(t.defined(), op, "got an undefined tensor");
  MOLM_CHECK(t.device().type == DeviceType::cpu, op, "tensor is on {}, expected cpu", t.device().str());
}

inline void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  MOLM_CHECK(a.dtype() == b.dtype(), op, "dtypes differ: {} {} vs {} {} (convert one with .to())", name(a.dtype()),
             a.shape().str(), name(b.dtype()), b.shape().str());
}

}  // namespace molm::ops::detail
