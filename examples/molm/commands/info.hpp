// `molm info`: what this build and this machine offer: version, threads, CPU ISA, oneDNN, backends,
// optional features and the plugin folders. Plain text by default, `--json` for scripts.
#pragma once

#include "command.hpp"
#include "system/cpu_features.hpp"
#include "system/plugin_paths.hpp"

#include <molm/backend/cpu/register.hpp>
#include <molm/backend/kernels.hpp>
#include <molm/core/threads.hpp>
#include <molm/version.hpp>

#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#ifdef MOLM_HAVE_CHEM
#include <RDGeneral/versions.h>
#endif

#include <cstdlib>
#include <iostream>
#include <string>

namespace molm::cli {

namespace detail {

/// oneDNN's name for the best instruction set it will use here (dnnl_cpu_isa_t, oneDNN 2.6).
inline std::string onednn_isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::all: return "all";
    default: return "other (" + std::to_string(static_cast<int>(isa)) + ")";
  }
}

inline std::string onednn_runtime_name(unsigned runtime) {
  switch (runtime) {
    case DNNL_RUNTIME_NONE: return "none";
    case DNNL_RUNTIME_SEQ: return "sequential";
    case DNNL_RUNTIME_OMP: return "OpenMP";
    case DNNL_RUNTIME_TBB: return "TBB";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
    case DNNL_RUNTIME_OCL: return "OpenCL";
    case DNNL_RUNTIME_SYCL: return "SYCL";
    default: return "unknown";
  }
}

inline nlohmann::ordered_json collect_info() {
  nlohmann::ordered_json j;
  j["version"] = molm::version();

  const char* env_threads = std::getenv("MOLM_NUM_THREADS");
  j["threads"] = molm::num_threads();
  j["threads_from"] = env_threads ? "MOLM_NUM_THREADS" : "OpenMP default";

  const CpuFeatures cpu = detect_cpu_features();
  j["cpu"] = {{"brand", cpu.brand},
              {"avx2", cpu.avx2},
              {"avx512f", cpu.avx512f},
              {"avx512_bf16", cpu.avx512_bf16},
              {"amx_tile", cpu.amx_tile},
              {"amx_bf16", cpu.amx_bf16}};

  const dnnl_version_t* v = dnnl_version();
  j["onednn"] = {{"version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)},
                 {"git_hash", v->hash ? v->hash : ""},
                 {"cpu_runtime", onednn_runtime_name(v->cpu_runtime)},
                 {"isa", onednn_isa_name(dnnl::get_effective_cpu_isa())}};

  // What the kernel registry holds: every registered backend, its device and how many (kernel,
  // dtype) entries it implements. A CUDA backend appears here once one is linked and registers.
  j["backends"] = nlohmann::ordered_json::array();
  for (molm::backend::BackendId b : molm::backend::registry().backends()) {
    const auto& info = molm::backend::registry().info(b);
    j["backends"].push_back({{"name", info.name},
                             {"device", info.device == molm::DeviceType::cpu ? "cpu" : "cuda"},
                             {"kernels", molm::backend::kernel_count(b)}});
  }

#ifdef MOLM_HAVE_CHEM
  j["features"]["rdkit"] = std::string("yes (") + RDKit::rdkitVersion + ")";
#else
  j["features"]["rdkit"] = "no (molm::chem was not built)";
#endif

  j["plugin_dirs"] = nlohmann::ordered_json::array();
  for (const auto& dir : plugin_search_path()) {
    std::error_code ec;
    j["plugin_dirs"].push_back({{"path", dir.string()}, {"exists", fs::is_directory(dir, ec)}});
  }
  return j;
}

inline void print_info(const nlohmann::ordered_json& j, std::ostream& os) {
  auto row = [&](const char* key, const std::string& value) {
    const std::size_t n = std::string(key).size();
    os << key << std::string(n < 18 ? 18 - n : 1, ' ') << value << "\n";
  };
  auto yes_no = [](bool b) { return b ? "yes" : "no"; };
  const auto& cpu = j["cpu"];
  const auto& dnnl = j["onednn"];

  row("molm", j["version"].get<std::string>());
  row("threads", std::to_string(j["threads"].get<int>()) + " (" + j["threads_from"].get<std::string>() + ")");
  row("cpu", cpu["brand"].get<std::string>());
  row("cpu flags", std::string("avx2 ") + yes_no(cpu["avx2"].get<bool>()) + ", avx512f " +
                       yes_no(cpu["avx512f"].get<bool>()) + ", avx512_bf16 " + yes_no(cpu["avx512_bf16"].get<bool>()) +
                       ", amx " + yes_no(cpu["amx_tile"].get<bool>() && cpu["amx_bf16"].get<bool>()));
  row("oneDNN", dnnl["version"].get<std::string>() + " (" + dnnl["cpu_runtime"].get<std::string>() +
                    " runtime), ISA in use: " + dnnl["isa"].get<std::string>());
  bool cuda = false;
  for (const auto& b : j["backends"]) {
    cuda = cuda || b["device"] == "cuda";
    row(("backend " + b["name"].get<std::string>()).c_str(),
        b["device"].get<std::string>() + ", " + std::to_string(b["kernels"].get<int>()) + " kernels");
  }
  if (!cuda) row("backend cuda", "none registered (no CUDA backend exists yet)");
  row("RDKit", j["features"]["rdkit"].get<std::string>());
  bool first = true;
  for (const auto& d : j["plugin_dirs"]) {
    row(first ? "plugin dirs" : "", d["path"].get<std::string>() + (d["exists"].get<bool>() ? "" : " (not present)"));
    first = false;
  }
}

}  // namespace detail

inline Command info_command() {
  return {"info", "show the version, threads, CPU features, oneDNN, backends and plugin folders",
          [](const std::vector<std::string>& args) {
            po::options_description options("molm info options");
            options.add_options()("json", "print JSON instead of text");
            const auto vm = parse_command_line("info", args, options);
            if (!vm) return int(exit_ok);
            const auto info = detail::collect_info();
            if (vm->count("json"))
              std::cout << info.dump(2) << "\n";
            else
              detail::print_info(info, std::cout);
            return int(exit_ok);
          }};
}

}  // namespace molm::cli
