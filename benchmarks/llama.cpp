// Llama decoding and training-step speed (models/llama), against PyTorch (peers/llama_torch.py:
// transformers 4.35 LlamaForCausalLM / LlamaDecoderLayer with PEFT LoRA) on the same shapes and
// threads. Decoding one token reads every weight once, so decode speed is judged against memory
// bandwidth: `read_bandwidth` is a streaming-read probe run in this process, and a decode line's
// limit is that bandwidth over the bytes a token streams (every Linear weight and lm_head, plus the
// KV cache read), so limit_fraction = bytes streamed per second / read bandwidth.
//
//   llama_decode   tinyllama-1.1b:p16+48  f32, bf16   22 layers, 2048 wide, 32/4 heads, FFN 5632,
//                                                     vocab 32000: a 16-token prompt, then 48 new
//                                                     tokens greedily (EOS off); tok/s of the 47
//                                                     single-token steps
//                                         int8        int8 weights (f32 activations); peer llama.cpp Q8_0
//   llama_prefill  tinyllama-1.1b:p16     f32, bf16   the 16-token prompt, tok/s
//   llama_decode   llama2-7b:p16+48       bf16, int8  the same on Llama-2-7B's shape, in a child
//                                                     process (int8: the bf16 model quantized in
//                                                     place, bf16 activations, no peer); extra
//                                                     field peak_rss_gib (the bf16 model's peak)
//   llama_layer_fwd, llama_layer_lora_fwd_bwd   llama2-7b-layer:1x128  f32, bf16
//                                                     one decoder layer on 128 tokens; LoRA r 8 on
//                                                     the seven projections (dropout off), backward
//                                                     to the adapters and the input; steps/s
// Weights are random (each tensor a repeated random row: built without initialisation cost; speed
// does not depend on the values). MOLM_BENCH_LLAMA_7B=0 skips the 7B line.
#include "support/bench.hpp"

#include <molm/models/llama/generate.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace molm;
namespace llama = molm::models::llama;

namespace {

llama::Config tinyllama() {
  llama::Config c;
  c.vocab_size = 32000;
  c.hidden_size = 2048;
  c.intermediate_size = 5632;
  c.num_hidden_layers = 22;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 4;
  c.rms_norm_eps = 1e-5;
  return c;
}

/// Every weight a repeated random row: no initialisation cost beyond one write of each tensor.
void fill_cheaply(nn::Module& m, Generator& gen) {
  no_grad ng;
  for (auto& [name, p] : m.named_parameters()) {
    if (name.find("norm") != std::string::npos) continue;  // built as ones
    const Shape& s = p.shape();
    const Tensor row = randn({s.back()}, gen, p.dtype(), 0.0, 0.02);
    p.copy_(row.expand(s));
  }
}

std::shared_ptr<llama::CausalLM> build(const llama::Config& c, DType dtype) {
  Generator gen(1);
  std::shared_ptr<llama::CausalLM> lm;
  {
    SkipInit later;
    lm = std::make_shared<llama::CausalLM>(c, gen, dtype);
  }
  fill_cheaply(*lm, gen);
  lm->eval();
  return lm;
}

/// Bytes one decode step reads: every Linear weight and lm_head once, the embedding row, and the
/// keys and values of `positions` cached positions.
double bytes_per_token(const llama::Config& c, DType dtype, double positions) {
  const double w = static_cast<double>(c.parameter_count() - c.vocab_size * c.hidden_size *
                                                                 (c.tie_word_embeddings ? 0 : 1));
  return (w + 2.0 * c.num_hidden_layers * c.kv_dim() * positions) * itemsize(dtype);
}

struct DecodeFigures {
  double prefill_tok_s, decode_tok_s;
};

DecodeFigures decode(const llama::CausalLM& lm, int reps) {
  llama::GenerationConfig g;
  g.max_new_tokens = 48;
  g.eos_enabled = false;
  std::vector<std::int64_t> prompt;
  for (int i = 0; i < 16; ++i) prompt.push_back(1 + (i * 7919) % (lm.config().vocab_size - 1));
  llama::generate_ids(lm, prompt, g);  // warm-up
  std::vector<double> prefill, step;
  for (int r = 0; r < reps; ++r) {
    const auto out = llama::generate_ids(lm, prompt, g);
    prefill.push_back(out.prompt_seconds);
    step.push_back(out.decode_seconds / static_cast<double>(out.decode_steps));
  }
  std::sort(prefill.begin(), prefill.end());
  std::sort(step.begin(), step.end());
  return {16.0 / prefill[prefill.size() / 2], 1.0 / step[step.size() / 2]};
}

/// Streaming read of a 1 GiB buffer by every thread (AVX-512 loads, summed so nothing is elided).
__attribute__((target("avx512f"))) double read_bandwidth_gbs() {
  const std::int64_t n = (std::int64_t{1} << 30) / 4;
  Tensor buf = full({n}, 1.0f);
  const float* p = buf.data<float>();
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const double t0 = bench::now_s();
    float total = 0;
#pragma omp parallel reduction(+ : total) num_threads(num_threads())
    {
      __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(),
             acc3 = _mm512_setzero_ps();
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < n; i += 64) {
        acc0 = _mm512_add_ps(acc0, _mm512_loadu_ps(p + i));
        acc1 = _mm512_add_ps(acc1, _mm512_loadu_ps(p + i + 16));
        acc2 = _mm512_add_ps(acc2, _mm512_loadu_ps(p + i + 32));
        acc3 = _mm512_add_ps(acc3, _mm512_loadu_ps(p + i + 48));
      }
      alignas(64) float v[16];
      _mm512_store_ps(v, _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
      for (float x : v) total += x;
    }
    const double t = bench::now_s() - t0;
    if (total != static_cast<float>(n) && total < 0) std::printf("%f", total);  // keep the sum alive
    best = std::max(best, static_cast<double>(n) * 4 / t / 1e9);
  }
  return best;
}

double peak_rss_gib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / (1024.0 * 1024.0);
}

/// One decoder layer of Llama-2-7B on [1, 128] tokens: forward (no_grad), and LoRA forward + backward.
void layer_lines(const bench::Peers& peers, DType dtype, const std::string& dname, int threads) {
  llama::Config c;  // Llama-2-7B
  Generator gen(2);
  std::shared_ptr<llama::DecoderLayer> layer;
  {
    SkipInit later;
    layer = std::make_shared<llama::DecoderLayer>(c, gen, dtype);
  }
  fill_cheaply(*layer, gen);
  const std::int64_t T = 128;
  const Tensor x0 = randn({1, T, c.hidden_size}, gen, dtype);
  const RotaryTables rope = rotary_cos_sin(arange(T), c.head_dim(), c.rope_theta, dtype);
  const std::string shape = "llama2-7b-layer:1x128";
  bench::Budget budget;
  budget.warmup = 1;
  budget.min_reps = 3;
  budget.min_time_s = 3.0;
  const double fwd = bench::median_times({[&] {
                                            no_grad ng;
                                            layer->forward(x0, rope, Tensor(), nullptr, 0);
                                          }},
                                         budget)[0];
  bench::emit({"llama_layer_fwd", shape, dname, threads, 1 / fwd, peers.get("llama_layer_fwd", shape, dname), "torch",
               "steps/s", std::nullopt});
  nn::lora::wrap(*layer, llama::lora_targets(), 8, 32, 0.0, gen);
  Tensor x = x0.clone();
  x.set_requires_grad(true);
  const Tensor w = randn({1, T, c.hidden_size}, gen, dtype);
  const double step = bench::median_times({[&] {
                                             for (auto& p : layer->parameters()) p.zero_grad();
                                             x.zero_grad();
                                             const Tensor y = layer->forward(x, rope, Tensor(), nullptr, 0);
                                             sum(mul(y.to(DType::f32), w.to(DType::f32))).backward();
                                           }},
                                          budget)[0];
  bench::emit({"llama_layer_lora_fwd_bwd", shape, dname, threads, 1 / step,
               peers.get("llama_layer_lora_fwd_bwd", shape, dname), "torch", "steps/s", std::nullopt});
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Peers peers = bench::Peers::from_args(argc, argv);
  const std::string only = bench::arg_value(argc, argv, "--only");
  const auto wanted = [&](const char* what) { return only.empty() || only == what; };
  const char* env7b = std::getenv("MOLM_BENCH_LLAMA_7B");
  const bool run_7b = wanted("7b") && !(env7b && std::string(env7b) == "0");

  // The 7B line first, in a child: its peak resident memory is its own, and the child starts
  // before this process has started any OpenMP threads (forking after that is not safe).
  std::fflush(stdout);
  pid_t child = -1;
  if (run_7b) {
    child = fork();
    if (child == 0) {
      const int threads = bench::bench_threads();
      llama::Config c;
      c.vocab_size = 32000;
      const double t0 = bench::now_s();
      auto lm = build(c, DType::bf16);
      const double build_s = bench::now_s() - t0;
      const DecodeFigures f = decode(*lm, 1);
      const std::string shape = "llama2-7b:p16+48";
      bench::Record r{"llama_decode", shape, "bf16", threads, f.decode_tok_s, peers.get("llama_decode", shape, "bf16"),
                      "torch", "tok/s", std::nullopt};
      nlohmann::json j = bench::to_json(r);
      j["peak_rss_gib"] = peak_rss_gib();
      j["build_s"] = build_s;
      j["bytes_per_token"] = bytes_per_token(c, DType::bf16, 40);
      std::cout << j.dump() << std::endl;
      // The same model with int8 weights (bf16 activations), quantized in place: no peer.
      const std::uint64_t q8_bytes = llama::quantize_int8(*lm);
      const DecodeFigures f8 = decode(*lm, 1);
      bench::Record r8{"llama_decode", shape, "int8", threads, f8.decode_tok_s, std::nullopt, "", "tok/s", std::nullopt};
      nlohmann::json j8 = bench::to_json(r8);
      j8["peak_rss_gib"] = peak_rss_gib();
      j8["bytes_per_token"] = static_cast<double>(q8_bytes) + 2.0 * c.num_hidden_layers * c.kv_dim() * 40 * 2;
      std::cout << j8.dump() << std::endl;
      std::_Exit(0);
    }
  }
  if (child > 0) {
    int status = 0;
    waitpid(child, &status, 0);
    MOLM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bench", "the 7B child failed (status {})", status);
  }

  const int threads = bench::bench_threads();
  const double bandwidth = read_bandwidth_gbs();
  bench::emit({"read_bandwidth", "1GiB", "f32", threads, bandwidth, std::nullopt, "", "GB/s", std::nullopt});

  if (wanted("decode")) {
    const llama::Config c = tinyllama();
    for (DType dtype : {DType::f32, DType::bf16}) {
      const std::string dname = dtype == DType::f32 ? "f32" : "bf16";
      auto lm = build(c, dtype);
      const DecodeFigures f = decode(*lm, 3);
      const double bytes = bytes_per_token(c, dtype, 40);  // mean cached positions over the 47 steps
      bench::emit({"llama_prefill", "tinyllama-1.1b:p16", dname, threads, f.prefill_tok_s,
                   peers.get("llama_prefill", "tinyllama-1.1b:p16", dname), "torch", "tok/s", std::nullopt});
      bench::emit({"llama_decode", "tinyllama-1.1b:p16+48", dname, threads, f.decode_tok_s,
                   peers.get("llama_decode", "tinyllama-1.1b:p16+48", dname), "torch", "tok/s", bandwidth * 1e9 / bytes});
      if (auto cpp = peers.get("llama_decode@llama.cpp", "tinyllama-1.1b:p16+48", dname))
        bench::emit({"llama_decode", "tinyllama-1.1b:p16+48", dname, threads, f.decode_tok_s, cpp, "llama.cpp",
                     "tok/s", bandwidth * 1e9 / bytes});
    }
    // int8 weights (blocks of 32, f32 scales), f32 activations; llama.cpp's Q8_0 is the peer.
    auto lm = build(c, DType::f32);
    const std::uint64_t q8_bytes = llama::quantize_int8(*lm);
    const DecodeFigures f = decode(*lm, 3);
    const double bytes = static_cast<double>(q8_bytes) + 2.0 * c.num_hidden_layers * c.kv_dim() * 40 * 4;
    bench::emit({"llama_decode", "tinyllama-1.1b:p16+48", "int8", threads, f.decode_tok_s,
                 peers.get("llama_decode@llama.cpp", "tinyllama-1.1b:p16+48", "int8"), "llama.cpp", "tok/s",
                 bandwidth * 1e9 / bytes});
  }
  if (wanted("layer")) {
    layer_lines(peers, DType::f32, "f32", threads);
    layer_lines(peers, DType::bf16, "bf16", threads);
  }
  return 0;
}
