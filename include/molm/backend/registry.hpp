// The dispatch seam: every op reaches a device's kernels through this registry, and nothing else.
//
//   op (ops/softmax.hpp)                       backend (backend/cpu/register.hpp, backend/cuda/…)
//   ─────────────────────                      ──────────────────────────────────────────────────
//   backend::call<SoftmaxForward>(x, …)  ──▶   table<SoftmaxForward>[backend][dtype] = &kernel
//
// A kernel is named by a small struct in backend/kernels.hpp (its name and C++ signature). A backend
// is a numbered slot with a name and the device type whose tensors it serves; it fills the table
// entries it implements, usually from a static initialiser, so a backend compiled on its own (the
// CUDA one, by nvcc, into its own library) registers itself at start-up and no op header changes.
//
// Which backend runs a call: the one serving the device of the tensor the op dispatches on. For CPU
// tensors a thread may route calls to another CPU-memory backend for a scope (BackendGuard): tests
// compare the optimised kernels with the plain-loop `reference` backend this way (ReferenceGuard, in
// backend/cpu/register.hpp), and a test backend that counts calls sits in the same place.
//
// A kernel a backend lacks is an error naming the op, the dtype and the backend, never a silent
// wrong result. The one documented fallback: a backend may name another backend on the same device
// (set_fallback); its missing kernels are then served by that one (the memory is the same, so no
// copy is needed). No built-in backend sets one.
//
// The tables are function-local statics of inline functions: one per program on ELF platforms. A
// plugin built with hidden visibility or loaded RTLD_LOCAL gets its own copy, so plugins link the
// compiled library (MOLM_COMPILED) rather than carrying kernels of their own.
#pragma once

#include "molm/core/device.hpp"
#include "molm/core/dtype.hpp"
#include "molm/core/error.hpp"

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace molm::backend {

/// A backend's slot in the kernel tables.
using BackendId = int;
inline constexpr int kMaxBackends = 8;
inline constexpr int kNumDTypes = 8;  ///< DType::f32 … DType::boolean
inline constexpr BackendId kNoBackend = -1;
/// The two CPU backends every build has once backend/cpu is registered.
inline constexpr BackendId kCpu = 0;        ///< oneDNN primitives and OpenMP loops
inline constexpr BackendId kReference = 1;  ///< plain single-threaded loops: the oracle for tests

struct BackendInfo {
  std::string name;                  ///< "cpu", "reference", "cuda", …; empty = free slot
  DeviceType device = DeviceType::cpu;
  BackendId fallback = kNoBackend;   ///< serves kernels this backend lacks (same device only)
};

/// The backends known to this process.
class Registry {
 public:
  Registry() {
    slots_[kCpu] = {"cpu", DeviceType::cpu, kNoBackend};
    slots_[kReference] = {"reference", DeviceType::cpu, kNoBackend};
  }

  /// The slot of backend `name`, created for `device` if new. The first backend of a non-CPU device
  /// becomes that device's default.
  BackendId add(std::string_view name, DeviceType device) {
    std::lock_guard lock(mutex_);
    for (BackendId b = 0; b < kMaxBackends; ++b)
      if (slots_[b].name == name) {
        MOLM_CHECK(slots_[b].device == device, "backend", "backend '{}' is already registered for another device",
                   name);
        return b;
      }
    for (BackendId b = 0; b < kMaxBackends; ++b)
      if (slots_[b].name.empty()) {
        slots_[b] = {std::string(name), device, kNoBackend};
        auto& dflt = default_of_[static_cast<int>(device)];
        if (dflt == kNoBackend) dflt = b;
        return b;
      }
    MOLM_THROW("backend", "cannot register backend '{}': all {} backend slots are taken", name, kMaxBackends);
  }

  /// The slot of backend `name`, or kNoBackend.
  BackendId find(std::string_view name) const {
    for (BackendId b = 0; b < kMaxBackends; ++b)
      if (slots_[b].name == name) return b;
    return kNoBackend;
  }

  const BackendInfo& info(BackendId b) const {
    MOLM_CHECK(b >= 0 && b < kMaxBackends && !slots_[b].name.empty(), "backend", "no backend in slot {}", b);
    return slots_[b];
  }

  /// Kernels `b` lacks are looked up in `to` (a backend on the same device), then in its fallback.
  void set_fallback(BackendId b, BackendId to) {
    MOLM_CHECK(to == kNoBackend || info(b).device == info(to).device, "backend",
               "backend '{}' cannot fall back to '{}': they serve different devices", info(b).name, info(to).name);
    slots_[b].fallback = to;
  }

  /// The backend that serves tensors of `device` when no guard says otherwise.
  BackendId default_for(DeviceType device) const { return default_of_[static_cast<int>(device)]; }

  std::vector<BackendId> backends() const {
    std::vector<BackendId> out;
    for (BackendId b = 0; b < kMaxBackends; ++b)
      if (!slots_[b].name.empty()) out.push_back(b);
    return out;
  }

 private:
  std::mutex mutex_;
  std::array<BackendInfo, kMaxBackends> slots_{};
  std::array<BackendId, 2> default_of_{kCpu, kNoBackend};  // indexed by DeviceType
};

inline Registry& registry() {
  static Registry r;
  return r;
}

// ---- kernel tables ---------------------------------------------------------------------------------

/// One op's kernels: fn[backend][dtype]. K is a kernel struct from backend/kernels.hpp.
template <class K> struct KernelTable {
  std::array<std::array<typename K::Fn*, kNumDTypes>, kMaxBackends> fn{};
};

template <class K> KernelTable<K>& table() {
  static KernelTable<K> t;
  return t;
}

/// Backend `b` runs K on tensors of `dtype` with `fn`. Registering again replaces the entry.
template <class K> void register_kernel(BackendId b, DType dtype, typename K::Fn* fn) {
  registry().info(b);  // must exist
  table<K>().fn[static_cast<std::size_t>(b)][static_cast<std::size_t>(dtype)] = fn;
}

/// The entry itself (nullptr when `b` has none), without fallbacks: what a backend really implements.
template <class K> typename K::Fn* kernel_of(BackendId b, DType dtype) {
  if (b < 0 || b >= kMaxBackends) return nullptr;
  return table<K>().fn[static_cast<std::size_t>(b)][static_cast<std::size_t>(dtype)];
}

// ---- which backend runs a call -------------------------------------------------------------------

namespace detail {
inline BackendId& cpu_override() {
  static thread_local BackendId b = kNoBackend;
  return b;
}
}  // namespace detail

/// The backend that runs calls on `device` on this thread.
inline BackendId current(Device device) {
  if (device.type == DeviceType::cpu && detail::cpu_override() != kNoBackend) return detail::cpu_override();
  return registry().default_for(device.type);
}

/// RAII: calls on CPU tensors made on this thread run on backend `b` (a CPU-memory backend).
class BackendGuard {
 public:
  explicit BackendGuard(BackendId b) : prev_(detail::cpu_override()) {
    MOLM_CHECK(registry().info(b).device == DeviceType::cpu, "backend",
               "BackendGuard routes CPU tensors; backend '{}' serves another device", registry().info(b).name);
    detail::cpu_override() = b;
  }
  explicit BackendGuard(std::string_view name) : BackendGuard(checked_find(name)) {}
  ~BackendGuard() { detail::cpu_override() = prev_; }
  BackendGuard(const BackendGuard&) = delete;
  BackendGuard& operator=(const BackendGuard&) = delete;

 private:
  static BackendId checked_find(std::string_view name) {
    const BackendId b = registry().find(name);
    MOLM_CHECK(b != kNoBackend, "backend", "no backend named '{}' is registered", name);
    return b;
  }
  BackendId prev_;
};

/// True while calls on CPU tensors run on the reference backend on this thread.
inline bool use_reference() { return current(kCPU) == kReference; }

// ---- the call ------------------------------------------------------------------------------------

/// Names of the dtypes backend `b` has a kernel K for ("f32, bf16"), for error messages.
template <class K> std::string dtypes_of(BackendId b) {
  std::string s;
  for (int d = 0; d < kNumDTypes; ++d)
    if (kernel_of<K>(b, static_cast<DType>(d))) s += (s.empty() ? "" : ", ") + std::string(name(static_cast<DType>(d)));
  return s.empty() ? "none" : s;
}

/// Header-only builds: backend/cpu/register.hpp specialises this for the kernels it registers on
/// first use, so a program compiles only the kernels its ops call. Elsewhere it does nothing.
template <class K, class = void> struct LazyDefaults {
  static void add() {}
};

/// The kernel that runs K for `dtype` on `device` here and now; a clear error when there is none.
template <class K> typename K::Fn* lookup(Device device, DType dtype) {
  static const bool defaults_added = (LazyDefaults<K>::add(), true);
  (void)defaults_added;
  const BackendId first = current(device);
  MOLM_CHECK(first != kNoBackend, K::name, "no backend serves device {} in this build{}", device.str(),
             device.type == DeviceType::cuda ? " (the CUDA backend is not linked)" : "");
  for (BackendId b = first; b != kNoBackend; b = registry().info(b).fallback)
    if (auto* fn = kernel_of<K>(b, dtype)) return fn;
  const BackendInfo& info = registry().info(first);
  MOLM_THROW(K::name, "backend '{}' (device {}) has no {} kernel for dtype {} (it has: {}){}", info.name, device.str(),
             K::name, name(dtype), dtypes_of<K>(first),
             first == kCpu && dtypes_of<K>(first) == "none"
                 ? "; the CPU backend is not registered: include <molm/molm.hpp> (or "
                   "<molm/backend/cpu/register.hpp>), or link molm::compiled"
             : first == kReference && dtypes_of<K>(first) == "none"
                 ? "; header-only builds register the reference kernels when a backend::ReferenceGuard is first "
                   "made: route to the reference backend with it"
                 : "");
}

#if defined(MOLM_COMPILED) && !defined(MOLM_BUILDING_LIBRARY)
// Linked against molm::compiled: every file that can reach a kernel pulls the library's
// registration in, so the CPU backends are registered before main() whatever a file includes.
bool register_cpu_backends();
inline const bool compiled_cpu_backends_linked = register_cpu_backends();
#endif

/// Run kernel K on the backend of `device` for `dtype`.
template <class K, class... Args> decltype(auto) call(Device device, DType dtype, Args&&... args) {
  return lookup<K>(device, dtype)(std::forward<Args>(args)...);
}

}  // namespace molm::backend
