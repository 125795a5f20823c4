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
// running in f32 without casts of its own. f64 operands are left alone. Not here: f16 autocast.
//
// Weight cache (as PyTorch's autocast cache): the bf16 copy of a linear layer's f32 weight is made
// once per autocast scope and reused by every later call, instead of being cast again per call. It is
// never stale: an entry is reused only while the weight has the storage and storage version it was
// cast at (every in-place write bumps the version: optimizer steps, copy_, fill_, load_state_dict;
// a module's to(dtype) gives it new storage), and only in the
// grad mode it was made in (a copy made under no_grad has no history to give gradients back through),
// and not after a backward pass has run through its cast (which frees the cast's node; gradient
// accumulation over several passes in one scope casts once per pass).
// The cache is emptied when the outermost autocast guard of the thread ends. Writes through raw data
// pointers bypass the version and so the cache, as they bypass autograd's checks.
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

/// The autocast copy of weight `w` (f32) in `dtype`: from this scope's cache while w is unchanged,
/// else made by `cast()` (a recorded cast) and cached. Only leaf tensors are cached: a tensor with
/// history is an activation, computed anew each time.
template <class Cast> Tensor autocast_weight(const Tensor& w, DType dtype, Cast&& cast) {
  detail::AutocastState& s = detail::autocast_state();
  if (s.guards == 0 || !w.is_leaf() || w.dtype() == dtype) return cast();
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
