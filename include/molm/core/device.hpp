// Device: where a tensor's storage lives. The CPU is always present; CUDA is a later backend that
// registers itself when a translation unit built with nvcc (MOLM_WITH_CUDA) is linked in.
#pragma once

#include <cstdint>
#include <string>

namespace molm {

enum class DeviceType : std::uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  friend bool operator==(Device a, Device b) { return a.type == b.type && a.index == b.index; }
  friend bool operator!=(Device a, Device b) { return !(a == b); }
  std::string str() const { return type == DeviceType::cpu ? "cpu" : "cuda:" + std::to_string(index); }
};

inline constexpr Device kCPU{DeviceType::cpu, 0};

/// Backend tags: kernels are overloaded on them so one grep finds every backend of an op.
struct cpu_t {};        ///< oneDNN primitives and OpenMP loops
struct reference_t {};  ///< plain single-threaded loops: the oracle for tests
struct cuda_t {};       ///< CUDA kernels (backend/cuda)

}  // namespace molm
