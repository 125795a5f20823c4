// molm::error — the one exception type molm throws.
//
// molm lives inside other programs, so it throws and never exits. Every message starts with the
// component or op in brackets ("[matmul] ...") and ends with the source location, so a user's log
// line says what failed, with which shapes, and where to look.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace molm {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
[[noreturn]] inline void throw_error(const char* component, const std::string& what, const char* file,
                                     int line) {
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  throw error(fmt::format("[{}] {} ({}:{})", component, what, base, line));
}
}  // namespace detail

}  // namespace molm

/// Throw molm::error("[component] message (file:line)"). The message is a fmt format string.
#define MOLM_THROW(component, ...) \
  ::molm::detail::throw_error(component, ::fmt::format(__VA_ARGS__), __FILE__, __LINE__)

/// A precondition: always evaluated, never compiled out.
#define MOLM_CHECK(cond, component, ...)     \
  do {                                       \
    if (!(cond)) MOLM_THROW(component, __VA_ARGS__); \
  } while (0)
