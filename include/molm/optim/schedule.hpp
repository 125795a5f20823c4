// Learning-rate schedules of the 3D-MoLM training stages (reference-model §4.5, §5.7, §6.4), as pure
// functions of the position, transcribed operation by operation from their Python sources so the
// values agree to the last bit:
//
//   LAVIS linear_warmup_cosine_lr (stages 1 and 2), called with (epoch, global step):
//     epoch 0:  lr = min(init, start + (init − start)·step / max(W, 1))     (the cap ends the warm-up)
//     epoch e:  lr = (init − min)·0.5·(1 + cos(π·e / max_epochs)) + min      constant within the epoch
//   LAVIS linear_warmup_step_lr: the same warm-up, then lr = max(min, init·rate^e).
//   3D-MoLM stage 3 (model/blip2_stage3.py), called with the global step s:
//     s ≤ W:    the warm-up above
//     s > W:    lr = (init − min)·0.5·(1 + cos(π·s / max_steps)) + min      (s, not s − W: a quirk)
//
// Quirks kept on purpose: the epoch-0 warm-up assumes W ≤ one epoch (3D-MoLM passes
// W = min(steps per epoch, warmup_steps)); epoch 1 jumps straight to the cosine value; a negative
// warm-up start means "start at init" (LAVIS's default of −1).
//
// LRScheduler applies a schedule to an optimizer and remembers where it is, for checkpoints.
#pragma once

#include "molm/optim/optimizer.hpp"

#include <cmath>
#include <functional>
#include <map>
#include <numbers>
#include <string>

namespace molm::optim {

/// LAVIS warmup_lr_schedule: from `start` towards `max_lr` over `warmup_steps`, capped at `max_lr`.
inline double warmup_lr(std::int64_t step, std::int64_t warmup_steps, double start, double max_lr) {
  return std::min(max_lr, start + (max_lr - start) * static_cast<double>(step) /
                                      static_cast<double>(std::max<std::int64_t>(warmup_steps, 1)));
}

/// LAVIS cosine_lr_schedule: half a cosine from `init_lr` (t = 0) to `min_lr` (t = t_max).
inline double cosine_lr(std::int64_t t, std::int64_t t_max, double init_lr, double min_lr) {
  return (init_lr - min_lr) * 0.5 *
             (1.0 + std::cos(std::numbers::pi * static_cast<double>(t) / static_cast<double>(t_max))) +
         min_lr;
}

/// LAVIS step_lr_schedule: geometric decay per epoch, floored at `min_lr`.
inline double step_decay_lr(std::int64_t epoch, double init_lr, double min_lr, double decay_rate) {
  return std::max(min_lr, init_lr * std::pow(decay_rate, static_cast<double>(epoch)));
}

namespace detail {
inline double warmup_start(double start, double init_lr) { return start >= 0 ? start : init_lr; }
}  // namespace detail

/// LAVIS LinearWarmupCosineLRScheduler (stages 1 and 2).
struct WarmupCosineByEpoch {
  double init_lr = 1e-4;
  double min_lr = 5e-6;
  double warmup_start_lr = 1e-6;  // < 0: init_lr
  std::int64_t warmup_steps = 0;
  std::int64_t max_epochs = 1;

  double operator()(std::int64_t epoch, std::int64_t step) const {
    MOLM_CHECK(max_epochs > 0, "lr_schedule", "WarmupCosineByEpoch: max_epochs must be positive, got {}", max_epochs);
    if (epoch == 0) return warmup_lr(step, warmup_steps, detail::warmup_start(warmup_start_lr, init_lr), init_lr);
    return cosine_lr(epoch, max_epochs, init_lr, min_lr);
  }
};

/// LAVIS LinearWarmupStepLRScheduler.
struct WarmupStepDecayByEpoch {
  double init_lr = 1e-4;
  double min_lr = 5e-6;
  double warmup_start_lr = 1e-6;  // < 0: init_lr
  std::int64_t warmup_steps = 0;
  double decay_rate = 0.9;

  double operator()(std::int64_t epoch, std::int64_t step) const {
    if (epoch == 0) return warmup_lr(step, warmup_steps, detail::warmup_start(warmup_start_lr, init_lr), init_lr);
    return step_decay_lr(epoch, init_lr, min_lr, decay_rate);
  }
};

/// 3D-MoLM stage 3's LinearWarmupCosineLRScheduler (by global step; the epoch is ignored).
struct WarmupCosineByStep {
  double init_lr = 1e-5;
  double min_lr = 1e-8;
  double warmup_start_lr = 1e-6;  // < 0: init_lr
  std::int64_t warmup_steps = 1000;
  std::int64_t max_steps = 40000;

  double operator()(std::int64_t /*epoch*/, std::int64_t step) const {
    MOLM_CHECK(max_steps > 0, "lr_schedule", "WarmupCosineByStep: max_steps must be positive, got {}", max_steps);
    if (step <= warmup_steps)
      return warmup_lr(step, warmup_steps, detail::warmup_start(warmup_start_lr, init_lr), init_lr);
    return cosine_lr(step, max_steps, init_lr, min_lr);
  }
};

/// Where a schedule is: the (epoch, global step) of the training step it last set the lr for.
struct SchedulePosition {
  std::int64_t epoch = 0;
  std::int64_t step = 0;
  bool operator==(const SchedulePosition&) const = default;
};

/// A schedule bound to a position. Call step() at the start of every training step, as the
/// reference does; it sets every parameter group's lr and returns it.
class LRScheduler {
 public:
  using Schedule = std::function<double(std::int64_t epoch, std::int64_t step)>;

  explicit LRScheduler(Schedule schedule) : schedule_(std::move(schedule)) {
    MOLM_CHECK(static_cast<bool>(schedule_), "lr_schedule", "no schedule function given");
  }

  double lr_at(std::int64_t epoch, std::int64_t step) const {
    MOLM_CHECK(epoch >= 0 && step >= 0, "lr_schedule", "position (epoch {}, step {}) is negative", epoch, step);
    const double lr = schedule_(epoch, step);
    MOLM_CHECK(lr >= 0, "lr_schedule", "the schedule gives lr {} at epoch {}, step {}", lr, epoch, step);
    return lr;
  }

  double step(Optimizer& optimizer, std::int64_t epoch, std::int64_t global_step) {
    const double lr = lr_at(epoch, global_step);
    optimizer.set_lr(lr);
    position_ = {epoch, global_step};
    return lr;
  }

  /// The lr at the current position (what the last step() set).
  double current_lr() const { return lr_at(position_.epoch, position_.step); }
  SchedulePosition position() const { return position_; }

  /// {"epoch", "step"}: stored next to the optimizer state in a checkpoint.
  std::map<std::string, std::int64_t> state_dict() const {
    return {{"epoch", position_.epoch}, {"step", position_.step}};
  }
  void load_state(const std::map<std::string, std::int64_t>& s) {
    for (const auto& [k, v] : s)
      MOLM_CHECK(k == "epoch" || k == "step", "lr_schedule", "unknown scheduler state '{}' (expected epoch, step)", k);
    MOLM_CHECK(s.count("epoch") && s.count("step"), "lr_schedule", "scheduler state needs both 'epoch' and 'step'");
    MOLM_CHECK(s.at("epoch") >= 0 && s.at("step") >= 0, "lr_schedule",
               "scheduler position (epoch {}, step {}) is negative", s.at("epoch"), s.at("step"));
    position_ = {s.at("epoch"), s.at("step")};
  }

 private:
  Schedule schedule_;
  SchedulePosition position_;
};

}  // namespace molm::optim
