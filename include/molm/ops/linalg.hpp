// Matrix products: matmul (torch.matmul semantics) and linear (x·Wᵀ + b).
//
//   C = A·B, batch dims broadcast:   dA = sum_to(dC·Bᵀ, A)      dB = sum_to(Aᵀ·dC, B)
//   y = x·Wᵀ + b over x's leading dims (rows):   dx = dy·W    dW = dyᵀ·x    db = Σ_rows dy
//
// 1-D operands follow torch.matmul: a vector on the left is a row [1, K], on the right a column
// [K, 1], and that added dimension is dropped from the result. Transposes are strided views, so
// Bᵀ, Aᵀ and Wᵀ above cost no copy: the kernels take strided operands.
// Both operands must have the same floating dtype; matmul(a, b, DType::f32) on bf16 inputs keeps
// the f32 accumulator instead of rounding it to bf16. Under autograd::autocast (bf16), f32 operands
// are cast to bf16 and multiplied that way (weights and biases through the autocast cache), with a
// bf16 result as torch's, or f32 when matmul is asked for f32 (autocast.hpp has the rules).
#pragma once

#include "molm/autograd/autocast.hpp"
#include "molm/backend/kernels.hpp"
#include "molm/ops/binary.hpp"
#include "molm/ops/map.hpp"
#include "molm/ops/reduce.hpp"
#include "molm/ops/view.hpp"

namespace molm {
namespace ops::detail {

/// out = a·b (+ bias) on the Matmul kernel of a's device (backend/cpu/kernels/matmul.hpp on the CPU).
inline void matmul_into(const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  backend::call<backend::Matmul>(a.device(), a.dtype(), a, b, bias, out);
}

/// t with leading extent-1 dims added up to `rank` (a view, no history).
inline Tensor unsqueeze_to_rank(const Tensor& t, int rank) {
  Shape shape, strides;
  for (int i = t.dim(); i < rank; ++i) {
    shape.push_back(1);
    strides.push_back(0);
  }
  for (int i = 0; i < t.dim(); ++i) {
    shape.push_back(t.shape()[i]);
    strides.push_back(t.strides()[i]);
  }
  return alias(t, shape, strides, t.offset());
}

/// t as a [rows, cols] matrix over its leading dims: a view when the strides allow, else a copy.
inline Tensor flatten_to_rows(const Tensor& t, std::int64_t cols) {
  const std::int64_t rows = cols == 0 ? Shape(t.shape().begin(), t.shape().end() - 1).numel() : t.numel() / cols;
  const Shape shape{rows, cols};
  if (auto st = view_strides(t.shape(), t.strides(), shape)) return alias(t, shape, *st, t.offset());
  return alias(convert(t, t.dtype()), shape, contiguous_strides(shape), 0);
}

inline void check_matmul_dtypes(const Tensor& a, const Tensor& b, DType out, const char* op) {
  check_cpu(a, op);
  check_cpu(b, op);
  check_same_dtype(a, b, op);
  MOLM_CHECK(is_floating(a.dtype()), op, "needs floating tensors, got {} {} and {} {}", name(a.dtype()),
             a.shape().str(), name(b.dtype()), b.shape().str());
  MOLM_CHECK(out == a.dtype() || (a.dtype() == DType::bf16 && out == DType::f32), op,
             "cannot produce {} from {} inputs {} and {} (only bf16 inputs may give an f32 result)", name(out),
             name(a.dtype()), a.shape().str(), b.shape().str());
}

/// The bf16 operand autocast multiplies for `t`: t itself when already bf16; a leaf (a weight, a
/// bias) through the scope's cast cache; anything else by a recorded cast.
inline Tensor autocast_operand(const Tensor& t) {
  if (!t.defined() || t.dtype() == DType::bf16) return t;
  return autograd::autocast_weight(t, DType::bf16, [&] { return t.to(DType::bf16); });
}

/// a [..., M, K] · b [..., K, N], both at least 2-D, batch dims broadcast; recorded for autograd.
inline Tensor matmul_nd(const Tensor& a, const Tensor& b, DType out_dtype) {
  const int ra = a.dim(), rb = b.dim();
  const std::int64_t M = a.shape()[ra - 2], K = a.shape()[ra - 1], N = b.shape()[rb - 1];
  MOLM_CHECK(b.shape()[rb - 2] == K, "matmul", "inner dimensions differ: {} @ {} ({} vs {})", a.shape().str(),
             b.shape().str(), K, b.shape()[rb - 2]);
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2), b_batch(b.shape().begin(), b.shape().end() - 2);
  Shape out_shape = broadcast_shapes(a_batch, b_batch, "matmul");
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, out_dtype);
  const std::optional<Shape> rows_view =
      ra > 2 ? view_strides(a.shape(), a.strides(), Shape{a.numel() / std::max<std::int64_t>(K, 1), K}) : std::nullopt;
  if (b_batch.numel() == 1 && rows_view && K > 0) {
    // One b for every batch item and a's rows form one matrix: a single GEMM over all rows
    // blocks better than many small ones.
    const std::int64_t rows = a.numel() / K;
    matmul_into(alias(a, {rows, K}, *rows_view, a.offset()),
                alias(b, {K, N}, {b.strides()[rb - 2], b.strides()[rb - 1]}, b.offset()), Tensor(),
                alias(out, {rows, N}, {N, 1}, 0));
  } else {
    const int r = out_shape.size();
    matmul_into(unsqueeze_to_rank(a, r), unsqueeze_to_rank(b, r), Tensor(), out);
  }

  if (autograd::any_requires_grad({&a, &b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::SavedTensor sa(gb ? a : Tensor(), "matmul"), sb(ga ? b : Tensor(), "matmul");
    const Shape sha = a.shape(), shb = b.shape();
    const DType in_dtype = a.dtype();
    autograd::record("matmul", {a, b}, {out}, [=](const std::vector<Tensor>& g) {
      // bf16 inputs with an f32 result: the gradients are bf16 like the inputs.
      const Tensor dy = g[0].dtype() == in_dtype ? g[0] : convert(g[0], in_dtype);
      Tensor da, db;
      if (ga) da = sum_to(matmul_nd(dy, sb.get().transpose(-1, -2), in_dtype), sha);
      if (gb) {
        const Tensor& av = sa.get();
        if (shb.size() == 2 && av.dim() > 2)  // b shared by every batch item: Σ_β Aβᵀ·dCβ is one GEMM
          db = matmul_nd(flatten_to_rows(av, K).transpose(0, 1), flatten_to_rows(dy, N), in_dtype);
        else
          db = sum_to(matmul_nd(av.transpose(-1, -2), dy, in_dtype), shb);
      }
      return std::vector<Tensor>{da, db};
    });
  }
  return out;
}

}  // namespace ops::detail

/// torch.matmul: 1-D·1-D is a dot product, 2-D·2-D a matrix product, and higher ranks are stacks of
/// matrices whose batch dims broadcast ([2, 1, 3, 4] @ [5, 4, 2] → [2, 5, 3, 2]). `out_dtype` may
/// be f32 for bf16 inputs; otherwise it is the inputs' dtype.
inline Tensor matmul(const Tensor& a, const Tensor& b, DType out_dtype) {
  if (autograd::autocast_to_bf16(a.dtype(), b.dtype()) && (out_dtype == DType::f32 || out_dtype == DType::bf16))
    return matmul(ops::detail::autocast_operand(a), ops::detail::autocast_operand(b), out_dtype);
  ops::detail::check_matmul_dtypes(a, b, out_dtype, "matmul");
  MOLM_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "needs tensors of at least 1 dimension, got {} and {}",
             a.shape().str(), b.shape().str());
  const std::int64_t ka = a.shape().back(), kb = b.dim() == 1 ? b.shape()[0] : b.shape()[b.dim() - 2];
  MOLM_CHECK(ka == kb, "matmul", "inner dimensions differ: {} @ {} ({} vs {})", a.shape().str(), b.shape().str(), ka,
             kb);
  Tensor y = ops::detail::matmul_nd(a.dim() == 1 ? a.unsqueeze(0) : a, b.dim() == 1 ? b.unsqueeze(1) : b, out_dtype);
  if (a.dim() == 1) y = y.squeeze(-2);
  if (b.dim() == 1) y = y.squeeze(-1);
  return y;
}

inline Tensor matmul(const Tensor& a, const Tensor& b) {
  ops::detail::check_cpu(a, "matmul");
  return matmul(a, b, autograd::autocast_to_bf16(a.dtype(), b.dtype()) ? DType::bf16 : a.dtype());
}

/// y = x·Wᵀ + b over x's leading dims: x [..., in], weight [out, in] (PyTorch's layout), bias [out]
/// or undefined → y [..., out]. W is read transposed in place; x is viewed as [rows, in].
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {}) {
  if (autograd::autocast_to_bf16(x.dtype(), weight.dtype()) &&
      (!bias.defined() || bias.dtype() == DType::f32 || bias.dtype() == DType::bf16)) {
    // bf16 GEMM with the bias added to its f32 accumulator, one rounding to a bf16 result; the bf16
    // copies of the weight and bias come from the scope's cache while they are unchanged.
    using ops::detail::autocast_operand;
    return linear(autocast_operand(x), autocast_operand(weight), autocast_operand(bias));
  }
  ops::detail::check_matmul_dtypes(x, weight, x.dtype(), "linear");
  MOLM_CHECK(weight.dim() == 2 && x.dim() >= 1, "linear",
             "needs x [..., in] and weight [out, in], got x {} and weight {}", x.shape().str(), weight.shape().str());
  const std::int64_t in = weight.shape()[1], out_features = weight.shape()[0];
  MOLM_CHECK(x.shape().back() == in, "linear", "x {} has {} features but weight {} expects {}", x.shape().str(),
             x.shape().back(), weight.shape().str(), in);
  if (bias.defined()) {
    ops::detail::check_cpu(bias, "linear");
    MOLM_CHECK(bias.dim() == 1 && bias.shape()[0] == out_features, "linear", "bias {} does not match weight {}",
               bias.shape().str(), weight.shape().str());
    ops::detail::check_same_dtype(bias, weight, "linear");
  }
  Shape out_shape = x.shape();
  out_shape[out_shape.size() - 1] = out_features;
  Tensor y = Tensor::empty(out_shape, x.dtype());
  const Tensor x2 = ops::detail::flatten_to_rows(x, in);
  const std::int64_t rows = x2.shape()[0];
  const Tensor w_t =
      ops::detail::alias(weight, {in, out_features}, {weight.strides()[1], weight.strides()[0]}, weight.offset());
  ops::detail::matmul_into(x2, w_t, bias, ops::detail::alias(y, {rows, out_features}, {out_features, 1}, 0));

  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
    autograd::SavedTensor sx(gw ? x : Tensor(), "linear"), sw(gx ? weight : Tensor(), "linear");
    const Shape x_shape = x.shape();
    const DType dt = x.dtype();
    autograd::record("linear", {x, weight, bias}, {y}, [=](const std::vector<Tensor>& g) {
      const Tensor dy = ops::detail::flatten_to_rows(g[0], out_features);  // [rows, out]
      Tensor dx, dw, db;
      if (gx) dx = ops::detail::matmul_nd(dy, sw.get(), dt).reshape(x_shape);
      if (gw) dw = ops::detail::matmul_nd(dy.transpose(0, 1), ops::detail::flatten_to_rows(sx.get(), in), dt);
      if (gb) db = sum(dy, {0});
      return std::vector<Tensor>{dx, dw, db};
    });
  }
  return y;
}

}  // namespace molm
