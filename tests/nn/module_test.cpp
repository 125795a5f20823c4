// nn/module.hpp: PyTorch's naming and ordering, state_dict round trips, strict and non-strict
// loading reports, freezing by pattern, parameter counts, train/eval, to(dtype).
#include "support/testing.hpp"

#include <molm/nn.hpp>

using namespace molm;
using namespace molm::nn;

namespace {

// A two-layer Uni-Mol-like encoder (reference-model.md §2.3), registered in the order Uni-Mol's
// modules are declared. The PyTorch equivalent:
//   class Layer(nn.Module):  self_attn (in_proj, out_proj), self_attn_layer_norm, fc1, fc2, final_layer_norm
//   class Encoder(nn.Module): emb_layer_norm, layers = nn.ModuleList([Layer(), Layer()]), final_layer_norm
//   class Model(nn.Module):  embed_tokens = nn.Embedding(31, 8, padding_idx=0), encoder
struct Layer : Module {
  explicit Layer(Generator& g) {
    self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(AttentionConfig::unimol(8, 2), g));
    self_attn_layer_norm = register_module("self_attn_layer_norm", std::make_shared<LayerNorm>(8));
    fc1 = register_module("fc1", std::make_shared<Linear>(8, 16, g));
    fc2 = register_module("fc2", std::make_shared<Linear>(16, 8, g));
    final_layer_norm = register_module("final_layer_norm", std::make_shared<LayerNorm>(8));
  }
  Tensor forward(const Tensor& x) const {
    Tensor h = add(x, self_attn->forward(self_attn_layer_norm->forward(x)));
    return add(h, fc2->forward(gelu(fc1->forward(final_layer_norm->forward(h)))));
  }
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<LayerNorm> self_attn_layer_norm, final_layer_norm;
  std::shared_ptr<Linear> fc1, fc2;
};

struct Encoder : Module {
  explicit Encoder(Generator& g) {
    emb_layer_norm = register_module("emb_layer_norm", std::make_shared<LayerNorm>(8));
    layers = register_module("layers", std::make_shared<ModuleList>());
    for (int i = 0; i < 2; ++i) layers->push_back(std::make_shared<Layer>(g));
    final_layer_norm = register_module("final_layer_norm", std::make_shared<LayerNorm>(8));
  }
  std::shared_ptr<LayerNorm> emb_layer_norm, final_layer_norm;
  std::shared_ptr<ModuleList> layers;
};

struct Model : Module {
  explicit Model(std::uint64_t seed) : gen(seed) {
    embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(31, 8, gen, 0));
    encoder = register_module("encoder", std::make_shared<Encoder>(gen));
  }
  Tensor forward(const Tensor& tokens) const {
    Tensor x = encoder->emb_layer_norm->forward(embed_tokens->forward(tokens));
    for (std::size_t i = 0; i < encoder->layers->size(); ++i) x = encoder->layers->get<Layer>(i)->forward(x);
    return encoder->final_layer_norm->forward(x);
  }
  Generator gen;
  std::shared_ptr<Embedding> embed_tokens;
  std::shared_ptr<Encoder> encoder;
};

std::vector<std::string> names_of(const Module::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [n, t] : named) out.push_back(n);
  return out;
}

Tensor tokens() { return from_vector<std::int64_t>({1, 5, 7, 0, 2, 30, 4, 3}, {2, 4}); }

/// A state dict of independent copies (a snapshot).
StateDict snapshot(Module& m) {
  StateDict out;
  for (const auto& [n, t] : m.state_dict()) out.insert(n, t.clone());
  return out;
}

void require_same_state(Module& a, Module& b) {
  const StateDict sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.keys() == sb.keys());
  for (const auto& [n, t] : sa) {
    INFO(n);
    testing::require_close(t, sb.at(n), 0, 0);
  }
}

}  // namespace

TEST_CASE("named_parameters: dotted names in PyTorch's order", "[nn][module]") {
  Model m(1);
  std::vector<std::string> expected{"embed_tokens.weight", "encoder.emb_layer_norm.weight", "encoder.emb_layer_norm.bias"};
  for (int i = 0; i < 2; ++i)
    for (const char* n : {"self_attn.in_proj.weight", "self_attn.in_proj.bias", "self_attn.out_proj.weight",
                          "self_attn.out_proj.bias", "self_attn_layer_norm.weight", "self_attn_layer_norm.bias",
                          "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "final_layer_norm.weight",
                          "final_layer_norm.bias"})
      expected.push_back("encoder.layers." + std::to_string(i) + "." + n);
  expected.push_back("encoder.final_layer_norm.weight");
  expected.push_back("encoder.final_layer_norm.bias");

  CHECK(names_of(m.named_parameters()) == expected);
  CHECK(m.state_dict().keys() == expected);  // no buffers: the same list
  CHECK(m.parameters().size() == expected.size());

  std::vector<std::string> modules;
  for (const auto& [n, mod] : m.named_modules()) modules.push_back(n);
  REQUIRE(modules.size() == 22);  // model, embed_tokens, encoder, emb_ln, layers, 2 × (layer + 7), final_ln
  CHECK(modules[0] == "");
  CHECK(modules[3] == "encoder.emb_layer_norm");
  CHECK(modules[5] == "encoder.layers.0");
  CHECK(modules[6] == "encoder.layers.0.self_attn");
  CHECK(modules[7] == "encoder.layers.0.self_attn.in_proj");
  CHECK(modules.back() == "encoder.final_layer_norm");
  // Shapes follow PyTorch: Linear weights are [out, in].
  const StateDict sd = m.state_dict();
  CHECK(sd.at("encoder.layers.1.self_attn.in_proj.weight").shape() == Shape{24, 8});
  CHECK(sd.at("encoder.layers.1.fc1.weight").shape() == Shape{16, 8});
  CHECK(sd.at("embed_tokens.weight").shape() == Shape{31, 8});
}

TEST_CASE("buffers: persistent ones sit after the module's parameters in state_dict", "[nn][module]") {
  // torch: m.a = Parameter; m.register_buffer("stats", ...); m.register_buffer("cache", ..., persistent=False);
  //        m.child = nn.Linear(2, 3)  →  state_dict: a, stats, child.weight, child.bias
  struct M : Module {
    explicit M(Generator& g) {
      register_parameter("a", zeros({2}));
      register_buffer("stats", ones({3}));
      register_buffer("cache", ones({4}), false);
      register_module("child", std::make_shared<Linear>(2, 3, g));
      register_buffer("steps", zeros({1}, DType::i64));
    }
  };
  Generator g(3);
  M m(g);
  CHECK(m.state_dict().keys() == std::vector<std::string>{"a", "stats", "steps", "child.weight", "child.bias"});
  CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"a", "child.weight", "child.bias"});
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"stats", "cache", "steps"});
  for (const auto& [n, b] : m.named_buffers()) CHECK_FALSE(b.requires_grad());
  // to(f64) converts floating buffers, leaves integer ones alone.
  m.to(DType::f64);
  const auto buffers = m.named_buffers();
  CHECK(buffers[0].second.dtype() == DType::f64);
  CHECK(buffers[2].second.dtype() == DType::i64);
}

TEST_CASE("tied weights: one tensor, two names", "[nn][module]") {
  // BERT's decoder weight is the word embedding (reference-model.md §9.2): state_dict lists both names,
  // named_parameters and the counts see the tensor once, as PyTorch does.
  struct Tied : Module {
    explicit Tied(Generator& g) {
      emb = register_module("emb", std::make_shared<Embedding>(10, 4, g));
      head = register_module("head", std::make_shared<Module>());
      head->register_parameter("weight", emb->weight);
    }
    std::shared_ptr<Embedding> emb;
    std::shared_ptr<Module> head;
  };
  Generator g(5);
  Tied m(g);
  CHECK(m.state_dict().keys() == std::vector<std::string>{"emb.weight", "head.weight"});
  CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"emb.weight"});
  CHECK(m.num_parameters() == 40);
}

TEST_CASE("state_dict round trip into a differently initialised model", "[nn][module]") {
  Model a(1), b(2);
  const Tensor ya = a.forward(tokens());
  REQUIRE(testing::closeness(ya, b.forward(tokens()), 1e-3, 1e-3) > 1);  // different weights to start with
  const LoadReport r = b.load_state_dict(a.state_dict());
  CHECK(r.empty());
  require_same_state(a, b);
  testing::require_close(b.forward(tokens()), ya, 0, 0);
  // The layers' member handles see the loaded values (one TensorImpl per parameter).
  testing::require_close(b.encoder->layers->get<Layer>(1)->fc2->weight,
                         a.state_dict().at("encoder.layers.1.fc2.weight"), 0, 0);
  // Loaded parameters are still leaves that train.
  for (const auto& [n, p] : b.named_parameters()) {
    CHECK(p.requires_grad());
    CHECK(p.is_leaf());
  }
}

TEST_CASE("strict loading lists every problem by name and copies nothing", "[nn][module]") {
  Model a(1), b(2);
  StateDict sd;
  for (const auto& [n, t] : a.state_dict()) {
    if (n == "encoder.layers.0.fc1.bias" || n == "encoder.final_layer_norm.weight") continue;  // missing
    if (n == "encoder.layers.1.fc2.weight") sd.insert(n, zeros({8, 15}));                      // mis-shaped
    else sd.insert(n, t);
  }
  sd.insert("lm_head.weight", zeros({31, 8}));  // unexpected (a Uni-Mol pretraining head)
  sd.insert("encoder.layers.0.fc3.weight", zeros({2}));
  const StateDict before = snapshot(b);

  try {
    b.load_state_dict(sd);
    FAIL("strict load accepted a state dict that does not fit");
  } catch (const molm::error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("[load_state_dict]") == 0);
    for (const char* name : {"encoder.layers.0.fc1.bias", "encoder.final_layer_norm.weight", "lm_head.weight",
                             "encoder.layers.0.fc3.weight", "encoder.layers.1.fc2.weight"})
      CHECK(msg.find(name) != std::string::npos);
    CHECK(msg.find("missing (2)") != std::string::npos);
    CHECK(msg.find("unexpected (2)") != std::string::npos);
    CHECK(msg.find("model [8, 16], state dict [8, 15]") != std::string::npos);
  }
  for (const auto& [n, t] : before) {  // nothing was copied
    INFO(n);
    testing::require_close(b.state_dict().at(n), t, 0, 0);
  }
}

TEST_CASE("non-strict loading copies what fits and reports the rest", "[nn][module]") {
  Model a(1), b(2);
  StateDict sd;
  for (const auto& [n, t] : a.state_dict()) {
    if (n == "encoder.layers.0.fc1.bias") continue;
    if (n == "encoder.layers.1.fc2.weight") sd.insert(n, zeros({8, 15}));
    else sd.insert(n, t);
  }
  sd.insert("lm_head.weight", zeros({31, 8}));
  const Tensor b_fc1_bias = b.state_dict().at("encoder.layers.0.fc1.bias").clone();
  const Tensor b_fc2_weight = b.state_dict().at("encoder.layers.1.fc2.weight").clone();

  const LoadReport r = b.load_state_dict(sd, {.strict = false});
  CHECK(r.missing == std::vector<std::string>{"encoder.layers.0.fc1.bias"});
  CHECK(r.unexpected == std::vector<std::string>{"lm_head.weight"});
  REQUIRE(r.shape_mismatched.size() == 1);
  CHECK(r.shape_mismatched[0].name == "encoder.layers.1.fc2.weight");
  CHECK(r.shape_mismatched[0].expected == Shape{8, 16});
  CHECK(r.shape_mismatched[0].got == Shape{8, 15});
  CHECK(r.converted.empty());
  CHECK_FALSE(r.ok());
  // Matching tensors were copied; the missing and mis-shaped ones kept their values.
  const StateDict now = b.state_dict();
  testing::require_close(now.at("encoder.layers.0.fc1.weight"), a.state_dict().at("encoder.layers.0.fc1.weight"), 0, 0);
  testing::require_close(now.at("encoder.layers.0.fc1.bias"), b_fc1_bias, 0, 0);
  testing::require_close(now.at("encoder.layers.1.fc2.weight"), b_fc2_weight, 0, 0);
}

TEST_CASE("dtype conversions are allowed and reported", "[nn][module]") {
  Model a(1), b(2);
  StateDict sd;
  for (const auto& [n, t] : a.state_dict())
    sd.insert(n, n == "encoder.final_layer_norm.bias" ? t : t.to(DType::f64));
  sd.insert_or_assign("embed_tokens.weight", a.state_dict().at("embed_tokens.weight").to(DType::bf16));
  const LoadReport r = b.load_state_dict(sd);  // strict: conversions are not errors
  CHECK(r.ok());
  CHECK_FALSE(r.empty());
  REQUIRE(r.converted.size() == a.state_dict().size() - 1);
  CHECK(r.converted[0].name == "embed_tokens.weight");
  CHECK(r.converted[0].from == DType::bf16);
  CHECK(r.converted[0].to == DType::f32);
  CHECK(r.converted[1].from == DType::f64);
  CHECK(r.str().find("embed_tokens.weight (bf16 -> f32)") != std::string::npos);
  for (const auto& [n, t] : b.state_dict()) CHECK(t.dtype() == DType::f32);
  testing::require_close(b.state_dict().at("encoder.layers.0.fc1.weight"),
                         a.state_dict().at("encoder.layers.0.fc1.weight"), 0, 0);  // f32 → f64 → f32 is exact
}

TEST_CASE("glob patterns", "[nn][module]") {
  CHECK(glob_match("encoder.*", "encoder.layers.0.fc1.weight"));
  CHECK_FALSE(glob_match("encoder.*", "embed_tokens.weight"));
  CHECK(glob_match("*.lora_*", "model.layers.0.self_attn.q_proj.lora_A.default.weight"));
  CHECK_FALSE(glob_match("*.lora_*", "model.layers.0.self_attn.q_proj.weight"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("*fc?.bias", "encoder.layers.1.fc2.bias"));
  CHECK_FALSE(glob_match("fc1", "fc1.weight"));  // whole-name match
  CHECK(glob_match("a*b*c", "aXbYbZc"));
  CHECK_FALSE(glob_match("a*b*c", "aXbYbZ"));
}

TEST_CASE("freeze and unfreeze by name pattern", "[nn][module]") {
  Model m(1);
  const std::int64_t total = m.num_parameters();
  // embedding 31·8; 2 LNs; per layer: in_proj 24·8+24, out_proj 8·8+8, 2 LNs 32, fc1 16·8+16, fc2 8·16+8
  const std::int64_t per_layer = 216 + 72 + 32 + 144 + 136;
  CHECK(total == 248 + 32 + 2 * per_layer);
  CHECK(m.num_parameters(true) == total);

  CHECK(m.freeze("encoder.*") == 2 + 2 * 12 + 2);
  CHECK(m.num_parameters(true) == 248);
  CHECK(m.num_parameters() == total);
  CHECK(m.unfreeze("*.fc?.*") == 8);
  CHECK(m.num_parameters(true) == 248 + 2 * (144 + 136));
  CHECK(m.encoder->layers->get<Layer>(0)->fc1->weight.requires_grad());
  CHECK_FALSE(m.encoder->emb_layer_norm->weight.requires_grad());
  REQUIRE_THROWS_WITH(m.freeze("encodr.*"), Catch::Contains("[freeze]") && Catch::Contains("encodr.*"));
  m.freeze();
  CHECK(m.num_parameters(true) == 0);

  // Frozen parameters get no gradient.
  m.unfreeze("embed_tokens.*");
  sum(m.forward(tokens())).backward();
  CHECK(m.embed_tokens->weight.grad().defined());
  CHECK_FALSE(m.encoder->layers->get<Layer>(0)->fc1->weight.grad().defined());
  m.zero_grad();
  CHECK_FALSE(m.embed_tokens->weight.grad().defined());
}

TEST_CASE("parameter counts of BERT-base and Uni-Mol blocks (reference-model.md §9.5)", "[nn][module]") {
  Generator g(0);
  // Q-Former self-attention block: attention.self.{query,key,value} + attention.output.{dense,LayerNorm}.
  struct BertAttention : Module {
    BertAttention(Generator& g, std::int64_t kv_dim) {
      register_module("self", std::make_shared<MultiheadAttention>(AttentionConfig::bert(768, 12, kv_dim), g));
      auto output = register_module("output", std::make_shared<Module>());
      output->register_module("dense", std::make_shared<Linear>(768, 768, g));
      output->register_module("LayerNorm", std::make_shared<LayerNorm>(768, 1e-12));
    }
  };
  BertAttention self_attention(g, 0), cross_attention(g, 512);
  CHECK(self_attention.num_parameters() == 2363904);
  CHECK(cross_attention.num_parameters() == 1970688);
  CHECK(cross_attention.state_dict().keys() ==
        std::vector<std::string>{"self.query.weight", "self.query.bias", "self.key.weight", "self.key.bias",
                                 "self.value.weight", "self.value.bias", "output.dense.weight", "output.dense.bias",
                                 "output.LayerNorm.weight", "output.LayerNorm.bias"});
  CHECK(cross_attention.state_dict().at("self.key.weight").shape() == Shape{768, 512});

  struct UniMolLayer : Module {
    explicit UniMolLayer(Generator& g) {
      register_module("self_attn", std::make_shared<MultiheadAttention>(AttentionConfig::unimol(512, 64), g));
      register_module("self_attn_layer_norm", std::make_shared<LayerNorm>(512));
      register_module("fc1", std::make_shared<Linear>(512, 2048, g));
      register_module("fc2", std::make_shared<Linear>(2048, 512, g));
      register_module("final_layer_norm", std::make_shared<LayerNorm>(512));
    }
  };
  CHECK(UniMolLayer(g).num_parameters() == 3152384);
}

TEST_CASE("train and eval propagate to every descendant", "[nn][module]") {
  Model m(1);
  auto all = [&](bool on) {
    for (const auto& [n, mod] : m.named_modules())
      if (mod->is_training() != on) return false;
    return true;
  };
  CHECK(all(true));  // modules start in training mode, as in PyTorch
  m.eval();
  CHECK(all(false));
  m.encoder->train();  // a subtree only
  CHECK_FALSE(m.is_training());
  CHECK(m.encoder->layers->get<Layer>(1)->fc1->is_training());
  m.train();
  CHECK(all(true));
}

TEST_CASE("to(dtype) converts in place; forward runs in the new dtype", "[nn][module]") {
  Model m(1);
  const Tensor y32 = m.forward(tokens());
  sum(y32).backward();
  m.to(DType::f64);
  for (const auto& [n, t] : m.state_dict()) CHECK(t.dtype() == DType::f64);
  CHECK(m.encoder->layers->get<Layer>(0)->fc1->weight.dtype() == DType::f64);  // the member handle too
  CHECK_FALSE(m.encoder->layers->get<Layer>(0)->fc1->weight.grad().defined());  // stale f32 grads dropped
  const Tensor y64 = m.forward(tokens());
  CHECK(y64.dtype() == DType::f64);
  testing::require_close(y64, y32, 1e-5, 1e-5);
  REQUIRE_THROWS_WITH(m.to(DType::i64), Catch::Contains("floating"));
}

TEST_CASE("registration errors name the problem", "[nn][module]") {
  Module m;
  m.register_parameter("w", zeros({2}));
  REQUIRE_THROWS_WITH(m.register_parameter("w", zeros({2})),
                      Catch::Contains("[register_parameter]") && Catch::Contains("'w' is already registered"));
  REQUIRE_THROWS_WITH(m.register_buffer("w", zeros({2})), Catch::Contains("already registered"));
  REQUIRE_THROWS_WITH(m.register_module("a.b", std::make_shared<Module>()), Catch::Contains("no '.'"));
  REQUIRE_THROWS_WITH(m.register_parameter("i", zeros({2}, DType::i64)), Catch::Contains("must be floating"));
  REQUIRE_THROWS_WITH(m.register_module("c", std::shared_ptr<Module>()), Catch::Contains("null"));
  REQUIRE_THROWS_AS(StateDict({{"x", zeros({1})}, {"x", zeros({1})}}), molm::error);
}
