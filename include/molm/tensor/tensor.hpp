// Tensor: a ref-counted handle to (storage, dtype, shape, strides, offset) plus autograd state.
//
// The dtype is a runtime value, so checkpoints, plugins and mixed precision pass tensors around
// without template explosion; kernels recover the element type once through visit_dtype.
// Copying a Tensor copies the handle (like torch.Tensor), never the data: use clone() for that.
//
// This header declares the class and defines the metadata accessors. Views are defined in
// tensor/views.hpp, autograd members in autograd/engine.hpp; include <molm/tensor.hpp> for all.
#pragma once

#include "molm/core/device.hpp"
#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"
#include "molm/core/shape.hpp"
#include "molm/core/storage.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace molm {

namespace autograd {
class Node;
}

struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  /// A new, uninitialised, contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = kCPU);
  /// A tensor viewing `storage` with explicit geometry (strides and offset in elements).
  static Tensor from_storage(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape,
                             const Shape& strides, std::int64_t offset);

  // ---- metadata -------------------------------------------------------------------------------
  bool defined() const { return static_cast<bool>(impl_); }
  DType dtype() const;
  Device device() const;
  const Shape& shape() const;
  const Shape& strides() const;
  std::int64_t offset() const;
  int dim() const { return shape().size(); }
  std::int64_t numel() const;
  std::int64_t size(std::int64_t d) const;
  std::int64_t stride(std::int64_t d) const;
  bool is_contiguous() const;
  std::size_t itemsize() const { return molm::itemsize(dtype()); }
  const std::shared_ptr<Storage>& storage() const;
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  /// Pointer to the first element (storage + offset); checks the element type and the device.
  template <class T> T* data() const;
  /// Untyped pointer to the first element.
  void* raw_data() const;
  /// The value of a one-element tensor, converted to T.
  template <class T> T item() const;

  // ---- autograd (autograd/engine.hpp) ---------------------------------------------------------
  bool requires_grad() const;
  /// Mark a leaf as a parameter whose gradient backward() accumulates into grad().
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  void zero_grad() const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  /// Reverse-mode differentiation from this tensor. `grad` may be omitted for a one-element tensor.
  void backward(const Tensor& grad = {}, bool retain_graph = false) const;
  /// Same storage, no history, requires_grad false.
  Tensor detach() const;
  /// Storage version: bumped by every in-place write, checked by autograd.
  std::uint64_t version() const;

  // ---- views and copies (tensor/views.hpp); all are recorded by autograd ---------------------
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor transpose(std::int64_t d0, std::int64_t d1) const;
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor expand(const Shape& shape) const;
  Tensor flatten(std::int64_t start = 0, std::int64_t end = -1) const;
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;

  // ---- in-place writes (not recorded; bump the version) ------------------------------------------
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);

  /// Readable printing: dtype, shape and (abridged) values.
  std::string str() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  // autograd
  bool requires_grad = false;  // true for leaves marked by the user and for outputs of recorded ops
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
  std::uint32_t output_nr = 0;  // which output of grad_fn this tensor is
};

// ---- inline definitions of the metadata accessors ----------------------------------------------

namespace detail {
inline const TensorImpl& checked(const std::shared_ptr<TensorImpl>& p) {
  MOLM_CHECK(p, "tensor", "use of an undefined (default-constructed) tensor");
  return *p;
}
}  // namespace detail

inline Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  MOLM_CHECK(device.type == DeviceType::cpu, "tensor", "device {} is not available in this build",
             device.str());
  const std::int64_t n = shape.numel();
  std::size_t bytes = 0;
  MOLM_CHECK(!__builtin_mul_overflow(static_cast<std::size_t>(n), molm::itemsize(dtype), &bytes), "tensor",
             "byte size of {} {} overflows", shape.str(), name(dtype));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(bytes);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

inline Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape,
                                   const Shape& strides, std::int64_t offset) {
  MOLM_CHECK(shape.size() == strides.size(), "tensor", "shape {} and strides {} differ in rank", shape.str(),
             strides.str());
  // The furthest element any index can reach must lie inside the storage.
  std::int64_t last = offset;
  bool empty = false;
  for (int i = 0; i < shape.size(); ++i) {
    MOLM_CHECK(strides[i] >= 0, "tensor", "negative stride {} is not supported", strides[i]);
    if (shape[i] == 0) empty = true;
    else last += (shape[i] - 1) * strides[i];
  }
  shape.numel();  // overflow check
  const std::size_t need = empty ? 0 : static_cast<std::size_t>(last + 1) * molm::itemsize(dtype);
  MOLM_CHECK(offset >= 0 && need <= storage->nbytes(), "tensor",
             "view {} (strides {}, offset {}) of {} needs {} bytes but the storage has {}", shape.str(),
             strides.str(), offset, name(dtype), need, storage->nbytes());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

inline DType Tensor::dtype() const { return detail::checked(impl_).dtype; }
inline Device Tensor::device() const { return detail::checked(impl_).storage->device(); }
inline const Shape& Tensor::shape() const { return detail::checked(impl_).shape; }
inline const Shape& Tensor::strides() const { return detail::checked(impl_).strides; }
inline std::int64_t Tensor::offset() const { return detail::checked(impl_).offset; }
inline std::int64_t Tensor::numel() const { return shape().numel(); }
inline const std::shared_ptr<Storage>& Tensor::storage() const { return detail::checked(impl_).storage; }
inline std::uint64_t Tensor::version() const { return storage()->version(); }

namespace detail {
/// A view of `t`'s storage with new geometry, no history (views, saved tensors and kernels make
/// their views with it).
inline Tensor alias(const Tensor& t, const Shape& shape, const Shape& strides, std::int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = t.dtype();
  return Tensor(std::move(impl));
}
}  // namespace detail

inline std::int64_t Tensor::size(std::int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
inline std::int64_t Tensor::stride(std::int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }

inline bool Tensor::is_contiguous() const {
  const Shape& sh = shape();
  const Shape& st = strides();
  std::int64_t expect = 1;
  for (int i = sh.size() - 1; i >= 0; --i) {
    if (sh[i] == 1) continue;  // any stride is fine for an extent of 1
    if (st[i] != expect) return false;
    expect *= sh[i];
  }
  return true;
}

inline void* Tensor::raw_data() const {
  const auto& t = detail::checked(impl_);
  return static_cast<char*>(t.storage->data()) + t.offset * static_cast<std::int64_t>(molm::itemsize(t.dtype));
}

template <class T> T* Tensor::data() const {
  MOLM_CHECK(dtype() == dtype_of<T>, "tensor", "data<{}>() called on a {} tensor", name(dtype_of<T>),
             name(dtype()));
  MOLM_CHECK(device().type == DeviceType::cpu, "tensor", "data() needs a CPU tensor, this one is on {}",
             device().str());
  return static_cast<T*>(raw_data());
}

template <class T> T Tensor::item() const {
  MOLM_CHECK(numel() == 1, "item", "needs a one-element tensor, got shape {}", shape().str());
  return visit_dtype(dtype(), [&](auto tag) {
    using E = typename decltype(tag)::type;
    if constexpr (std::is_same_v<E, bfloat16> || std::is_same_v<E, float16>)
      return static_cast<T>(static_cast<float>(*data<E>()));
    else
      return static_cast<T>(*data<E>());
  });
}

}  // namespace molm
