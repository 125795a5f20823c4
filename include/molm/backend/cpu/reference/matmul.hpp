// Reference matmul: out[β, m, n] = Σ_k a[β, m, k]·b[β, k, n] (+ bias[n]), one output element at a
// time, single-threaded, accumulating in double (f32, f64) or float (bf16, f16). The oracle the
// oneDNN and Eigen paths are tested against.
#pragma once

#include "molm/backend/cpu/reference/loops.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/tensor.hpp"

#include <type_traits>
#include <vector>

namespace molm::backend {

/// Accumulator of a reference dot product: double for f32/f64, float for the 16-bit floats.
template <class T>
using matmul_acc_t = std::conditional_t<std::is_same_v<T, float> || std::is_same_v<T, double>, double, float>;

/// Same contract as the optimised matmul_forward (kernels/matmul.hpp): a [..., M, K], b [..., K, N],
/// out [..., M, N] of one rank, batch extents of a and b equal to out's or 1; bias undefined or [N].
inline void matmul_forward(reference_t, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  const int r = out.dim();
  const std::int64_t M = out.shape()[r - 2], N = out.shape()[r - 1], K = a.shape()[r - 1];
  // Batch strides, 0 where an operand is broadcast.
  Shape batch, a_batch, b_batch, o_batch;
  for (int d = 0; d < r - 2; ++d) {
    batch.push_back(out.shape()[d]);
    a_batch.push_back(a.shape()[d] == 1 ? 0 : a.strides()[d]);
    b_batch.push_back(b.shape()[d] == 1 ? 0 : b.strides()[d]);
    o_batch.push_back(out.strides()[d]);
  }
  std::vector<double> bias_values(static_cast<std::size_t>(N), 0.0);
  if (bias.defined())
    visit_floating(bias.dtype(), "matmul", [&](auto tag) {
      using TB = typename decltype(tag)::type;
      const TB* pb = bias.data<TB>();
      for (std::int64_t n = 0; n < N; ++n)
        bias_values[static_cast<std::size_t>(n)] =
            static_cast<double>(static_cast<acc_t<TB>>(pb[n * bias.strides()[0]]));
    });
  visit_floating(a.dtype(), "matmul", [&](auto in_tag) {
    using T = typename decltype(in_tag)::type;
    using A = matmul_acc_t<T>;
    visit_floating(out.dtype(), "matmul", [&](auto out_tag) {
      using TO = typename decltype(out_tag)::type;
      const T *pa = a.data<T>(), *pb = b.data<T>();
      TO* po = out.data<TO>();
      const std::int64_t sam = a.strides()[r - 2], sak = a.strides()[r - 1];
      const std::int64_t sbk = b.strides()[r - 2], sbn = b.strides()[r - 1];
      const std::int64_t som = out.strides()[r - 2], son = out.strides()[r - 1];
      reference::for_each_index(batch, [&](const auto& idx) {
        const T* ab = pa + reference::offset_of(idx, a_batch);
        const T* bb = pb + reference::offset_of(idx, b_batch);
        TO* ob = po + reference::offset_of(idx, o_batch);
        for (std::int64_t m = 0; m < M; ++m)
          for (std::int64_t n = 0; n < N; ++n) {
            A acc = 0;
            for (std::int64_t k = 0; k < K; ++k)
              acc += static_cast<A>(static_cast<acc_t<T>>(ab[m * sam + k * sak])) *
                     static_cast<A>(static_cast<acc_t<T>>(bb[k * sbk + n * sbn]));
            acc += static_cast<A>(bias_values[static_cast<std::size_t>(n)]);
            ob[m * som + n * son] = static_cast<TO>(static_cast<acc_t<TO>>(acc));
          }
      });
    });
  });
}

}  // namespace molm::backend
