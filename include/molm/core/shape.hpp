// Shape: up to 8 extents (or strides) stored inline, and the shape arithmetic every op needs:
// element counts with overflow checks, contiguous strides, broadcasting, dimension wrapping.
#pragma once

#include "molm/core/error.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace molm {

inline constexpr int kMaxDims = 8;

/// A list of at most kMaxDims int64 values; used for shapes and for strides.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> v) { assign(v.begin(), v.end()); }
  explicit Shape(const std::vector<std::int64_t>& v) { assign(v.begin(), v.end()); }
  template <class It> Shape(It first, It last) { assign(first, last); }

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  std::int64_t& operator[](int i) { return d_[static_cast<std::size_t>(i)]; }
  std::int64_t operator[](int i) const { return d_[static_cast<std::size_t>(i)]; }
  std::int64_t back() const { return d_[static_cast<std::size_t>(n_ - 1)]; }
  const std::int64_t* begin() const { return d_.data(); }
  const std::int64_t* end() const { return d_.data() + n_; }
  std::int64_t* begin() { return d_.data(); }
  std::int64_t* end() { return d_.data() + n_; }

  void push_back(std::int64_t v) {
    MOLM_CHECK(n_ < kMaxDims, "shape", "at most {} dimensions are supported", kMaxDims);
    d_[static_cast<std::size_t>(n_++)] = v;
  }
  void insert(int pos, std::int64_t v) {
    push_back(0);
    for (int i = n_ - 1; i > pos; --i) d_[i] = d_[i - 1];
    d_[static_cast<std::size_t>(pos)] = v;
  }
  void erase(int pos) {
    for (int i = pos; i + 1 < n_; ++i) d_[i] = d_[i + 1];
    --n_;
  }
  std::vector<std::int64_t> vec() const { return {begin(), end()}; }

  /// Product of the extents; throws when it does not fit in int64.
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < n_; ++i) {
      MOLM_CHECK(d_[i] >= 0, "shape", "negative extent {} in {}", d_[i], str());
      if (__builtin_mul_overflow(n, d_[i], &n)) MOLM_THROW("shape", "element count of {} overflows int64", str());
    }
    return n;
  }

  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < n_; ++i) s += (i ? ", " : "") + std::to_string(d_[i]);
    return s + "]";
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.n_ == b.n_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

 private:
  template <class It> void assign(It first, It last) {
    n_ = 0;
    for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
  }
  std::array<std::int64_t, kMaxDims> d_{};
  int n_ = 0;
};

/// Row-major strides (in elements) of a dense tensor of `shape`.
inline Shape contiguous_strides(const Shape& shape) {
  Shape s = shape;
  std::int64_t acc = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= std::max<std::int64_t>(shape[i], 1);
  }
  return s;
}

/// Turn a possibly negative dimension index into [0, ndim); `op` names the caller in the error.
inline int wrap_dim(std::int64_t dim, int ndim, const char* op) {
  const std::int64_t d = dim < 0 ? dim + ndim : dim;
  MOLM_CHECK(d >= 0 && d < std::max(ndim, 1), op, "dimension {} is out of range for a {}-d tensor", dim, ndim);
  return static_cast<int>(d);
}

/// NumPy broadcasting of two shapes; the error names the op and both shapes.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int n = std::max(a.size(), b.size());
  Shape out;
  for (int i = 0; i < n; ++i) {
    const int ia = i - (n - a.size()), ib = i - (n - b.size());
    const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    MOLM_CHECK(da == db || da == 1 || db == 1, op, "shapes {} and {} cannot be broadcast together", a.str(),
               b.str());
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

}  // namespace molm
