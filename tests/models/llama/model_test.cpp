// models/llama: config, the cache against the uncached forward, the soft-prompt splice, the loss,
// checkpoints in and out. Parity with transformers and PEFT is tests/golden/llama_test.cpp.
#include "support/testing.hpp"

#include <molm/io/safetensors.hpp>
#include <molm/models/llama/checkpoint.hpp>
#include <molm/models/llama/generate.hpp>

using namespace molm;
namespace llama = molm::models::llama;

namespace {
std::shared_ptr<llama::CausalLM> tiny_model(DType dtype = DType::f32, bool tied = false, std::uint64_t seed = 3) {
  llama::Config c = llama::Config::tiny();
  c.tie_word_embeddings = tied;
  Generator gen(seed);
  auto lm = std::make_shared<llama::CausalLM>(c, gen, dtype);
  lm->eval();
  return lm;
}
Tensor ids_of(const std::vector<std::int64_t>& v, std::int64_t rows = 1) {
  const std::int64_t T = static_cast<std::int64_t>(v.size()) / rows;
  Tensor t = Tensor::empty({rows, T}, DType::i64);
  std::copy(v.begin(), v.end(), t.data<std::int64_t>());
  return t;
}
}  // namespace

TEST_CASE("llama config: HF defaults, presets, JSON round trip and refusals") {
  const llama::Config hf = nlohmann::json::parse(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
      "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32,
      "rms_norm_eps": 1e-06, "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
      "tie_word_embeddings": false, "torch_dtype": "float16", "transformers_version": "4.28.0.dev0",
      "use_cache": true, "initializer_range": 0.02, "hidden_act": "silu"})").get<llama::Config>();
  CHECK(hf.max_position_embeddings == 2048);  // absent in 3D-MoLM's folder: LlamaConfig's default
  CHECK(hf.rope_theta == 10000.0);
  CHECK(hf.num_key_value_heads == 32);
  CHECK(hf.pad_token_id == 0);
  // The paper preset is that folder resized to 32,002 rows (§5.1): 6.74 B parameters.
  CHECK(llama::Config::paper().parameter_count() == 6738415616 + 2 * 2 * 4096);
  CHECK(llama::Config::small().parameter_count() == 15192288);
  for (const char* p : {"tiny", "small", "paper"}) {
    const llama::Config c = llama::Config::preset(p);
    const llama::Config back = nlohmann::json(c).get<llama::Config>();
    CHECK(nlohmann::json(back) == nlohmann::json(c));
  }
  const auto error_for = [](const char* text) {
    return testing::error_of([&] { (void)nlohmann::json::parse(text).get<llama::Config>(); });
  };
  CHECK_THAT(error_for(R"({"rope_scaling": {"type": "linear", "factor": 2.0}})"), Catch::Contains("rope_scaling"));
  CHECK_THAT(error_for(R"({"hidden_act": "gelu"})"), Catch::Contains("hidden_act"));
  CHECK_THAT(error_for(R"({"num_attention_heads": 32, "num_key_value_heads": 5})"),
             Catch::Contains("multiple of num_key_value_heads"));
  CHECK_THAT(error_for(R"({"hiden_size": 8})"), Catch::Contains("unknown field 'hiden_size'"));
  CHECK_THAT(error_for(R"({"model_type": "bert"})"), Catch::Contains("model_type"));
}

TEST_CASE("llama: names and shapes are HF's; expected_tensors lists them without building a model") {
  for (bool tied : {false, true}) {
    auto lm = tiny_model(DType::f32, tied);
    const auto expected = llama::expected_tensors(lm->config());
    const nn::StateDict sd = lm->state_dict();
    REQUIRE(sd.size() == expected.size());
    std::size_t i = 0;
    for (const auto& [name, t] : sd) {
      CHECK(name == expected[i].name);
      CHECK(t.shape() == expected[i].shape);
      ++i;
    }
    std::int64_t n = 0;
    for (auto& p : lm->parameters()) n += p.numel();
    CHECK(n == lm->config().parameter_count());
    CHECK(lm->lm_head->weight.is_same(lm->model->embed_tokens->weight) == tied);
  }
}

TEST_CASE("llama: prefill + one-token steps through the cache give the uncached logits") {
  for (DType dtype : {DType::f32, DType::bf16}) {
    auto lm = tiny_model(dtype);
    const std::vector<std::int64_t> v = {1, 17, 5, 33, 90, 4, 61, 12, 8, 77, 3, 40};
    no_grad ng;
    const Tensor full = lm->forward_ids(ids_of(v)).to(DType::f32);  // [1, 12, V]
    llama::KVCache cache = llama::KVCache::allocate(lm->config(), 1, 16, dtype);
    llama::ForwardOptions o;
    o.cache = &cache;
    std::vector<Tensor> parts = {lm->forward_ids(ids_of({v.begin(), v.begin() + 5}), o)};
    for (std::size_t t = 5; t < v.size(); ++t) parts.push_back(lm->forward_ids(ids_of({v[t]}), o));
    CHECK(cache.length == 12);
    const Tensor stepped = cat(parts, 1).to(DType::f32);
    // f32: the same sums in another grouping; bf16: each step rounds its rows to bf16 once more.
    if (dtype == DType::f32) testing::require_close(stepped, full, 1e-5, 1e-5);
    else testing::require_close(stepped, full, 0.0, 0.1);
    // last_position_only is the last row of the full forward.
    llama::ForwardOptions last;
    last.last_position_only = true;
    testing::require_close(lm->forward_ids(ids_of(v), last).to(DType::f32), full.narrow(1, 11, 1), 1e-6, 1e-6);
  }
}

TEST_CASE("llama: a batch with left padding gives each row's unpadded logits at its real positions") {
  auto lm = tiny_model();
  no_grad ng;
  const std::vector<std::int64_t> a = {1, 9, 14, 51, 7, 22}, b = {1, 60, 3};
  // Row b left-padded by 3. Positions count from the first pad (transformers 4.35 training, §11
  // item 19); RoPE makes attention depend on differences only, so b's logits equal its own run.
  Tensor ids = ids_of({1, 9, 14, 51, 7, 22, 0, 0, 0, 1, 60, 3}, 2);
  Tensor mask = ids_of({1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1}, 2);
  llama::ForwardOptions o;
  o.attention_mask = mask;
  const Tensor logits = lm->forward_ids(ids, o);
  testing::require_close(logits.narrow(0, 0, 1), lm->forward_ids(ids_of(a)), 1e-5, 1e-5);
  testing::require_close(logits.narrow(0, 1, 1).narrow(1, 3, 3), lm->forward_ids(ids_of(b)), 1e-4, 1e-5);
  o.attention_mask = ids_of({1, 1, 1}, 1);
  CHECK_THAT(testing::error_of([&] { lm->forward_ids(ids, o); }), Catch::Contains("attention_mask must be [B, past + T]"));
}

TEST_CASE("llama: splice_soft_prompt puts the rows at the <mol> positions, in order, with their gradient") {
  const Tensor ids = ids_of({5, 95, 95, 7, 95, 95, 1, 95, 95, 2}, 2);  // 3 <mol> (95) per row
  const Tensor embeds = testing::random({2, 5, 4}, 1);
  Tensor rows = testing::random({2, 3, 4}, 2);
  const Tensor out = llama::splice_soft_prompt(embeds, ids, 95, rows);
  testing::require_close(out.select(0, 0).select(0, 1), rows.select(0, 0).select(0, 0), 0.0);
  testing::require_close(out.select(0, 0).select(0, 4), rows.select(0, 0).select(0, 2), 0.0);
  testing::require_close(out.select(0, 1).select(0, 2), rows.select(0, 1).select(0, 1), 0.0);
  testing::require_close(out.select(0, 1).select(0, 1), embeds.select(0, 1).select(0, 1), 0.0);
  rows.set_requires_grad(true);
  Tensor e = embeds.clone();
  e.set_requires_grad(true);
  testing::gradcheck([&](const std::vector<Tensor>& x) { return llama::splice_soft_prompt(x[0], ids, 95, x[1]); },
                     {e, rows});
  CHECK_THAT(testing::error_of([&] { llama::splice_soft_prompt(embeds, ids, 95, testing::random({2, 2, 4}, 3)); }),
             Catch::Contains("more than 2 <mol> tokens"));
  CHECK_THAT(testing::error_of([&] { llama::splice_soft_prompt(embeds, ids, 95, testing::random({2, 4, 4}, 3)); }),
             Catch::Contains("holds 3 <mol> tokens (id 95); every row needs exactly 4"));
}

TEST_CASE("llama: causal_lm_loss is the shifted cross-entropy over counted labels") {
  const Tensor logits = testing::random({2, 4, 6}, 4);
  const Tensor labels = ids_of({-100, 3, 1, -100, -100, -100, 5, 0}, 2);
  const double got = llama::causal_lm_loss(logits, labels).item<double>();
  // Counted: (b0, t0 → 3), (b0, t1 → 1), (b1, t2 → 0)... labels at t+1: row 0 t=0→3, t=1→1; row 1 t=1→5, t=2→0.
  const auto nll = [&](int b, int t, int y) {
    const Tensor row = log_softmax(logits.select(0, b).select(0, t));
    return -row.select(0, y).item<double>();
  };
  CHECK(got == Approx((nll(0, 0, 3) + nll(0, 1, 1) + nll(1, 1, 5) + nll(1, 2, 0)) / 4).epsilon(1e-12));
  Tensor l = logits.clone();
  l.set_requires_grad(true);
  testing::gradcheck([&](const std::vector<Tensor>& x) { return llama::causal_lm_loss(x[0], labels); }, {l});
}

TEST_CASE("llama: LoRA on the seven projections leaves the output unchanged until B trains") {
  auto lm = tiny_model();
  const Tensor ids = ids_of({1, 5, 9, 13});
  Tensor before;
  {
    no_grad ng;
    before = lm->forward_ids(ids);
  }
  Generator gen(7);
  CHECK(llama::add_lora(*lm, gen) == 7 * 2);
  std::int64_t trainable = 0;
  for (auto& [name, p] : lm->named_parameters())
    if (p.requires_grad()) trainable += p.numel();
  // Per layer: r·(in + out) for q, k, v, o (32→32, 32→16, 32→16, 32→32) and gate, up, down (32↔64).
  CHECK(trainable == 2 * 8 * ((32 + 32) + (32 + 16) * 2 + (32 + 32) + (32 + 64) * 3));
  no_grad ng;
  testing::require_close(lm->forward_ids(ids), before, 0.0);
}

TEST_CASE("llama: save then load gives the same model; HF folder variants and bad folders") {
  const auto dir = testing::scratch_dir("llama_roundtrip");
  for (bool tied : {false, true}) {
    auto lm = tiny_model(DType::f32, tied, 11);
    llama::save(dir / "m", *lm);
    llama::LoadReport report;
    auto back = llama::load(dir / "m", DType::f32, &report);
    CHECK(report.molm.at("model") == "llama");
    const nn::StateDict a = lm->state_dict(), b = back->state_dict();
    for (const auto& [name, t] : a) testing::require_close(*b.find(name), t, 0.0);
    CHECK(back->lm_head->weight.is_same(back->model->embed_tokens->weight) == tied);
    // Stored once when tied, as save_pretrained does.
    const io::CheckpointReader r = io::CheckpointReader::open(dir / "m");
    CHECK(r.contains("lm_head.weight") == !tied);
  }
  // bf16 on load; inv_freq buffers skipped and reported.
  {
    auto lm = tiny_model();
    std::map<std::string, Tensor> tensors;
    for (const auto& [name, t] : lm->state_dict()) tensors.emplace(name, t.to(DType::f16));
    tensors.emplace("model.layers.0.self_attn.rotary_emb.inv_freq", ones({4}));
    std::filesystem::create_directories(dir / "hf");
    save_safetensors(dir / "hf" / "model.safetensors", tensors);
    std::ofstream(dir / "hf" / "config.json") << nlohmann::json(lm->config()).dump();
    llama::LoadReport report;
    auto back = llama::load(dir / "hf", DType::bf16, &report);
    CHECK(back->dtype() == DType::bf16);
    CHECK(report.skipped == std::vector<std::string>{"model.layers.0.self_attn.rotary_emb.inv_freq"});
    CHECK(report.load.converted.size() == lm->state_dict().size());
    testing::require_close(back->model->norm->weight.to(DType::f32), lm->model->norm->weight, 0.0);
    // A missing tensor: strict, named.
    tensors.erase("model.layers.1.mlp.up_proj.weight");
    save_safetensors(dir / "hf" / "model.safetensors", tensors);
    CHECK_THAT(testing::error_of([&] { llama::load(dir / "hf"); }), Catch::Contains("model.layers.1.mlp.up_proj.weight"));
  }
  CHECK_THAT(testing::error_of([&] { llama::load(dir / "nothing"); }), Catch::Contains("not a folder"));
}

TEST_CASE("llama generate: greedy equals the argmax of uncached forwards; sampling is seeded") {
  auto lm = tiny_model();
  const std::vector<std::int64_t> prompt = {1, 40, 41, 42};
  llama::GenerationConfig g;
  g.max_new_tokens = 10;
  g.eos_token_id = 95;  // never the argmax here: ten tokens
  const auto r = llama::generate_ids(*lm, prompt, g);
  std::vector<std::int64_t> seq = prompt;
  no_grad ng;
  for (int i = 0; i < 10; ++i) {
    const Tensor logits = lm->forward_ids(ids_of(seq)).select(0, 0).select(0, static_cast<std::int64_t>(seq.size()) - 1);
    std::vector<float> row(static_cast<std::size_t>(logits.numel()));
    for (std::size_t k = 0; k < row.size(); ++k) row[k] = logits.select(0, static_cast<std::int64_t>(k)).item<float>();
    seq.push_back(llama::detail::argmax(row));
  }
  REQUIRE(r.tokens.size() == 10);
  CHECK(r.tokens == std::vector<std::int64_t>(seq.begin() + 4, seq.end()));
  llama::GenerationConfig s;
  s.do_sample = true;
  s.max_new_tokens = 12;
  s.temperature = 1.5;
  s.top_k = 20;
  s.top_p = 0.9;
  s.seed = 42;
  s.eos_token_id = 95;
  const auto s1 = llama::generate_ids(*lm, prompt, s);
  set_num_threads(1);
  const auto s2 = llama::generate_ids(*lm, prompt, s);
  set_num_threads(2);
  CHECK(s1.tokens == s2.tokens);
  s.seed = 43;
  CHECK(llama::generate_ids(*lm, prompt, s).tokens != s1.tokens);
  // top_k 1 is greedy.
  s.top_k = 1;
  s.max_new_tokens = 10;
  CHECK(llama::generate_ids(*lm, prompt, s).tokens == r.tokens);
  g.max_new_tokens = 200;
  CHECK_THAT(testing::error_of([&] { llama::generate_ids(*lm, prompt, g); }), Catch::Contains("exceeds the model's 128 positions"));
}
