// The cross-attention mask of the Q-Former's query rows over the molecule rows, the reference's
// inverted one by default (reference-model.md §3.4), and the rule for when the reference has none.
#pragma once

#include "molm/ops/attention.hpp"

#include <limits>

namespace molm::models::qformer {

/// The most negative finite value of a floating dtype: torch.finfo(dtype).min, the constant the
/// reference's invert_attention_mask multiplies the mask by.
inline double finfo_min(DType dtype) {
  switch (dtype) {
    case DType::f64: return std::numeric_limits<double>::lowest();
    case DType::f32: return static_cast<double>(std::numeric_limits<float>::lowest());
    case DType::bf16: return -3.3895313892515355e38;  // (2 − 2⁻⁷)·2¹²⁷
    case DType::f16: return -65504.0;
    default: MOLM_THROW("qformer", "finfo_min: {} is not a floating dtype", name(dtype));
  }
}

/// Whether any entry of a bool mask is set.
inline bool any_true(const Tensor& mask) {
  const Tensor m = mask.contiguous();
  const bool* p = m.data<bool>();
  for (std::int64_t i = 0; i < m.numel(); ++i)
    if (p[i]) return true;
  return false;
}

/// The cross-attention mask of the query rows over the molecule rows (§3.4), for scores of `dtype`.
/// `padding` is Uni-Mol's mask (true at padding) or undefined: the reference passes None when the
/// Uni-Mol batch had no padding at all (reference_padding() applies that rule).
///
/// Reference (default). The reference hands that mask to a Q-Former that reads 1 as "attend" and
/// adds (1 − m)·finfo.min. So, per molecule b:
///   - mask absent (no padding anywhere in the Uni-Mol batch): b's queries see all N rows;
///   - b has padding: they see only its padding rows (identical rows: one pooled "global" token);
///   - the mask is present but b has no padding: every score gets finfo.min, which swamps it, and
///     the softmax is uniform over all N rows.
/// The released weights were trained under it (github.com/lsh0520/3D-MoLM/issues/8).
/// Corrected (config.corrected_cross_attention_mask): the queries see b's real rows only.
inline AttentionOptions cross_attention_options(const Tensor& padding, DType dtype, bool corrected) {
  AttentionOptions o;
  if (!padding.defined()) return o;
  const std::int64_t B = padding.shape()[0], N = padding.shape()[1];
  if (corrected) {
    if (any_true(padding)) o.key_padding_mask = padding;
    return o;
  }
  const Tensor pad = padding.contiguous();
  Tensor bias = Tensor::empty({B, 1, 1, N}, DType::f64);  // (1 − m)·finfo.min with m = 1 at padding
  for (std::int64_t i = 0; i < B * N; ++i) bias.data<double>()[i] = pad.data<bool>()[i] ? 0.0 : finfo_min(dtype);
  o.bias = bias.to(dtype);
  return o;
}

/// The mask as the reference hands it on: Uni-Mol's padding mask, or undefined (None) when the
/// batch has no padding at all (3D-MoLM's SimpleUniMolModel.forward).
inline Tensor reference_padding(const Tensor& padding) {
  return padding.defined() && any_true(padding) ? padding : Tensor();
}

/// What a cross-attention call needs to build its mask in the dtype of its scores (finfo.min of
/// bf16 differs from f32's, and f32's rounds to −inf in bf16).
struct CrossMask {
  Tensor padding;          ///< bool [B, N] or undefined (no mask)
  bool corrected = false;  ///< Config::corrected_cross_attention_mask
};

}  // namespace molm::models::qformer
