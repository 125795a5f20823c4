// molm's version, and what this build was compiled with.
#pragma once

#define MOLM_VERSION_MAJOR 0
#define MOLM_VERSION_MINOR 1
#define MOLM_VERSION_PATCH 0
#define MOLM_VERSION_STRING "0.1.0"

namespace molm {
inline constexpr const char* version() { return MOLM_VERSION_STRING; }
}  // namespace molm
