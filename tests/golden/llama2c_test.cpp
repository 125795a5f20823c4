// io/llama2c.hpp on the real stories260K (../shared/data/models/stories260K/stories260K.bin) against
// tests/golden/gen_llama2c.py, which converts it to a transformers 4.35.2 LlamaForCausalLM the way
// HF's conversion script does and checks that model against llama2.c's own forward.
//
//   - the permuted q/k weights equal HF's, bit for bit;
//   - a small HF-Llama forward assembled here from molm nn modules (strict load by HF names, rotary by
//     rotate_half, grouped kv heads, SwiGLU) gives HF's logits: so every name, shape and the
//     permutation are right together. f32 on both sides: rtol 1e-5, atol 5e-5 on logits up to 17
//     (measured: max |difference| 8.6e-6).
// Returns 77 (skipped) when the model file is absent.
#include "support/testing.hpp"

#include <molm/io/llama2c.hpp>
#include <molm/nn.hpp>

#include <cstdio>
#include <cstdlib>

using namespace molm;
using namespace molm::nn;

namespace {
namespace fs = std::filesystem;

fs::path model_path() { return testing::shared_data_dir() / "models/stories260K/stories260K.bin"; }
fs::path golden(const std::string& f) { return testing::golden_dir() / "llama2c" / f; }

/// CTest's SKIP_RETURN_CODE: this file's only tests need the model.
void skip_without_model() {
  if (fs::exists(model_path())) return;
  std::fprintf(stderr, "SKIP: %s is absent (set MOLM_DATA_DIR to the folder holding models/stories260K)\n",
               model_path().c_str());
  std::exit(77);
}

// HF LlamaForCausalLM's module tree, only as far as the names go; the forward is below.
struct SwiGlu : Module {
  SwiGlu(std::int64_t C, std::int64_t F, Generator& g) {
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(C, F, g, false));
    up_proj = register_module("up_proj", std::make_shared<Linear>(C, F, g, false));
    down_proj = register_module("down_proj", std::make_shared<Linear>(F, C, g, false));
  }
  Tensor forward(const Tensor& x) const {
    return down_proj->forward(mul(silu(gate_proj->forward(x)), up_proj->forward(x)));
  }
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

struct DecoderLayer : Module {
  DecoderLayer(const io::Llama2cConfig& c, Generator& g) {
    self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(
                                                 AttentionConfig::llama(c.dim, c.n_heads, c.n_kv_heads), g));
    mlp = register_module("mlp", std::make_shared<SwiGlu>(c.dim, c.hidden_dim, g));
    input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(c.dim, 1e-5));
    post_attention_layernorm = register_module("post_attention_layernorm", std::make_shared<RMSNorm>(c.dim, 1e-5));
  }
  Tensor forward(const Tensor& x, const RotaryTables& rope) const {
    QKV qkv = self_attn->project(input_layernorm->forward(x));
    qkv.q = rotary_embedding(qkv.q, rope.cos, rope.sin);
    qkv.k = rotary_embedding(qkv.k, rope.cos, rope.sin);
    AttentionOptions causal;
    causal.causal = true;
    const Tensor h = add(x, self_attn->attend(qkv, causal).output);
    return add(h, mlp->forward(post_attention_layernorm->forward(h)));
  }
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<SwiGlu> mlp;
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
};

struct Decoder : Module {
  Decoder(const io::Llama2cConfig& c, Generator& g) {
    embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.dim, g));
    layers = register_module("layers", std::make_shared<ModuleList>());
    for (std::int64_t i = 0; i < c.n_layers; ++i) layers->push_back(std::make_shared<DecoderLayer>(c, g));
    norm = register_module("norm", std::make_shared<RMSNorm>(c.dim, 1e-5));
  }
  std::shared_ptr<Embedding> embed_tokens;
  std::shared_ptr<ModuleList> layers;
  std::shared_ptr<RMSNorm> norm;
};

struct CausalLM : Module {
  CausalLM(const io::Llama2cConfig& c, Generator& g) : config(c) {
    model = register_module("model", std::make_shared<Decoder>(c, g));
    lm_head = register_module("lm_head", std::make_shared<Linear>(c.dim, c.vocab_size, g, false));
  }
  /// tokens [T] → logits [T, V].
  Tensor forward(const Tensor& tokens) const {
    const std::int64_t T = tokens.numel();
    const RotaryTables rope = rotary_cos_sin(arange(T), config.head_dim(), 10000.0);
    Tensor x = model->embed_tokens->forward(tokens.unsqueeze(0));  // [1, T, C]
    for (std::size_t i = 0; i < model->layers->size(); ++i)
      x = model->layers->get<DecoderLayer>(i)->forward(x, rope);
    return lm_head->forward(model->norm->forward(x)).squeeze(0);
  }
  io::Llama2cConfig config;
  std::shared_ptr<Decoder> model;
  std::shared_ptr<Linear> lm_head;
};

void require_identical(const Tensor& a, const Tensor& b) { testing::require_close(a, b, 0.0, 0.0); }
}  // namespace

TEST_CASE("llama2c golden: stories260K header and HF config", "[io][llama2c][golden]") {
  skip_without_model();
  const io::Llama2cModel m = io::load_llama2c(model_path());
  const io::Llama2cConfig& c = m.config;
  CHECK(c.dim == 64);
  CHECK(c.hidden_dim == 172);
  CHECK(c.n_layers == 5);
  CHECK(c.n_heads == 8);
  CHECK(c.n_kv_heads == 4);
  CHECK(c.vocab_size == 512);
  CHECK(c.seq_len == 512);
  CHECK(c.shared_classifier);
  CHECK(m.weights.size() == 1 + 9 * 5 + 2);
  CHECK(m.weights.at("lm_head.weight").is_same(m.weights.at("model.embed_tokens.weight")));

  // The fields HF's LlamaConfig was built with (gen_llama2c.py's config.json) agree with ours.
  std::ifstream in(golden("config.json"));
  REQUIRE(in.good());
  const nlohmann::json hf = nlohmann::json::parse(in);
  const nlohmann::ordered_json ours = c.hf_config();
  for (const char* k : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                        "num_key_value_heads", "vocab_size", "max_position_embeddings", "rms_norm_eps",
                        "tie_word_embeddings", "hidden_act", "rope_theta"}) {
    INFO(k);
    if (hf.contains(k)) CHECK(ours.at(k) == hf.at(k));
  }
}

TEST_CASE("llama2c golden: q/k rows permuted exactly as HF's conversion", "[io][llama2c][golden]") {
  skip_without_model();
  const io::Llama2cModel m = io::load_llama2c(model_path());
  require_identical(m.weights.at("model.layers.0.self_attn.q_proj.weight"), load_npy(golden("q_proj_0.npy")));
  require_identical(m.weights.at("model.layers.0.self_attn.k_proj.weight"), load_npy(golden("k_proj_0.npy")));
  require_identical(m.weights.at("model.layers.4.self_attn.k_proj.weight"), load_npy(golden("k_proj_4.npy")));
}

TEST_CASE("llama2c golden: an HF-Llama forward on the imported weights gives transformers' logits",
          "[io][llama2c][golden]") {
  skip_without_model();
  const io::Llama2cModel m = io::load_llama2c(model_path());
  Generator gen(0);
  CausalLM lm(m.config, gen);
  lm.eval();
  const LoadReport report = lm.load_state_dict(m.weights);  // strict: every HF name must match
  CHECK(report.empty());
  const Tensor tokens = load_npy(golden("tokens.npy"));
  const Tensor expected = load_npy(golden("logits.npy"));
  no_grad ng;
  const Tensor logits = lm.forward(tokens);
  REQUIRE(logits.shape() == expected.shape());
  testing::require_close(logits, expected, 1e-5, 5e-5);
}
