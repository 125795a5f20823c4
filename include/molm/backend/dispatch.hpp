// Which CPU implementation an op runs: the optimised one (oneDNN primitives, OpenMP loops) or the
// plain-loop reference kernels. Tests flip the switch with ReferenceGuard and compare the two.
#pragma once

namespace molm::backend {

namespace detail {
inline bool& reference_flag() {
  static thread_local bool on = false;
  return on;
}
}  // namespace detail

/// True while a ReferenceGuard is alive on this thread.
inline bool use_reference() { return detail::reference_flag(); }

/// RAII: ops called on this thread use the plain-loop reference kernels.
class ReferenceGuard {
 public:
  explicit ReferenceGuard(bool on = true) : prev_(detail::reference_flag()) { detail::reference_flag() = on; }
  ~ReferenceGuard() { detail::reference_flag() = prev_; }
  ReferenceGuard(const ReferenceGuard&) = delete;
  ReferenceGuard& operator=(const ReferenceGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace molm::backend
