// Autocast: a per-thread mode, switched on for a scope, under which ops run in bfloat16 where
// PyTorch's CPU autocast (torch 2.x, `torch.autocast("cpu", dtype=torch.bfloat16)`) runs them in
// bfloat16 — the "bf16-mixed" precision the 3D-MoLM stages train with (reference-model §4.5, §5.7)
// — while parameters stay f32 master weights:
//
//   { autocast guard;                       // DType::bf16
//     Tensor loss = model.forward(x) ...;   // products in bf16, activations bf16 where torch's are
//     loss.backward(); }                    // gradients of bf16 tensors are bf16, of f32 ones f32
//   opt.step();                             // f32 parameter gradients (the casts' backward widens)
//
// The rules, op by op (checked against torch 2.1.2's autocast in tests/golden/autocast_test.cpp):
//   linear, matmul       f32 or bf16 operands are rounded to bf16 (weights and biases through the
//                        cache below), multiplied by oneDNN with an f32 accumulator, the bias added
//                        to the accumulator, the result rounded once: a bf16 result. matmul(a, b,
//                        DType::f32) keeps the accumulator (f32 result) instead.
//   add, sub, mul, div   an f32 and a bf16 operand meet in f32 (torch's type promotion); the bf16
//                        one is widened by a recorded cast, so its gradient returns as bf16.
//   layer_norm           a bf16 input with f32 parameters is normalised in f32 with the f32
//                        parameters and the result rounded to bf16 (torch's mixed-dtype LayerNorm).
//                        (rms_norm has no mixed rule yet: HF's LlamaRMSNorm multiplies its f32
//                        weight by the bf16-rounded row, an f32 result; the Llama decoder sets it.)
//   cross_entropy        bf16 logits are widened to f32 and the loss is f32 (torch's fp32 list).
//   everything else      runs in its input's dtype: gelu, silu, softmax, attention, dropout on bf16
//                        inputs compute in f32 registers and round each result once to bf16.
// f64 is never touched, and nothing changes outside a guard: there molm never promotes silently.
// Not here: f16 autocast.
//
// Weight cache (as PyTorch's autocast cache): the bf16 copy of a leaf f32 tensor that requires grad
// (a weight or a bias) is made once per autocast scope and reused by every later call, instead of
// being cast again per call. It is never stale: an entry is reused only while the weight has the
// storage and storage version it was cast at (every in-place write bumps the version: optimizer
// steps, copy_, fill_, load_state_dict; a module's to(dtype) gives it new storage), only in the grad
// mode it was made in (a copy made under no_grad has no history to give gradients back through), and
// not after a backward pass has run through its cast (which frees the cast's node; gradient
// accumulation over several passes in one scope casts once per pass). The cache is emptied when the
// outermost autocast guard of the thread ends. Writes through raw data pointers bypass the version
// and so the cache, as they bypass autograd's checks.
#pragma once

#include "molm/autograd/grad_mode.hpp"
#include "molm/autograd/node.hpp"
#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"
#include "molm/tensor/tensor.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

namespace molm::autograd {

namespace detail {
/// One cached cast: the source and its storage at the time (both held, so neither address is reused
/// while the entry lives; a module's to(dtype) rebinds a parameter to new storage), the storage
/// version and grad mode it was made under, and the bf16 copy.
struct CachedCast {
  Tensor source;
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;
  std::uint64_t version = 0;
  bool grad_mode = true;
  Tensor cast;
};

struct AutocastState {
  std::optional<DType> dtype;
  int guards = 0;  ///< autocast guards alive on this thread (enabled or not)
  std::unordered_map<const TensorImpl*, CachedCast> weights;
  std::uint64_t casts = 0, hits = 0;  ///< weight casts made and reused, for tests and diagnostics
};

inline AutocastState& autocast_state() {
  static thread_local AutocastState state;
  return state;
}
inline std::optional<DType>& autocast_flag() { return autocast_state().dtype; }
}  // namespace detail

/// The dtype f32 matrix products are computed in on this thread, or nullopt when autocast is off.
inline std::optional<DType> autocast_dtype() { return detail::autocast_flag(); }

/// Whether autocast runs a product of operands of dtypes `a` and `b` in bf16: autocast is on, both
/// are f32 or bf16, and at least one is f32 (two bf16 operands need no autocast).
inline bool autocast_to_bf16(DType a, DType b) {
  const auto low = [](DType t) { return t == DType::f32 || t == DType::bf16; };
  return detail::autocast_flag() == DType::bf16 && low(a) && low(b) && (a == DType::f32 || b == DType::f32);
}

/// Whether autocast promotes an elementwise pair of dtypes `a` and `b` to f32: one f32, one bf16.
inline bool autocast_promotes(DType a, DType b) {
  return detail::autocast_flag() == DType::bf16 &&
         ((a == DType::f32 && b == DType::bf16) || (a == DType::bf16 && b == DType::f32));
}

/// Whether autocast computes a bf16 input with f32 parameters in f32 (normalisations, losses).
inline bool autocast_widens(DType input, DType params) {
  return detail::autocast_flag() == DType::bf16 && input == DType::bf16 && params == DType::f32;
}

/// The autocast copy of weight `w` (f32) in `dtype`: from this scope's cache while w is unchanged,
/// else made by `cast()` (a recorded cast) and cached. As torch, only leaf tensors that require grad
/// are cached (parameters): a tensor with history is an activation, computed anew each time, and an
/// input batch is cast once anyway (caching it would keep every batch of the scope alive).
template <class Cast> Tensor autocast_weight(const Tensor& w, DType dtype, Cast&& cast) {
  detail::AutocastState& s = detail::autocast_state();
  if (s.guards == 0 || !w.is_leaf() || !w.requires_grad() || w.dtype() == dtype) return cast();
  const bool grad_mode = grad_enabled();
  auto it = s.weights.find(w.impl());
  if (it != s.weights.end() && it->second.storage == w.storage() && it->second.offset == w.offset() &&
      it->second.version == w.version() && it->second.grad_mode == grad_mode &&
      it->second.cast.dtype() == dtype && it->second.cast.shape() == w.shape() &&
      !(it->second.cast.grad_fn() && it->second.cast.grad_fn()->saved_released())) {
    ++s.hits;
    return it->second.cast;
  }
  Tensor c = cast();
  ++s.casts;
  s.weights.insert_or_assign(w.impl(), detail::CachedCast{w, w.storage(), w.offset(), w.version(), grad_mode, c});
  return c;
}

/// Counts of this thread's weight cache: casts made, and uses served from the cache.
struct AutocastCacheStats {
  std::uint64_t casts = 0, hits = 0;
  std::size_t entries = 0;
};
inline AutocastCacheStats autocast_cache_stats() {
  const detail::AutocastState& s = detail::autocast_state();
  return {s.casts, s.hits, s.weights.size()};
}

/// RAII guard: autocast to `dtype` (only bf16) while it lives, or off when `enabled` is false
/// (to run one part of a model in full precision inside an autocast scope). Restores the previous
/// mode; the outermost guard's end empties the weight cache.
class autocast {
 public:
  explicit autocast(DType dtype = DType::bf16, bool enabled = true) : prev_(detail::autocast_flag()) {
    MOLM_CHECK(dtype == DType::bf16, "autocast", "only bf16 autocast is supported, got {}", name(dtype));
    detail::autocast_flag() = enabled ? std::optional<DType>(dtype) : std::nullopt;
    ++detail::autocast_state().guards;
  }
  ~autocast() {
    detail::AutocastState& s = detail::autocast_state();
    s.dtype = prev_;
    if (--s.guards == 0) s.weights.clear();
  }
  autocast(const autocast&) = delete;
  autocast& operator=(const autocast&) = delete;

 private:
  std::optional<DType> prev_;
};

}  // namespace molm::autograd

namespace molm {
using autograd::autocast;
}  // namespace molm
