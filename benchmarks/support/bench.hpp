// What every benchmark program shares: median timing after warm-up, the JSON Lines record each
// figure is printed as, the PyTorch peer figures handed over by run.sh, and the machine's FMA peak
// (the "limit" a GEMM is measured against), measured in the same run rather than looked up.
//
// Output contract, one JSON object per line on stdout:
//   {"bench", "shape", "dtype", "threads", "molm", "peer" (number or null), "peer_name", "unit",
//    "ratio" = molm/peer (higher is better for molm; null without a peer), "limit" (or null),
//    "limit_fraction" = molm/limit (or null)}
#pragma once

#include <molm/core/error.hpp>
#include <molm/core/threads.hpp>

#include <immintrin.h>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace molm::bench {

// ---- timing -------------------------------------------------------------------------------------

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// How long to measure: warm-up calls first, then repetitions until both `min_reps` and `min_time_s`
/// are reached (or `max_reps`), so small problems get many samples and huge ones a few.
struct Budget {
  int warmup = 2;
  int min_reps = 5;
  int max_reps = 1000;
  double min_time_s = 2.0;
};

/// Median seconds per call of each function. The functions are timed interleaved — one call of each
/// per round, in reversed order every other round — so a change in machine load, or one function
/// leaving caches warm for the next, favours none of them.
inline std::vector<double> median_times(const std::vector<std::function<void()>>& fns, const Budget& budget) {
  for (int w = 0; w < budget.warmup; ++w)
    for (const auto& f : fns) f();
  std::vector<std::vector<double>> samples(fns.size());
  const double start = now_s();
  for (int rep = 0; rep < budget.max_reps; ++rep) {
    if (rep >= budget.min_reps && now_s() - start >= budget.min_time_s) break;
    for (std::size_t j = 0; j < fns.size(); ++j) {
      const std::size_t i = rep % 2 ? fns.size() - 1 - j : j;
      const double t0 = now_s();
      fns[i]();
      samples[i].push_back(now_s() - t0);
    }
  }
  std::vector<double> medians;
  for (auto& s : samples) {
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    medians.push_back(n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]));
  }
  return medians;
}

// ---- records ------------------------------------------------------------------------------------

struct Record {
  std::string bench, shape, dtype;
  int threads = 1;
  double molm = 0;
  std::optional<double> peer;
  std::string peer_name;
  std::string unit;
  std::optional<double> limit;
};

/// One record as the JSON object of the output contract (extra fields may be added before printing).
inline nlohmann::json to_json(const Record& r) {
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return nlohmann::json{
      {"bench", r.bench},
      {"shape", r.shape},
      {"dtype", r.dtype},
      {"threads", r.threads},
      {"molm", r.molm},
      {"peer", opt(r.peer)},
      {"peer_name", r.peer_name},
      {"unit", r.unit},
      {"ratio", r.peer && *r.peer > 0 ? nlohmann::json(r.molm / *r.peer) : nlohmann::json(nullptr)},
      {"limit", opt(r.limit)},
      {"limit_fraction", r.limit && *r.limit > 0 ? nlohmann::json(r.molm / *r.limit) : nlohmann::json(nullptr)}};
}

/// Print one record as a JSON line on stdout (flushed, so a long run shows progress).
inline void emit(const Record& r) { std::cout << to_json(r).dump() << std::endl; }

/// The value after `flag` on the command line (`--only decode`), or "" when it is not given.
inline std::string arg_value(int argc, char** argv, const std::string& flag) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == flag) return argv[i + 1];
  return "";
}

/// Threads every figure uses: MOLM_NUM_THREADS, else all cores (OpenMP's default).
inline int bench_threads() { return num_threads(); }

// ---- peers --------------------------------------------------------------------------------------

/// Figures a peer script measured: (bench, shape, dtype) → value. run.sh passes the file as
/// `--peers FILE`; each line is {"bench", "shape", "dtype", "value", ...}.
class Peers {
 public:
  static Peers from_args(int argc, char** argv) {
    Peers p;
    for (int i = 1; i + 1 < argc; ++i)
      if (std::string(argv[i]) == "--peers") p.load(argv[i + 1]);
    return p;
  }
  void load(const std::string& path) {
    std::ifstream in(path);
    MOLM_CHECK(in.good(), "bench", "cannot open peer file {}", path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto j = nlohmann::json::parse(line);
      if (!j.contains("value") || j["value"].is_null()) continue;
      values_[key(j.at("bench"), j.at("shape"), j.at("dtype"))] = j["value"].get<double>();
    }
  }
  std::optional<double> get(const std::string& bench, const std::string& shape, const std::string& dtype) const {
    auto it = values_.find(key(bench, shape, dtype));
    return it == values_.end() ? std::nullopt : std::optional<double>(it->second);
  }

 private:
  static std::string key(const std::string& b, const std::string& s, const std::string& d) {
    return b + "|" + s + "|" + d;
  }
  std::map<std::string, double> values_;
};

// ---- FMA peak -----------------------------------------------------------------------------------
// Each thread runs a loop of independent vector FMA chains, so the loop runs at the core's FMA
// throughput; flops over the wall time of all threads together is the peak.

namespace detail {

// Independent accumulators per loop: enough to cover latency × FMA ports, few enough to stay in
// registers (32 zmm for AVX-512; 16 ymm for AVX2, where more chains would spill).
constexpr int kChains512 = 16;
constexpr int kChains256 = 12;
constexpr long kIterations = 1 << 24;

__attribute__((target("avx512f"))) inline float fma_loop_avx512(long n, float seed) {
  __m512 acc[kChains512];
  for (int c = 0; c < kChains512; ++c) acc[c] = _mm512_set1_ps(seed + static_cast<float>(c));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < n; ++i)
    for (int c = 0; c < kChains512; ++c) acc[c] = _mm512_fmadd_ps(acc[c], m, a);
  __m512 s = acc[0];
  for (int c = 1; c < kChains512; ++c) s = _mm512_add_ps(s, acc[c]);
  alignas(64) float v[16];  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
  _mm512_store_ps(v, s);
  float r = 0;
  for (float x : v) r += x;
  return r;
}

__attribute__((target("avx2,fma"))) inline float fma_loop_avx2(long n, float seed) {
  __m256 acc[kChains256];
  for (int c = 0; c < kChains256; ++c) acc[c] = _mm256_set1_ps(seed + static_cast<float>(c));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < n; ++i)
    for (int c = 0; c < kChains256; ++c) acc[c] = _mm256_fmadd_ps(acc[c], m, a);
  __m256 s = acc[0];
  for (int c = 1; c < kChains256; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(32) float v[8];
  _mm256_store_ps(v, s);
  float r = 0;
  for (float x : v) r += x;
  return r;
}

/// vdpbf16ps: 32 bf16 products summed pairwise into 16 f32 lanes = 64 flops per instruction.
__attribute__((target("avx512f,avx512bf16"))) inline float dpbf16_loop(long n, float seed) {
  __m512 acc[kChains512];
  for (int c = 0; c < kChains512; ++c) acc[c] = _mm512_set1_ps(seed + static_cast<float>(c));
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);  // 1, ~6e-8
  for (long i = 0; i < n; ++i)
    for (int c = 0; c < kChains512; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], x, y);
  __m512 s = acc[0];
  for (int c = 1; c < kChains512; ++c) s = _mm512_add_ps(s, acc[c]);
  alignas(64) float v[16];  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
  _mm512_store_ps(v, s);
  float r = 0;
  for (float x : v) r += x;
  return r;
}

/// GFLOP/s of `threads` threads all running loop(n) at once; the best of a few tries.
inline double parallel_rate(int threads, double flops_per_iteration, float (*loop)(long, float)) {
  double best = 0;
  volatile float sink = 0;
  for (int trial = 0; trial < 5; ++trial) {
    double t0 = 0, t1 = 0;
#pragma omp parallel num_threads(threads)
    {
      float r = loop(kIterations / 16, 1.0f);  // wake the core up to its sustained clock
#pragma omp barrier
#pragma omp master
      t0 = now_s();
      r += loop(kIterations, 2.0f);
#pragma omp barrier
#pragma omp master
      t1 = now_s();
#pragma omp critical
      sink = sink + r;
    }
    best = std::max(best, flops_per_iteration * static_cast<double>(kIterations) * threads / (t1 - t0) * 1e-9);
  }
  return best;
}

}  // namespace detail

/// Peak f32 FMA throughput of `threads` threads in GFLOP/s (widest of AVX-512 and AVX2 available).
inline double fma_peak_f32(int threads) {
  double peak = 0;
  if (__builtin_cpu_supports("avx512f"))
    peak = detail::parallel_rate(threads, detail::kChains512 * 16 * 2.0, detail::fma_loop_avx512);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    peak = std::max(peak, detail::parallel_rate(threads, detail::kChains256 * 8 * 2.0, detail::fma_loop_avx2));
  return peak;
}

/// GFLOP/s of oneDNN's own matmul with `dt` operands (f32 or bf16; an f32 result, weights in the
/// layout oneDNN prefers) at n×n×n on `threads` threads: the fastest GEMM path the CPU has for that
/// dtype (for bf16, AMX tiles where it has them, which a vector-instruction loop does not see). Best
/// of a few runs after a warm-up.
inline double onednn_gemm_rate(int threads, dnnl::memory::data_type dt, int n = 2048) {
  using tag = dnnl::memory::format_tag;
  MOLM_CHECK(dt == dnnl::memory::data_type::f32 || dt == dnnl::memory::data_type::bf16, "bench",
             "onednn_gemm_rate: f32 or bf16 operands only");
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(threads);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const dnnl::memory::dims dims{n, n};
  const dnnl::memory::desc a_md(dims, dt, tag::ab), b_plain(dims, dt, tag::ab), b_any(dims, dt, tag::any),
      c_md(dims, dnnl::memory::data_type::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), eng);
  dnnl::memory a(a_md, eng), b_user(b_plain, eng), b(pd.weights_desc(), eng), c(c_md, eng);
  for (dnnl::memory* m : {&a, &b_user}) {  // small values (2^-7 and up): no denormals, no overflow
    void* data = m->get_data_handle();
    for (std::int64_t i = 0; i < std::int64_t{n} * n; ++i) {
      const auto bits = static_cast<std::uint16_t>(0x3c00 + i % 64);  // as bf16; the same value as f32
      if (dt == dnnl::memory::data_type::bf16) static_cast<std::uint16_t*>(data)[i] = bits;
      else static_cast<std::uint32_t*>(data)[i] = std::uint32_t{bits} << 16;
    }
  }
  dnnl::reorder(b_user, b).execute(stream, b_user, b);
  const dnnl::matmul mm(pd);
  const std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
  double best = 0;
  for (int rep = 0; rep < 6; ++rep) {
    const double t0 = now_s();
    mm.execute(stream, args);
    stream.wait();
    if (rep > 0) best = std::max(best, 2.0 * n * n * static_cast<double>(n) / (now_s() - t0) * 1e-9);
  }
  omp_set_num_threads(saved_threads);
  return best;
}

/// GFLOP/s of oneDNN's own bf16 matmul (bf16 × bf16 → f32) at n×n×n: onednn_gemm_rate for bf16.
inline double onednn_bf16_gemm_rate(int threads, int n = 2048) {
  return onednn_gemm_rate(threads, dnnl::memory::data_type::bf16, n);
}

/// The bf16 GEMM limit in GFLOP/s: the faster of the vdpbf16ps peak (the f32 FMA peak where the CPU
/// lacks avx512bf16) and oneDNN's own bf16 matmul at a large square shape (AMX, where present).
inline double fma_peak_bf16(int threads, double f32_peak) {
  const double vector_peak = __builtin_cpu_supports("avx512bf16")
                                 ? detail::parallel_rate(threads, detail::kChains512 * 32 * 2.0, detail::dpbf16_loop)
                                 : f32_peak;
  return std::max(vector_peak, onednn_bf16_gemm_rate(threads));
}

}  // namespace molm::bench
