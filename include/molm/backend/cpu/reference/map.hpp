// Reference elementwise map: one loop over every output index, operand offsets recomputed each time.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

#include <tuple>

namespace molm::backend {

template <class TO, class... TI, class F, class... In>
void map_forward(reference_t, const Tensor& out, F f, const In&... ins) {
  static_assert(sizeof...(TI) == sizeof...(In));
  const std::tuple<Shape, decltype((void)sizeof(In), Shape{})...> strides{
      out.strides(), molm::detail::broadcast_strides(ins, out.shape())...};
  TO* po = out.data<TO>();
  const std::tuple<const TI*...> pin{ins.template data<TI>()...};
  reference::for_each_index(out.shape(), [&](const auto& idx) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      po[reference::offset_of(idx, std::get<0>(strides))] = static_cast<TO>(
          f(static_cast<acc_t<TI>>(std::get<I>(pin)[reference::offset_of(idx, std::get<I + 1>(strides))])...));
    }(std::index_sequence_for<TI...>{});
  });
}

}  // namespace molm::backend
