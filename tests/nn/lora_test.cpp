// LoRA (nn/lora.hpp, io/lora_file.hpp) on a small module tree: PEFT's target rule and names, init, freezing, the
// forward against the formula written out with ops, dropout only in training, merge/unmerge,
// gradients by finite differences, and save/load of adapter folders with their error cases.
// Agreement with PEFT itself is tests/golden/lora_test.cpp.
#include "support/testing.hpp"

#include <molm/io/lora_file.hpp>  // save_adapter, load_adapter
#include <molm/nn.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace molm;
using namespace molm::nn;
namespace fs = std::filesystem;

namespace {

/// attn.{q_proj (no bias), v_proj, xq_proj}, fc, norm: two targets, a near-miss name, other layers.
struct Toy : Module {
  Toy(Generator& g, DType dt = DType::f64) {
    attn = register_module("attn", std::make_shared<Module>());
    q_proj = attn->register_module("q_proj", std::make_shared<Linear>(6, 6, g, false, dt));
    v_proj = attn->register_module("v_proj", std::make_shared<Linear>(6, 4, g, true, dt));
    xq_proj = attn->register_module("xq_proj", std::make_shared<Linear>(6, 6, g, true, dt));
    fc = register_module("fc", std::make_shared<Linear>(6, 3, g, true, dt));
    norm = register_module("norm", std::make_shared<RMSNorm>(6, 1e-6, dt));
  }
  std::shared_ptr<Module> attn;
  std::shared_ptr<Linear> q_proj, v_proj, xq_proj, fc;
  std::shared_ptr<RMSNorm> norm;
};

const std::vector<std::string> kQV = {"q_proj", "v_proj"};

lora::Adapter& adapter(const Linear& l) {
  lora::Adapter* a = lora::adapter_of(l);
  REQUIRE(a);
  return *a;
}

/// Give B random values (it starts at zero, which hides every LoRA term).
void randomise_b(Module& m, std::uint64_t seed) {
  no_grad ng;
  for (auto& [name, lin] : lora::wrapped_layers(m)) {
    Tensor b = adapter(*lin).lora_B()->weight;
    b.copy_(testing::random(b.shape(), seed++, b.dtype(), -0.5, 0.5));
  }
}

/// y = x Wᵀ + b + s · (x Aᵀ) Bᵀ written with ops, x already dropped out.
Tensor manual(const Linear& l, const Tensor& x, const Tensor& x_dropped) {
  const lora::Adapter& a = adapter(l);
  Tensor base = matmul(x, l.weight.transpose(0, 1));
  if (l.bias.defined()) base = add(base, l.bias);
  const Tensor low = matmul(matmul(x_dropped, a.lora_A()->weight.transpose(0, 1)), a.lora_B()->weight.transpose(0, 1));
  return add(base, mul(low, a.scaling()));
}

/// A fresh folder under the temp dir, removed when the test ends.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("molm_lora_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}
void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(2); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const molm::error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("lora: PEFT's target rule", "[nn][lora]") {
  CHECK(lora::matches_target("q_proj", {"q_proj"}));
  CHECK(lora::matches_target("model.layers.0.self_attn.q_proj", {"q_proj"}));
  CHECK(lora::matches_target("model.layers.0.self_attn.q_proj", {"self_attn.q_proj"}));
  CHECK(lora::matches_target("model.layers.0.self_attn.q_proj", {"k_proj", "q_proj"}));
  CHECK_FALSE(lora::matches_target("model.layers.0.self_attn.xq_proj", {"q_proj"}));  // suffix after a dot only
  CHECK_FALSE(lora::matches_target("model.layers.0.self_attn.q_proj", {"proj"}));
  CHECK_FALSE(lora::matches_target("model.layers.0.self_attn.q_proj", {"self_attn"}));
  CHECK_FALSE(lora::matches_target("", {"q_proj"}));
}

TEST_CASE("lora: wrap attaches PEFT-named children and freezes the rest", "[nn][lora]") {
  Generator g(1);
  Toy toy(g);
  const auto before = toy.state_dict().keys();
  CHECK(lora::wrap(toy, kQV, 2, 4, 0.0, g) == 2);

  CHECK(toy.state_dict().keys() == std::vector<std::string>{
                                       "attn.q_proj.weight", "attn.q_proj.lora_A.default.weight",
                                       "attn.q_proj.lora_B.default.weight", "attn.v_proj.weight", "attn.v_proj.bias",
                                       "attn.v_proj.lora_A.default.weight", "attn.v_proj.lora_B.default.weight",
                                       "attn.xq_proj.weight", "attn.xq_proj.bias", "fc.weight", "fc.bias", "norm.weight"});
  std::vector<std::string> modules;
  for (auto& [n, m] : toy.named_modules()) modules.push_back(n);
  CHECK(modules == std::vector<std::string>{"", "attn", "attn.q_proj", "attn.q_proj.lora_dropout",
                                            "attn.q_proj.lora_dropout.default", "attn.q_proj.lora_A",
                                            "attn.q_proj.lora_A.default", "attn.q_proj.lora_B",
                                            "attn.q_proj.lora_B.default", "attn.v_proj", "attn.v_proj.lora_dropout",
                                            "attn.v_proj.lora_dropout.default", "attn.v_proj.lora_A",
                                            "attn.v_proj.lora_A.default", "attn.v_proj.lora_B",
                                            "attn.v_proj.lora_B.default", "attn.xq_proj", "fc", "norm"});
  CHECK(toy.xq_proj->adapter == nullptr);

  // Only LoRA trains: 2 layers × (A [2, 6] + B [out, 2]).
  for (auto& [n, t] : toy.named_parameters()) {
    INFO(n);
    CHECK(t.requires_grad() == (n.find("lora_") != std::string::npos));
  }
  CHECK(toy.num_parameters(true) == (2 * 6 + 6 * 2) + (2 * 6 + 4 * 2));
  CHECK(toy.num_parameters() == 36 + (24 + 4) + 42 + 21 + 6 + 44);

  const lora::Adapter& a = adapter(*toy.v_proj);
  CHECK(a.r() == 2);
  CHECK(a.alpha() == 4);
  CHECK(a.scaling() == 2.0);
  CHECK(a.dtype() == DType::f32);  // PEFT 0.6 makes f32 adapters whatever the base dtype
  CHECK(a.lora_A()->weight.shape() == Shape{2, 6});
  CHECK(a.lora_B()->weight.shape() == Shape{4, 2});
  CHECK_FALSE(a.lora_A()->bias.defined());
  CHECK(before.size() + 4 == toy.state_dict().size());
}

TEST_CASE("lora: wrap rejects bad targets and leaves the model untouched", "[nn][lora]") {
  Generator g(2);
  Toy toy(g);
  const auto keys = toy.state_dict().keys();
  CHECK_THAT(error_of([&] { lora::wrap(toy, {"k_proj"}, 2, 4, 0.0, g); }),
             Catch::Contains("match no module") && Catch::Contains("attn.q_proj"));
  CHECK_THAT(error_of([&] { lora::wrap(toy, {"q_proj", "attn"}, 2, 4, 0.0, g); }),
             Catch::Contains("'attn'") && Catch::Contains("not a Linear"));
  CHECK_THAT(error_of([&] { lora::wrap(toy, {}, 2, 4, 0.0, g); }), Catch::Contains("no target_modules"));
  CHECK_THAT(error_of([&] { lora::wrap(toy, kQV, 0, 4, 0.0, g); }), Catch::Contains("rank"));
  CHECK(toy.state_dict().keys() == keys);
  for (auto& [n, t] : toy.named_parameters()) CHECK(t.requires_grad());

  // A full dotted name is a target too; wrapping a layer twice is refused.
  CHECK(lora::wrap(toy, {"attn.q_proj"}, 2, 4, 0.0, g) == 1);
  CHECK_THAT(error_of([&] { lora::wrap(toy, kQV, 2, 4, 0.0, g); }), Catch::Contains("already has an adapter"));
  CHECK(lora::wrapped_layers(toy).size() == 1);
  // The adapters' own Linears are never targets ("default" names them).
  CHECK_THAT(error_of([&] { lora::wrap(toy, {"default"}, 2, 4, 0.0, g); }), Catch::Contains("match no module"));
}

TEST_CASE("lora: PEFT's init, A = U(±1/sqrt(in)) and B = 0, leaves the output unchanged", "[nn][lora]") {
  Generator g(3);
  auto lin = std::make_shared<Linear>(64, 32, g, true, DType::f32);
  Module root;
  root.register_module("proj", lin);
  const Tensor x = testing::random({4, 64}, 5, DType::f32);
  const Tensor before = lin->forward(x);
  lora::wrap(root, {"proj"}, 16, 32, 0.1, g);
  root.eval();
  const lora::Adapter& a = adapter(*lin);
  const auto A = testing::values(a.lora_A()->weight);
  const double bound = 1.0 / std::sqrt(64.0);
  double mean = 0;
  for (double v : A) {
    REQUIRE(std::abs(v) <= bound);
    mean += v / static_cast<double>(A.size());
  }
  CHECK(*std::max_element(A.begin(), A.end()) > 0.9 * bound);  // spread over the whole range
  CHECK(*std::min_element(A.begin(), A.end()) < -0.9 * bound);
  CHECK(std::abs(mean) < 0.1 * bound);  // 1024 draws: the mean's std is bound/sqrt(3·1024) ≈ 0.018·bound
  for (double v : testing::values(a.lora_B()->weight)) REQUIRE(v == 0.0);
  testing::require_close(lin->forward(x), before, 0, 0);
}

TEST_CASE("lora: forward = base + scaling·B(A(x)), batched, with and without bias", "[nn][lora]") {
  Generator g(4);
  Toy toy(g);
  lora::wrap(toy, kQV, 3, 12, 0.0, g, DType::f64);
  randomise_b(toy, 40);
  toy.eval();
  const Tensor x = testing::random({2, 5, 6}, 6);
  for (Linear* l : {toy.q_proj.get(), toy.v_proj.get()}) {
    CHECK(adapter(*l).scaling() == 4.0);
    testing::require_close(l->forward(x), manual(*l, x, x), 1e-12, 1e-14);
  }
  // The LoRA term is really there: the output moved away from the base layer's.
  CHECK(testing::closeness(toy.q_proj->forward(x), linear(x, toy.q_proj->weight), 0, 1e-3) > 1);
}

TEST_CASE("lora: dropout on the adapter input, in training only", "[nn][lora]") {
  Generator g(5);
  Toy toy(g);
  lora::wrap(toy, kQV, 2, 4, 0.5, g, DType::f64);
  randomise_b(toy, 50);
  const Tensor x = testing::random({3, 6}, 7);
  Linear& q = *toy.q_proj;

  toy.train();
  Generator replay = g;  // the adapter draws its mask from g: replay the same stream
  const Tensor y_train = q.forward(x);
  testing::require_close(y_train, manual(q, x, dropout(x, 0.5, true, replay)), 1e-12, 1e-14);
  CHECK(testing::closeness(y_train, manual(q, x, x), 0, 1e-6) > 1);  // the mask did something

  toy.eval();
  testing::require_close(q.forward(x), manual(q, x, x), 1e-12, 1e-14);
  CHECK(g.offset() == replay.offset());  // eval drew no random numbers
}

TEST_CASE("lora: gradients of x, A and B by finite differences", "[nn][lora]") {
  Generator g(6);
  Toy toy(g);
  lora::wrap(toy, kQV, 2, 6, 0.0, g, DType::f64);
  randomise_b(toy, 60);
  const lora::Adapter& a = adapter(*toy.v_proj);
  Tensor x = testing::random({2, 3, 6}, 8);
  x.set_requires_grad();
  // A and B are perturbed in place through their storage, so the layer sees each perturbation.
  testing::gradcheck([&](const std::vector<Tensor>& in) { return toy.v_proj->forward(in[0]); },
                     {x, a.lora_A()->weight, a.lora_B()->weight});
  // The frozen base weight gets no gradient.
  CHECK_FALSE(toy.v_proj->weight.grad().defined());
}

TEST_CASE("lora: merge folds ΔW into the weight once, unmerge restores it", "[nn][lora]") {
  Generator g(7);
  Toy toy(g);
  lora::wrap(toy, kQV, 2, 8, 0.0, g, DType::f64);
  randomise_b(toy, 70);
  toy.eval();
  const Tensor x = testing::random({4, 6}, 9);
  const Tensor w0 = toy.v_proj->weight.clone(), y0 = toy.v_proj->forward(x);
  const lora::Adapter& a = adapter(*toy.v_proj);
  const Tensor delta = mul(matmul(a.lora_B()->weight, a.lora_A()->weight), 4.0);

  CHECK(lora::merge(toy) == 2);
  CHECK(a.merged());
  testing::require_close(toy.v_proj->weight, add(w0, delta), 1e-15, 1e-15);
  testing::require_close(toy.v_proj->forward(x), y0, 1e-12, 1e-14);  // ΔW counted once, not twice
  CHECK(lora::merge(toy) == 0);                                        // merging again changes nothing
  testing::require_close(toy.v_proj->weight, add(w0, delta), 1e-15, 1e-15);

  CHECK(lora::unmerge(toy) == 2);
  CHECK_FALSE(a.merged());
  testing::require_close(toy.v_proj->weight, w0, 1e-14, 1e-15);
  testing::require_close(toy.v_proj->forward(x), y0, 1e-12, 1e-14);
  CHECK(lora::unmerge(toy) == 0);

  Toy plain(g);
  CHECK_THAT(error_of([&] { lora::merge(plain); }), Catch::Contains("no LoRA adapter"));
}

TEST_CASE("lora: a bf16 base layer with f32 adapters, as PEFT builds it", "[nn][lora]") {
  Generator g(8);
  Toy toy(g, DType::bf16);
  lora::wrap(toy, kQV, 2, 4, 0.0, g);
  randomise_b(toy, 80);
  toy.eval();
  const lora::Adapter& a = adapter(*toy.q_proj);
  CHECK(a.dtype() == DType::f32);
  Tensor x = testing::random({2, 6}, 10, DType::bf16);
  const Tensor y = toy.q_proj->forward(x);
  CHECK(y.dtype() == DType::bf16);
  // The f32 update is added to the bf16 base output in f32, then rounded once.
  const Tensor xf = x.to(DType::f32);
  const Tensor delta = mul(matmul(matmul(xf, a.lora_A()->weight.transpose(0, 1)), a.lora_B()->weight.transpose(0, 1)), 2.0);
  const Tensor expected = add(linear(x, toy.q_proj->weight).to(DType::f32), delta).to(DType::bf16);
  testing::require_close(y, expected, 0, 0);
  sum(y.to(DType::f32)).backward();
  CHECK(a.lora_A()->weight.grad().dtype() == DType::f32);
  CHECK(a.lora_B()->weight.grad().dtype() == DType::f32);

  // merge rounds W + ΔW (formed in f32) to bf16 once.
  const Tensor w0 = toy.q_proj->weight.clone();
  lora::merge(toy);
  testing::require_close(toy.q_proj->weight, add(w0.to(DType::f32), a.delta_weight()).to(DType::bf16), 0, 0);
}

TEST_CASE("lora: save_adapter writes PEFT's two files; load_adapter reads them back", "[nn][lora]") {
  TempDir dir("roundtrip");
  Generator g(9);
  Toy toy(g);
  lora::wrap(toy, kQV, 2, 16, 0.05, g);
  randomise_b(toy, 90);
  lora::SaveOptions options;
  options.base_model_name_or_path = "toy/base";
  lora::save_adapter(toy, dir.path, options);

  const SafetensorsFile f(dir.path / "adapter_model.safetensors");
  CHECK(f.names() == std::vector<std::string>{"base_model.model.attn.q_proj.lora_A.weight",
                                              "base_model.model.attn.q_proj.lora_B.weight",
                                              "base_model.model.attn.v_proj.lora_A.weight",
                                              "base_model.model.attn.v_proj.lora_B.weight"});
  CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
  CHECK(f.info("base_model.model.attn.v_proj.lora_B.weight").shape == Shape{4, 2});
  CHECK(f.info("base_model.model.attn.v_proj.lora_B.weight").dtype == DType::f32);

  const auto j = read_json(dir.path / "adapter_config.json");
  CHECK(j["peft_type"] == "LORA");
  CHECK(j["r"] == 2);
  CHECK(j["lora_alpha"].is_number_integer());
  CHECK(j["lora_alpha"] == 16);
  CHECK(j["lora_dropout"] == 0.05);
  CHECK(j["target_modules"] == nlohmann::json(kQV));
  CHECK(j["base_model_name_or_path"] == "toy/base");
  CHECK(j["task_type"] == "CAUSAL_LM");
  CHECK(j["bias"] == "none");
  CHECK(j["inference_mode"] == true);

  SECTION("into a model wrapped the same way") {
    Generator g2(99);
    Toy other(g2);
    lora::wrap(other, kQV, 2, 16, 0.05, g2);
    const LoadReport report = lora::load_adapter(other, dir.path);
    CHECK(report.empty());
    for (const auto& [name, t] : lora::adapter_state_dict(toy))
      testing::require_close(*lora::adapter_state_dict(other).find(name), t, 0, 0);
  }
  SECTION("into an unwrapped model, which is wrapped from the config") {
    Generator g2(99);
    Toy other(g2, DType::bf16);
    lora::load_adapter(other, dir.path, g2);
    const lora::Config c = lora::config_of(other);
    CHECK(c.r == 2);
    CHECK(c.alpha == 16);
    CHECK(c.dropout == 0.05);
    CHECK(c.target_modules == kQV);
    CHECK(c.dtype == DType::f32);
    CHECK(other.num_parameters(true) == toy.num_parameters(true));
    testing::require_close(adapter(*other.v_proj).lora_B()->weight, adapter(*toy.v_proj).lora_B()->weight, 0, 0);
  }
  SECTION("an f64 model gets the values converted, and says so") {
    Generator g2(99);
    Toy other(g2);
    lora::wrap(other, kQV, 2, 16, 0.05, g2, DType::f64);
    CHECK(lora::load_adapter(other, dir.path).converted.size() == 4);
  }
  SECTION("a different rank, alpha or target set is refused") {
    Generator g2(99);
    Toy r3(g2), alpha8(g2), only_q(g2), unwrapped(g2);
    lora::wrap(r3, kQV, 3, 16, 0.05, g2);
    lora::wrap(alpha8, kQV, 2, 8, 0.05, g2);
    lora::wrap(only_q, {"q_proj"}, 2, 16, 0.05, g2);
    CHECK_THAT(error_of([&] { lora::load_adapter(r3, dir.path); }), Catch::Contains("r 2"));
    CHECK_THAT(error_of([&] { lora::load_adapter(alpha8, dir.path); }), Catch::Contains("lora_alpha 16"));
    CHECK_THAT(error_of([&] { lora::load_adapter(only_q, dir.path); }),
               Catch::Contains("selected but not wrapped: [attn.v_proj]"));
    CHECK_THAT(error_of([&] { lora::load_adapter(unwrapped, dir.path); }), Catch::Contains("wrap it first"));
  }
  SECTION("a merged model is refused") {
    lora::merge(toy);
    CHECK_THAT(error_of([&] { lora::load_adapter(toy, dir.path); }), Catch::Contains("unmerge"));
  }
}

TEST_CASE("lora: load_adapter is strict about tensors and config fields", "[nn][lora]") {
  TempDir dir("strict");
  Generator g(10);
  Toy toy(g);
  lora::wrap(toy, kQV, 2, 4, 0.0, g);
  lora::save_adapter(toy, dir.path);
  const fs::path weights = dir.path / "adapter_model.safetensors", config = dir.path / "adapter_config.json";
  auto tensors = SafetensorsFile(weights).tensors();
  Generator g2(11);
  Toy target(g2);
  lora::wrap(target, kQV, 2, 4, 0.0, g2);
  const Tensor a_before = adapter(*target.q_proj).lora_A()->weight.clone();

  SECTION("a missing and an unexpected tensor, both listed, nothing copied") {
    auto changed = tensors;
    changed.erase("base_model.model.attn.v_proj.lora_B.weight");
    changed.emplace("base_model.model.attn.k_proj.lora_A.weight", zeros({2, 6}));
    save_safetensors(weights, changed);
    const std::string e = error_of([&] { lora::load_adapter(target, dir.path); });
    CHECK_THAT(e, Catch::Contains("missing (1): base_model.model.attn.v_proj.lora_B.weight"));
    CHECK_THAT(e, Catch::Contains("unexpected (1): base_model.model.attn.k_proj.lora_A.weight"));
    testing::require_close(adapter(*target.q_proj).lora_A()->weight, a_before, 0, 0);
  }
  SECTION("a wrong shape") {
    auto changed = tensors;
    changed["base_model.model.attn.q_proj.lora_B.weight"] = zeros({5, 2});
    save_safetensors(weights, changed);
    CHECK_THAT(error_of([&] { lora::load_adapter(target, dir.path); }),
               Catch::Contains("base_model.model.attn.q_proj.lora_B.weight (model [6, 2], state dict [5, 2])"));
  }
  SECTION("config fields molm cannot honour") {
    const auto j = read_json(config);
    using Case = std::tuple<std::string, nlohmann::json, std::string>;  // field, value, expected message
    for (const auto& [key, value, message] : std::vector<Case>{
             {"peft_type", "IA3", "peft_type is \"IA3\", not \"LORA\""},
             {"bias", "all", "bias = \"all\" is not supported"},
             {"modules_to_save", {"lm_head"}, "modules_to_save = [\"lm_head\"] is not supported"},
             {"fan_in_fan_out", true, "fan_in_fan_out = true is not supported"},
             {"layers_to_transform", {0}, "layers_to_transform = [0] is not supported"},
             {"rank_pattern", {{"q_proj", 4}}, "rank_pattern = {\"q_proj\":4} is not supported"},
             {"target_modules", ".*q_proj", "is a regular expression"},
             {"r", 0, "r = 0 is not a positive integer"},
             {"lora_alpha", "32", "lora_alpha = \"32\" is not a number"}}) {
      INFO(key);
      auto changed = j;
      changed[key] = value;
      write_json(config, changed);
      CHECK_THAT(error_of([&] { lora::load_adapter(target, dir.path); }), Catch::Contains(message));
    }
  }
  SECTION("a pickled adapter gets a hint") {
    fs::remove(weights);
    std::ofstream(dir.path / "adapter_model.bin") << "pickle";
    CHECK_THAT(error_of([&] { lora::load_adapter(target, dir.path); }), Catch::Contains("safe_serialization=True"));
  }
  SECTION("no config") {
    fs::remove(config);
    CHECK_THAT(error_of([&] { lora::load_adapter(target, dir.path); }), Catch::Contains("adapter_config.json"));
  }
}
