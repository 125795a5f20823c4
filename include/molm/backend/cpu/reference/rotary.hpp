// Reference rotary embedding (rotate-half convention): one output element at a time, every operand
// addressed through its own (broadcast) strides. The oracle for backend/cpu/kernels/rotary.hpp.
//
// With h = D/2 and x = [x1, x2] split into halves along the last dimension:
//   forward:  out_d = x_d·cos_d + rot_d·sin_d,     rot = rotate_half(x) = [−x2, x1]
//   backward: dx_d  = dy_d·cos_d + (d < h ? dy_{d+h}·sin_{d+h} : −dy_{d−h}·sin_{d−h})
// (the backward applies rotate_halfᵀ = −rotate_half to dy·sin, so it does not assume that sin
// repeats across the two halves, as HF's tables do).
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

namespace molm::backend {

/// out (any strides, x's shape) = x·cos + rotate_half(x)·sin; cos and sin broadcast to x's shape.
template <class T>
void rotary_forward(reference_t, const Tensor& x, const Tensor& cos, const Tensor& sin, const Tensor& out) {
  using A = acc_t<T>;
  const Shape& shape = x.shape();
  const int last = shape.size() - 1;
  const std::int64_t h = shape[last] / 2;
  const Shape sc = molm::detail::broadcast_strides(cos, shape), ss = molm::detail::broadcast_strides(sin, shape);
  const T *px = x.data<T>(), *pc = cos.data<T>(), *ps = sin.data<T>();
  T* po = out.data<T>();
  reference::for_each_index(shape, [&](auto idx) {
    const std::int64_t d = idx[last];
    const A xd = static_cast<A>(px[reference::offset_of(idx, x.strides())]);
    const A c = static_cast<A>(pc[reference::offset_of(idx, sc)]);
    const A s = static_cast<A>(ps[reference::offset_of(idx, ss)]);
    idx[last] = d < h ? d + h : d - h;  // the partner element in the other half
    const A partner = static_cast<A>(px[reference::offset_of(idx, x.strides())]);
    const A rot = d < h ? -partner : partner;
    idx[last] = d;
    po[reference::offset_of(idx, out.strides())] = static_cast<T>(xd * c + rot * s);
  });
}

/// dx (any strides, dy's shape) = dy·cos + rotate_halfᵀ(dy·sin).
template <class T>
void rotary_backward(reference_t, const Tensor& dy, const Tensor& cos, const Tensor& sin, const Tensor& dx) {
  using A = acc_t<T>;
  const Shape& shape = dy.shape();
  const int last = shape.size() - 1;
  const std::int64_t h = shape[last] / 2;
  const Shape sc = molm::detail::broadcast_strides(cos, shape), ss = molm::detail::broadcast_strides(sin, shape);
  const T *pg = dy.data<T>(), *pc = cos.data<T>(), *ps = sin.data<T>();
  T* po = dx.data<T>();
  reference::for_each_index(shape, [&](auto idx) {
    const std::int64_t d = idx[last];
    const A g = static_cast<A>(pg[reference::offset_of(idx, dy.strides())]);
    const A c = static_cast<A>(pc[reference::offset_of(idx, sc)]);
    idx[last] = d < h ? d + h : d - h;
    const A gs = static_cast<A>(pg[reference::offset_of(idx, dy.strides())]) *
                 static_cast<A>(ps[reference::offset_of(idx, ss)]);
    idx[last] = d;
    po[reference::offset_of(idx, dx.strides())] = static_cast<T>(g * c + (d < h ? gs : -gs));
  });
}

}  // namespace molm::backend
