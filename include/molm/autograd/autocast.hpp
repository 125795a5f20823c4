// Autocast: a per-thread mode, switched on for a scope, under which matmul and linear run their f32
// products in bfloat16 — the "bf16-mixed" precision the 3D-MoLM stages train with (reference-model
// §4.5, §5.7) — while parameters stay f32 master weights:
//
//   { autocast guard;                       // DType::bf16
//     Tensor loss = model.forward(x) ...;   // every f32 matmul/linear: operands rounded to bf16,
//     loss.backward(); }                    // oneDNN bf16 GEMM, f32 accumulator kept as the result
//   opt.step();                             // f32 gradients (the casts' backward widens them)
//
// The casts are ordinary recorded ops, so gradients flow back to the f32 tensors as f32; the
// gradients of the products themselves are computed in bf16 (as in PyTorch). Unlike PyTorch's CPU
// autocast, the product is returned in f32 (unrounded) rather than bf16, so every other op keeps
// running in f32 without casts of its own. f64 operands are left alone. Not here: f16 autocast, a
// cache of the bf16 copies of weights (each call casts again).
#pragma once

#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"

#include <optional>

namespace molm::autograd {

namespace detail {
inline std::optional<DType>& autocast_flag() {
  static thread_local std::optional<DType> dtype;
  return dtype;
}
}  // namespace detail

/// The dtype f32 matrix products are computed in on this thread, or nullopt when autocast is off.
inline std::optional<DType> autocast_dtype() { return detail::autocast_flag(); }

/// RAII guard: autocast to `dtype` (only bf16) while it lives, or off when `enabled` is false
/// (to run one part of a model in full precision inside an autocast scope). Restores the previous mode.
class autocast {
 public:
  explicit autocast(DType dtype = DType::bf16, bool enabled = true) : prev_(detail::autocast_flag()) {
    MOLM_CHECK(dtype == DType::bf16, "autocast", "only bf16 autocast is supported, got {}", name(dtype));
    detail::autocast_flag() = enabled ? std::optional<DType>(dtype) : std::nullopt;
  }
  ~autocast() { detail::autocast_flag() = prev_; }
  autocast(const autocast&) = delete;
  autocast& operator=(const autocast&) = delete;

 private:
  std::optional<DType> prev_;
};

}  // namespace molm::autograd

namespace molm {
using autograd::autocast;
}  // namespace molm
