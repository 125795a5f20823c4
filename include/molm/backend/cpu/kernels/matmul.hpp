// Optimised matmul: which engine runs which dtype.
//   M ≤ 4 rows times a row-major weight (decoding), f32/bf16 : the streaming GEMV of gemv.hpp
//   f32, bf16 (→ bf16 or f32) : oneDNN primitive (onednn/matmul.hpp), strided operands without copies
//   f64                       : Eigen's GEMM on strided maps, batches split across OpenMP threads
//   f16                       : widened to f32, oneDNN, rounded back (oneDNN 2.6 has f16 matmul only
//                               on AVX512-FP16 CPUs; the widening is exact and the cost is O(size))
#pragma once

#include "molm/backend/cpu/kernels/gemv.hpp"
#include "molm/backend/cpu/kernels/map.hpp"
#include "molm/backend/cpu/onednn/matmul.hpp"
#include "molm/tensor/iter.hpp"

#include <Eigen/Core>

namespace molm::backend {

namespace matmul_detail {

/// Offsets of batch item `i` (row-major over out's batch dims) in a and b; broadcast dims add 0.
struct BatchOffsets {
  std::int64_t a = 0, b = 0;
};
inline BatchOffsets batch_offsets(const Tensor& a, const Tensor& b, const Shape& out_shape, std::int64_t i) {
  BatchOffsets o;
  for (int d = out_shape.size() - 3; d >= 0; --d) {
    const std::int64_t idx = i % out_shape[d];
    i /= out_shape[d];
    if (a.shape()[d] != 1) o.a += idx * a.strides()[d];
    if (b.shape()[d] != 1) o.b += idx * b.strides()[d];
  }
  return o;
}

inline void matmul_f64_eigen(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using StridedMap = Eigen::Map<const Matrix, Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
  using DenseMap = Eigen::Map<Matrix>;
  const int r = out.dim();
  const std::int64_t M = out.shape()[r - 2], N = out.shape()[r - 1], K = a.shape()[r - 1];
  const std::int64_t batches = out.numel() / (M * N);
  const double *pa = a.data<double>(), *pb = b.data<double>();
  double* po = out.data<double>();
  const double* pbias = bias.defined() ? bias.data<double>() : nullptr;
  // Eigen parallelises one GEMM itself but stays serial inside an OpenMP region, so many small
  // batch items go to threads and one large product to Eigen.
  molm::detail::parallel_for(batches, M * N * K, [&](std::int64_t i) {
    const BatchOffsets off = batch_offsets(a, b, out.shape(), i);
    const StridedMap A(pa + off.a, M, K,
                       Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(a.strides()[r - 2], a.strides()[r - 1]));
    const StridedMap B(pb + off.b, K, N,
                       Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(b.strides()[r - 2], b.strides()[r - 1]));
    DenseMap C(po + i * M * N, M, N);
    C.noalias() = A * B;
    if (pbias)
      C.rowwise() += Eigen::Map<const Eigen::RowVectorXd, Eigen::Unaligned, Eigen::InnerStride<>>(
          pbias, N, Eigen::InnerStride<>(bias.strides()[0]));
  });
}

}  // namespace matmul_detail

/// out = a·b (+ bias). a [..., M, K], b [..., K, N], out [..., M, N] dense, all of one rank ≥ 2; each
/// batch extent of a and b equals out's or is 1; bias undefined or [N] (a's dtype, or f32 for bf16).
/// Dtypes: a and b equal; out equal to them, or f32 for bf16 inputs.
inline void matmul_forward(cpu_t, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  if (out.numel() == 0) return;
  if (a.shape().back() == 0) {  // an empty sum: out = bias (or 0)
    visit_floating(out.dtype(), "matmul", [&](auto tag) {
      using TO = typename decltype(tag)::type;
      if (!bias.defined()) {
        map_forward<TO>(cpu_t{}, out, [] { return acc_t<TO>(0); });
        return;
      }
      visit_floating(bias.dtype(), "matmul", [&](auto btag) {
        map_forward<TO, typename decltype(btag)::type>(cpu_t{}, out, identity, bias);
      });
    });
    return;
  }
  if (gemv_applies(a, b, bias, out)) return gemv(a, b, bias, out);
  if (onednn::supports_matmul(a.dtype(), b.dtype(), out.dtype())) return onednn::matmul(a, b, bias, out);
  if (a.dtype() == DType::f64) return matmul_detail::matmul_f64_eigen(a, b, bias, out);
  MOLM_CHECK(a.dtype() == DType::f16 && b.dtype() == DType::f16 && out.dtype() == DType::f16, "matmul",
             "no CPU kernel for {} x {} -> {}", name(a.dtype()), name(b.dtype()), name(out.dtype()));
  Tensor out32 = Tensor::empty(out.shape(), DType::f32);
  onednn::matmul(convert_dense(a, DType::f32), convert_dense(b, DType::f32),
                 bias.defined() ? convert_dense(bias, DType::f32) : Tensor(), out32);
  map_forward<float16, float>(cpu_t{}, out, identity, out32);
}

}  // namespace molm::backend
