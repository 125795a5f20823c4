// models/llama against transformers 4.35.2 and PEFT 0.6.2 (tests/golden/gen_llama.py), on a tiny
// random Llama (2 layers, 32 wide, 4 heads over 2 key/value heads, vocabulary 96):
//   - the three HF folder layouts load (f32 safetensors; fp16 pytorch_model-0000N-of-00002.bin
//     shards with their index, as 3D-MoLM's llama-2-7b-hf; bf16 sharded safetensors);
//   - names, shapes and parameter counts of tiny and of the paper model (32,002 rows, §5.1);
//   - logits and loss of a batch with left padding and §5.5 labels; the soft-prompt splice of §5.3
//     (logits, loss, gradient to the rows); PEFT LoRA on the seven projections (logits, loss and every
//     LoRA gradient), in f32 (rtol 1e-4) and f64; PEFT's adapter folder loads and molm writes it back
//     byte for byte;
//   - generate(): 20 prompts × 7 settings (greedy; greedy with repetition penalty and min length;
//     5-beam search with length penalty 0.8 and 1.0; from input_ids, from inputs_embeds, and from a
//     spliced soft prompt) give transformers' token ids exactly, and beam scores within 1e-5.
// Logits at padding positions are not compared: HF 4.35 gives a fully masked query row a uniform
// softmax, molm zeros; neither reaches a real position or the loss.
#include "support/testing.hpp"

#include <molm/io/lora_file.hpp>
#include <molm/io/npy.hpp>
#include <molm/io/safetensors.hpp>
#include <molm/models/llama/checkpoint.hpp>
#include <molm/models/llama/generate.hpp>

#include <fstream>

using namespace molm;
namespace llama = molm::models::llama;

namespace {
namespace fs = std::filesystem;

fs::path golden(const std::string& f) { return testing::golden_dir() / "llama" / f; }

/// Rows of `t` [2, T, ...] at the positions where valid [2, T] is 1, stacked.
Tensor valid_rows(const Tensor& t, const Tensor& valid) {
  std::vector<Tensor> rows;
  const Tensor v = valid.to(DType::i64).contiguous();
  for (std::int64_t b = 0; b < v.shape()[0]; ++b)
    for (std::int64_t i = 0; i < v.shape()[1]; ++i)
      if (v.data<std::int64_t>()[b * v.shape()[1] + i]) rows.push_back(t.select(0, b).select(0, i));
  return stack(rows, 0);
}

Tensor abs_of(const Tensor& t) { return where(lt(t, zeros_like(t)), neg(t), t); }

/// Tolerances: f32 rtol 1e-4 with an absolute floor of 1e-5 of the largest magnitude; f64: the
/// reference keeps HF's float32 RoPE tables out of its f64 run, molm computes them in float32 and
/// widens (measured: 2.2e-7 on a logit of 0.079), so rtol 1e-5, atol 1e-6 of the largest.
void close(const Tensor& got, const Tensor& want, DType dtype) {
  const double scale = amax(abs_of(want)).item<double>();
  if (dtype == DType::f32) testing::require_close(got.to(DType::f64), want.to(DType::f64), 1e-4, 1e-5 * scale);
  else testing::require_close(got, want, 1e-5, 1e-6 * scale);
}
}  // namespace

TEST_CASE("golden llama: the three HF folder layouts load, strictly, converted on load", "[golden][llama]") {
  llama::LoadReport r32, r16, rbf;
  const auto f32 = llama::load(golden("tiny"), DType::f32, &r32);
  const auto f16 = llama::load(golden("tiny_bin_fp16"), DType::f32, &r16);
  const auto bf = llama::load(golden("tiny_st_bf16"), DType::f32, &rbf);
  CHECK(r32.format == "directory");
  CHECK(r16.tensors == 21);
  CHECK(rbf.tensors == 21);
  CHECK(r16.load.converted.size() == 21);  // fp16 on disk
  const nn::StateDict a = f32->state_dict(), b = f16->state_dict(), c = bf->state_dict();
  for (const auto& [name, t] : a) {
    INFO(name);
    testing::require_close(*b.find(name), t.to(DType::f16).to(DType::f32), 0.0);
    testing::require_close(*c.find(name), t.to(DType::bf16).to(DType::f32), 0.0);
  }
  // The .bin shards are read through their index (not as llama.c, not as safetensors).
  const io::CheckpointReader index = io::CheckpointReader::open(golden("tiny_bin_fp16/pytorch_model.bin.index.json"));
  CHECK(index.format() == io::CheckpointFormat::pytorch_index);
  CHECK(index.listing().size() == 21);
}

TEST_CASE("golden llama: names, shapes and parameter counts of tiny and paper", "[golden][llama]") {
  for (const auto& [file, config] : {std::pair{"tiny_keys.txt", llama::Config::tiny()},
                                     std::pair{"paper_keys.txt", llama::Config::paper()}}) {
    INFO(file);
    std::ifstream in(golden(file));
    REQUIRE(in.good());
    const auto expected = llama::expected_tensors(config);
    std::string line;
    std::size_t i = 0;
    std::int64_t count = -1;
    while (std::getline(in, line)) {
      if (line.rfind("# parameters ", 0) == 0) {
        count = std::stoll(line.substr(13));
        continue;
      }
      const auto tab = line.find('\t');
      REQUIRE(i < expected.size());
      CHECK(line.substr(0, tab) == expected[i].name);
      std::string dims;
      for (int d = 0; d < expected[i].shape.size(); ++d) dims += (d ? "," : "") + std::to_string(expected[i].shape[d]);
      CHECK(line.substr(tab + 1) == dims);
      ++i;
    }
    CHECK(i == expected.size());
    CHECK(count == config.parameter_count());
  }
}

TEST_CASE("golden llama: logits, loss, soft prompt and PEFT LoRA gradients, f32 and f64", "[golden][llama]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    const std::string dname = dtype == DType::f32 ? "f32" : "f64";
    INFO(dname);
    const auto ref = load_safetensors(golden("forward_" + dname + ".safetensors"));
    const Tensor &ids = ref.at("input_ids"), &mask = ref.at("attention_mask"), &labels = ref.at("labels"),
                 &valid = ref.at("valid");
    const auto lm = llama::load(golden("tiny"), dtype);
    llama::ForwardOptions o;
    o.attention_mask = mask;
    {
      no_grad ng;
      const Tensor logits = lm->forward_ids(ids, o);
      close(valid_rows(logits, valid), valid_rows(ref.at("logits"), valid), dtype);
      close(llama::causal_lm_loss(logits, labels), ref.at("loss"), dtype);
    }
    // Soft prompt: the rows into the <mol> positions (id 95), gradient back to them.
    Tensor rows = ref.at("mol_rows").clone();
    rows.set_requires_grad(true);
    const Tensor embeds = llama::splice_soft_prompt(lm->embed(ids), ids, 95, rows);
    close(valid_rows(embeds, valid), valid_rows(ref.at("inputs_embeds"), valid), dtype);
    const Tensor soft_logits = lm->forward(embeds, o);
    const Tensor soft_loss = llama::causal_lm_loss(soft_logits, labels);
    close(valid_rows(soft_logits, valid), valid_rows(ref.at("soft_logits"), valid), dtype);
    close(soft_loss, ref.at("soft_loss"), dtype);
    soft_loss.backward();
    close(rows.grad(), ref.at("grad.mol_rows"), dtype);

    // PEFT's adapter (r 8, alpha 32, dropout 0 here, random B) on the seven projections.
    Generator gen(0);
    nn::lora::load_adapter(*lm, golden("lora_adapter"), gen);
    if (dtype == DType::f64) lm->to(DType::f64);  // PEFT's f64 run is model.double(): adapters too
    Tensor rows2 = ref.at("mol_rows").clone();
    rows2.set_requires_grad(true);
    const Tensor lora_logits = lm->forward(llama::splice_soft_prompt(lm->embed(ids), ids, 95, rows2), o);
    const Tensor lora_loss = llama::causal_lm_loss(lora_logits, labels);
    close(valid_rows(lora_logits, valid), valid_rows(ref.at("lora_logits"), valid), dtype);
    close(lora_loss, ref.at("lora_loss"), dtype);
    lora_loss.backward();
    close(rows2.grad(), ref.at("lora_grad.mol_rows"), dtype);
    std::size_t checked = 0;
    for (auto& [name, lin] : nn::lora::wrapped_layers(*lm)) {
      const auto* a = nn::lora::adapter_of(*lin);
      for (const auto& [which, w] : {std::pair{"lora_A", a->lora_A()->weight}, std::pair{"lora_B", a->lora_B()->weight}}) {
        const std::string key = std::string("grad.") + nn::lora::kPeftPrefix + name + "." + which + ".weight";
        INFO(key);
        REQUIRE(ref.count(key));
        close(w.grad(), ref.at(key), dtype);
        ++checked;
      }
    }
    CHECK(checked == 28);
  }
}

TEST_CASE("golden llama: PEFT's adapter folder round-trips through molm byte for byte", "[golden][llama]") {
  const auto lm = llama::load(golden("tiny"));
  Generator gen(0);
  nn::lora::load_adapter(*lm, golden("lora_adapter"), gen);
  const auto out = testing::scratch_dir("llama_adapter");
  nn::lora::save_adapter(*lm, out);
  CHECK(testing::read_file(out / "adapter_model.safetensors") ==
        testing::read_file(golden("lora_adapter/adapter_model.safetensors")));
}

TEST_CASE("golden llama: generate() gives transformers' tokens for 20 prompts x 7 settings", "[golden][llama]") {
  std::ifstream in(golden("generate.json"));
  REQUIRE(in.good());
  const nlohmann::json j = nlohmann::json::parse(in);
  const auto lm = llama::load(golden("tiny"));
  const Tensor soft_rows = load_npy(golden("generate_mol_rows.npy"));  // [8, 32]
  int compared = 0;
  for (const auto& [setting, spec] : j.at("settings").items()) {
    const nlohmann::json& kw = spec.at("kwargs");
    llama::GenerationConfig g;
    g.num_beams = kw.value("num_beams", 1);
    g.max_new_tokens = kw.at("max_new_tokens");
    g.min_new_tokens = kw.value("min_new_tokens", 0);
    g.repetition_penalty = kw.value("repetition_penalty", 1.0);
    g.length_penalty = kw.value("length_penalty", 1.0);
    g.eos_token_id = kw.at("eos_token_id").get<std::int64_t>();
    const std::string input = spec.at("input");
    for (std::size_t p = 0; p < j.at("prompts").size(); ++p) {
      const nlohmann::json& prompt = j.at("prompts")[p];
      INFO(setting << " prompt " << p);
      const auto ids = prompt.at("ids").get<std::vector<std::int64_t>>();
      llama::GenerationResult r;
      if (input == "input_ids") {
        r = llama::generate_ids(*lm, ids, g);
      } else {
        no_grad ng;
        Tensor t = Tensor::empty({1, static_cast<std::int64_t>(ids.size())}, DType::i64);
        std::copy(ids.begin(), ids.end(), t.data<std::int64_t>());
        Tensor embeds = lm->embed(t);
        if (setting == "beam_soft") {  // ids, the 8 rows, then soft_suffix
          const auto suffix = prompt.at("soft_suffix").get<std::vector<std::int64_t>>();
          Tensor s = Tensor::empty({1, static_cast<std::int64_t>(suffix.size())}, DType::i64);
          std::copy(suffix.begin(), suffix.end(), s.data<std::int64_t>());
          embeds = cat({embeds, soft_rows.to(DType::f32).unsqueeze(0), lm->embed(s)}, 1);
        }
        r = llama::generate_embeds(*lm, embeds, g);
      }
      const nlohmann::json& want = prompt.at(setting);
      CHECK(r.tokens == want.at("new_tokens").get<std::vector<std::int64_t>>());
      if (want.contains("sequences_score")) CHECK(r.score == Approx(want.at("sequences_score").get<double>()).margin(1e-5));
      ++compared;
    }
  }
  CHECK(compared == 20 * 7);
}
