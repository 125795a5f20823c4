// Thread count: MOLM_NUM_THREADS if set, else OpenMP's default. Read once, on first use.
#pragma once

#include "molm/core/error.hpp"

#include <omp.h>

#include <cstdlib>
#include <string>

namespace molm {

/// Number of threads molm's CPU kernels (and oneDNN, which shares the OpenMP runtime) use.
inline int num_threads() {
  static const bool applied_env = [] {
    if (const char* env = std::getenv("MOLM_NUM_THREADS")) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end != env && v > 0) omp_set_num_threads(static_cast<int>(v));
    }
    return true;
  }();
  (void)applied_env;
  return omp_get_max_threads();
}

/// Change the thread count at run time (benchmarks sweep it).
inline void set_num_threads(int n) {
  MOLM_CHECK(n > 0, "threads", "thread count must be positive, got {}", n);
  num_threads();  // apply MOLM_NUM_THREADS first so it cannot override this call later
  omp_set_num_threads(n);
}

}  // namespace molm
