// bench_qformer: 3D-MoLM's stage-1 training step (reference-model.md §4) on the `paper` Q-Former
// (12 layers, 768 wide, 12 heads, FFN 3072, vocabulary 31091, 8 queries, encoder width 512, embed_dim
// 256): qformer::Stage1::forward — ln_graph, passes (a)–(d), GTC, GTM on 3B pairs, LM — as
//   qformer_stage1_fwd       forward + the three losses, no autograd tape
//   qformer_stage1_fwd_bwd   the same, then loss.backward() into every parameter
// in f32 and under bf16 autocast (f32 weights), eval mode (dropout off) on both sides. Batch 16 texts
// of 64 tokens (real lengths cycling 64, 48, 32, 57) and 16 molecules of N = 40 Uni-Mol rows (real
// rows cycling 36, 40, 31, 33, 38, 35, 29, 37: molecules 1 and 9 unpadded, the rest padded, so the
// reference's inverted cross-attention mask takes both of its forms), given directly — the frozen
// encoder is not part of the step. Hard negatives fixed on both sides (text b → molecule b+1 mod B,
// molecule b → text b+2 mod B), so both do the same work. Steps per second; the peer
// (peers/qformer_torch.py) runs tests/golden/qformer_reference.py, the transcription of LAVIS/3D-MoLM
// the golden test uses, on the same shapes and threads.
//
// Weights and inputs: the peer writes them to MOLM_BENCH_QFORMER_DIR (default /tmp/molm-bench-qformer)
// /step.safetensors and this program loads that file, so both sides run the same model on the same
// batch; before timing, the f32 forward's losses (total and each term) must agree with the peer's
// within 1e-3 relative, else the program stops with an error. Without the file (no torch), molm
// builds its own seeded model and batch and peer is null.
//
// MOLM_BENCH_REPS (default 3) timed steps per figure after MOLM_BENCH_WARMUP (default 1) untimed ones,
// on both sides (a step is seconds long). `bench_qformer --only TEXT` runs only the figures whose
// "bench shape dtype" contains TEXT.
//
// Fields beyond the house contract (support/bench.hpp): mode ("fwd" / "fwd+bwd"), molm_s and peer_s
// (median seconds), gemm_gflop (the step's GEMM work, below), gemm_peak_gflops (the probed peak),
// gemm_share and peer_gemm_share (the GEMM work at the peak rate over each side's measured time:
// the share of the step a peak-speed GEMM would account for), and on fwd lines loss_molm, loss_peer,
// loss_rel_diff (bf16: for information, not checked). limit = steps/s if the step did nothing but
// its GEMMs at the peak, so limit_fraction equals gemm_share (listed under both names).
//
// Peak: oneDNN's own matmul of that dtype at 2048³ (support/bench.hpp onednn_gemm_rate), measured in
// this run. GEMM FLOPs, analytically, 2·m·n·k per product over the padded shapes both sides compute
// on. With B = 16, T = 64, N = 40, Q = 8 queries, H = 768, F = 3072, W = 512, E = 256, V = 31091,
// L = 12 layers of which Lx = 6 cross-attend:
//   layer(s, r, k)  = 2·s·r·(4H² + 2HF) + 4·s·r·k·H   s sequences of r rows attending k keys:
//                     q/k/v/output projections, FFN, q·kᵀ and P·V
//   cross(s, q, n)  = 4·s·q·H² + 4·s·n·W·H + 4·s·q·n·H   q rows attending n molecule rows of width W
//   (a) L·layer(B, Q, Q) + Lx·cross(B, Q, N) + 2·B·Q·H·E                  (graph_proj)
//   (b) L·layer(B, T, T) + 2·B·H·E                                        (text_proj of [CLS])
//   GTC 2 · 2·B·Q·E·B                                                     (both similarity products)
//   (c) L·layer(3B, Q+T, Q+T) + Lx·cross(3B, Q, N) + 2·3B·Q·H·2            (gtm_head)
//   (d) L·layer(B, T, Q+T) + 2·B·T·H² + 2·B·T·H·V   (text rows over cached query keys; MLM head)
// ≈ 1.05 TFLOP forward; forward+backward = 3× forward (each product's two operand gradients cost
// twice its forward; the only products without both, GTC's against gathered features, are <0.01%).
#include "support/bench.hpp"

#include <molm/autograd/autocast.hpp>
#include <molm/io/safetensors.hpp>
#include <molm/models/qformer/checkpoint.hpp>
#include <molm/models/qformer/stage1.hpp>

#include <cstdlib>
#include <filesystem>

using namespace molm;
namespace qformer = molm::models::qformer;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kB = 16, kT = 64, kN = 40;
constexpr std::int64_t kTextLengths[] = {64, 48, 32, 57};
constexpr std::int64_t kMoleculeRows[] = {36, 40, 31, 33, 38, 35, 29, 37};  // [CLS] + atoms + [SEP]
constexpr std::int64_t kCls = 102, kSep = 103, kFirstWord = 105;             // SciBERT's ids

struct Step {
  std::shared_ptr<qformer::Stage1> model;
  qformer::MoleculeBatch molecules;
  qformer::TextBatch texts;
  qformer::HardNegatives negatives;
};

std::int64_t env_int(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoll(v) : fallback;
}

qformer::HardNegatives fixed_negatives() {
  Tensor g = Tensor::empty({kB}, DType::i64), t = Tensor::empty({kB}, DType::i64);
  for (std::int64_t b = 0; b < kB; ++b) {
    g.data<std::int64_t>()[b] = (b + 1) % kB;
    t.data<std::int64_t>()[b] = (b + 2) % kB;
  }
  return {g, t};
}

/// The peer's file: weights under the stage-1 names (tied aliases once) and input.* tensors.
Step load_step(const qformer::Config& config, const fs::path& file) {
  nn::StateDict sd;
  std::map<std::string, Tensor> in;
  for (auto& [name, t] : load_safetensors(file)) {
    if (name.rfind("input.", 0) == 0) in.emplace(name.substr(6), t);
    else sd.insert(name, t);
  }
  for (const auto& [alias, target] : qformer::tied_aliases())
    if (!sd.contains(alias)) sd.insert(alias, sd.at(target));
  Step s;
  Generator gen(0);
  {
    SkipInit overwritten;
    s.model = std::make_shared<qformer::Stage1>(config, gen);
  }
  s.model->load_state_dict(sd);  // strict
  s.molecules = qformer::MoleculeBatch::from_unimol(in.at("graph").clone(), in.at("graph_padding").to(DType::boolean));
  s.texts = {in.at("text_ids").clone(), in.at("text_mask").clone()};
  s.negatives = {in.at("neg_graph_idx").clone(), in.at("neg_text_idx").clone()};
  return s;
}

/// Without the peer's file: molm's own seeded model (BERT init) and a batch of the same shape.
Step make_step(const qformer::Config& config) {
  Generator gen(2026);
  Step s;
  s.model = std::make_shared<qformer::Stage1>(config, gen);
  const std::int64_t W = config.encoder_width;
  Tensor rows = randn({kB, kN, W}, gen), pad = zeros({kB, kN}, DType::boolean);
  for (std::int64_t b = 0; b < kB; ++b) {
    const std::int64_t n = kMoleculeRows[b % std::size(kMoleculeRows)];
    if (n == kN) continue;
    const Tensor row = randn({W}, gen);  // Uni-Mol's padding rows: one repeated row
    for (std::int64_t i = n; i < kN; ++i) rows.select(0, b).select(0, i).copy_(row);
    for (std::int64_t i = n; i < kN; ++i) pad.data<bool>()[b * kN + i] = true;
  }
  Tensor ids = zeros({kB, kT}, DType::i64), mask = zeros({kB, kT}, DType::i64);
  const Tensor words = randint(kFirstWord, config.dec_token_id, {kB, kT}, gen);
  for (std::int64_t b = 0; b < kB; ++b) {
    const std::int64_t n = kTextLengths[b % std::size(kTextLengths)];
    for (std::int64_t i = 0; i < n; ++i) {
      ids.data<std::int64_t>()[b * kT + i] = i == 0 ? kCls : i == n - 1 ? kSep : words.data<std::int64_t>()[b * kT + i];
      mask.data<std::int64_t>()[b * kT + i] = 1;
    }
  }
  s.molecules = qformer::MoleculeBatch::from_unimol(rows, pad);
  s.texts = {ids, mask};
  s.negatives = fixed_negatives();
  return s;
}

/// GEMM FLOPs of one forward step (the formula in the header).
double forward_gemm_flops(const qformer::Config& c) {
  const double B = kB, T = kT, N = kN, Q = static_cast<double>(c.num_query_tokens);
  const double H = static_cast<double>(c.hidden_size), F = static_cast<double>(c.intermediate_size),
               W = static_cast<double>(c.encoder_width), E = static_cast<double>(c.embed_dim),
               V = static_cast<double>(c.vocab_size), L = static_cast<double>(c.num_hidden_layers);
  double Lx = 0;
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) Lx += c.has_cross_attention(i) ? 1 : 0;
  const auto layer = [&](double s, double r, double k) {
    return 2 * s * r * (4 * H * H + 2 * H * F) + 4 * s * r * k * H;
  };
  const auto cross = [&](double s, double q, double n) {
    return 4 * s * q * H * H + 4 * s * n * W * H + 4 * s * q * n * H;
  };
  const double a = L * layer(B, Q, Q) + Lx * cross(B, Q, N) + 2 * B * Q * H * E;
  const double b = L * layer(B, T, T) + 2 * B * H * E;
  const double gtc = 2 * (2 * B * Q * E * B);
  const double m = L * layer(3 * B, Q + T, Q + T) + Lx * cross(3 * B, Q, N) + 2 * 3 * B * Q * H * 2;
  const double d = L * layer(B, T, Q + T) + 2 * B * T * H * H + 2 * B * T * H * V;
  return a + b + gtc + m + d;
}

/// The peer's lines by "bench|shape|dtype" (run.sh passes the file as --peers FILE).
std::map<std::string, nlohmann::json> peer_lines(int argc, char** argv) {
  std::map<std::string, nlohmann::json> out;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) != "--peers") continue;
    std::ifstream in(argv[i + 1]);
    MOLM_CHECK(in.good(), "bench", "cannot open peer file {}", argv[i + 1]);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto j = nlohmann::json::parse(line);
      out[j.at("bench").get<std::string>() + "|" + j.at("shape").get<std::string>() + "|" +
          j.at("dtype").get<std::string>()] = j;
    }
  }
  return out;
}

std::optional<double> number(const nlohmann::json* j, const char* key) {
  if (!j || !j->contains(key) || !(*j)[key].is_number()) return std::nullopt;
  return (*j)[key].get<double>();
}

double rel_diff(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

}  // namespace

int main(int argc, char** argv) {
  const auto peers = peer_lines(argc, argv);
  const std::string only = bench::arg_value(argc, argv, "--only");
  const int threads = bench::bench_threads();
  const qformer::Config config = qformer::Config::paper();
  const char* env_dir = std::getenv("MOLM_BENCH_QFORMER_DIR");
  const fs::path file = fs::path(env_dir && *env_dir ? env_dir : "/tmp/molm-bench-qformer") / "step.safetensors";
  Step step = fs::exists(file) ? load_step(config, file) : make_step(config);
  step.model->eval();  // dropout off; gradients still flow in fwd_bwd
  const std::string shape = fmt::format("paper:{}x{}x{}", kB, kT, kN);
  const double flops = forward_gemm_flops(config);

  bench::Budget budget;
  budget.warmup = static_cast<int>(env_int("MOLM_BENCH_WARMUP", 1));
  budget.min_reps = budget.max_reps = static_cast<int>(env_int("MOLM_BENCH_REPS", 3));
  budget.min_time_s = 0;

  qformer::Stage1Options options;
  options.negatives = &step.negatives;
  const auto forward = [&](bool bf16) {
    autocast guard(DType::bf16, bf16);
    no_grad ng;
    return step.model->forward(step.molecules, step.texts, options);
  };

  for (const char* dtype : {"f32", "bf16"}) {
    const bool bf16 = std::string(dtype) == "bf16";
    const auto wanted = [&](const char* bench) {
      return only.empty() || fmt::format("{} {} {}", bench, shape, dtype).find(only) != std::string::npos;
    };
    if (!wanted("qformer_stage1_fwd") && !wanted("qformer_stage1_fwd_bwd")) continue;
    const double peak = bench::onednn_gemm_rate(
        threads, bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32);

    // The losses, checked against the peer's (f32) before anything is timed.
    std::map<std::string, double> losses;
    {
      const qformer::Stage1Output out = forward(bf16);
      const auto value = [](const Tensor& t) { return static_cast<double>(t.to(DType::f32).item<float>()); };
      losses = {{"loss", value(out.loss)}, {"loss_gtc", value(out.loss_gtc)}, {"loss_gtm", value(out.loss_gtm)},
                {"loss_lm", value(out.loss_lm)}};
    }
    const auto peer_fwd = peers.find("qformer_stage1_fwd|" + shape + "|" + dtype);
    const nlohmann::json* pf = peer_fwd == peers.end() ? nullptr : &peer_fwd->second;
    if (!bf16 && pf) {
      for (const auto& [key, value] : losses) {
        const std::optional<double> theirs = number(pf, key.c_str());
        if (!theirs || rel_diff(value, *theirs) > 1e-3) {
          std::cerr << fmt::format("bench_qformer: f32 {}: molm {} vs torch {} — more than 1e-3 apart (relative); "
                                   "not timing a step that computes something else\n",
                                   key, value, theirs ? fmt::format("{}", *theirs) : "missing");
          return 1;
        }
      }
    }

    const auto fwd = [&] { (void)forward(bf16); };
    const auto fwd_bwd = [&] {
      step.model->zero_grad();
      Tensor loss;
      {
        autocast guard(DType::bf16, bf16);
        loss = step.model->forward(step.molecules, step.texts, options).loss;
      }
      loss.backward();
    };
    for (const auto& [bench_name, mode, fn, factor] :
         {std::tuple{"qformer_stage1_fwd", "fwd", std::function<void()>(fwd), 1.0},
          std::tuple{"qformer_stage1_fwd_bwd", "fwd+bwd", std::function<void()>(fwd_bwd), 3.0}}) {
      if (!wanted(bench_name)) continue;
      const double t = bench::median_times({fn}, budget)[0];
      const auto it = peers.find(std::string(bench_name) + "|" + shape + "|" + dtype);
      const nlohmann::json* p = it == peers.end() ? nullptr : &it->second;
      const std::optional<double> peer_s = number(p, "seconds");
      const double gemm_s = factor * flops / (peak * 1e9);  // the step's GEMMs at the peak rate
      const auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
      // The house contract (support/bench.hpp emit), then this area's fields.
      nlohmann::ordered_json j{
          {"bench", bench_name},
          {"shape", shape},
          {"dtype", dtype},
          {"threads", threads},
          {"molm", 1 / t},
          {"peer", peer_s ? nlohmann::json(1 / *peer_s) : nlohmann::json(nullptr)},
          {"peer_name", "torch"},
          {"unit", "steps/s"},
          {"ratio", peer_s ? nlohmann::json(*peer_s / t) : nlohmann::json(nullptr)},
          {"limit", 1 / gemm_s},
          {"limit_fraction", gemm_s / t},
          {"mode", mode},
          {"molm_s", t},
          {"peer_s", opt(peer_s)},
          {"gemm_gflop", factor * flops * 1e-9},
          {"gemm_peak_gflops", peak},
          {"gemm_share", gemm_s / t},
          {"peer_gemm_share", peer_s ? nlohmann::json(gemm_s / *peer_s) : nlohmann::json(nullptr)}};
      if (std::string(mode) == "fwd") {
        const std::optional<double> theirs = number(pf, "loss");
        j["loss_molm"] = losses.at("loss");
        j["loss_peer"] = opt(theirs);
        j["loss_rel_diff"] = theirs ? nlohmann::json(rel_diff(losses.at("loss"), *theirs)) : nlohmann::json(nullptr);
      }
      std::cout << j.dump() << std::endl;
    }
  }
  return 0;
}
