// The view and copy helpers ops build on. Tensor's own view members (view, reshape, permute, slice,
// expand, contiguous, to, copy_, …) live in the tensor core (tensor/views.hpp); this header gives
// the ops their short names in ops::detail.
#pragma once

#include "molm/ops/map.hpp"
#include "molm/tensor/views.hpp"

namespace molm::ops::detail {
using molm::detail::alias;
using molm::detail::check_inplace;
using molm::detail::convert;
using molm::detail::infer_shape;
using molm::detail::view_strides;
}  // namespace molm::ops::detail
