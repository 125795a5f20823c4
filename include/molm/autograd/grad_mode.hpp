// Grad mode: whether ops record the graph. `no_grad` turns recording off for a scope (inference,
// optimizer updates, and the engine itself while it runs backward functions).
#pragma once

namespace molm::autograd {

namespace detail {
inline bool& grad_enabled_flag() {
  static thread_local bool enabled = true;
  return enabled;
}
}  // namespace detail

inline bool grad_enabled() { return detail::grad_enabled_flag(); }

/// RAII guard: no graph is recorded while it lives (per thread).
class no_grad {
 public:
  no_grad() : prev_(detail::grad_enabled_flag()) { detail::grad_enabled_flag() = false; }
  ~no_grad() { detail::grad_enabled_flag() = prev_; }
  no_grad(const no_grad&) = delete;
  no_grad& operator=(const no_grad&) = delete;

 private:
  bool prev_;
};

/// RAII guard: recording back on inside a no_grad scope.
class enable_grad {
 public:
  enable_grad() : prev_(detail::grad_enabled_flag()) { detail::grad_enabled_flag() = true; }
  ~enable_grad() { detail::grad_enabled_flag() = prev_; }
  enable_grad(const enable_grad&) = delete;
  enable_grad& operator=(const enable_grad&) = delete;

 private:
  bool prev_;
};

}  // namespace molm::autograd

namespace molm {
using autograd::enable_grad;
using autograd::no_grad;
}  // namespace molm
