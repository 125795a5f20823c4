// Tensor's views and copies: reshape/view, permute/transpose, slice/narrow/select, squeeze/unsqueeze,
// expand, flatten, contiguous, clone, to(dtype), and the in-place fill_/copy_.
//
// A view shares storage and changes only (shape, strides, offset). Each is differentiable: its vjp
// maps the gradient back to the input's geometry (reshape back, inverse permutation, scatter into
// zeros for a slice, sum over broadcast dimensions for expand). Copies run on the device's Copy and
// Fill kernels (backend/kernels.hpp), so the tensor core instantiates no kernel itself.
#pragma once

#include "molm/autograd/engine.hpp"  // Tensor::requires_grad and the other autograd members
#include "molm/backend/kernels.hpp"

#include <algorithm>
#include <numeric>
#include <optional>
#include <vector>

namespace molm {
namespace detail {

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

inline Tensor sum_to_shape(const Tensor& g, const Shape& shape);
inline Tensor convert(const Tensor& t, DType dt);

inline void check_inplace(const Tensor& t, const char* op) {
  MOLM_CHECK(!(autograd::grad_enabled() && t.requires_grad()), op,
             "in-place write to a tensor that requires grad (shape {}); do it under no_grad or on a detach()ed "
             "tensor",
             t.shape().str());
}

}  // namespace detail

// ---- view ops -------------------------------------------------------------------------------------

inline Tensor Tensor::view(const Shape& shape) const {
  const Shape target = detail::infer_shape(shape, numel(), this->shape(), "view");
  auto st = detail::view_strides(this->shape(), strides(), target);
  MOLM_CHECK(st.has_value(), "view",
             "a tensor of shape {} with strides {} cannot be viewed as {} without a copy; use reshape()",
             this->shape().str(), strides().str(), target.str());
  Tensor out = detail::alias(*this, target, *st, offset());
  if (autograd::any_requires_grad({this})) {
    Shape in_shape = this->shape();
    autograd::record("view", {*this}, {out}, [in_shape](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{g[0].reshape(in_shape)};
    });
  }
  return out;
}

inline Tensor Tensor::reshape(const Shape& shape) const {
  const Shape target = detail::infer_shape(shape, numel(), this->shape(), "reshape");
  if (detail::view_strides(this->shape(), strides(), target)) return view(target);
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
  Tensor out = detail::alias(*this, sh, st, offset());
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
  Tensor out = detail::alias(*this, sh, st, offset() + b * strides()[k]);
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
  Tensor out = detail::alias(*this, sh, st, offset());
  if (autograd::any_requires_grad({this})) {
    Shape in_shape = shape();
    autograd::record("expand", {*this}, {out}, [in_shape](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::sum_to_shape(g[0], in_shape)};
    });
  }
  return out;
}

// ---- copies -----------------------------------------------------------------------------------------

namespace detail {
/// A dense copy of `t` converted to `dt`, no history.
inline Tensor convert(const Tensor& t, DType dt) {
  Tensor out = Tensor::empty(t.shape(), dt, t.device());
  backend::call<backend::Copy>(t.device(), dt, t, out);
  return out;
}

/// Which dims of `from` a sum down to `to` reduces (the reverse of broadcasting `to` up to `from`).
inline std::vector<bool> sum_to_dims(const Shape& from, const Shape& to) {
  const int lead = from.size() - to.size();
  MOLM_CHECK(lead >= 0, "sum_to", "cannot reduce shape {} to {}", from.str(), to.str());
  std::vector<bool> reduced(static_cast<std::size_t>(from.size()), false);
  for (int i = 0; i < from.size(); ++i) {
    const int j = i - lead;
    reduced[static_cast<std::size_t>(i)] = j < 0 || (to[j] == 1 && from[i] != 1);
    MOLM_CHECK(reduced[static_cast<std::size_t>(i)] || to[j] == from[i], "sum_to", "cannot reduce shape {} to {}",
               from.str(), to.str());
  }
  return reduced;
}

/// Σ of g down to `shape` (the reverse of broadcasting `shape` up to g's shape), no history:
/// expand's backward, kept here so the tensor core needs no op.
inline Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const std::vector<bool> reduced = sum_to_dims(g.shape(), shape);
  Shape keep;
  for (int i = 0; i < g.dim(); ++i) keep.push_back(reduced[static_cast<std::size_t>(i)] ? 1 : g.shape()[i]);
  Tensor out = Tensor::empty(keep, g.dtype(), g.device());
  backend::call<backend::Sum>(g.device(), g.dtype(), g, reduced, 1.0, out);
  return out.view(shape);
}
}  // namespace detail

inline Tensor Tensor::clone() const {
  Tensor out = detail::convert(*this, dtype());
  if (autograd::any_requires_grad({this}))
    autograd::record("clone", {*this}, {out}, [](const std::vector<Tensor>& g) { return std::vector<Tensor>{g[0]}; });
  return out;
}

inline Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

inline Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = detail::convert(*this, dt);
  if (is_floating(dt) && autograd::any_requires_grad({this})) {
    const DType from = dtype();
    autograd::record("to", {*this}, {out}, [from](const std::vector<Tensor>& g) {
      return std::vector<Tensor>{detail::convert(g[0], from)};
    });
  }
  return out;
}

inline Tensor& Tensor::fill_(double value) {
  detail::check_inplace(*this, "fill_");
  backend::call<backend::Fill>(device(), dtype(), *this, value);
  storage()->bump_version();
  return *this;
}

inline Tensor& Tensor::copy_(const Tensor& src) {
  detail::check_inplace(*this, "copy_");
  broadcast_shapes(src.shape(), shape(), "copy_");
  MOLM_CHECK(broadcast_shapes(src.shape(), shape(), "copy_") == shape(), "copy_",
             "source of shape {} does not broadcast to destination shape {}", src.shape().str(), shape().str());
  // Copy through a temporary when source and destination share storage (they may overlap).
  const Tensor s = src.storage() == storage() ? detail::convert(src, src.dtype()) : src;
  MOLM_CHECK(s.device() == device(), "copy_", "source is on {}, destination on {}", s.device().str(), device().str());
  backend::call<backend::Copy>(device(), dtype(), s, *this);
  storage()->bump_version();
  return *this;
}

}  // namespace molm
