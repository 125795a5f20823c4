// Where the molm command line looks for plugins, in order: --plugin-path, MOLM_PLUGIN_PATH (a
// ':'-separated list), then the plugin folder next to the executable: <bindir>/../<libdir>/molm/plugins
// when installed, <build>/bin/../lib/molm/plugins in a build tree. Relative to the executable, so an
// install can be moved.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#ifndef MOLM_PLUGIN_RELDIR  // set by CMake from GNUInstallDirs (e.g. lib/molm/plugins)
#define MOLM_PLUGIN_RELDIR "lib/molm/plugins"
#endif

namespace molm::cli {

namespace fs = std::filesystem;

/// The folder holding the running executable (Linux: /proc/self/exe); empty when unknown.
inline fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path{} : exe.parent_path();
}

/// The plugin folder that belongs to this executable (install layout or build tree).
inline fs::path default_plugin_dir() {
  const fs::path bin = executable_dir();
  if (bin.empty()) return {};
  const fs::path installed = (bin / ".." / MOLM_PLUGIN_RELDIR).lexically_normal();
  const fs::path build_tree = (bin / ".." / "lib/molm/plugins").lexically_normal();
  std::error_code ec;
  if (!fs::is_directory(installed, ec) && fs::is_directory(build_tree, ec)) return build_tree;
  return installed;
}

/// Every folder searched for plugins, highest priority first.
inline std::vector<fs::path> plugin_search_path(const std::string& from_command_line = {}) {
  std::vector<fs::path> dirs;
  auto add_list = [&](const std::string& list) {
    std::size_t start = 0;
    while (start <= list.size()) {
      const std::size_t end = std::min(list.find(':', start), list.size());
      if (end > start) dirs.emplace_back(list.substr(start, end - start));
      start = end + 1;
    }
  };
  add_list(from_command_line);
  if (const char* env = std::getenv("MOLM_PLUGIN_PATH")) add_list(env);
  if (fs::path d = default_plugin_dir(); !d.empty()) dirs.push_back(std::move(d));
  return dirs;
}

}  // namespace molm::cli
