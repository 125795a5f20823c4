// Zero-copy bridge to xtensor: `as_xtensor<T>(t)` views a CPU tensor's memory as an xtensor
// expression with the tensor's own shape and strides (tests, .npy I/O, metrics use it).
// `from_xtensor` copies an xtensor expression into a new Tensor.
#pragma once

#include "molm/tensor/tensor.hpp"

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>

#include <vector>

namespace molm {

/// A strided xtensor adaptor over t's memory (no copy; writes go to the tensor).
template <class T> auto as_xtensor(const Tensor& t) {
  T* p = t.data<T>();
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<std::ptrdiff_t> strides(t.strides().begin(), t.strides().end());
  std::size_t span = 1;  // elements reachable from p
  for (int i = 0; i < t.dim(); ++i) span += static_cast<std::size_t>((t.shape()[i] - 1) * t.strides()[i]);
  if (t.numel() == 0) span = 0;
  return xt::adapt(p, span, xt::no_ownership(), shape, strides);
}

/// Copy an xtensor expression (any layout) into a new contiguous Tensor.
template <class E> Tensor from_xtensor(const xt::xexpression<E>& e) {
  using T = typename E::value_type;
  xt::xarray<T, xt::layout_type::row_major> a = e.derived_cast();
  Shape shape;
  for (auto s : a.shape()) shape.push_back(static_cast<std::int64_t>(s));
  Tensor t = Tensor::empty(shape, dtype_of<T>);
  std::copy(a.begin(), a.end(), t.data<T>());
  return t;
}

}  // namespace molm
