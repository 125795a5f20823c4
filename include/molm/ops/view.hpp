// Views and copies: reshape/view, permute/transpose, slice/narrow/select, squeeze/unsqueeze, expand,
// flatten, contiguous, clone, to(dtype), and the in-place fill_/copy_.
//
// A view shares storage and changes only (shape, strides, offset). Each is differentiable: its vjp
// maps the gradient back to the input's geometry (reshape back, inverse permutation, scatter into
// zeros for a slice, sum over broadcast dimensions for expand).
#pragma once

#include "molm/autograd/engine.hpp"
#include "molm/ops/map.hpp"
#include "molm/ops/reduce.hpp"

#include <numeric>
#include <optional>

namespace molm {
namespace ops::detail {

/// A view of `t`'s storage with new geometry, no history.
inline Tensor alias(const Tensor& t, const Shape& shape, const Shape& strides, std::int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = t.dtype();
  return Tensor(std::move(impl));
}

/// Resolve one -1 extent and check the element count.
inline Shape infer_shape(const Shape& shape, std::int64_t numel, const Shape& from, const char* op) {
  Shape out = shape;
  int infer = -1;
  std::int64_t known = 1;
  for (int i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      MOLM_CHECK(infer < 0, op, "only one dimension can be -1 in {}", shape.str());
      infer = i;
    } else {
      MOLM_CHECK(out[i] >= 0, op, "invalid extent {} in {}", out[i], shape.str());
      known *= out[i];
    }
  }
  if (infer >= 0) {
    MOLM_CHECK(known != 0 && numel % known == 0, op, "cannot reshape {} ({} elements) to {}", from.str(), numel,
               shape.str());
    out[infer] = numel / known;
  }
  MOLM_CHECK(out.numel() == numel, op, "cannot reshape {} ({} elements) to {} ({} elements)", from.str(), numel,
             out.str(), out.numel());
  return out;
}

/// Strides for viewing (old_shape, old_strides) as new_shape without copying, if possible
/// (the algorithm PyTorch's view uses: each contiguous chunk of old dims maps onto new dims).
inline std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& new_shape) {
  Shape ns = new_shape;
  if (old_shape.numel() == 0 || old_shape.size() == 0) return contiguous_strides(new_shape);
  int view_d = new_shape.size() - 1;
  std::int64_t chunk_base = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int d = old_shape.size() - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        ns[view_d] = view_numel * chunk_base;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return ns;
}

inline void check_inplace(const Tensor& t, const char* op) {
  MOLM_CHECK(!(autograd::grad_enabled() && t.requires_grad()), op,
             "in-place write to a tensor that requires grad (shape {}); do it under no_grad or on a detach()ed "
             "tensor",
             t.shape().str());
}

}  // namespace ops::detail

// ---- view ops -------------------------------------------------------------------------------------

inline Tensor Tensor::view(const Shape& shape) const {
  const Shape target = ops::detail::infer_shape(shape, numel(), this->shape(), "view");
  auto st = ops::detail::view_strides(this->shape(), strides(), target);
  MOLM_CHECK(st.has_value(), "view",
             "a tensor of shape {} with strides {} cannot be viewed as {} without a copy; use reshape()",
             this->shape().str(), strides().str(), target.str());
  Tensor out = ops::detail::alias(*this, target, *st, offset());
  if (autograd::any_requires_grad({this})) {
    Shape in_shape = this->shape();
    autograd::record("view", {*this}, {out}, [in_shape](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].reshape(in_shape)};
    });
  }
  return out;
}

inline Tensor Tensor::reshape(const Shape& shape) const {
  const Shape target = ops::detail::infer_shape(shape, numel(), this->shape(), "reshape");
  if (ops::detail::view_strides(this->shape(), strides(), target)) return view(target);
  return contiguous().view(target);
}

inline Tensor Tensor::flatten(std::int64_t start, std::int64_t end) const {
  if (dim() == 0) return reshape({1});
  const int s = wrap_dim(start, dim(), "flatten"), e = wrap_dim(end, dim(), "flatten");
  MOLM_CHECK(s <= e, "flatten", "start dim {} is after end dim {}", start, end);
  Shape out;
  for (int i = 0; i < s; ++i) out.push_back(shape()[i]);
  std::int64_t m = 1;
  for (int i = s; i <= e; ++i) m *= shape()[i];
  out.push_back(m);
  for (int i = e + 1; i < dim(); ++i) out.push_back(shape()[i]);
  return reshape(out);
}

inline Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  MOLM_CHECK(static_cast<int>(dims.size()) == dim(), "permute", "got {} dims for a tensor of shape {}", dims.size(),
             shape().str());
  Shape sh, st;
  std::vector<std::int64_t> inverse(dims.size(), -1);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i], dim(), "permute");
    MOLM_CHECK(inverse[static_cast<std::size_t>(d)] < 0, "permute", "dimension {} repeats in the permutation", d);
    inverse[static_cast<std::size_t>(d)] = static_cast<std::int64_t>(i);
    sh.push_back(shape()[d]);
    st.push_back(strides()[d]);
  }
  Tensor out = ops::detail::alias(*this, sh, st, offset());
  if (autograd::any_requires_grad({this}))
    autograd::record("permute", {*this}, {out}, [inverse](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].permute(inverse)};
    });
  return out;
}

inline Tensor Tensor::transpose(std::int64_t d0, std::int64_t d1) const {
  std::vector<std::int64_t> p(static_cast<std::size_t>(dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[static_cast<std::size_t>(wrap_dim(d0, dim(), "transpose"))],
            p[static_cast<std::size_t>(wrap_dim(d1, dim(), "transpose"))]);
  return permute(p);
}

inline Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end, std::int64_t step) const {
  const int k = wrap_dim(d, dim(), "slice");
  MOLM_CHECK(step > 0, "slice", "step must be positive, got {}", step);
  const std::int64_t n = shape()[k];
  // Python slice semantics: negative indices count from the end, out-of-range bounds clamp.
  auto clamp = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
  const std::int64_t b = clamp(start), e = std::max(clamp(end), clamp(start));
  Shape sh = shape(), st = strides();
  sh[k] = (e - b + step - 1) / step;
  st[k] = strides()[k] * step;
  Tensor out = ops::detail::alias(*this, sh, st, offset() + b * strides()[k]);
  if (autograd::any_requires_grad({this})) {
    Shape in_shape = shape();
    DType dt = dtype();
    autograd::record("slice", {*this}, {out}, [=](const std::vector<Tensor>& g) {
      Tensor dx = Tensor::empty(in_shape, dt).zero_();
      dx.slice(k, b, e, step).copy_(g[0]);
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

inline Tensor Tensor::narrow(std::int64_t d, std::int64_t start, std::int64_t length) const {
  const int k = wrap_dim(d, dim(), "narrow");
  MOLM_CHECK(start >= 0 && length >= 0 && start + length <= shape()[k], "narrow",
             "range [{}, {}) is outside dimension {} of extent {} (shape {})", start, start + length, k, shape()[k],
             shape().str());
  return slice(k, start, start + length);
}

inline Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  const int k = wrap_dim(d, dim(), "select");
  const std::int64_t n = shape()[k];
  MOLM_CHECK(index >= -n && index < n, "select", "index {} is out of range for dimension {} of extent {}", index, k, n);
  const std::int64_t i = index < 0 ? index + n : index;
  return slice(k, i, i + 1).squeeze(k);
}

inline Tensor Tensor::squeeze(std::int64_t d) const {
  const int k = wrap_dim(d, dim(), "squeeze");
  if (shape()[k] != 1) return *this;
  Shape sh = shape();
  sh.erase(k);
  return view(sh);
}

inline Tensor Tensor::unsqueeze(std::int64_t d) const {
  const int k = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape sh = shape();
  sh.insert(k, 1);
  return view(sh);
}

inline Tensor Tensor::expand(const Shape& target) const {
  MOLM_CHECK(target.size() >= dim(), "expand", "cannot expand shape {} to fewer dimensions {}", shape().str(),
             target.str());
  Shape sh, st;
  const int off = target.size() - dim();
  for (int i = 0; i < target.size(); ++i) {
    const int j = i - off;
    const std::int64_t have = j >= 0 ? shape()[j] : 1;
    const std::int64_t want = target[i] == -1 ? have : target[i];
    MOLM_CHECK(have == want || have == 1, "expand", "cannot expand shape {} to {}", shape().str(), target.str());
    sh.push_back(want);
    st.push_back(have == want && j >= 0 ? strides()[j] : 0);
  }
  Tensor out = ops::detail::alias(*this, sh, st, offset());
  if (autograd::any_requires_grad({this})) {
    Shape in_shape = shape();
    autograd::record("expand", {*this}, {out}, [in_shape](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{sum_to(g[0], in_shape)};
    });
  }
  return out;
}

// ---- copies -----------------------------------------------------------------------------------------

namespace ops::detail {
/// A dense copy of `t` converted to `dt`, no history.
inline Tensor convert(const Tensor& t, DType dt) {
  return visit_dtype(dt, [&](auto to) {
    using TO = typename decltype(to)::type;
    return visit_dtype(t.dtype(), [&](auto from) {
      using TI = typename decltype(from)::type;
      return map<TO, TI>(t.shape(), [](auto v) { return v; }, t);
    });
  });
}
}  // namespace ops::detail

inline Tensor Tensor::clone() const {
  Tensor out = ops::detail::convert(*this, dtype());
  if (autograd::any_requires_grad({this}))
    autograd::record("clone", {*this}, {out}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  return out;
}

inline Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

inline Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = ops::detail::convert(*this, dt);
  if (is_floating(dt) && autograd::any_requires_grad({this})) {
    const DType from = dtype();
    autograd::record("to", {*this}, {out}, [from](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{ops::detail::convert(g[0], from)};
    });
  }
  return out;
}

inline Tensor& Tensor::fill_(double value) {
  ops::detail::check_inplace(*this, "fill_");
  visit_dtype(dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = static_cast<T>(static_cast<acc_t<T>>(value));
    ops::detail::map_into<T>(*this, [v]() { return v; });
  });
  storage()->bump_version();
  return *this;
}

inline Tensor& Tensor::copy_(const Tensor& src) {
  ops::detail::check_inplace(*this, "copy_");
  broadcast_shapes(src.shape(), shape(), "copy_");
  MOLM_CHECK(broadcast_shapes(src.shape(), shape(), "copy_") == shape(), "copy_",
             "source of shape {} does not broadcast to destination shape {}", src.shape().str(), shape().str());
  // Copy through a temporary when source and destination share storage (they may overlap).
  const Tensor s = src.storage() == storage() ? ops::detail::convert(src, src.dtype()) : src;
  visit_dtype(dtype(), [&](auto to) {
    using TO = typename decltype(to)::type;
    visit_dtype(s.dtype(), [&](auto from) {
      using TI = typename decltype(from)::type;
      ops::detail::map_into<TO, TI>(*this, [](auto v) { return v; }, s);
    });
  });
  storage()->bump_version();
  return *this;
}

}  // namespace molm
