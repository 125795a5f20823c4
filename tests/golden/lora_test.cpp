// Golden values from Hugging Face PEFT 0.6.2 on a tiny LlamaForCausalLM (tests/golden/gen_lora.py →
// tests/golden/data/lora/), with 3D-MoLM's adapter (r 8, alpha 32, dropout 0.1, all seven Llama
// projections; reference-model.md §5.6):
//   - a molm model with HF Llama's module tree, wrapped by lora::wrap, has exactly PEFT's
//     state_dict names (after "base_model.model."), order and shapes, PEFT's LoRA module names, and
//     PEFT's trainable / total parameter counts; PEFT's full state dict loads into it strictly;
//   - PEFT's adapter folder loads with lora::load_adapter; a wrapped layer's output and the gradients
//     for x, lora_A and lora_B equal PEFT's in f64, f32 and bf16-base-with-f32-adapters; lora::merge
//     gives PEFT's merged weight and unmerge restores the original;
//   - lora::save_adapter writes the same adapter_model.safetensors and adapter_config.json bytes.
//
// Tolerances: f64 rtol 1e-10; f32 rtol 1e-5 (atol 1e-6); the bf16 base output and dx rtol 8e-3
// (two bf16 ulps: the base GEMM rounds to bf16 in both libraries, possibly after different sums).
// Measured (oneDNN 2.6, 2 threads): f64 within 1e-13 relative, f32 within 2e-5 relative on
// elements near 0 (1e-6 absolute), bf16 outputs, dx and every merged weight identical to PEFT's.
#include "support/testing.hpp"

#include <molm/io/lora_file.hpp>  // save_adapter, load_adapter
#include <molm/nn.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace molm;
using namespace molm::nn;
namespace fs = std::filesystem;

namespace {

fs::path data_dir() { return testing::golden_dir() / "lora"; }

const std::vector<std::string> kTargets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
const std::vector<std::string> kLayers = {"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"};

// HF LlamaForCausalLM's module tree and parameter names, without a forward (vocab 32, hidden 16,
// intermediate 32, 2 layers, 4 heads): enough to check names and to run single wrapped layers.
struct LlamaMLP : Module {
  LlamaMLP(Generator& g, DType dt) {
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(16, 32, g, false, dt));
    up_proj = register_module("up_proj", std::make_shared<Linear>(16, 32, g, false, dt));
    down_proj = register_module("down_proj", std::make_shared<Linear>(32, 16, g, false, dt));
  }
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

struct DecoderLayer : Module {
  DecoderLayer(Generator& g, DType dt) {
    AttentionConfig c = AttentionConfig::llama(16, 4);
    c.dtype = dt;
    register_module("self_attn", std::make_shared<MultiheadAttention>(c, g));
    register_module("mlp", std::make_shared<LlamaMLP>(g, dt));
    register_module("input_layernorm", std::make_shared<RMSNorm>(16, 1e-6, dt));
    register_module("post_attention_layernorm", std::make_shared<RMSNorm>(16, 1e-6, dt));
  }
};

struct TinyLlama : Module {
  explicit TinyLlama(Generator& g, DType dt = DType::f32) {
    auto model = register_module("model", std::make_shared<Module>());
    model->register_module("embed_tokens", std::make_shared<Embedding>(32, 16, g, std::nullopt, dt));
    auto layers = model->register_module("layers", std::make_shared<ModuleList>());
    for (int i = 0; i < 2; ++i) layers->push_back(std::make_shared<DecoderLayer>(g, dt));
    model->register_module("norm", std::make_shared<RMSNorm>(16, 1e-6, dt));
    register_module("lm_head", std::make_shared<Linear>(16, 32, g, false, dt));
  }
  /// The Linear at a dotted path.
  Linear& linear_at(const std::string& path) {
    for (auto& [name, m] : named_modules())
      if (name == path) {
        auto* l = dynamic_cast<Linear*>(m);
        REQUIRE(l);
        return *l;
      }
    FAIL("no module " << path);
    throw;
  }
};

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// PEFT's full state dict with "base_model.model." stripped: molm's names for the same tensors.
StateDict peft_state_dict_as_molm() {
  const std::string prefix = lora::kPeftPrefix;
  StateDict sd;
  for (const auto& [name, t] : SafetensorsFile(data_dir() / "peft_state_dict.safetensors").tensors()) {
    REQUIRE(name.rfind(prefix, 0) == 0);
    sd.insert(name.substr(prefix.size()), t);
  }
  return sd;
}

/// w = linspace(0.5, 1.5, n) computed in double (as the generator does), cast, shaped as y.
Tensor loss_weight(const Tensor& y) {
  const std::int64_t n = y.numel();
  std::vector<double> w(n);
  for (std::int64_t i = 0; i < n; ++i) w[i] = 0.5 + static_cast<double>(i) / static_cast<double>(n - 1);
  return from_vector<double>(w, y.shape()).to(y.dtype());
}

}  // namespace

TEST_CASE("golden lora: a wrapped Llama has PEFT's names, order, shapes and parameter counts", "[golden][lora]") {
  const auto peft = read_json(data_dir() / "peft_model.json");
  Generator g(0);
  TinyLlama llama(g);
  CHECK(lora::wrap(llama, kTargets, 8, 32, 0.1, g) == 14);

  const StateDict sd = llama.state_dict();
  REQUIRE(sd.size() == peft["state_dict"].size());
  std::size_t i = 0;
  for (const auto& [name, t] : sd) {
    const auto& expected = peft["state_dict"][i++];
    INFO(name);
    CHECK(lora::kPeftPrefix + name == expected[0].get<std::string>());
    CHECK(t.shape().vec() == expected[1].get<std::vector<std::int64_t>>());
    CHECK(expected[2] == "float32");
    CHECK(t.dtype() == DType::f32);
  }

  // PEFT's LoRA modules (its empty lora_embedding_A/B ParameterDicts aside), in the same order.
  std::vector<std::string> peft_modules, molm_modules;
  for (const auto& n : peft["named_modules"]) {
    const std::string s = n.get<std::string>();
    if (s.find(".lora_") != std::string::npos && s.find("lora_embedding") == std::string::npos)
      peft_modules.push_back(s.substr(std::string(lora::kPeftPrefix).size()));
  }
  for (auto& [n, m] : llama.named_modules())
    if (n.find(".lora_") != std::string::npos) molm_modules.push_back(n);
  CHECK(peft_modules.size() == 14 * 6);
  CHECK(molm_modules == peft_modules);

  // print_trainable_parameters(): "trainable params: 4,352 || all params: 10,576".
  CHECK(llama.num_parameters(true) == peft["trainable_params"].get<std::int64_t>());
  CHECK(llama.num_parameters() == peft["all_params"].get<std::int64_t>());

  // PEFT's whole state dict, prefix stripped, fits molm's model name for name.
  CHECK(llama.load_state_dict(peft_state_dict_as_molm()).empty());
}

TEST_CASE("golden lora: PEFT's adapter loads; outputs, gradients and merge match PEFT", "[golden][lora]") {
  const StateDict peft = peft_state_dict_as_molm();
  struct Case {
    const char* tag;
    DType base, adapter;
    double rtol_y, rtol_grad, atol;
  };
  for (const Case& c : {Case{"f64", DType::f64, DType::f64, 1e-10, 1e-10, 1e-12},
                        Case{"f32", DType::f32, DType::f32, 1e-5, 1e-5, 1e-6},
                        Case{"bf16", DType::bf16, DType::f32, 8e-3, 1e-5, 1e-4}}) {
    INFO(c.tag);
    Generator g(1);
    TinyLlama llama(g, c.base);
    lora::wrap(llama, kTargets, 8, 32, 0.1, g, c.adapter);
    // Base weights from PEFT's state dict; the adapter's values then come from the adapter folder.
    llama.load_state_dict(peft);
    {
      no_grad ng;
      for (auto& [name, t] : llama.named_parameters())
        if (name.find("lora_") != std::string::npos) t.fill_(0.0);
    }
    const LoadReport report = lora::load_adapter(llama, data_dir() / "adapter");
    CHECK(report.ok());
    CHECK(report.converted.size() == (c.adapter == DType::f32 ? 0u : 28u));
    for (auto& [name, t] : llama.state_dict())
      if (name.find("lora_") != std::string::npos) testing::require_close(t, peft.at(name), 0, 0);
    llama.eval();

    for (const auto& path : kLayers) {
      INFO(path);
      const fs::path dir = data_dir() / path / c.tag;
      Linear& layer = llama.linear_at(path);
      const lora::Adapter& a = *lora::adapter_of(layer);
      Tensor x = load_npy(dir / "x.npy").to(c.base);
      x.set_requires_grad();
      const Tensor y = layer.forward(x);
      CHECK(y.dtype() == c.base);
      testing::require_close(y, load_npy(dir / "y.npy"), c.rtol_y, c.atol);
      y.backward(loss_weight(y));
      testing::require_close(x.grad(), load_npy(dir / "dx.npy"), c.rtol_y, c.atol);
      testing::require_close(a.lora_A()->weight.grad(), load_npy(dir / "dA.npy"), c.rtol_grad, c.atol);
      testing::require_close(a.lora_B()->weight.grad(), load_npy(dir / "dB.npy"), c.rtol_grad, c.atol);
      CHECK_FALSE(layer.weight.grad().defined());  // frozen
    }

    std::vector<Tensor> before;
    for (const auto& path : kLayers) before.push_back(llama.linear_at(path).weight.clone());
    CHECK(lora::merge(llama) == 14);
    for (std::size_t i = 0; i < kLayers.size(); ++i) {
      INFO(kLayers[i]);
      Linear& layer = llama.linear_at(kLayers[i]);
      const fs::path dir = data_dir() / kLayers[i] / c.tag;
      // bf16: both round W + ΔW (formed in f32) once; the f32 ΔW may differ in its last bit.
      testing::require_close(layer.weight, load_npy(dir / "merged_weight.npy"), c.base == DType::bf16 ? 8e-3 : c.rtol_grad,
                             c.base == DType::bf16 ? 0.0 : c.atol);
      // The merged layer gives the unmerged output (bf16: ΔW is rounded into the weight,
      // at the scale of |W + ΔW|, so only to ~1e-2 absolute).
      const Tensor x = load_npy(dir / "x.npy").to(c.base);
      const bool bf16 = c.base == DType::bf16;
      testing::require_close(layer.forward(x), load_npy(dir / "y.npy"), bf16 ? 2e-2 : c.rtol_y, bf16 ? 1e-2 : c.atol);
    }
    // W + ΔW − ΔW returns W up to two roundings at the scale of W + ΔW (|W + ΔW| < 1 here): exact
    // to ~1e-16 in f64, ~1e-7 in f32, but only to bf16's 2⁻⁸ in bf16.
    CHECK(lora::unmerge(llama) == 14);
    const double restore_atol = c.base == DType::f64 ? 1e-15 : c.base == DType::f32 ? 2e-7 : 4e-3;
    for (std::size_t i = 0; i < kLayers.size(); ++i)
      testing::require_close(llama.linear_at(kLayers[i]).weight, before[i], 0, restore_atol);
  }
}

TEST_CASE("golden lora: save_adapter writes PEFT's adapter files byte for byte", "[golden][lora]") {
  const fs::path peft_dir = data_dir() / "adapter";
  const auto peft_config = read_json(peft_dir / "adapter_config.json");
  const lora::Config config = lora::read_adapter_config(peft_dir);
  CHECK(config.r == 8);
  CHECK(config.alpha == 32);
  CHECK(config.dropout == 0.1);

  // Wrapped from the folder (an unwrapped model), then saved again.
  Generator g(2);
  TinyLlama llama(g);
  lora::load_adapter(llama, peft_dir, g);
  CHECK(lora::wrapped_layers(llama).size() == 14);
  const fs::path out = fs::temp_directory_path() / ("molm_lora_golden_" + std::to_string(::getpid()));
  fs::remove_all(out);
  lora::SaveOptions options;
  options.base_model_name_or_path = peft_config["base_model_name_or_path"].get<std::string>();
  lora::save_adapter(llama, out, options);

  // adapter_config.json: PEFT lists target_modules in Python-set order; molm keeps the order it was
  // given, which here is the file's own, so the text must be identical.
  CHECK(read_text(out / "adapter_config.json") == read_text(peft_dir / "adapter_config.json"));

  // adapter_model.safetensors: same names, dtypes, shapes, metadata and values.
  const SafetensorsFile mine(out / "adapter_model.safetensors"), theirs(peft_dir / "adapter_model.safetensors");
  CHECK(mine.names() == theirs.names());
  CHECK(mine.metadata() == theirs.metadata());
  for (const auto& name : theirs.names()) {
    INFO(name);
    CHECK(mine.info(name).dtype == theirs.info(name).dtype);
    CHECK(mine.info(name).shape == theirs.info(name).shape);
    testing::require_close(mine.tensor(name), theirs.tensor(name), 0, 0);
  }
  CHECK(read_text(out / "adapter_model.safetensors") == read_text(peft_dir / "adapter_model.safetensors"));
  fs::remove_all(out);
}
