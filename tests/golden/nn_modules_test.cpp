// Golden values from PyTorch 2.1.2 (tests/golden/gen_nn_modules.py → tests/golden/data/nn_modules/):
// small modules named as the checkpoints name them (nn.Linear, an fc1/fc2 MLP, BERT self- and
// cross-attention, HF-Llama attention with grouped kv heads, Uni-Mol's fused in_proj attention).
// Each case's weights are loaded by name — one .npy per state_dict key — with strict
// load_state_dict, so a parameter named differently from PyTorch fails here; then the output and the
// input gradients of L = Σ y ⊙ w are compared.
//
// Tolerances: f64 rtol 1e-10 (both sides compute in double); f32 rtol 1e-5, with atol 1e-6 for
// gradients that cancel to near 0.
#include "support/testing.hpp"

#include <molm/nn.hpp>

#include <filesystem>
#include <functional>
#include <map>

using namespace molm;
using namespace molm::nn;

namespace {
namespace fs = std::filesystem;

fs::path case_dir(const std::string& name) { return testing::golden_dir() / "nn_modules" / name; }

/// Every state_dict/<name>.npy of the case, keyed by <name> (a dotted parameter name).
StateDict load_weights(const std::string& name) {
  std::map<std::string, Tensor> sorted;  // directory order is arbitrary; the load is by name anyway
  for (const auto& entry : fs::directory_iterator(case_dir(name) / "state_dict")) {
    const std::string file = entry.path().filename().string();
    REQUIRE(file.size() > 4);
    REQUIRE(file.substr(file.size() - 4) == ".npy");
    sorted.emplace(file.substr(0, file.size() - 4), load_npy(entry.path()));
  }
  StateDict sd;
  for (auto& [n, t] : sorted) sd.insert(n, t);
  return sd;
}

/// w = linspace(0.5, 1.5, n) computed in double (as the generator does), cast, shaped as y.
Tensor loss_weight(const Tensor& y) {
  const std::int64_t n = y.numel();
  std::vector<double> w(n);
  for (std::int64_t i = 0; i < n; ++i) w[i] = n == 1 ? 0.5 : 0.5 + static_cast<double>(i) / static_cast<double>(n - 1);
  return from_vector<double>(w, y.shape()).to(y.dtype());
}

using Inputs = std::map<std::string, Tensor>;

/// Build the module in each dtype, load the weights strictly, run `forward`, compare y and the
/// gradients of the `differentiable` inputs with PyTorch's.
void check_case(const std::string& name, const std::function<std::shared_ptr<Module>(DType, Generator&)>& make,
                const std::vector<std::string>& inputs, const std::vector<std::string>& differentiable,
                const std::function<Tensor(Module&, const Inputs&)>& forward) {
  const StateDict weights = load_weights(name);
  for (const auto& [dt, dtype, rtol, atol] : {std::tuple{"f64", DType::f64, 1e-10, 1e-12}, std::tuple{"f32", DType::f32, 1e-5, 1e-6}}) {
    INFO(name << " " << dt);
    Generator gen(0);
    auto module = make(dtype, gen);
    const LoadReport report = module->load_state_dict(weights);  // strict: names must all match
    CHECK(report.converted.size() == (dtype == DType::f64 ? 0u : weights.size()));
    Inputs in;
    for (const auto& k : inputs) in[k] = load_npy(case_dir(name) / dt / (k + ".npy"));
    for (const auto& k : differentiable) in[k].set_requires_grad();
    const Tensor y = forward(*module, in);
    {
      INFO("output");
      testing::require_close(y, load_npy(case_dir(name) / dt / "y.npy"), rtol, atol);
    }
    y.backward(loss_weight(y));
    for (const auto& k : differentiable) {
      INFO("gradient d" << k);
      testing::require_close(in.at(k).grad(), load_npy(case_dir(name) / dt / ("d" + k + ".npy")), rtol, atol);
    }
  }
}

template <class M> M& as(Module& m) { return dynamic_cast<M&>(m); }

AttentionOptions with_bias(const Tensor& bias) {
  AttentionOptions o;
  o.bias = bias;
  return o;
}
}  // namespace

TEST_CASE("golden nn modules: Linear", "[golden][nn]") {
  check_case(
      "linear", [](DType dt, Generator& g) { return std::make_shared<Linear>(5, 4, g, true, dt); }, {"x"}, {"x"},
      [](Module& m, const Inputs& in) { return as<Linear>(m).forward(in.at("x")); });
}

TEST_CASE("golden nn modules: MLP fc1 → GELU → fc2", "[golden][nn]") {
  check_case(
      "mlp",
      [](DType dt, Generator& g) {
        return std::make_shared<MLP>(MLPConfig{.in_features = 8, .hidden_features = 12, .dtype = dt}, g);
      },
      {"x"}, {"x"}, [](Module& m, const Inputs& in) { return as<MLP>(m).forward(in.at("x")); });
}

TEST_CASE("golden nn modules: BERT self-attention with a key mask", "[golden][nn][attention]") {
  check_case(
      "bert_self",
      [](DType dt, Generator& g) {
        AttentionConfig c = AttentionConfig::bert(8, 2);
        c.dtype = dt;
        return std::make_shared<MultiheadAttention>(c, g);
      },
      {"x", "bias"}, {"x"},
      [](Module& m, const Inputs& in) { return as<MultiheadAttention>(m).forward(in.at("x"), {}, with_bias(in.at("bias"))); });
}

TEST_CASE("golden nn modules: BERT cross-attention to a narrower context", "[golden][nn][attention]") {
  check_case(
      "bert_cross",
      [](DType dt, Generator& g) {
        AttentionConfig c = AttentionConfig::bert(8, 2, 6);
        c.dtype = dt;
        return std::make_shared<MultiheadAttention>(c, g);
      },
      {"x", "context"}, {"x", "context"},
      [](Module& m, const Inputs& in) { return as<MultiheadAttention>(m).forward(in.at("x"), in.at("context")); });
}

TEST_CASE("golden nn modules: Llama attention, causal, grouped kv heads", "[golden][nn][attention]") {
  check_case(
      "llama",
      [](DType dt, Generator& g) {
        AttentionConfig c = AttentionConfig::llama(8, 4, 2);
        c.dtype = dt;
        return std::make_shared<MultiheadAttention>(c, g);
      },
      {"x"}, {"x"},
      [](Module& m, const Inputs& in) {
        AttentionOptions o;
        o.causal = true;
        return as<MultiheadAttention>(m).forward(in.at("x"), {}, o);
      });
}

TEST_CASE("golden nn modules: Uni-Mol attention, fused in_proj and pair bias", "[golden][nn][attention]") {
  check_case(
      "unimol",
      [](DType dt, Generator& g) {
        AttentionConfig c = AttentionConfig::unimol(8, 2);
        c.dtype = dt;
        return std::make_shared<MultiheadAttention>(c, g);
      },
      {"x", "bias"}, {"x", "bias"},
      [](Module& m, const Inputs& in) { return as<MultiheadAttention>(m).forward(in.at("x"), {}, with_bias(in.at("bias"))); });
}
