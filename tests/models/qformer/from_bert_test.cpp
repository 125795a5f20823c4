// Initialising a Q-Former from a BERT folder (models/qformer/from_bert.hpp): what does not fit is
// an error that names it. The real-weights check is tests/golden/qformer_minilm_test.cpp.
#include "support/testing.hpp"

#include <molm/io/safetensors.hpp>
#include <molm/models/qformer/from_bert.hpp>

using namespace molm;
namespace qformer = molm::models::qformer;

TEST_CASE("qformer from_bert: a BERT tensor that fits nowhere is an error naming it") {
  const auto dir = testing::scratch_dir("qformer_bad_bert");
  {
    std::ofstream(dir / "config.json") << R"({"num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2,
      "intermediate_size": 16, "max_position_embeddings": 10, "vocab_size": 12})";
  }
  std::map<std::string, Tensor> tensors{{"embeddings.word_embeddings.weight", zeros({12, 8})},
                                        {"encoder.layer.0.attention.self.query.weight", zeros({8, 9})},
                                        {"encoder.layer.0.mystery.weight", zeros({8})}};
  save_safetensors(dir / "model.safetensors", tensors);
  Generator gen(0);
  qformer::Config fields = qformer::Config::tiny();
  const std::string err = testing::error_of([&] { qformer::stage1_from_bert(dir, fields, gen); });
  CHECK_THAT(err, Catch::Contains("2 BERT tensor(s) do not fit"));
  CHECK_THAT(err, Catch::Contains("encoder.layer.0.mystery.weight"));
  CHECK_THAT(err, Catch::Contains("shape [8, 9], the Q-Former expects [8, 8]"));
  std::ofstream(dir / "config.json") << R"({"hidden_act": "relu"})";
  CHECK_THAT(testing::error_of([&] { qformer::stage1_from_bert(dir, fields, gen); }), Catch::Contains("hidden_act"));
}
