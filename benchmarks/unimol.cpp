// bench_unimol: the Uni-Mol encoder at the `paper` shape (15 layers, 512 wide, 64 heads of 8, FFN 2048,
// 128 kernels; random weights), molecules per second for
//   forward            frozen use (3D-MoLM), no autograd tape
//   forward_backward   trainable use (ablations): forward, then backward of a weighted sum into every
//                      parameter and the input
// on batches of 16 molecules × 34 atoms and 64 × 64 atoms (+[CLS]/[SEP], padded to a multiple of 8 as
// D3Collater pads), in f32 and under bf16 autocast. The peer (peers/unimol_torch.py) runs Uni-Core's
// modules as 3D-MoLM calls them, on the same shapes and threads.
//
// `bench_unimol --only TEXT` runs only the figures whose "bench shape dtype" contains TEXT (for
// profiling one case, e.g. --only "forward_backward paper:16x34 f32").
//
// limit: the machine's FMA peak (measured here) turned into molecules/s with the model's FLOP count
// (matmul FLOPs only: projections, FFN, q·kᵀ, P·V, the pair-bias MLP; backward counted as 2× forward).
#include "support/bench.hpp"

#include <molm/autograd/autocast.hpp>
#include <molm/models/unimol/encoder.hpp>

using namespace molm;
namespace unimol = molm::models::unimol;

namespace {

struct Batch {
  std::int64_t molecules, atoms;
  Tensor tokens, distances, edge_types;
  std::int64_t tokens_per_molecule() const { return (atoms + 2 + 7) / 8 * 8; }
  std::string shape() const { return fmt::format("paper:{}x{}", molecules, atoms); }
};

/// Random molecules of exactly `atoms` atoms each, featurized and padded as data::collate_unimol does.
Batch make_batch(std::int64_t molecules, std::int64_t atoms, Generator& gen) {
  Batch b{molecules, atoms, {}, {}, {}};
  const std::int64_t n = atoms + 2, N = b.tokens_per_molecule();
  b.tokens = zeros({molecules, N}, DType::i64);
  b.distances = zeros({molecules, N, N});
  b.edge_types = zeros({molecules, N, N}, DType::i64);
  const Tensor kinds = rand({molecules, n}, gen, DType::f64, 4.0, 12.0);  // C … I
  const Tensor xyz = rand({molecules, n, 3}, gen, DType::f64, -4.0, 4.0);
  auto* tok = b.tokens.data<std::int64_t>();
  auto* dist = b.distances.data<float>();
  auto* edge = b.edge_types.data<std::int64_t>();
  for (std::int64_t m = 0; m < molecules; ++m) {
    for (std::int64_t i = 0; i < n; ++i)
      tok[m * N + i] = i == 0 ? 1 : i == n - 1 ? 2 : static_cast<std::int64_t>(kinds.data<double>()[m * n + i]);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double d2 = 0;
        for (int k = 0; k < 3; ++k) {
          const double t = xyz.data<double>()[(m * n + i) * 3 + k] - xyz.data<double>()[(m * n + j) * 3 + k];
          d2 += t * t;
        }
        dist[(m * N + i) * N + j] = static_cast<float>(std::sqrt(d2));
        edge[(m * N + i) * N + j] = tok[m * N + i] * 31 + tok[m * N + j];
      }
  }
  return b;
}

/// Matmul FLOPs of one forward pass over the padded batch.
double forward_flops(const unimol::Config& c, const Batch& b) {
  const double B = static_cast<double>(b.molecules), N = static_cast<double>(b.tokens_per_molecule());
  const double C = static_cast<double>(c.embed_dim), F = static_cast<double>(c.ffn_dim),
               K = static_cast<double>(c.gaussian_kernels), H = static_cast<double>(c.heads);
  const double per_layer = 2 * B * N * C * 3 * C + 2 * 2 * B * N * N * C + 2 * B * N * C * C + 2 * 2 * B * N * C * F;
  return static_cast<double>(c.layers) * per_layer + 2 * B * N * N * (K * K + K * H);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Peers peers = bench::Peers::from_args(argc, argv);
  const std::string only = bench::arg_value(argc, argv, "--only");
  const int threads = bench::bench_threads();
  const double peak_f32 = bench::fma_peak_f32(threads);
  const double peak_bf16 = bench::fma_peak_bf16(threads, peak_f32);
  const unimol::Config config = unimol::Config::paper();
  Generator gen(2026);
  unimol::Encoder encoder(config, gen);
  encoder.eval();  // dropout off, as 3D-MoLM runs it; gradients still flow in forward_backward

  for (const auto& [molecules, atoms] : {std::pair<std::int64_t, std::int64_t>{16, 34}, {64, 64}}) {
    const Batch batch = make_batch(molecules, atoms, gen);
    const double flops = forward_flops(config, batch);
    const Tensor weights = rand({batch.molecules, batch.tokens_per_molecule(), config.embed_dim}, gen);
    for (const char* dtype : {"f32", "bf16"}) {
      const bool bf16 = std::string(dtype) == "bf16";
      const double peak = bf16 ? peak_bf16 : peak_f32;
      bench::Budget budget;
      budget.warmup = 1;
      budget.min_reps = 3;
      budget.min_time_s = 3.0;
      Tensor sink;
      const auto forward = [&] {
        std::optional<autograd::autocast> guard;
        if (bf16) guard.emplace(DType::bf16);
        no_grad ng;
        sink = encoder.forward(batch.tokens, batch.distances, batch.edge_types).atoms;
      };
      const auto forward_backward = [&] {
        std::optional<autograd::autocast> guard;
        if (bf16) guard.emplace(DType::bf16);
        encoder.zero_grad();
        sum(mul(encoder.forward(batch.tokens, batch.distances, batch.edge_types).atoms, weights)).backward();
      };
      for (const auto& [name, fn, factor] :
           {std::tuple{"unimol_forward", std::function<void()>(forward), 1.0},
            std::tuple{"unimol_forward_backward", std::function<void()>(forward_backward), 3.0}}) {
        if (!only.empty() && fmt::format("{} {} {}", name, batch.shape(), dtype).find(only) == std::string::npos) continue;
        const double t = bench::median_times({fn}, budget)[0];
        const double rate = static_cast<double>(batch.molecules) / t;
        const double limit = peak * 1e9 / (factor * flops / static_cast<double>(batch.molecules));
        bench::emit({name, batch.shape(), dtype, threads, rate, peers.get(name, batch.shape(), dtype), "torch",
                     "molecules/s", limit});
      }
    }
  }
  return 0;
}
