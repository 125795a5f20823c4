// bench_core: the tensor core's building blocks, each beside PyTorch on the same data and threads
// (peers/core_torch.py).
//
// sum, mean: a whole-tensor sum of 64 MiB of f32 (all threads, fixed chunking: backend/cpu/reduce.hpp),
// in GB/s read. limit: a read-bandwidth probe measured in the same run — every thread streams its
// share of the same buffer and adds it up as 32-bit integers (exact, so the compiler vectorises it
// freely): no sum can read the bytes faster.
//
// eager_chain: what one small op costs beyond its arithmetic (allocation, dispatch, autograd
// bookkeeping): a chain of 1,000 elementwise ops, y = y * a + b 500 times on 64-element f32 vectors,
// without autograd ("no_grad") and recording the graph ("grad", y requires grad; no backward), in
// thousands of ops per second (500 kop/s = 2 µs per op). No limit.
//
// layer_norm, softmax, gelu, silu: the non-GEMM ops of a 768-wide BERT-style layer at 16×72 tokens,
// in f32 and bf16, forward ("fwd") and forward + backward ("fwd+bwd", the gradient of the input and,
// for LayerNorm, of weight and bias), in millions of input elements per second:
//   layer_norm [1152, 768] (eps 1e-12)    softmax [16, 12, 72, 72] + additive key-padding mask
//   gelu (erf) [1152, 3072]               silu [1152, 3072]
// No limit.
//
// `bench_core --only TEXT` runs only the parts whose name contains TEXT (sum, eager_chain, layer_norm,
// softmax, gelu, silu, bert_layer; e.g. --only bert_layer for profiling).
//
// bert_layer: the whole 768-wide layer those ops come from, at 16×72 tokens (every other sequence
// with its last 20 keys padded): BERT's post-LN layer as the Q-Former's text layers run it —
// self-attention (12 heads of 64, key padding mask), output dense + residual + LayerNorm, GELU FFN
// of 3072 + residual + LayerNorm — with random weights, forward ("fwd", no autograd) and forward +
// backward of a weighted sum into every parameter and the input ("fwd_bwd"), in f32 and under bf16
// autocast (f32 weights, as the reference trains), in tokens/s. limit: the GEMM FLOPs per token
// (projections, FFN, q·kᵀ, P·V; backward 2× forward) at the FMA peak of the dtype measured here.
#include "support/bench.hpp"

#include <molm/molm.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

using namespace molm;

namespace {

constexpr std::int64_t kElements = std::int64_t{16} << 20;  // 64 MiB of f32

/// Sum of n 32-bit words as integers (exact, so the compiler vectorises it freely).
template <class W> std::uint32_t word_sum(const W* p, std::int64_t n) {
  std::uint32_t s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}
/// The same with 512-bit loads where the CPU has them, so the probe reads as fast as the machine can.
__attribute__((target("avx512f"))) std::uint32_t word_sum_avx512(const std::uint32_t* p, std::int64_t n) {
  std::uint32_t s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

/// GB/s of reading x once on every thread (each thread its contiguous share).
double read_probe(const Tensor& x, const bench::Budget& budget) {
  const auto* p = static_cast<const std::uint32_t*>(x.raw_data());
  const std::int64_t n = x.numel();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  volatile std::uint32_t sink = 0;
  auto probe = [&] {
    std::uint32_t s = 0;
#pragma omp parallel reduction(+ : s)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const std::int64_t begin = n * t / nt, end = n * (t + 1) / nt;
      s += avx512 ? word_sum_avx512(p + begin, end - begin) : word_sum(p + begin, end - begin);
    }
    sink = s;
  };
  const double t = bench::median_times({probe}, budget)[0];
  (void)sink;
  return static_cast<double>(n) * 4 / t / 1e9;
}

/// BERT's post-LN layer (transformers' BertLayer without dropout), as the Q-Former's text layers.
struct BertLayer {
  nn::MultiheadAttention attention;
  nn::Linear dense, intermediate, output;
  nn::LayerNorm attention_norm, output_norm;

  BertLayer(std::int64_t width, std::int64_t heads, std::int64_t ffn, Generator& gen)
      : attention(nn::AttentionConfig::bert(width, heads), gen),
        dense(width, width, gen),
        intermediate(width, ffn, gen),
        output(ffn, width, gen),
        attention_norm(width, 1e-12),
        output_norm(width, 1e-12) {}

  Tensor forward(const Tensor& x, const Tensor& padding) const {
    AttentionOptions options;
    options.key_padding_mask = padding;
    const Tensor h = attention_norm.forward(add(dense.forward(attention.forward(x, {}, options)), x));
    return output_norm.forward(add(output.forward(gelu(intermediate.forward(h))), h));
  }
  void zero_grad() {
    for (nn::Module* m : std::initializer_list<nn::Module*>{&attention, &dense, &intermediate, &output,
                                                            &attention_norm, &output_norm})
      m->zero_grad();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const bench::Peers peers = bench::Peers::from_args(argc, argv);
  const int threads = bench::bench_threads();
  std::string only;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--only") only = argv[i + 1];
  const auto wanted = [&](const std::string& part) { return part.find(only) != std::string::npos; };
  Generator gen(11);
  const Tensor x = randn({kElements}, gen);
  const std::string shape = std::to_string(kElements);
  const double gb = static_cast<double>(kElements) * 4 / 1e9;

  bench::Budget budget;
  budget.min_time_s = 1.0;
  volatile float sink = 0;
  if (wanted("sum mean")) {
    const double limit = read_probe(x, budget);
    const auto t = bench::median_times({[&] { sink = sum(x).item<float>(); }, [&] { sink = mean(x).item<float>(); }},
                                       budget);
    bench::emit({"sum", shape, "f32", threads, gb / t[0], peers.get("sum", shape, "f32"), "torch.sum", "GB/s", limit});
    bench::emit({"mean", shape, "f32", threads, gb / t[1], peers.get("mean", shape, "f32"), "torch.mean", "GB/s", limit});
  }

  constexpr int kChainOps = 1000;
  const Tensor a = randn({64}, gen), b = randn({64}, gen), y0 = randn({64}, gen) * 0.01;
  const Tensor y0_grad = y0.detach().set_requires_grad();
  auto chain = [&](const Tensor& start) {
    Tensor y = start;
    for (int i = 0; i < kChainOps / 2; ++i) y = y * a + b;
    sink = y.data<float>()[0];
  };
  bench::Budget chain_budget;
  chain_budget.min_time_s = 1.0;
  if (wanted("eager_chain")) {
    const auto tc = bench::median_times(
        {[&] {
           no_grad guard;
           chain(y0);
         },
         [&] { chain(y0_grad); }},
        chain_budget);
    for (int i = 0; i < 2; ++i) {
      const std::string variant = i == 0 ? "no_grad" : "grad";
      bench::emit({"eager_chain", "1000x64:" + variant, "f32", threads, kChainOps / tc[i] / 1e3,
                   peers.get("eager_chain", "1000x64:" + variant, "f32"), "torch eager", "kop/s", std::nullopt});
    }
  }

  // ---- the non-GEMM ops of a BERT-style layer ----
  const Tensor key_mask = [&] {  // [16, 1, 1, 72]: the last 20 keys of every other sequence are padding
    Tensor m = zeros({16, 1, 1, 72});
    float* p = m.data<float>();
    for (int b = 0; b < 16; b += 2)
      for (int k = 52; k < 72; ++k) p[b * 72 + k] = -std::numeric_limits<float>::infinity();
    return m;
  }();
  struct Case {
    const char* name;
    Shape shape;
    std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)> op;  // (x, weight, bias)
  };
  const std::vector<Case> cases = {
      {"layer_norm", {1152, 768},
       [](const Tensor& x, const Tensor& w, const Tensor& b) { return layer_norm(x, w, b, 1e-12); }},
      {"softmax", {16, 12, 72, 72},
       [&](const Tensor& x, const Tensor&, const Tensor&) { return softmax(x, key_mask.to(x.dtype())); }},
      {"gelu", {1152, 3072}, [](const Tensor& x, const Tensor&, const Tensor&) { return gelu(x); }},
      {"silu", {1152, 3072}, [](const Tensor& x, const Tensor&, const Tensor&) { return silu(x); }},
  };
  bench::Budget op_budget;
  op_budget.min_time_s = 0.5;
  for (const Case& c : cases)
    for (const DType dt : {DType::f32, DType::bf16}) {
      if (!wanted(c.name)) continue;
      const Tensor x = randn(c.shape, gen).to(dt), dy = randn(c.shape, gen).to(dt);
      const Tensor w = (randn({c.shape.back()}, gen) * 0.1 + 1.0).to(dt);
      const Tensor b = (randn({c.shape.back()}, gen) * 0.1).to(dt);
      const Tensor xg = x.detach().set_requires_grad(), wg = w.detach().set_requires_grad(),
                   bg = b.detach().set_requires_grad();
      const auto t = bench::median_times({[&] {
                                            no_grad guard;
                                            (void)c.op(x, w, b);
                                          },
                                          [&] {
                                            c.op(xg, wg, bg).backward(dy);
                                            xg.zero_grad();
                                            wg.zero_grad();
                                            bg.zero_grad();
                                          }},
                                         op_budget);
      std::string shape;
      for (const std::int64_t d : c.shape) {
        if (!shape.empty()) shape += 'x';
        shape += std::to_string(d);
      }
      const std::string dname(name(dt));
      for (int i = 0; i < 2; ++i) {
        const std::string bench = std::string(c.name) + (i == 0 ? "_fwd" : "_fwd_bwd");
        bench::emit({bench, shape, dname, threads, static_cast<double>(x.numel()) / t[i] / 1e6,
                     peers.get(bench, shape, dname), "torch", "Melem/s", std::nullopt});
      }
    }

  // ---- a whole BERT-style layer ----
  if (!wanted("bert_layer")) return 0;
  constexpr std::int64_t kBatch = 16, kTokens = 72, kWidth = 768, kHeads = 12, kFfn = 3072;
  BertLayer layer(kWidth, kHeads, kFfn, gen);
  const Tensor hidden = randn({kBatch, kTokens, kWidth}, gen);
  const Tensor hidden_grad = hidden.detach().set_requires_grad();
  const Tensor out_weights = rand({kBatch, kTokens, kWidth}, gen);
  const Tensor padding = [&] {
    Tensor m = zeros({kBatch, kTokens}, DType::boolean);
    for (std::int64_t b = 0; b < kBatch; b += 2)
      for (std::int64_t k = kTokens - 20; k < kTokens; ++k) m.data<bool>()[b * kTokens + k] = true;
    return m;
  }();
  const double token_flops = 2.0 * (4 * kWidth * kWidth + 2 * kWidth * kFfn + 2 * kTokens * kWidth);
  const double peak_f32 = bench::fma_peak_f32(threads);
  const double peak_bf16 = bench::fma_peak_bf16(threads, peak_f32);
  bench::Budget layer_budget;
  layer_budget.min_time_s = 1.0;
  for (const DType dt : {DType::f32, DType::bf16}) {
    const bool bf16 = dt == DType::bf16;
    const auto t = bench::median_times({[&] {
                                          autocast guard(DType::bf16, bf16);
                                          no_grad ng;
                                          (void)layer.forward(hidden, padding);
                                        },
                                        [&] {
                                          layer.zero_grad();
                                          hidden_grad.zero_grad();
                                          Tensor loss;
                                          {
                                            autocast guard(DType::bf16, bf16);
                                            loss = sum(mul(layer.forward(hidden_grad, padding), out_weights));
                                          }
                                          loss.backward();
                                        }},
                                       layer_budget);
    const std::string shape = fmt::format("{}x{}x{}", kBatch, kTokens, kWidth);
    const std::string dname(name(dt));
    const double peak = (bf16 ? peak_bf16 : peak_f32) * 1e9;
    for (int i = 0; i < 2; ++i) {
      const std::string bench = i == 0 ? "bert_layer_fwd" : "bert_layer_fwd_bwd";
      const double tokens = static_cast<double>(kBatch * kTokens);
      bench::emit({bench, shape, dname, threads, tokens / t[i], peers.get(bench, shape, dname), "torch", "tokens/s",
                   peak / (token_flops * (i == 0 ? 1.0 : 3.0))});
    }
  }
}
