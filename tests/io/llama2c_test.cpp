// io/llama2c.hpp on synthetic llama2.c files written here: random header dimensions (grouped kv heads,
// shared and separate classifiers), every HF tensor checked bit for bit against values computed with
// plain loops (including HF's q/k row permutation), zero-copy views, and malformed files rejected
// with messages that say what is wrong. The real stories260K is checked in tests/golden/llama2c_test.cpp.
#include "support/testing.hpp"

#include <molm/io/llama2c.hpp>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

#include <unistd.h>

using namespace molm;
using Catch::Matchers::Contains;

namespace {
namespace fs = std::filesystem;

struct Header {
  std::int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

/// A scratch folder removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("molm_llama2c_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

/// Floats of a llama2.c file in file order, as separate named arrays (run.c's TransformerWeights).
struct Raw {
  Header h;
  std::map<std::string, std::vector<float>> a;  // emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq, wcls
};

Raw make_raw(const Header& h, std::uint64_t seed) {
  const std::int64_t C = h.dim, F = h.hidden_dim, L = h.n_layers, V = std::abs(h.vocab_size), D = C / h.n_heads,
                     Ckv = h.n_kv_heads * D;
  Raw r{h, {}};
  std::uint64_t counter = 0;
  auto fill = [&](const char* name, std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = static_cast<float>(philox_normal(seed, 0, counter++));  // distinct values everywhere
    r.a[name] = std::move(v);
  };
  fill("emb", V * C);
  fill("rms_att", L * C);
  fill("wq", L * C * C);
  fill("wk", L * Ckv * C);
  fill("wv", L * Ckv * C);
  fill("wo", L * C * C);
  fill("rms_ffn", L * C);
  fill("w1", L * F * C);
  fill("w2", L * C * F);
  fill("w3", L * F * C);
  fill("rms_final", C);
  fill("freq", 2 * h.seq_len * (D / 2));
  if (h.vocab_size < 0) fill("wcls", V * C);
  return r;
}

std::string bytes_of(const Raw& r) {
  std::string s(reinterpret_cast<const char*>(&r.h), sizeof(Header));
  for (const char* k : {"emb", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final", "freq", "wcls"}) {
    auto it = r.a.find(k);
    if (it != r.a.end()) s.append(reinterpret_cast<const char*>(it->second.data()), it->second.size() * 4);
  }
  return s;
}

fs::path write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
  return p;
}

/// Block `index` of array `name` (one layer's slice), shaped `shape`, as a new tensor.
Tensor block(const Raw& r, const char* name, std::int64_t index, const Shape& shape) {
  const std::vector<float>& v = r.a.at(name);
  const std::int64_t n = shape.numel();
  return from_vector<float>(std::vector<float>(v.begin() + index * n, v.begin() + (index + 1) * n), shape);
}

/// HF's permute written as loops: new row h·D + j·D/2 + i = old row h·D + 2i + j.
Tensor permute_loops(const Tensor& w, std::int64_t heads) {
  const std::int64_t rows = w.shape()[0], cols = w.shape()[1], D = rows / heads;
  Tensor out = Tensor::empty(w.shape(), DType::f32);
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t i = 0; i < D / 2; ++i)
      for (std::int64_t j = 0; j < 2; ++j)
        for (std::int64_t c = 0; c < cols; ++c)
          dst[(h * D + j * (D / 2) + i) * cols + c] = src[(h * D + 2 * i + j) * cols + c];
  return out;
}

void require_identical(const Tensor& a, const Tensor& b) {
  REQUIRE(a.dtype() == b.dtype());
  REQUIRE(a.shape() == b.shape());
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  REQUIRE(std::memcmp(ca.raw_data(), cb.raw_data(), static_cast<std::size_t>(ca.numel()) * 4) == 0);
}

/// Load the file written from `h` and check every tensor and the config against plain loops.
void check_roundtrip(const Header& h, std::uint64_t seed) {
  INFO("header dim " << h.dim << " hidden " << h.hidden_dim << " layers " << h.n_layers << " heads " << h.n_heads
                     << " kv " << h.n_kv_heads << " vocab " << h.vocab_size << " seq " << h.seq_len);
  TempDir tmp;
  const Raw r = make_raw(h, seed);
  const fs::path path = write_file(tmp.path / "model.bin", bytes_of(r));
  const io::Llama2cModel m = io::load_llama2c(path);
  const io::Llama2cConfig& c = m.config;
  const std::int64_t C = h.dim, F = h.hidden_dim, L = h.n_layers, V = std::abs(h.vocab_size), D = C / h.n_heads,
                     Ckv = h.n_kv_heads * D;
  CHECK(c.dim == C);
  CHECK(c.hidden_dim == F);
  CHECK(c.n_layers == L);
  CHECK(c.n_heads == h.n_heads);
  CHECK(c.n_kv_heads == h.n_kv_heads);
  CHECK(c.vocab_size == V);
  CHECK(c.seq_len == h.seq_len);
  CHECK(c.shared_classifier == (h.vocab_size > 0));
  CHECK(c.head_dim() == D);

  const auto hf = c.hf_config();
  CHECK(hf.at("hidden_size") == C);
  CHECK(hf.at("intermediate_size") == F);
  CHECK(hf.at("num_hidden_layers") == L);
  CHECK(hf.at("num_attention_heads") == h.n_heads);
  CHECK(hf.at("num_key_value_heads") == h.n_kv_heads);
  CHECK(hf.at("vocab_size") == V);
  CHECK(hf.at("max_position_embeddings") == h.seq_len);
  CHECK(hf.at("rms_norm_eps") == 1e-5);
  CHECK(hf.at("tie_word_embeddings") == (h.vocab_size > 0));

  // Expected names in HF's state_dict order.
  std::vector<std::string> names{"model.embed_tokens.weight"};
  for (std::int64_t i = 0; i < L; ++i)
    for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
                          "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm"})
      names.push_back("model.layers." + std::to_string(i) + "." + n + ".weight");
  names.push_back("model.norm.weight");
  names.push_back("lm_head.weight");
  CHECK(m.weights.keys() == names);

  const nn::StateDict& sd = m.weights;
  require_identical(sd.at("model.embed_tokens.weight"), block(r, "emb", 0, {V, C}));
  for (std::int64_t i = 0; i < L; ++i) {
    INFO("layer " << i);
    const std::string p = "model.layers." + std::to_string(i) + ".";
    require_identical(sd.at(p + "self_attn.q_proj.weight"), permute_loops(block(r, "wq", i, {C, C}), h.n_heads));
    require_identical(sd.at(p + "self_attn.k_proj.weight"), permute_loops(block(r, "wk", i, {Ckv, C}), h.n_kv_heads));
    require_identical(sd.at(p + "self_attn.v_proj.weight"), block(r, "wv", i, {Ckv, C}));
    require_identical(sd.at(p + "self_attn.o_proj.weight"), block(r, "wo", i, {C, C}));
    require_identical(sd.at(p + "mlp.gate_proj.weight"), block(r, "w1", i, {F, C}));
    require_identical(sd.at(p + "mlp.up_proj.weight"), block(r, "w3", i, {F, C}));
    require_identical(sd.at(p + "mlp.down_proj.weight"), block(r, "w2", i, {C, F}));
    require_identical(sd.at(p + "input_layernorm.weight"), block(r, "rms_att", i, {C}));
    require_identical(sd.at(p + "post_attention_layernorm.weight"), block(r, "rms_ffn", i, {C}));
  }
  require_identical(sd.at("model.norm.weight"), block(r, "rms_final", 0, {C}));
  if (h.vocab_size > 0) {
    CHECK(sd.at("lm_head.weight").is_same(sd.at("model.embed_tokens.weight")));
  } else {
    CHECK_FALSE(sd.at("lm_head.weight").is_same(sd.at("model.embed_tokens.weight")));
    require_identical(sd.at("lm_head.weight"), block(r, "wcls", 0, {V, C}));
  }

  // Zero copy: the unpermuted tensors sit in one mapping at their file offsets.
  const auto* base = static_cast<const char*>(sd.at("model.embed_tokens.weight").raw_data());
  const std::int64_t v0 = 28 + 4 * (V * C + L * C + L * C * C + L * Ckv * C);
  CHECK(static_cast<const char*>(sd.at("model.layers.0.self_attn.v_proj.weight").raw_data()) - base == v0 - 28);
}

Header header_of(std::int32_t dim, std::int32_t hidden, std::int32_t layers, std::int32_t heads, std::int32_t kv,
                 std::int32_t vocab, std::int32_t seq) {
  return {dim, hidden, layers, heads, kv, vocab, seq};
}
}  // namespace

TEST_CASE("llama2c: shared classifier, grouped kv heads", "[io][llama2c]") {
  check_roundtrip(header_of(24, 40, 2, 6, 2, 11, 5), 1);
}

TEST_CASE("llama2c: separate classifier (negative vocab_size), one kv head", "[io][llama2c]") {
  check_roundtrip(header_of(16, 24, 3, 2, 1, -9, 7), 2);
}

TEST_CASE("llama2c: random header dimensions", "[io][llama2c]") {
  for (std::uint64_t s = 0; s < 12; ++s) {
    auto draw = [&](std::uint64_t i, int lo, int hi) {
      return lo + static_cast<int>(philox_uniform(100 + s, 0, i) * static_cast<float>(hi - lo + 1));
    };
    const int kv = draw(0, 1, 3), groups = draw(1, 1, 3), heads = kv * groups, D = 2 * draw(2, 1, 4);
    const int vocab = draw(3, 1, 20) * (draw(4, 0, 1) ? 1 : -1);
    check_roundtrip(header_of(heads * D, draw(5, 1, 30), draw(6, 1, 3), heads, kv, vocab, draw(7, 1, 9)), 1000 + s);
  }
}

TEST_CASE("llama2c: loaded views outlive the loader and never write back to the file", "[io][llama2c]") {
  TempDir tmp;
  const Raw r = make_raw(header_of(8, 12, 1, 2, 2, 5, 3), 3);
  const std::string bytes = bytes_of(r);
  const fs::path path = write_file(tmp.path / "m.bin", bytes);
  Tensor emb;
  {
    emb = io::load_llama2c(path).weights.at("model.embed_tokens.weight");
  }
  require_identical(emb, block(r, "emb", 0, {5, 8}));
  emb.fill_(0.0);  // copy-on-write mapping: a private page
  std::ifstream in(path, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(after == bytes);
}

TEST_CASE("llama2c: malformed files are rejected with the reason", "[io][llama2c]") {
  TempDir tmp;
  auto load_bytes = [&](const std::string& bytes) { return io::load_llama2c(write_file(tmp.path / "bad.bin", bytes)); };
  auto load_header = [&](const Header& h, std::size_t extra_floats = 0) {
    std::string s(reinterpret_cast<const char*>(&h), sizeof h);
    s.append(extra_floats * 4, '\0');
    return load_bytes(s);
  };
  const Header good = header_of(8, 12, 2, 2, 1, 5, 3);
  const std::string good_bytes = bytes_of(make_raw(good, 4));
  REQUIRE_NOTHROW(load_bytes(good_bytes));

  SECTION("short header") {
    REQUIRE_THROWS_WITH(load_bytes(good_bytes.substr(0, 27)), Contains("27 bytes, too short for the 28-byte header"));
    REQUIRE_THROWS_WITH(load_bytes(""), Contains("0 bytes"));
  }
  SECTION("zero or negative fields") {
    Header h = good;
    h.dim = 0;
    REQUIRE_THROWS_WITH(load_header(h), Contains("dim = 0") && Contains("must be positive"));
    h = good;
    h.n_layers = -3;
    REQUIRE_THROWS_WITH(load_header(h), Contains("n_layers = -3") && Contains("byte offset 8"));
    h = good;
    h.seq_len = 0;
    REQUIRE_THROWS_WITH(load_header(h), Contains("seq_len = 0"));
    h = good;
    h.n_kv_heads = 0;
    REQUIRE_THROWS_WITH(load_header(h), Contains("n_kv_heads = 0"));
    h = good;
    h.vocab_size = 0;
    REQUIRE_THROWS_WITH(load_header(h), Contains("vocab_size = 0"));
    h.vocab_size = std::numeric_limits<std::int32_t>::min();
    REQUIRE_THROWS_WITH(load_header(h), Contains("not a vocabulary size"));
  }
  SECTION("inconsistent head counts") {
    REQUIRE_THROWS_WITH(load_header(header_of(10, 12, 1, 4, 1, 5, 3)), Contains("dim 10 is not a multiple of n_heads 4"));
    REQUIRE_THROWS_WITH(load_header(header_of(12, 12, 1, 4, 1, 5, 3)), Contains("head size 3") && Contains("odd"));
    REQUIRE_THROWS_WITH(load_header(header_of(12, 12, 1, 3, 2, 5, 3)),
                        Contains("n_heads 3 is not a multiple of n_kv_heads 2"));
    REQUIRE_THROWS_WITH(load_header(header_of(12, 12, 1, 2, 3, 5, 3)),
                        Contains("n_heads 2 is not a multiple of n_kv_heads 3"));
  }
  SECTION("truncated or trailing bytes") {
    const std::size_t n = good_bytes.size();
    REQUIRE_THROWS_WITH(load_bytes(good_bytes.substr(0, n - 1)),
                        Contains(fmt::format("implies {} bytes but the file has {} (missing 1 bytes)", n, n - 1)));
    REQUIRE_THROWS_WITH(load_bytes(good_bytes.substr(0, 28)), Contains(fmt::format("but the file has 28 (missing {} bytes)", n - 28)));
    REQUIRE_THROWS_WITH(load_bytes(good_bytes + std::string(8, '\0')),
                        Contains(fmt::format("implies {} bytes but the file has {} (trailing 8 bytes)", n, n + 8)));
    // A shared-classifier file with an extra classifier appended is "trailing", not silently read.
    const Raw unshared = make_raw(header_of(8, 12, 2, 2, 1, -5, 3), 4);
    Header as_shared = unshared.h;
    as_shared.vocab_size = 5;
    std::string s = bytes_of(unshared);
    std::memcpy(s.data(), &as_shared, sizeof as_shared);
    REQUIRE_THROWS_WITH(load_bytes(s), Contains("trailing 160 bytes"));
  }
  SECTION("sizes that overflow or dwarf the file: rejected before any allocation") {
    REQUIRE_THROWS_WITH(load_header(header_of(1 << 30, 1 << 30, std::numeric_limits<std::int32_t>::max(), 1 << 28, 1 << 28,
                                              std::numeric_limits<std::int32_t>::max(), 1)),
                        Contains("implies more than 2^63 bytes"));
    REQUIRE_THROWS_WITH(load_header(header_of(4096, 11008, 32, 32, 32, 32000, 2048), 10),
                        Contains("implies 26430423068 bytes but the file has 68"));
  }
  SECTION("llama2.c version 1/2 exports") {
    Header h = good;
    std::memcpy(&h.dim, "24ka", 4);  // the magic 0x616b3432 as written little-endian
    REQUIRE_THROWS_WITH(load_header(h), Contains("magic 'ak42'") && Contains("--version 0"));
  }
  SECTION("not a file") {
    REQUIRE_THROWS_WITH(io::load_llama2c(tmp.path / "absent.bin"), Contains("[llama2c]") && Contains("absent.bin"));
  }
}
