// Gradient accumulation: one optimizer update from k micro-batches, so a batch of k·b samples fits in
// the memory of b (3D-MoLM stage 2 accumulates 2 micro-batches, stage 3 eight; reference-model §5.7, §6.4).
//
// backward() adds into the leaves' .grad (autograd accumulates), so k backward passes of losses
// each scaled by 1/k leave Σ_i (1/k)·∇L_i: for mean-reduced losses over equal micro-batches that is
// the gradient of the mean over all k·b samples — the same update as the big batch, up to float
// rounding. The loop:
//
//   GradientAccumulator acc(k);
//   for (each micro-batch) {
//     if (acc.pending() == 0) scheduler.step(opt, epoch, global_step);   // once per update
//     acc.scale(loss_fn(model, micro_batch)).backward();
//     if (acc.step(opt)) ++global_step;                                    // every k-th: step + zero_grad
//   }
//
// Checkpoint only where pending() == 0: the partial gradients of an unfinished group are not saved.
// Not here: unequal micro-batch sizes (weight each loss by its share of the samples instead).
#pragma once

#include "molm/ops/binary.hpp"
#include "molm/optim/optimizer.hpp"

namespace molm::optim {

class GradientAccumulator {
 public:
  /// `micro_batches` (k ≥ 1) backward passes per optimizer update.
  explicit GradientAccumulator(std::int64_t micro_batches) : k_(micro_batches) {
    MOLM_CHECK(k_ >= 1, "GradientAccumulator", "needs at least 1 micro-batch per update, got {}", k_);
  }

  std::int64_t micro_batches() const { return k_; }

  /// loss / k (recorded, so backward() sees the scale).
  Tensor scale(const Tensor& loss) const { return k_ == 1 ? loss : mul(loss, 1.0 / static_cast<double>(k_)); }

  /// Count one micro-batch whose backward() has run. On the k-th, step `opt` and drop its gradients;
  /// returns whether it did.
  bool step(Optimizer& opt) {
    if (++pending_ < k_) return false;
    opt.step();
    opt.zero_grad();
    pending_ = 0;
    return true;
  }

  /// Micro-batches accumulated since the last update (0 at an update boundary).
  std::int64_t pending() const { return pending_; }

 private:
  std::int64_t k_;
  std::int64_t pending_ = 0;
};

}  // namespace molm::optim
