// What the CPU offers, from CPUID, and whether the OS saves the matching register state (XGETBV):
// a flag counts only when both say yes, since an instruction the OS does not enable faults.
#pragma once

#include <cpuid.h>

#include <cstdint>
#include <string>

namespace molm::cli {

struct CpuFeatures {
  std::string brand;  ///< e.g. "AMD EPYC 7B13 64-Core Processor"
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_bf16 = false;
  bool amx_tile = false;
  bool amx_bf16 = false;
};

namespace detail {
inline std::uint64_t xcr0() {
  std::uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}
inline bool bit(unsigned reg, int n) { return (reg >> n) & 1u; }
}  // namespace detail

inline CpuFeatures detect_cpu_features() {
  CpuFeatures f;
  unsigned a = 0, b = 0, c = 0, d = 0;

  // Brand string: leaves 0x80000002..4, 16 bytes each.
  if (__get_cpuid_max(0x80000000u, nullptr) >= 0x80000004u) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __cpuid(0x80000002u + leaf, a, b, c, d);
      const unsigned regs[4] = {a, b, c, d};
      for (int r = 0; r < 4; ++r)
        for (int k = 0; k < 4; ++k) brand[leaf * 16 + r * 4 + k] = static_cast<char>((regs[r] >> (8 * k)) & 0xff);
    }
    f.brand = brand;
    const auto first = f.brand.find_first_not_of(' ');
    f.brand = first == std::string::npos ? "" : f.brand.substr(first);
  }

  if (!__get_cpuid(1, &a, &b, &c, &d) || !detail::bit(c, 27)) return f;  // no OSXSAVE: no AVX state
  const std::uint64_t xcr = detail::xcr0();
  const bool os_avx = (xcr & 0x6) == 0x6;               // SSE + AVX (YMM) state
  const bool os_avx512 = os_avx && (xcr & 0xe0) == 0xe0;  // opmask + ZMM state
  const bool os_amx = (xcr & 0x60000) == 0x60000;       // TILECFG + TILEDATA state

  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = os_avx && detail::bit(b, 5);
  f.avx512f = os_avx512 && detail::bit(b, 16);
  f.amx_bf16 = os_amx && detail::bit(d, 22);
  f.amx_tile = os_amx && detail::bit(d, 24);
  const unsigned max_subleaf = a;
  if (max_subleaf >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = os_avx512 && detail::bit(a, 5);
  }
  return f;
}

}  // namespace molm::cli
