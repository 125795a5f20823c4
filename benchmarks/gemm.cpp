// bench_gemm: C = A·B (A [M, K], B [K, N], dense, row-major) in f32 and bf16 (bf16 result) at the
// GEMM shapes the models run — Uni-Mol/Q-Former projections (544×512×2048, 544×2048×512,
// 1152×768×3072), Llama-7B decode-ish rows (128×4096×4096, 128×11008×4096) — and 4096³.
//
// Per (shape, dtype) it prints two lines, in GFLOP/s (2·M·K·N per call), with the measured FMA peak
// as the limit:
//   peer "onednn": molm::matmul through the public API (allocating its output, as a user would)
//                  against a raw oneDNN primitive created once, timed interleaved in this process;
//                  the ratio is what molm's layer costs (1.0 = nothing);
//   peer "torch":  the same molm figure against torch.matmul (peers/gemm_torch.py, same threads).
#include "support/bench.hpp"

#include <molm/backend/cpu/onednn/engine.hpp>
#include <molm/molm.hpp>

#include <dnnl.hpp>

#include <cmath>

namespace {

using namespace molm;

struct GemmShape {
  std::int64_t m, k, n;
  std::string str() const { return fmt::format("{}x{}x{}", m, k, n); }
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};

/// A raw oneDNN matmul on dense row-major buffers: primitive, memories and stream made once.
class RawOnednnGemm {
 public:
  RawOnednnGemm(const GemmShape& s, dnnl::memory::data_type dt, void* a, void* b, void* c)
      : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc da({s.m, s.k}, dt, tag::ab), db({s.k, s.n}, dt, tag::ab), dc({s.m, s.n}, dt, tag::ab);
    primitive_ = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(da, db, dc), engine_));
    args_ = {{DNNL_ARG_SRC, dnnl::memory(da, engine_, a)},
             {DNNL_ARG_WEIGHTS, dnnl::memory(db, engine_, b)},
             {DNNL_ARG_DST, dnnl::memory(dc, engine_, c)}};
  }
  void run() {
    primitive_.execute(stream_, args_);
    stream_.wait();
  }

 private:
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::matmul primitive_;
  std::unordered_map<int, dnnl::memory> args_;
};

/// Largest |x - y| relative to the largest |y|: molm and raw oneDNN run the same kernel, so their
/// results must agree before either is timed.
double max_relative_difference(const Tensor& x, const Tensor& y) {
  const Tensor xd = x.to(DType::f64), yd = y.to(DType::f64);
  const double *px = xd.data<double>(), *py = yd.data<double>();
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < xd.numel(); ++i) {
    diff = std::max(diff, std::abs(px[i] - py[i]));
    scale = std::max(scale, std::abs(py[i]));
  }
  return diff / std::max(scale, 1e-30);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Peers peers = bench::Peers::from_args(argc, argv);
  const int threads = bench::bench_threads();
  const double peak_f32 = bench::fma_peak_f32(threads);
  const double peak_bf16 = bench::fma_peak_bf16(threads, peak_f32);
  const std::vector<GemmShape> shapes = {{544, 512, 2048},   {544, 2048, 512},  {128, 4096, 4096},
                                         {128, 11008, 4096}, {1152, 768, 3072}, {4096, 4096, 4096}};
  Generator gen(2024);
  for (const GemmShape& s : shapes)
    for (DType dt : {DType::f32, DType::bf16}) {
      const Tensor a = rand({s.m, s.k}, gen, dt, -1.0, 1.0), b = rand({s.k, s.n}, gen, dt, -1.0, 1.0);
      Tensor raw_out = Tensor::empty({s.m, s.n}, dt);
      RawOnednnGemm raw(s, backend::onednn::to_dnnl(dt), a.raw_data(), b.raw_data(), raw_out.raw_data());

      raw.run();
      const double diff = max_relative_difference(matmul(a, b), raw_out);
      MOLM_CHECK(diff <= (dt == DType::f32 ? 1e-5 : 1e-2), "bench_gemm", "{} {}: molm and oneDNN differ by {}", s.str(),
                 name(dt), diff);

      // 4096³ takes ~0.3 s per call (more on fewer cores): one warm-up is enough.
      bench::Budget budget;
      if (s.flops() > 2e10) budget.warmup = 1;
      Tensor sink;
      const auto t = bench::median_times({[&] { sink = matmul(a, b); }, [&] { raw.run(); }}, budget);
      const double molm_rate = s.flops() / t[0] * 1e-9, raw_rate = s.flops() / t[1] * 1e-9;
      const double limit = dt == DType::bf16 ? peak_bf16 : peak_f32;
      bench::emit({"gemm", s.str(), std::string(name(dt)), threads, molm_rate, raw_rate, "onednn", "GFLOP/s", limit});
      bench::emit({"gemm", s.str(), std::string(name(dt)), threads, molm_rate,
                   peers.get("gemm", s.str(), std::string(name(dt))), "torch", "GFLOP/s", limit});
    }
  return 0;
}
