#include "support/testing.hpp"

#include <molm/io/checkpoint_reader.hpp>

#include <fstream>


using namespace molm;
namespace fs = std::filesystem;

namespace {

std::map<std::string, Tensor> sample_tensors() {
  return {{"encoder.weight", testing::random({3, 4}, 1, DType::f32)},
          {"encoder.bias", testing::random({3}, 2, DType::f32)},
          {"head.weight", testing::random({2, 3}, 3, DType::bf16)},
          {"steps", full({1}, 7.0, DType::i64)}};
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

}  // namespace

TEST_CASE("CheckpointReader lists and reads a safetensors file") {
  const auto dir = testing::scratch_dir("single");
  const auto tensors = sample_tensors();
  save_safetensors(dir / "m.safetensors", tensors);

  const auto ck = io::CheckpointReader::open(dir / "m.safetensors");
  CHECK(ck.format() == io::CheckpointFormat::safetensors);
  REQUIRE(ck.listing().size() == tensors.size());
  std::uint64_t bytes = 0;
  std::int64_t elements = 0;
  for (const auto& t : ck.listing()) {
    const Tensor& want = tensors.at(t.name);
    CHECK(t.dtype == want.dtype());
    CHECK(t.shape == want.shape());
    CHECK(t.nbytes == static_cast<std::uint64_t>(want.numel()) * itemsize(want.dtype()));
    bytes += t.nbytes;
    elements += want.numel();
    testing::require_close(ck.tensor(t.name).to(DType::f64), want.to(DType::f64), 0.0);
  }
  CHECK(ck.total_bytes() == bytes);
  CHECK(ck.total_elements() == elements);
  CHECK(ck.state_dict().size() == tensors.size());
  CHECK_THROWS_WITH(ck.tensor("nope"), Catch::Contains("no tensor named 'nope'"));
}

TEST_CASE("CheckpointReader opens sharded indexes and model folders") {
  const auto dir = testing::scratch_dir("sharded");
  auto tensors = sample_tensors();
  std::map<std::string, Tensor> first, second;
  for (auto& [n, t] : tensors) (n.rfind("encoder", 0) == 0 ? first : second).emplace(n, t);
  save_safetensors(dir / "model-00001-of-00002.safetensors", first);
  save_safetensors(dir / "model-00002-of-00002.safetensors", second);
  nlohmann::json index;
  for (auto& [n, t] : first) index["weight_map"][n] = "model-00001-of-00002.safetensors";
  for (auto& [n, t] : second) index["weight_map"][n] = "model-00002-of-00002.safetensors";
  write_text(dir / "model.safetensors.index.json", index.dump());

  const auto by_index = io::CheckpointReader::open(dir / "model.safetensors.index.json");
  CHECK(by_index.format() == io::CheckpointFormat::safetensors_index);
  CHECK(by_index.listing().size() == tensors.size());
  testing::require_close(by_index.tensor("head.weight").to(DType::f64), tensors.at("head.weight").to(DType::f64), 0.0);

  const auto by_folder = io::CheckpointReader::open(dir);
  CHECK(by_folder.format() == io::CheckpointFormat::directory);
  CHECK(by_folder.listing().size() == tensors.size());

  const auto empty = testing::scratch_dir("empty-folder");
  CHECK_THROWS_WITH(io::CheckpointReader::open(empty), Catch::Contains("holds no model.safetensors"));
  CHECK_THROWS_WITH(io::CheckpointReader::open(empty / "missing.safetensors"), Catch::Contains("no such file"));
}

TEST_CASE("CheckpointReader rejects a file that is no checkpoint with molm::error") {
  const auto dir = testing::scratch_dir("garbage");
  write_text(dir / "notes.safetensors", "this is not a checkpoint at all");
  CHECK_THROWS_AS(io::CheckpointReader::open(dir / "notes.safetensors"), molm::error);
  write_text(dir / "index.json", "{\"weight_map\": {\"a\": \"../../etc/passwd\"}}");
  CHECK_THROWS_WITH(io::CheckpointReader::open(dir / "index.json"), Catch::Contains("not a plain file name"));
}

TEST_CASE("compare_listings reports what strict loading would") {
  using io::TensorListing;
  const std::vector<TensorListing> expected = {{"a", DType::f32, {2, 3}, 24},
                                               {"b", DType::f32, {3}, 12},
                                               {"c", DType::bf16, {4}, 8},
                                               {"d", DType::f32, {1}, 4}};
  const std::vector<TensorListing> given = {{"a", DType::f32, {2, 3}, 24},
                                            {"b", DType::f32, {4}, 16},
                                            {"c", DType::f32, {4}, 16},
                                            {"extra", DType::f32, {1}, 4}};
  const nn::LoadReport r = io::compare_listings(expected, given);
  CHECK_FALSE(r.ok());
  CHECK(r.missing == std::vector<std::string>{"d"});
  CHECK(r.unexpected == std::vector<std::string>{"extra"});
  REQUIRE(r.shape_mismatched.size() == 1);
  CHECK(r.shape_mismatched[0].name == "b");
  CHECK(r.shape_mismatched[0].expected == Shape{3});
  CHECK(r.shape_mismatched[0].got == Shape{4});
  REQUIRE(r.converted.size() == 1);
  CHECK(r.converted[0].name == "c");
  CHECK(r.converted[0].from == DType::f32);
  CHECK(r.converted[0].to == DType::bf16);

  CHECK(io::compare_listings(expected, expected).empty());
}

TEST_CASE("CheckpointReader reads a llama2.c .bin as HF Llama tensors") {
  // dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab 5 (shared classifier), seq_len 3.
  const std::int32_t header[7] = {4, 6, 1, 2, 1, 5, 3};
  const std::int64_t head_dim = 2, kv_dim = 2;
  const std::int64_t floats = 5 * 4 + 4 + 4 * 4 + kv_dim * 4 * 2 + 4 * 4 + 4 + 6 * 4 * 3 + 4 + 2 * 3 * head_dim / 2;
  const auto dir = testing::scratch_dir("llama2c");
  {
    std::ofstream out(dir / "tiny.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    for (std::int64_t i = 0; i < floats; ++i) {
      const float v = static_cast<float>(i);
      out.write(reinterpret_cast<const char*>(&v), sizeof v);
    }
  }
  const auto ck = io::CheckpointReader::open(dir / "tiny.bin");
  CHECK(ck.format() == io::CheckpointFormat::llama2c);
  CHECK(ck.info("model.embed_tokens.weight").shape == Shape{5, 4});
  CHECK(ck.info("model.layers.0.self_attn.k_proj.weight").shape == Shape{kv_dim, 4});
  CHECK(ck.info("model.layers.0.mlp.down_proj.weight").shape == Shape{4, 6});
  CHECK(ck.info("lm_head.weight").shape == Shape{5, 4});
  testing::require_close(ck.tensor("lm_head.weight"), ck.tensor("model.embed_tokens.weight"), 0.0);
  // The embedding is the first block of floats after the header: 0, 1, 2, ...
  CHECK(ck.tensor("model.embed_tokens.weight").data<float>()[7] == 7.0f);
  REQUIRE_FALSE(ck.warnings().empty());

  // One float short: the reader names expected and actual sizes.
  const auto full = fs::file_size(dir / "tiny.bin");
  fs::resize_file(dir / "tiny.bin", full - 4);
  CHECK_THROWS_AS(io::CheckpointReader::open(dir / "tiny.bin"), molm::error);
}

TEST_CASE("CheckpointReader reads a checkpoint directory, and its backup after an interrupted save") {
  const auto parent = testing::scratch_dir("ckdir");
  io::Checkpoint c;
  c.config = {{"preset", "tiny"}};
  for (const auto& [n, t] : sample_tensors()) c.model.insert(n, t);
  io::save_checkpoint(parent / "step-10", c);

  const auto ck = io::CheckpointReader::open(parent / "step-10");
  CHECK(ck.format() == io::CheckpointFormat::directory);
  CHECK(ck.listing().size() == c.model.size());
  CHECK(ck.warnings().empty());

  // As if a save crashed after moving step-10 aside: the backup is listed, with a warning.
  fs::rename(parent / "step-10", parent / ".step-10.old");
  const auto recovered = io::CheckpointReader::open(parent / "step-10");
  CHECK(recovered.listing().size() == c.model.size());
  REQUIRE(recovered.warnings().size() == 1);
  CHECK_THAT(recovered.warnings()[0], Catch::Contains("interrupted save"));
}

TEST_CASE("CheckpointReader reads PyTorch checkpoints under their state-dict names") {
  const auto dir = testing::golden_dir() / "torch";
  // A Lightning .ckpt: the weights under "state_dict", optimizer moments beside them, argparse objects.
  const auto ck = io::CheckpointReader::open(dir / "lightning.ckpt");
  CHECK(ck.format() == io::CheckpointFormat::pytorch);
  const SafetensorsFile expected(dir / "lightning.expected.safetensors");
  const nn::StateDict sd = TorchCheckpoint(dir / "lightning.ckpt").state_dict();
  REQUIRE(ck.listing().size() == sd.size());
  for (const auto& [name, t] : sd) {
    INFO(name);
    REQUIRE(ck.contains(name));
    CHECK(ck.info(name).shape == t.shape());
    CHECK(ck.info(name).dtype == t.dtype());
    testing::require_close(ck.tensor(name).to(DType::f64), t.to(DType::f64), 0.0);
  }
  bool optimizer_warned = false, placeholder_warned = false;
  for (const auto& w : ck.warnings()) {
    optimizer_warned |= w.find("outside the state dict") != std::string::npos;
    placeholder_warned |= w.find("argparse.Namespace") != std::string::npos;
  }
  CHECK(optimizer_warned);
  CHECK(placeholder_warned);

  // A .pt that is a bare state dict, and a hostile one.
  CHECK(io::CheckpointReader::open(dir / "plain.pt").listing().size() == TorchCheckpoint(dir / "plain.pt").state_dict().size());
  CHECK_THROWS_WITH(io::CheckpointReader::open(dir / "mal_os_system.pt"), Catch::Contains("rejected"));
  CHECK_THROWS_WITH(io::CheckpointReader::open(dir / "legacy.pt"), Catch::Contains("legacy"));
}
