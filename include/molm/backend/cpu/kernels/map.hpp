// Optimised elementwise map: out[i] = f(in_0[i], ..., in_k[i]) with broadcasting and any strides.
// OpenMP splits the index space; each thread walks runs of the innermost coalesced dimension, and a
// run whose operands are all unit-stride gets a plain loop the compiler vectorises.
#pragma once

#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

#include <tuple>
#include <utility>

namespace molm::backend {

/// out (already allocated, shape S) = f(ins...) where every input broadcasts to S. Arithmetic is done
/// in acc_t of each input type; the result is converted to TO.
template <class TO, class... TI, class F, class... In>
void map_forward(cpu_t, const Tensor& out, F f, const In&... ins) {
  static_assert(sizeof...(TI) == sizeof...(In));
  constexpr int K = 1 + sizeof...(In);
  molm::detail::LoopGeometry<K> g{out.shape(), {out.strides(), molm::detail::broadcast_strides(ins, out.shape())...}};
  TO* po = out.data<TO>();
  const std::tuple<const TI*...> pin{ins.template data<TI>()...};
  molm::detail::parallel_for_each_run<K>(molm::detail::coalesce(g), [&](const auto& off, std::int64_t n,
                                                                        const auto& s) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      bool unit = s[0] == 1 && ((s[I + 1] == 1) && ...);
      TO* o = po + off[0];
      if (unit) {
        const std::tuple<const TI*...> p{(std::get<I>(pin) + off[I + 1])...};
        for (std::int64_t i = 0; i < n; ++i)
          o[i] = static_cast<TO>(f(static_cast<acc_t<TI>>(std::get<I>(p)[i])...));
      } else {
        for (std::int64_t i = 0; i < n; ++i)
          o[i * s[0]] = static_cast<TO>(f(static_cast<acc_t<TI>>(std::get<I>(pin)[off[I + 1] + i * s[I + 1]])...));
      }
    }(std::index_sequence_for<TI...>{});
  });
}

/// The elementwise function of a copy or a dtype conversion.
inline constexpr auto identity = [](auto v) { return v; };

/// A dense copy of t (any strides, any floating dtype) converted to `to`.
inline Tensor convert_dense(const Tensor& t, DType to) {
  Tensor c = Tensor::empty(t.shape(), to);
  visit_floating(to, "convert_dense", [&](auto to_tag) {
    using TO = typename decltype(to_tag)::type;
    visit_floating(t.dtype(), "convert_dense", [&](auto from_tag) {
      using TI = typename decltype(from_tag)::type;
      map_forward<TO, TI>(cpu_t{}, c, identity, t);
    });
  });
  return c;
}

}  // namespace molm::backend
