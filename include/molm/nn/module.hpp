// Module: the base of every layer and model. It owns named parameters, buffers and child modules,
// and gives them the dotted names PyTorch's named_parameters() / state_dict() would
// ("encoder.layers.0.self_attn.in_proj.weight"): those names are how real checkpoints load
// (reference-model.md §9), so the order and spelling rules below copy PyTorch's.
//
//   - Each module lists its own parameters, then (state_dict only) its persistent buffers, in
//     registration order, then each child's entries in registration order, prefixed "child.".
//   - named_parameters() lists a tensor shared by two names (tied weights) once, under its first
//     name; state_dict() lists it under both, as PyTorch does.
//   - A layer keeps Tensor handles to its own parameters as members. The handle and the registry
//     share one TensorImpl, so load_state_dict (copy_) and to(dtype) (which rebinds the impl's data)
//     are seen through both.
//
// Not here: hooks, devices other than CPU, parameter groups (optim/ takes parameters()).
#pragma once

#include "molm/autograd/grad_mode.hpp"
#include "molm/core/error.hpp"
#include "molm/nn/state_dict.hpp"
#include "molm/ops.hpp"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace molm::nn {

/// Glob match of a whole name: `*` is any run of characters (dots included), `?` one character.
/// "encoder.*" matches every name under encoder; "*.lora_*" every LoRA tensor.
inline bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;  // try matching nothing first, widen on failure
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

class Module {
 public:
  using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
  using NamedModules = std::vector<std::pair<std::string, Module*>>;

  Module() = default;
  virtual ~Module() = default;
  // Copying would leave two modules naming the same tensors; share a module through shared_ptr.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- registration (called from a layer's constructor) -------------------------------------------

  /// Register a trainable tensor under `name` (no dots); returns the handle to keep as a member.
  /// A non-leaf is detached first; requires_grad is switched on.
  Tensor register_parameter(const std::string& name, Tensor t) {
    check_new_name(name, "register_parameter");
    MOLM_CHECK(t.defined(), "register_parameter", "parameter '{}' is undefined", name);
    MOLM_CHECK(is_floating(t.dtype()), "register_parameter", "parameter '{}' must be floating, got {} {}", name,
               molm::name(t.dtype()), t.shape().str());
    if (!t.is_leaf()) t = t.detach();
    t.set_requires_grad(true);
    params_.emplace_back(name, t);
    return t;
  }

  /// Register a state tensor that is not trained (running statistics, fixed tables). Persistent
  /// buffers are saved in state_dict(); the others are rebuilt by the module and never loaded.
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true) {
    check_new_name(name, "register_buffer");
    MOLM_CHECK(t.defined(), "register_buffer", "buffer '{}' is undefined", name);
    t = t.detach();
    buffers_.push_back({name, t, persistent});
    return t;
  }

  /// Register a child module; returns the same pointer, typed, to keep as a member.
  template <class M> std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    static_assert(std::is_base_of_v<Module, M>, "register_module needs a Module");
    check_new_name(name, "register_module");
    MOLM_CHECK(child, "register_module", "child module '{}' is null", name);
    children_.emplace_back(name, child);
    return child;
  }

  // ---- traversal ----------------------------------------------------------------------------------

  /// This module ("") and every descendant, pre-order, each listed once.
  NamedModules named_modules() {
    NamedModules out;
    std::unordered_set<const Module*> seen;
    collect_modules("", out, seen);
    return out;
  }
  /// The direct children, in registration order.
  NamedModules named_children() {
    NamedModules out;
    for (auto& [n, c] : children_) out.emplace_back(n, c.get());
    return out;
  }
  /// Every parameter with its dotted name; a tensor shared by two names appears once.
  NamedTensors named_parameters() {
    NamedTensors out;
    std::unordered_set<const TensorImpl*> seen;
    for (auto& [prefix, m] : named_modules())
      for (auto& [n, t] : m->params_)
        if (seen.insert(t.impl()).second) out.emplace_back(join(prefix, n), t);
    return out;
  }
  /// Every buffer (persistent or not) with its dotted name.
  NamedTensors named_buffers() {
    NamedTensors out;
    for (auto& [prefix, m] : named_modules())
      for (auto& b : m->buffers_) out.emplace_back(join(prefix, b.name), b.tensor);
    return out;
  }
  std::vector<Tensor> parameters() {
    std::vector<Tensor> out;
    for (auto& [n, t] : named_parameters()) out.push_back(t);
    return out;
  }

  /// Parameters and persistent buffers under their dotted names, in PyTorch's order. The tensors are
  /// detached views of the module's storage (no copy): clone them to keep a snapshot.
  StateDict state_dict() {
    StateDict sd;
    append_state("", sd);
    return sd;
  }

  /// Copy a state dict into this module's parameters and persistent buffers, by name, under no_grad.
  /// dtype conversions happen and are reported. Strict (the default): a missing, unexpected or
  /// mis-shaped tensor throws molm::error listing every problem, and nothing is copied. Non-strict:
  /// the matching tensors are copied and the rest skipped. A non-empty report is logged either way.
  LoadReport load_state_dict(const StateDict& sd, const LoadOptions& options = {}) {
    const StateDict own = state_dict();
    LoadReport report;
    std::vector<std::pair<Tensor, const Tensor*>> copies;  // (destination, source)
    for (const auto& [name, dst] : own) {
      const Tensor* src = sd.find(name);
      if (!src) {
        report.missing.push_back(name);
      } else if (!src->defined() || src->shape() != dst.shape()) {
        report.shape_mismatched.push_back({name, dst.shape(), src->defined() ? src->shape() : Shape{}});
      } else {
        if (src->dtype() != dst.dtype()) report.converted.push_back({name, src->dtype(), dst.dtype()});
        copies.emplace_back(dst, src);
      }
    }
    for (const auto& [name, t] : sd)
      if (!own.contains(name)) report.unexpected.push_back(name);

    if (options.strict && !report.ok())
      MOLM_THROW("load_state_dict", "the state dict does not fit the module (strict loading):\n{}\n"
                 "hint: pass LoadOptions{{.strict = false}} to load only the tensors that fit",
                 report.str());
    {
      no_grad guard;
      for (auto& [dst, src] : copies) dst.copy_(*src);
    }
    if (!report.ok()) spdlog::warn("[load_state_dict] non-strict load skipped tensors:\n{}", report.str());
    else if (!report.empty()) spdlog::info("[load_state_dict] {}", report.str());
    return report;
  }

  // ---- modes and training state -------------------------------------------------------------------

  /// Training mode on or off, for this module and every descendant (dropout reads it).
  Module& train(bool on = true) {
    for (auto& [n, m] : named_modules()) m->training_ = on;
    return *this;
  }
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }

  /// requires_grad = false for every parameter whose dotted name matches the glob `pattern`.
  /// Returns how many matched; a pattern that matches nothing throws (it is almost always a typo
  /// that would otherwise train what was meant to stay frozen).
  std::size_t freeze(const std::string& pattern = "*") { return set_trainable(pattern, false, "freeze"); }
  /// requires_grad = true for every parameter whose dotted name matches `pattern`; see freeze().
  std::size_t unfreeze(const std::string& pattern = "*") { return set_trainable(pattern, true, "unfreeze"); }

  /// Number of parameter values (shared tensors counted once), optionally only trainable ones.
  std::int64_t num_parameters(bool trainable_only = false) {
    std::int64_t n = 0;
    for (auto& [name, t] : named_parameters())
      if (!trainable_only || t.requires_grad()) n += t.numel();
    return n;
  }

  /// Drop every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad() {
    for (auto& [n, t] : named_parameters()) t.zero_grad();
  }

  /// Convert every floating parameter and buffer to `dtype`, in place: handles held by layers see
  /// the new data. Gradients are dropped. Integer and bool buffers keep their dtype.
  Module& to(DType dtype) {
    MOLM_CHECK(is_floating(dtype), "Module::to", "target dtype must be floating, got {}", molm::name(dtype));
    auto convert = [&](const Tensor& t) {
      if (!is_floating(t.dtype()) || t.dtype() == dtype) return;
      const Tensor data = t.detach().to(dtype);
      TensorImpl* impl = t.impl();
      impl->storage = data.storage();
      impl->shape = data.shape();
      impl->strides = data.strides();
      impl->offset = data.offset();
      impl->dtype = dtype;
      impl->grad = Tensor();
    };
    std::unordered_set<const TensorImpl*> seen;
    for (auto& [prefix, m] : named_modules()) {
      for (auto& [n, t] : m->params_)
        if (seen.insert(t.impl()).second) convert(t);
      for (auto& b : m->buffers_)
        if (seen.insert(b.tensor.impl()).second) convert(b.tensor);
    }
    return *this;
  }

 private:
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };

  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }

  void check_new_name(const std::string& name, const char* op) const {
    MOLM_CHECK(!name.empty() && name.find('.') == std::string::npos, op,
               "name '{}' must be non-empty and contain no '.' (dots separate module levels)", name);
    bool taken = false;
    for (auto& p : params_) taken |= p.first == name;
    for (auto& b : buffers_) taken |= b.name == name;
    for (auto& c : children_) taken |= c.first == name;
    MOLM_CHECK(!taken, op, "name '{}' is already registered in this module", name);
  }

  void collect_modules(const std::string& prefix, NamedModules& out, std::unordered_set<const Module*>& seen) {
    if (!seen.insert(this).second) return;
    out.emplace_back(prefix, this);
    for (auto& [n, c] : children_) c->collect_modules(join(prefix, n), out, seen);
  }

  void append_state(const std::string& prefix, StateDict& sd) const {
    for (auto& [n, t] : params_) sd.insert(join(prefix, n), t.detach());
    for (auto& b : buffers_)
      if (b.persistent) sd.insert(join(prefix, b.name), b.tensor.detach());
    for (auto& [n, c] : children_) c->append_state(join(prefix, n), sd);
  }

  std::size_t set_trainable(const std::string& pattern, bool on, const char* op) {
    std::size_t matched = 0;
    for (auto& [name, t] : named_parameters())
      if (glob_match(pattern, name)) {
        t.set_requires_grad(on);
        ++matched;
      }
    MOLM_CHECK(matched > 0, op, "pattern '{}' matches no parameter name (e.g. '{}')", pattern,
               named_parameters().empty() ? std::string("<none>") : named_parameters().front().first);
    return matched;
  }

  NamedTensors params_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace molm::nn
