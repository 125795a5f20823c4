// Optimised scaled-dot-product attention.
//
// Forward: OpenMP over the B·H (batch, head) pairs, and per pair Eigen GEMMs on [L, D] matrices (P·V;
// the logits Q·Kᵀ too for heads wider than 16, narrower ones use a packed-Kᵀ loop) and
// softmax_row.hpp for the probabilities, so the logits of a head never leave the cache between
// product, mask and softmax. f32/f64 operands are read in place through strided Eigen maps (a
// permuted [B,L,H,D] tensor needs no copy); bf16/f16 are widened to float first, so all products
// accumulate in acc_t<T>.
// Backward (f32 and bf16): four batched oneDNN GEMMs over all B·H heads at once — dV = Pᵀ·dO,
// dP = dO·Vᵀ, dQ = scale·dS·K, dK = scale·dSᵀ·Q — with the softmax backward row by row in between;
// bf16 operands are widened to f32 (the products keep f32 accumulators and the results are rounded
// once). f64/f16 keep the per-head Eigen backward (oneDNN has no f64).
// The maths is the reference's (backend/cpu/reference/attention.hpp).
#pragma once

#include "molm/backend/cpu/kernels/softmax_row.hpp"
#include "molm/backend/cpu/onednn/matmul.hpp"
#include "molm/backend/cpu/reference/attention.hpp"
#include "molm/backend/cpu/rows.hpp"

#include <Eigen/Core>

#include <type_traits>

namespace molm::backend {
namespace attention_kernel {

template <class A> using RowMatrix = Eigen::Matrix<A, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class A>
using ConstStridedMap = Eigen::Map<const RowMatrix<A>, Eigen::Unaligned, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;

/// The [rows, cols] matrix at `p` with the given row/column strides, as acc type A: a map of the
/// original memory when T is A, otherwise a widened dense copy in `scratch`.
template <class T, class A>
ConstStridedMap<A> as_matrix(const T* p, std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
                             std::int64_t col_stride, std::vector<A>& scratch) {
  using Stride = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;
  if constexpr (std::is_same_v<T, A>) {
    return ConstStridedMap<A>(p, rows, cols, Stride(row_stride, col_stride));
  } else {
    scratch.resize(static_cast<std::size_t>(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r)  // rows.hpp's load_row: 16 lanes at a time for dense bf16 rows
      load_row(scratch.data() + r * cols, p + r * row_stride, col_stride, cols);
    return ConstStridedMap<A>(scratch.data(), rows, cols, Stride(cols, 1));
  }
}

/// Slice [b,h] of a 4-d tensor as a matrix over its last two dimensions.
template <class T, class A>
ConstStridedMap<A> head_matrix(const Tensor& t, std::int64_t b, std::int64_t h, std::vector<A>& scratch) {
  const Shape& s = t.strides();
  return as_matrix<T, A>(t.data<T>() + b * s[0] + h * s[1], t.shape()[2], t.shape()[3], s[2], s[3], scratch);
}

/// dst (dense, rows×cols of T) = expr, evaluated in A; written in place when T is A.
template <class T, class A, class Expr> void store(T* dst, const Expr& expr) {
  if constexpr (std::is_same_v<T, A>) {
    Eigen::Map<RowMatrix<A>>(dst, expr.rows(), expr.cols()).noalias() = expr;
  } else {
    const RowMatrix<A> m = expr;
    convert_row(dst, m.data(), static_cast<std::int64_t>(m.size()));
  }
}

/// Pointer and strides of the key padding mask, read once outside the parallel loop.
struct MaskView {
  const bool* pad = nullptr;
  std::int64_t sb = 0, sj = 0;
  explicit MaskView(const AttentionProblem& p) {
    if (p.key_padding_mask.defined()) {
      pad = p.key_padding_mask.data<bool>();
      sb = p.key_padding_mask.strides()[0];
      sj = p.key_padding_mask.strides()[1];
    }
  }
  bool operator()(const AttentionProblem& p, std::int64_t b, std::int64_t i, std::int64_t j) const {
    return (p.causal && j > i + (p.Lk - p.Lq)) || (pad && pad[b * sb + j * sj]);
  }
};

/// S = Q·Kᵀ for one head. Uni-Mol's heads are 8 wide: a general GEMM spends more on packing than
/// on the 8 products per logit, so narrow heads take Kᵀ packed once and a broadcast-FMA row loop.
template <class A, class MQ, class MK, class MS> void logits_small_d(const MQ& Q, const MK& K, MS& S) {
  const Eigen::Index Lq = Q.rows(), Lk = K.rows(), D = Q.cols();
  if (D > 16) {
    S.noalias() = Q * K.transpose();
    return;
  }
  RowMatrix<A> kt = K.transpose();  // [D, Lk], contiguous rows
  for (Eigen::Index i = 0; i < Lq; ++i) {
    A* s = S.data() + i * Lk;
    const A q0 = Q(i, 0);
    const A* k0 = kt.data();
    for (Eigen::Index j = 0; j < Lk; ++j) s[j] = q0 * k0[j];
    for (Eigen::Index d = 1; d < D; ++d) {
      const A qd = Q(i, d);
      const A* kd = kt.data() + d * Lk;
      for (Eigen::Index j = 0; j < Lk; ++j) s[j] += qd * kd[j];
    }
  }
}

}  // namespace attention_kernel

/// Forward; same contract as the reference attention_forward.
template <class T>
void attention_forward(cpu_t, const AttentionProblem& p, const Tensor& out, const Tensor& scores, const Tensor& probs) {
  using A = acc_t<T>;
  using namespace attention_kernel;
  const T* bias = p.bias.defined() ? p.bias.data<T>() : nullptr;
  T* po = out.data<T>();
  T* ps = scores.defined() ? scores.data<T>() : nullptr;
  A* pp = probs.defined() ? probs.data<A>() : nullptr;
  const MaskView masked(p);
  const A neg_inf = -std::numeric_limits<A>::infinity();
  const std::int64_t Lq = p.Lq, Lk = p.Lk;
  const std::int64_t bias_sj = bias ? p.bias_strides[3] : 0;
  molm::detail::parallel_for(p.B * p.H, Lq * Lk * (p.D + p.Dv + 8), [&](std::int64_t bh) {
    const std::int64_t b = bh / p.H, h = bh % p.H;
    std::vector<A> sq, sk, sv;
    const auto Q = head_matrix<T, A>(p.q, b, h, sq);
    const auto K = head_matrix<T, A>(p.k, b, h, sk);
    const auto V = head_matrix<T, A>(p.v, b, h, sv);
    // The logits live in the saved-probabilities buffer when there is one, else in a local matrix.
    RowMatrix<A> local;
    if (!pp) local.resize(Lq, Lk);
    Eigen::Map<RowMatrix<A>> S(pp ? pp + bh * Lq * Lk : local.data(), Lq, Lk);
    logits_small_d<A>(Q, K, S);
    // Which keys are hidden from every query of this batch row (padding), as one flag per key.
    std::vector<char> hidden(static_cast<std::size_t>(Lk), 0);
    if (masked.pad)
      for (std::int64_t j = 0; j < Lk; ++j) hidden[j] = masked.pad[b * masked.sb + j * masked.sj];
    const A scale = static_cast<A>(p.scale);
    for (std::int64_t i = 0; i < Lq; ++i) {
      A* s = S.data() + i * Lk;
      // logits: scale·q·k + bias, -inf where masked (vectorisable loops: contiguous bias rows)
      if (!bias) {
        for (std::int64_t j = 0; j < Lk; ++j) s[j] *= scale;
      } else if (bias_sj == 1) {
        const T* brow = bias + p.bias_offset(b, h, i, 0);
        for (std::int64_t j = 0; j < Lk; ++j) s[j] = s[j] * scale + static_cast<A>(brow[j]);
      } else {
        for (std::int64_t j = 0; j < Lk; ++j) s[j] = s[j] * scale + static_cast<A>(bias[p.bias_offset(b, h, i, j)]);
      }
      for (std::int64_t j = 0; j < Lk; ++j) s[j] = hidden[j] ? neg_inf : s[j];
      if (p.causal)
        for (std::int64_t j = std::max<std::int64_t>(0, i + (Lk - Lq) + 1); j < Lk; ++j) s[j] = neg_inf;
      if (ps) convert_row(ps + (bh * Lq + i) * Lk, s, Lk);
      softmax_row(s, Lk);  // kernels/softmax_row.hpp
    }
    store<T, A>(po + bh * Lq * p.Dv, S * V);
  });
}

namespace attention_kernel {

/// t with its last two dimensions swapped: a view of the same memory, no history (the kernels sit
/// below tensor/views.hpp, so no Tensor::transpose here).
inline Tensor swap_last_two(const Tensor& t) {
  Shape shape = t.shape(), strides = t.strides();
  const std::size_t r = shape.size();
  std::swap(shape[r - 1], shape[r - 2]);
  std::swap(strides[r - 1], strides[r - 2]);
  return molm::detail::alias(t, shape, strides, t.offset());
}

/// t as f32: itself (any strides) when it is f32, else a dense widened copy.
inline Tensor as_f32(const Tensor& t) {
  if (t.dtype() == DType::f32) return t;
  Tensor c = Tensor::empty(t.shape(), DType::f32);
  backend::call<backend::Copy>(t.device(), DType::f32, t, c);
  return c;
}

/// out = scale · a·b through oneDNN; into `out` itself when it is f32, else through an f32
/// buffer rounded once into it.
inline void product_into(const Tensor& a, const Tensor& b, const Tensor& out, double scale = 1.0) {
  const onednn::Epilogue ep{static_cast<float>(scale)};
  if (out.dtype() == DType::f32) return onednn::matmul(a, b, Tensor(), out, ep);
  Tensor wide = Tensor::empty(out.shape(), DType::f32);
  onednn::matmul(a, b, Tensor(), wide, ep);
  backend::call<backend::Copy>(out.device(), out.dtype(), wide, out);
}

/// Backward of f32/bf16 attention as batched GEMMs (see the file comment); same contract as the
/// reference attention_backward.
template <class T>
void backward_batched(const AttentionProblem& p, const Tensor& probs, const Tensor& dout, const Tensor& dscores,
                      const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dlogits) {
  // dS lives in the logits-gradient buffer when the caller wants it, else in a scratch tensor.
  const Tensor dS = dlogits.defined() ? dlogits : Tensor::empty(probs.shape(), DType::f32);
  const std::int64_t Lq = p.Lq, Lk = p.Lk;
  const bool have_dout = dout.defined();
  if (have_dout) {
    const Tensor dO = as_f32(dout);
    if (dv.defined()) product_into(swap_last_two(probs), dO, dv);  // dV = Pᵀ·dO
    onednn::matmul(dO, swap_last_two(as_f32(p.v)), Tensor(), dS);  // dP = dO·Vᵀ, in dS
  } else if (dv.defined()) {
    std::fill(dv.data<T>(), dv.data<T>() + dv.numel(), T(0));
  }
  // dS = P ⊙ (dP − rowsum(dP ⊙ P)), plus the scores' gradient where not masked (a masked score is a
  // constant -inf: it passes none).
  const float* pp = probs.data<float>();
  float* ps = dS.data<float>();
  const T* pds = dscores.defined() ? dscores.data<T>() : nullptr;
  const Shape st = dscores.defined() ? dscores.strides() : Shape{0, 0, 0, 0};
  const MaskView masked(p);
  molm::detail::parallel_for(p.B * p.H * Lq, 4 * Lk, [&](std::int64_t row) {
    const std::int64_t bh = row / Lq, i = row % Lq, b = bh / p.H, h = bh % p.H;
    const float* prow = pp + row * Lk;
    float* srow = ps + row * Lk;
    if (have_dout) {
      float r = 0;
      for (std::int64_t j = 0; j < Lk; ++j) r += srow[j] * prow[j];
      for (std::int64_t j = 0; j < Lk; ++j) srow[j] = prow[j] * (srow[j] - r);
    } else {
      std::fill(srow, srow + Lk, 0.0f);
    }
    if (pds) {
      const T* g = pds + b * st[0] + h * st[1] + i * st[2];
      for (std::int64_t j = 0; j < Lk; ++j)
        if (!masked(p, b, i, j)) srow[j] += static_cast<float>(g[j * st[3]]);
    }
  });
  if (dq.defined()) product_into(dS, as_f32(p.k), dq, p.scale);                 // dQ = scale·dS·K
  if (dk.defined()) product_into(swap_last_two(dS), as_f32(p.q), dk, p.scale);  // dK = scale·dSᵀ·Q
}

}  // namespace attention_kernel

/// Backward; same contract as the reference attention_backward.
template <class T>
void attention_backward(cpu_t, const AttentionProblem& p, const Tensor& probs, const Tensor& dout,
                        const Tensor& dscores, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                        const Tensor& dlogits) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, bfloat16>) {
    if (p.B * p.H > 0 && p.Lq > 0 && p.Lk > 0 && p.D > 0 && p.Dv > 0)
      return attention_kernel::backward_batched<T>(p, probs, dout, dscores, dq, dk, dv, dlogits);
  }
  using A = acc_t<T>;
  using namespace attention_kernel;
  const A* pp = probs.data<A>();
  const T* pds = dscores.defined() ? dscores.data<T>() : nullptr;
  T* pdq = dq.defined() ? dq.data<T>() : nullptr;
  T* pdk = dk.defined() ? dk.data<T>() : nullptr;
  T* pdv = dv.defined() ? dv.data<T>() : nullptr;
  A* pdl = dlogits.defined() ? dlogits.data<A>() : nullptr;
  const MaskView masked(p);
  const std::int64_t Lq = p.Lq, Lk = p.Lk;
  const A scale = static_cast<A>(p.scale);
  molm::detail::parallel_for(p.B * p.H, Lq * Lk * (2 * p.D + 2 * p.Dv + 8), [&](std::int64_t bh) {
    const std::int64_t b = bh / p.H, h = bh % p.H;
    std::vector<A> sq, sk, sv, sdo;
    const Eigen::Map<const RowMatrix<A>> P(pp + bh * Lq * Lk, Lq, Lk);
    RowMatrix<A> dS;
    if (dout.defined()) {
      const auto dO = head_matrix<T, A>(dout, b, h, sdo);
      if (pdv) store<T, A>(pdv + bh * Lk * p.Dv, P.transpose() * dO);
      // dS = P ⊙ (dP − rowsum(dP ⊙ P)) with dP = dO Vᵀ
      dS.noalias() = dO * head_matrix<T, A>(p.v, b, h, sv).transpose();
      const Eigen::Matrix<A, Eigen::Dynamic, 1> r = dS.cwiseProduct(P).rowwise().sum();
      dS = P.cwiseProduct(dS.colwise() - r);
    } else {
      dS.setZero(Lq, Lk);
      if (pdv) std::fill(pdv + bh * Lk * p.Dv, pdv + (bh + 1) * Lk * p.Dv, T(0));
    }
    if (pds) {
      // Masked scores are constant -inf: they pass no gradient.
      const Shape& st = dscores.strides();
      const T* g = pds + b * st[0] + h * st[1];
      for (std::int64_t i = 0; i < Lq; ++i)
        for (std::int64_t j = 0; j < Lk; ++j)
          if (!masked(p, b, i, j)) dS(i, j) += static_cast<A>(g[i * st[2] + j * st[3]]);
    }
    if (pdl) Eigen::Map<RowMatrix<A>>(pdl + bh * Lq * Lk, Lq, Lk) = dS;
    if (pdq) store<T, A>(pdq + bh * Lq * p.D, scale * (dS * head_matrix<T, A>(p.k, b, h, sk)));
    if (pdk) store<T, A>(pdk + bh * Lk * p.D, scale * (dS.transpose() * head_matrix<T, A>(p.q, b, h, sq)));
  });
}

}  // namespace molm::backend
