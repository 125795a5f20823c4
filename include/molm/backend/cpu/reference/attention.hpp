// Reference scaled-dot-product attention: one (batch, head, query row) at a time with plain loops,
// every operand read through its own strides. Slow and obviously right; the oracle for the
// optimised kernel in backend/cpu/kernels/attention.hpp.
#pragma once

#include "molm/backend/kernels.hpp"
#include "molm/core/device.hpp"
#include "molm/tensor/iter.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace molm::backend {

namespace reference::attention_detail {
/// Offset of element [b,h,i,d] of a 4-d tensor `t`.
inline std::int64_t at4(const Tensor& t, std::int64_t b, std::int64_t h, std::int64_t i, std::int64_t d) {
  const Shape& s = t.strides();
  return b * s[0] + h * s[1] + i * s[2] + d * s[3];
}
}  // namespace reference::attention_detail

/// Forward. Writes out (T, contiguous [B,H,Lq,Dv]); scores (T, contiguous, pre-softmax logits) and
/// probs (acc_t<T>, contiguous softmax) when defined. A row whose logits are all -inf gets zero
/// probabilities and a zero output.
template <class T>
void attention_forward(reference_t, const AttentionProblem& p, const Tensor& out, const Tensor& scores,
                       const Tensor& probs) {
  using A = acc_t<T>;
  using reference::attention_detail::at4;
  const T *q = p.q.data<T>(), *k = p.k.data<T>(), *v = p.v.data<T>();
  const T* bias = p.bias.defined() ? p.bias.data<T>() : nullptr;
  T* po = out.data<T>();
  T* ps = scores.defined() ? scores.data<T>() : nullptr;
  A* pp = probs.defined() ? probs.data<A>() : nullptr;
  const A neg_inf = -std::numeric_limits<A>::infinity();
  std::vector<A> s(static_cast<std::size_t>(p.Lk));
  std::int64_t row = 0;  // linear index of (b,h,i) in the dense outputs
  for (std::int64_t b = 0; b < p.B; ++b)
    for (std::int64_t h = 0; h < p.H; ++h)
      for (std::int64_t i = 0; i < p.Lq; ++i, ++row) {
        // logits: s_j = scale * q_i . k_j + bias_ij, or -inf where masked
        A m = neg_inf;
        for (std::int64_t j = 0; j < p.Lk; ++j) {
          A dot = 0;
          for (std::int64_t d = 0; d < p.D; ++d)
            dot += static_cast<A>(q[at4(p.q, b, h, i, d)]) * static_cast<A>(k[at4(p.k, b, h, j, d)]);
          A sj = dot * static_cast<A>(p.scale);
          if (bias) sj += static_cast<A>(bias[p.bias_offset(b, h, i, j)]);
          if (p.masked(b, i, j)) sj = neg_inf;
          s[j] = sj;
          if (ps) ps[row * p.Lk + j] = static_cast<T>(sj);
          m = std::max(m, sj);
        }
        // softmax over j (all zeros for a fully masked row)
        A total = 0;
        for (std::int64_t j = 0; j < p.Lk; ++j) {
          s[j] = m == neg_inf ? A(0) : std::exp(s[j] - m);
          total += s[j];
        }
        for (std::int64_t j = 0; j < p.Lk; ++j) {
          if (total > 0) s[j] /= total;
          if (pp) pp[row * p.Lk + j] = s[j];
        }
        // out_i = sum_j p_j v_j
        for (std::int64_t e = 0; e < p.Dv; ++e) {
          A acc = 0;
          for (std::int64_t j = 0; j < p.Lk; ++j) acc += s[j] * static_cast<A>(v[at4(p.v, b, h, j, e)]);
          po[row * p.Dv + e] = static_cast<T>(acc);
        }
      }
}

/// Backward from the saved probabilities P (acc_t<T>, contiguous):
///   dv = Pᵀ dout;  dP = dout vᵀ;  dS = P ⊙ (dP − rowsum(dP ⊙ P)) + dscores (not where masked)
///   dq = scale · dS k;  dk = scale · dSᵀ q;  dlogits = dS (the bias gradient before sum_to)
/// dout / dscores (T, any strides) may be undefined (= zero); outputs that are undefined are skipped.
/// dq, dk, dv are T and dlogits acc_t<T>, all contiguous.
template <class T>
void attention_backward(reference_t, const AttentionProblem& p, const Tensor& probs, const Tensor& dout,
                        const Tensor& dscores, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                        const Tensor& dlogits) {
  using A = acc_t<T>;
  using reference::attention_detail::at4;
  const T *q = p.q.data<T>(), *k = p.k.data<T>(), *v = p.v.data<T>();
  const A* pp = probs.data<A>();
  const T* pdo = dout.defined() ? dout.data<T>() : nullptr;
  const T* pds = dscores.defined() ? dscores.data<T>() : nullptr;
  T* pdq = dq.defined() ? dq.data<T>() : nullptr;
  T* pdk = dk.defined() ? dk.data<T>() : nullptr;
  T* pdv = dv.defined() ? dv.data<T>() : nullptr;
  A* pdl = dlogits.defined() ? dlogits.data<A>() : nullptr;
  const A scale = static_cast<A>(p.scale);
  std::vector<A> ds(static_cast<std::size_t>(p.Lk));
  std::vector<A> dk_acc(static_cast<std::size_t>(p.Lk * p.D)), dv_acc(static_cast<std::size_t>(p.Lk * p.Dv));
  for (std::int64_t b = 0; b < p.B; ++b)
    for (std::int64_t h = 0; h < p.H; ++h) {
      std::fill(dk_acc.begin(), dk_acc.end(), A(0));
      std::fill(dv_acc.begin(), dv_acc.end(), A(0));
      const std::int64_t bh = b * p.H + h;
      for (std::int64_t i = 0; i < p.Lq; ++i) {
        const std::int64_t row = bh * p.Lq + i;
        const A* P = pp + row * p.Lk;
        auto g_out = [&](std::int64_t e) { return pdo ? static_cast<A>(pdo[at4(dout, b, h, i, e)]) : A(0); };
        // dP_j = dout_i . v_j and the row's Σ_j dP_j P_j
        A r = 0;
        for (std::int64_t j = 0; j < p.Lk; ++j) {
          A dpj = 0;
          for (std::int64_t e = 0; e < p.Dv; ++e) dpj += g_out(e) * static_cast<A>(v[at4(p.v, b, h, j, e)]);
          ds[j] = dpj;
          r += dpj * P[j];
        }
        for (std::int64_t j = 0; j < p.Lk; ++j) {
          ds[j] = P[j] * (ds[j] - r);
          // The scores output is -inf (a constant) where masked: no gradient flows through there.
          if (pds && !p.masked(b, i, j)) ds[j] += static_cast<A>(pds[at4(dscores, b, h, i, j)]);
          if (pdl) pdl[row * p.Lk + j] = ds[j];
        }
        for (std::int64_t d = 0; pdq && d < p.D; ++d) {
          A acc = 0;
          for (std::int64_t j = 0; j < p.Lk; ++j) acc += ds[j] * static_cast<A>(k[at4(p.k, b, h, j, d)]);
          pdq[row * p.D + d] = static_cast<T>(scale * acc);
        }
        for (std::int64_t j = 0; j < p.Lk; ++j) {
          for (std::int64_t d = 0; d < p.D; ++d)
            dk_acc[j * p.D + d] += ds[j] * static_cast<A>(q[at4(p.q, b, h, i, d)]);
          for (std::int64_t e = 0; e < p.Dv; ++e) dv_acc[j * p.Dv + e] += P[j] * g_out(e);
        }
      }
      for (std::int64_t n = 0; pdk && n < p.Lk * p.D; ++n) pdk[bh * p.Lk * p.D + n] = static_cast<T>(scale * dk_acc[n]);
      for (std::int64_t n = 0; pdv && n < p.Lk * p.Dv; ++n) pdv[bh * p.Lk * p.Dv + n] = static_cast<T>(dv_acc[n]);
    }
}

}  // namespace molm::backend
