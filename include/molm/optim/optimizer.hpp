// Optimizer: the base of SGD and AdamW — parameter groups, step(), zero_grad(), and the export and
// import of per-parameter state, so a resumed run continues bit for bit.
//
// Parameters are leaf tensors (f32 or f64, contiguous); backward() leaves their gradients in grad().
// Like torch.optim, parameters are numbered across groups in order (group 0 first) and state keys
// use that number: "3.exp_avg" is the first moment of the fourth parameter. A parameter whose grad is
// undefined is skipped by step() (no state is created, its step count does not advance).
//
// Updates run under no_grad, write the parameter's storage in place and bump its version, so a graph
// that saved the old value fails loudly instead of differentiating through a changed tensor.
#pragma once

#include "molm/autograd/grad_mode.hpp"
#include "molm/tensor.hpp"
#include "molm/tensor/iter.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace molm::optim {

/// Parameters that share hyper-parameters. Unset values take the optimizer's defaults; after the
/// optimizer is constructed both are set.
struct ParamGroup {
  std::vector<Tensor> params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

/// Everything step() depends on besides the parameters and the hyper-parameters.
struct OptimizerState {
  std::map<std::string, Tensor> tensors;      // "<param index>.<slot>", e.g. "3.exp_avg"
  std::map<std::string, std::int64_t> steps;  // "<param index>.step": updates applied (AdamW only)
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every parameter that has a gradient.
  void step() {
    no_grad guard;
    std::size_t index = 0;
    for (const ParamGroup& group : groups_)
      for (const Tensor& p : group.params) {
        const std::size_t i = index++;
        const Tensor g = p.grad();
        if (!g.defined()) continue;
        MOLM_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype(), name_,
                   "gradient of parameter {} is {} {} but the parameter is {} {}", i, name(g.dtype()),
                   g.shape().str(), name(p.dtype()), p.shape().str());
        update(i, group, p, g.contiguous());
        p.storage()->bump_version();
      }
  }

  /// Drop every gradient (the default, as in PyTorch 2) or fill it with zeros.
  void zero_grad(bool set_to_none = true) {
    no_grad guard;
    for (const ParamGroup& group : groups_)
      for (const Tensor& p : group.params) {
        if (set_to_none) p.zero_grad();
        else if (p.grad().defined()) p.grad().zero_();
      }
  }

  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  std::size_t num_params() const { return state_.size(); }

  double lr(std::size_t group = 0) const { return *checked_group(group).lr; }
  /// Set the learning rate of every group (what an LR schedule does each step).
  void set_lr(double lr) {
    check_lr(lr);
    for (ParamGroup& g : groups_) g.lr = lr;
  }
  void set_lr(std::size_t group, double lr) {
    check_lr(lr);
    checked_group(group).lr = lr;
  }

  /// Copies of the state of every parameter that has been updated at least once.
  OptimizerState state_dict() const {
    OptimizerState out;
    for (std::size_t i = 0; i < state_.size(); ++i) {
      if (!state_[i].initialized) continue;
      for (const auto& [slot, t] : state_[i].tensors) out.tensors[key(i, slot)] = t.clone();
      if (counts_steps()) out.steps[key(i, "step")] = state_[i].step;
    }
    return out;
  }

  /// Replace the whole state by `s` (parameters absent from `s` start fresh). Validates everything
  /// before changing anything: keys, parameter indices, complete slot sets, shapes. Floating state of
  /// another dtype is converted to the parameter's dtype, as torch.optim does.
  void load_state(const OptimizerState& s) {
    std::vector<ParamState> fresh(state_.size());
    const std::vector<std::string> slots = state_names();
    for (const auto& [k, t] : s.tensors) {
      const auto [i, slot] = parse_key(k);
      MOLM_CHECK(std::find(slots.begin(), slots.end(), slot) != slots.end(), name_,
                 "unknown state '{}' (this optimizer keeps: {})", k, fmt::join(slots, ", "));
      const Tensor& p = params_[i];
      MOLM_CHECK(t.defined() && t.shape() == p.shape(), name_,
                 "state '{}' has shape {} but parameter {} has shape {}", k,
                 t.defined() ? t.shape().str() : std::string("(undefined)"), i, p.shape().str());
      MOLM_CHECK(is_floating(t.dtype()), name_, "state '{}' is {}, expected a floating-point tensor", k,
                 name(t.dtype()));
      no_grad guard;
      Tensor copy = t.detach().to(p.dtype()).contiguous();
      fresh[i].tensors[slot] = copy.storage() == t.storage() ? copy.clone() : copy;  // own it: steps write in place
      fresh[i].initialized = true;
    }
    for (const auto& [k, n] : s.steps) {
      const auto [i, slot] = parse_key(k);
      MOLM_CHECK(counts_steps() && slot == "step", name_, "unknown state '{}'", k);
      MOLM_CHECK(n >= 0, name_, "state '{}' is {}, a step count cannot be negative", k, n);
      fresh[i].step = n;
      fresh[i].initialized = true;
    }
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (!fresh[i].initialized) continue;
      for (const auto& slot : slots)
        MOLM_CHECK(fresh[i].tensors.count(slot), name_, "state of parameter {} lacks '{}'", i, key(i, slot));
      MOLM_CHECK(!counts_steps() || s.steps.count(key(i, "step")), name_, "state of parameter {} lacks '{}'", i,
                 key(i, "step"));
    }
    state_ = std::move(fresh);
  }

 protected:
  struct ParamState {
    std::map<std::string, Tensor> tensors;
    std::int64_t step = 0;
    bool initialized = false;
  };

  /// `label` prefixes every error ("AdamW"); the defaults fill the groups' unset values.
  Optimizer(const char* label, std::vector<ParamGroup> groups, double default_lr, double default_weight_decay)
      : name_(label), groups_(std::move(groups)) {
    check_lr(default_lr);
    for (ParamGroup& g : groups_) {
      if (!g.lr) g.lr = default_lr;
      if (!g.weight_decay) g.weight_decay = default_weight_decay;
      check_lr(*g.lr);
      MOLM_CHECK(*g.weight_decay >= 0, name_, "invalid weight_decay {} (must be >= 0)", *g.weight_decay);
      for (const Tensor& p : g.params) {
        const std::size_t i = params_.size();
        MOLM_CHECK(p.defined(), name_, "parameter {} is an undefined tensor", i);
        MOLM_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64, name_,
                   "parameter {} ({}) is {}; only f32 and f64 parameters are supported (keep an f32 master copy)",
                   i, p.shape().str(), name(p.dtype()));
        MOLM_CHECK(p.is_leaf(), name_, "parameter {} ({}) is not a leaf tensor; optimize the tensor it was computed from",
                   i, p.shape().str());
        MOLM_CHECK(p.is_contiguous(), name_,
                   "parameter {} of shape {} (strides {}) is not contiguous; updates write its memory directly", i,
                   p.shape().str(), p.strides().str());
        for (std::size_t j = 0; j < i; ++j)
          MOLM_CHECK(!params_[j].is_same(p), name_, "parameter {} ({}) is the same tensor as parameter {}", i,
                     p.shape().str(), j);
        params_.push_back(p);
      }
    }
    MOLM_CHECK(!params_.empty(), name_, "got an empty parameter list");
    state_.resize(params_.size());
  }

  /// Per-parameter state tensors, in the order they are documented ("exp_avg", "exp_avg_sq").
  virtual std::vector<std::string> state_names() const = 0;
  /// Whether the state includes a per-parameter step count.
  virtual bool counts_steps() const = 0;
  /// Update parameter `index` in place from its (contiguous) gradient; runs under no_grad.
  virtual void update(std::size_t index, const ParamGroup& group, const Tensor& param, const Tensor& grad) = 0;

  ParamState& state(std::size_t index) { return state_[index]; }
  const char* optimizer_name() const { return name_; }

  void check_lr(double lr) const { MOLM_CHECK(lr >= 0, name_, "invalid learning rate {} (must be >= 0)", lr); }

 private:
  static std::string key(std::size_t i, const std::string& slot) { return fmt::format("{}.{}", i, slot); }

  std::pair<std::size_t, std::string> parse_key(const std::string& k) const {
    const auto dot = k.find('.');
    std::size_t i = 0;
    const char* end = k.data() + (dot == std::string::npos ? 0 : dot);
    const auto [ptr, ec] = std::from_chars(k.data(), end, i);
    MOLM_CHECK(dot != std::string::npos && dot > 0 && ec == std::errc() && ptr == end, name_,
               "malformed state key '{}' (expected '<param index>.<name>')", k);
    MOLM_CHECK(i < params_.size(), name_, "state '{}' is for parameter {} but the optimizer has {} parameters", k, i,
               params_.size());
    return {i, k.substr(dot + 1)};
  }

  ParamGroup& checked_group(std::size_t g) {
    MOLM_CHECK(g < groups_.size(), name_, "group {} does not exist ({} groups)", g, groups_.size());
    return groups_[g];
  }
  const ParamGroup& checked_group(std::size_t g) const { return const_cast<Optimizer*>(this)->checked_group(g); }

  const char* name_;
  std::vector<ParamGroup> groups_;
  std::vector<Tensor> params_;  // flattened over groups: index = state key
  std::vector<ParamState> state_;
};

namespace detail {
/// body(begin, end) over [0, n) in blocks, in parallel when there are several blocks. Elements are
/// independent, so the result does not depend on the thread count.
template <class F> void for_each_block(std::int64_t n, F&& body) {
  constexpr std::int64_t kBlock = std::int64_t{1} << 14;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  molm::detail::parallel_for(blocks, kBlock,
                             [&](std::int64_t b) { body(b * kBlock, std::min(n, (b + 1) * kBlock)); });
}
}  // namespace detail

}  // namespace molm::optim
