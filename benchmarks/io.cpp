// bench_io: how fast a 1 GiB checkpoint becomes usable weights. The job, the same on both sides:
// open the file, get every tensor, sum each one with a plain loop (so every byte is really read; a
// lazy mmap alone would measure nothing). Files: MOLM_BENCH_IO_DIR (default /tmp/molm-bench-io)/model.safetensors
// and model.pt, written by the PyTorch peer (peers/io_torch.py); without PyTorch, molm writes the
// safetensors file itself and the .pt figure is left out. Page cache warm for both sides.
//
// limit: summing the same bytes already in memory — no loader can beat reading them once.
#include "support/bench.hpp"

#include <molm/io/checkpoint_reader.hpp>
#include <molm/molm.hpp>

#include <cstdlib>
#include <filesystem>

using namespace molm;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kTensors = 64, kRows = 2048, kCols = 2048;

/// Read every float once: a plain vectorised, threaded sum (as cheap as torch's t.sum()), so the
/// figure measures getting the bytes, not molm's reduction kernels.
double sum_all(const nn::StateDict& sd) {
  double total = 0;
  for (const auto& [name, t] : sd) {
    const Tensor c = t.contiguous();
    const float* p = c.data<float>();
    const std::int64_t n = c.numel();
    float s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) s += p[i];
    total += s;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Peers peers = bench::Peers::from_args(argc, argv);
  const int threads = bench::bench_threads();
  const char* env_dir = std::getenv("MOLM_BENCH_IO_DIR");
  const fs::path dir = env_dir ? env_dir : "/tmp/molm-bench-io";
  fs::create_directories(dir);

  const fs::path st = dir / "model.safetensors", pt = dir / "model.pt";
  if (!fs::exists(st)) {
    Generator gen(7);
    std::map<std::string, Tensor> tensors;
    for (std::int64_t i = 0; i < kTensors; ++i)
      tensors.emplace(fmt::format("layers.{}.weight", i), rand({kRows, kCols}, gen, DType::f32, 0.0, 1.0));
    save_safetensors(st, tensors);
  }
  const std::string shape = fmt::format("{}x{}x{}", kTensors, kRows, kCols);
  const double gb = static_cast<double>(kTensors * kRows * kCols * 4) / 1e9;

  bench::Budget budget;
  budget.warmup = 1;
  budget.min_reps = 5;
  budget.min_time_s = 0;

  // The limit: the same sums over tensors already in memory.
  const nn::StateDict resident = [&] {
    nn::StateDict sd;
    for (const auto& [n, t] : io::CheckpointReader::open(st).state_dict()) sd.insert(n, t.clone());
    return sd;
  }();
  volatile double sink = 0;
  const double limit = gb / bench::median_times({[&] { sink = sum_all(resident); }}, budget)[0];

  std::vector<std::pair<std::string, fs::path>> cases = {{"load_safetensors", st}};
  if (fs::exists(pt)) cases.emplace_back("load_pt", pt);
  for (const auto& [bench_name, path] : cases) {
    const auto t = bench::median_times({[&] { sink = sum_all(io::CheckpointReader::open(path).state_dict()); }}, budget);
    bench::emit({bench_name, shape, "f32", threads, gb / t[0], peers.get(bench_name, shape, "f32"),
                 bench_name == "load_pt" ? "torch.load" : "safetensors.torch.load_file", "GB/s", limit});
  }
  return 0;
}
