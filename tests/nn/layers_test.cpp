// nn layers: names and initialisation as PyTorch's, forward equal to the ops they wrap, attention
// in its three namings (BERT, Llama, Uni-Mol) checked against a composition of ops and by
// finite differences in f64.
#include "support/testing.hpp"

#include <molm/nn.hpp>

#include <cmath>

using namespace molm;
using namespace molm::nn;
using molm::testing::gradcheck;

namespace {
std::vector<std::string> state_names(Module& m) { return m.state_dict().keys(); }

/// Every element of t lies in [lo, hi].
void require_within(const Tensor& t, double lo, double hi) {
  for (double v : testing::values(t)) {
    INFO(v << " outside [" << lo << ", " << hi << "]");
    REQUIRE((v >= lo && v <= hi));
  }
}

/// Attention written out with ops, independently of MultiheadAttention::project/attend: per-head
/// slices of the projections, softmax(q kᵀ/sqrt(D) + bias) v, heads concatenated.
Tensor manual_attention(const Tensor& q_all, const Tensor& k_all, const Tensor& v_all, std::int64_t H,
                        std::int64_t Hkv, const Tensor& bias, bool causal) {
  const std::int64_t D = q_all.shape()[2] / H, Lq = q_all.shape()[1], Lk = k_all.shape()[1];
  std::vector<Tensor> heads;
  for (std::int64_t h = 0; h < H; ++h) {
    const std::int64_t hk = h / (H / Hkv);
    Tensor q = q_all.narrow(2, h * D, D), k = k_all.narrow(2, hk * D, D), v = v_all.narrow(2, hk * D, D);
    Tensor s = mul(matmul(q, k.transpose(1, 2)), 1.0 / std::sqrt(static_cast<double>(D)));  // [B, Lq, Lk]
    if (bias.defined()) s = add(s, bias.select(1, bias.shape()[1] == 1 ? 0 : h));
    if (causal) {
      Tensor mask = zeros({Lq, Lk}, s.dtype());
      for (std::int64_t i = 0; i < Lq; ++i)
        for (std::int64_t j = i + 1 + (Lk - Lq); j < Lk; ++j) mask.narrow(0, i, 1).narrow(1, j, 1).fill_(-INFINITY);
      s = add(s, mask);
    }
    heads.push_back(matmul(softmax(s), v));
  }
  return cat(heads, 2);
}
}  // namespace

TEST_CASE("Linear: names, PyTorch's init bounds, forward = ops::linear", "[nn][layers]") {
  Generator g(7);
  Linear lin(16, 5, g);
  CHECK(state_names(lin) == std::vector<std::string>{"weight", "bias"});
  CHECK(lin.weight.shape() == Shape{5, 16});
  CHECK(lin.bias.shape() == Shape{5});
  require_within(lin.weight, -0.25, 0.25);  // U(-1/sqrt(16), 1/sqrt(16))
  require_within(lin.bias, -0.25, 0.25);
  const auto w = testing::values(lin.weight);
  CHECK(*std::max_element(w.begin(), w.end()) > 0.2);  // spread over the whole range
  CHECK(*std::min_element(w.begin(), w.end()) < -0.2);
  Tensor x = testing::random({2, 3, 16}, 1, DType::f32);
  testing::require_close(lin.forward(x), linear(x, lin.weight, lin.bias), 0, 0);

  Linear nobias(4, 3, g, false, DType::f64);
  CHECK(state_names(nobias) == std::vector<std::string>{"weight"});
  CHECK_FALSE(nobias.bias.defined());
  CHECK(nobias.weight.dtype() == DType::f64);
  Tensor x64 = testing::random({3, 4}, 2);
  testing::require_close(nobias.forward(x64), matmul(x64, nobias.weight.transpose(0, 1)), 1e-14);

  Generator g1(7), g2(7);  // reproducible from the seed
  testing::require_close(Linear(3, 2, g1).weight, Linear(3, 2, g2).weight, 0, 0);
}

TEST_CASE("Embedding: N(0,1) init, zero padding row that gets no gradient", "[nn][layers]") {
  Generator g(3);
  Embedding emb(31, 8, g, 0);
  CHECK(state_names(emb) == std::vector<std::string>{"weight"});
  CHECK(emb.padding_idx() == 0);
  require_within(emb.weight.select(0, 0), 0, 0);
  const auto v = testing::values(emb.weight.narrow(0, 1, 30));
  double mean = 0, sq = 0;
  for (double x : v) mean += x / v.size();
  for (double x : v) sq += (x - mean) * (x - mean) / v.size();
  CHECK(std::abs(mean) < 0.2);
  CHECK(std::abs(std::sqrt(sq) - 1.0) < 0.2);

  const Tensor ids = from_vector<std::int64_t>({0, 3, 3, 30, 0, 1}, {2, 3});
  const Tensor y = emb.forward(ids);
  testing::require_close(y, embedding(ids, emb.weight, 0), 0, 0);
  sum(y).backward();
  require_within(emb.weight.grad().select(0, 0), 0, 0);
  require_within(emb.weight.grad().select(0, 3), 2, 2);  // id 3 appears twice

  CHECK(Embedding(10, 4, g, -1).padding_idx() == 9);  // negative counts from the end, as in PyTorch
  CHECK(Embedding(10, 4, g).padding_idx() == -1);
  REQUIRE_THROWS_WITH(Embedding(10, 4, g, 10), Catch::Contains("[Embedding]") && Catch::Contains("padding_idx 10"));
}

TEST_CASE("LayerNorm and RMSNorm: ones/zeros init, forward = ops", "[nn][layers]") {
  LayerNorm ln(6, 1e-12);
  CHECK(state_names(ln) == std::vector<std::string>{"weight", "bias"});
  require_within(ln.weight, 1, 1);
  require_within(ln.bias, 0, 0);
  Tensor x = testing::random({2, 3, 6}, 4, DType::f32);
  testing::require_close(ln.forward(x), layer_norm(x, ln.weight, ln.bias, 1e-12), 0, 0);

  RMSNorm rms(6);
  CHECK(state_names(rms) == std::vector<std::string>{"weight"});
  CHECK(rms.eps() == 1e-6);
  require_within(rms.weight, 1, 1);
  testing::require_close(rms.forward(x), rms_norm(x, rms.weight, 1e-6), 0, 0);
}

TEST_CASE("Dropout follows the training flag and draws from the caller's generator", "[nn][layers]") {
  Generator g(11);
  Dropout drop(0.5, g);
  Tensor x = ones({1000});
  const Tensor y = drop.forward(x);
  const auto v = testing::values(y);
  const auto zeros_n = std::count(v.begin(), v.end(), 0.0);
  CHECK(zeros_n > 400);
  CHECK(zeros_n < 600);
  CHECK(std::count(v.begin(), v.end(), 2.0) == static_cast<long>(v.size()) - zeros_n);
  CHECK(g.offset() == 1);  // one stream drawn from the shared generator
  drop.eval();
  CHECK(drop.forward(x).is_same(x));
  CHECK(state_names(drop).empty());

  Dropout no_gen(0.1);  // fine for inference; dropping needs a generator
  REQUIRE_THROWS_WITH(no_gen.forward(x), Catch::Contains("[Dropout]") && Catch::Contains("Generator"));
  no_gen.eval();
  CHECK(no_gen.forward(x).is_same(x));
  REQUIRE_THROWS_WITH(Dropout(1.5), Catch::Contains("[0, 1]"));
}

TEST_CASE("MLP: fc1 → activation → fc2, names configurable", "[nn][layers]") {
  Generator g(5);
  MLP mlp({.in_features = 4, .hidden_features = 10}, g);
  CHECK(state_names(mlp) == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(mlp.fc2->weight.shape() == Shape{4, 10});
  Tensor x = testing::random({3, 4}, 1, DType::f32);
  testing::require_close(mlp.forward(x), mlp.fc2->forward(gelu(mlp.fc1->forward(x))), 0, 0);

  MLP swish({.in_features = 4, .hidden_features = 6, .out_features = 2, .activation = Activation::silu,
             .bias = false, .fc1_name = "up_proj", .fc2_name = "down_proj"},
            g);
  CHECK(state_names(swish) == std::vector<std::string>{"up_proj.weight", "down_proj.weight"});
  testing::require_close(swish.forward(x), linear(silu(linear(x, swish.fc1->weight)), swish.fc2->weight), 0, 0);
}

TEST_CASE("ModuleList: children named 0, 1, ...", "[nn][layers]") {
  Generator g(1);
  ModuleList list;
  list.push_back(std::make_shared<Linear>(2, 3, g));
  auto ln = list.push_back(std::make_shared<LayerNorm>(3));
  CHECK(list.size() == 2);
  CHECK(state_names(list) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
  CHECK(list.get<LayerNorm>(1) == ln);
  REQUIRE_THROWS_WITH(list.get<Linear>(1), Catch::Contains("[ModuleList]"));
  REQUIRE_THROWS_WITH(list[2], Catch::Contains("index 2 out of range"));
}

TEST_CASE("MultiheadAttention: HF/Uni-Mol parameter names and shapes per naming", "[nn][layers][attention]") {
  Generator g(2);
  MultiheadAttention bert(AttentionConfig::bert(8, 2), g);
  CHECK(state_names(bert) == std::vector<std::string>{"query.weight", "query.bias", "key.weight", "key.bias",
                                                      "value.weight", "value.bias"});
  MultiheadAttention cross(AttentionConfig::bert(8, 2, 6), g);
  CHECK(cross.state_dict().at("key.weight").shape() == Shape{8, 6});
  CHECK(cross.state_dict().at("query.weight").shape() == Shape{8, 8});

  MultiheadAttention llama(AttentionConfig::llama(8, 4, 2), g);
  CHECK(state_names(llama) == std::vector<std::string>{"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"});
  CHECK(llama.state_dict().at("k_proj.weight").shape() == Shape{4, 8});  // 2 kv heads of 2

  MultiheadAttention unimol(AttentionConfig::unimol(8, 2), g);
  CHECK(state_names(unimol) == std::vector<std::string>{"in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"});
  CHECK(unimol.state_dict().at("in_proj.weight").shape() == Shape{24, 8});

  REQUIRE_THROWS_WITH(MultiheadAttention(AttentionConfig::bert(10, 3), g),
                      Catch::Contains("[MultiheadAttention]") && Catch::Contains("multiple of num_heads"));
  REQUIRE_THROWS_WITH(MultiheadAttention(AttentionConfig::llama(8, 4, 3), g), Catch::Contains("num_kv_heads 3"));
  REQUIRE_THROWS_WITH(unimol.forward(testing::random({2, 3, 8}, 1, DType::f32), testing::random({2, 3, 8}, 2, DType::f32)),
                      Catch::Contains("self-attention only"));
  REQUIRE_THROWS_WITH(bert.forward(testing::random({2, 3, 7}, 1, DType::f32)),
                      Catch::Contains("[MultiheadAttention]") && Catch::Contains("[2, 3, 7]"));
  REQUIRE_THROWS_WITH(cross.forward(testing::random({2, 3, 8}, 1, DType::f32), testing::random({2, 5, 8}, 1, DType::f32)),
                      Catch::Contains("context [2, 5, 8]") && Catch::Contains("x [2, 3, 8]"));
}

TEST_CASE("MultiheadAttention forward equals attention composed from ops", "[nn][layers][attention]") {
  Generator g(9);
  const Tensor x = testing::random({2, 4, 8}, 1), context = testing::random({2, 5, 6}, 2);
  SECTION("bert self-attention with a key mask") {
    MultiheadAttention m(AttentionConfig::bert(8, 2), g);
    m.to(DType::f64);
    Tensor mask = zeros({2, 1, 1, 4}, DType::f64);
    mask.narrow(0, 1, 1).narrow(3, 3, 1).fill_(-10000.0);
    AttentionOptions o;
    o.bias = mask;
    const Tensor expect =
        manual_attention(m.q_proj->forward(x), m.k_proj->forward(x), m.v_proj->forward(x), 2, 2, mask, false);
    testing::require_close(m.forward(x, {}, o), expect, 1e-12, 1e-14);
  }
  SECTION("bert cross-attention") {
    MultiheadAttention m(AttentionConfig::bert(8, 2, 6), g);
    m.to(DType::f64);
    const Tensor expect = manual_attention(m.q_proj->forward(x), m.k_proj->forward(context),
                                           m.v_proj->forward(context), 2, 2, {}, false);
    const Tensor y = m.forward(x, context);
    CHECK(y.shape() == Shape{2, 4, 8});
    testing::require_close(y, expect, 1e-12, 1e-14);
  }
  SECTION("llama: causal, grouped kv heads, o_proj") {
    MultiheadAttention m(AttentionConfig::llama(8, 4, 2), g);
    m.to(DType::f64);
    AttentionOptions o;
    o.causal = true;
    const Tensor heads = manual_attention(m.q_proj->forward(x), m.k_proj->forward(x), m.v_proj->forward(x), 4, 2, {}, true);
    testing::require_close(m.forward(x, {}, o), m.out_proj->forward(heads), 1e-12, 1e-14);
  }
  SECTION("unimol: fused in_proj split q | k | v, pair bias, scores returned") {
    MultiheadAttention m(AttentionConfig::unimol(8, 2), g);
    m.to(DType::f64);
    const Tensor bias = testing::random({2, 2, 4, 4}, 3);
    AttentionOptions o;
    o.bias = bias;
    o.return_scores = true;
    const Tensor w = m.in_proj->weight, b = m.in_proj->bias;
    auto part = [&](int i) { return linear(x, w.narrow(0, 8 * i, 8), b.narrow(0, 8 * i, 8)); };
    const Tensor heads = manual_attention(part(0), part(1), part(2), 2, 2, bias, false);
    const AttentionResult r = m.attend(m.project(x), o);
    testing::require_close(r.output, m.out_proj->forward(heads), 1e-12, 1e-14);
    // Uni-Mol passes the pre-softmax logits on as the next layer's bias (reference-model.md §2.5).
    const Tensor q0 = part(0).narrow(2, 0, 4), k0 = part(1).narrow(2, 0, 4);
    const Tensor s0 = add(mul(matmul(q0, k0.transpose(1, 2)), 0.5), bias.select(1, 0));
    testing::require_close(r.scores.select(1, 0), s0, 1e-12, 1e-14);
  }
}

TEST_CASE("MultiheadAttention: input gradients match finite differences (f64)", "[nn][layers][attention]") {
  Generator g(4);
  Tensor x = testing::random({2, 3, 8}, 5);
  x.set_requires_grad();
  SECTION("bert self") {
    MultiheadAttention m(AttentionConfig::bert(8, 2), g);
    m.to(DType::f64);
    gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0]); }, {x});
  }
  SECTION("bert cross, strided context") {
    MultiheadAttention m(AttentionConfig::bert(8, 2, 6), g);
    m.to(DType::f64);
    Tensor c = testing::transposed_layout(testing::random({2, 5, 6}, 6));
    c.set_requires_grad();
    gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0], in[1]); }, {x, c});
  }
  SECTION("llama causal, grouped kv heads") {
    MultiheadAttention m(AttentionConfig::llama(8, 4, 2), g);
    m.to(DType::f64);
    AttentionOptions o;
    o.causal = true;
    gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0], {}, o); }, {testing::sliced_layout(x).set_requires_grad()});
  }
  SECTION("unimol with a pair bias") {
    MultiheadAttention m(AttentionConfig::unimol(8, 2), g);
    m.to(DType::f64);
    Tensor bias = testing::random({2, 2, 3, 3}, 7);
    bias.set_requires_grad();
    gradcheck(
        [&](const std::vector<Tensor>& in) {
          AttentionOptions o;
          o.bias = in[1];
          return m.forward(in[0], {}, o);
        },
        {x, bias});
  }
}

TEST_CASE("MultiheadAttention: parameter gradients flow to every projection", "[nn][layers][attention]") {
  Generator g(8);
  MultiheadAttention m(AttentionConfig::llama(8, 4, 2), g);
  sum(m.forward(testing::random({1, 3, 8}, 1, DType::f32))).backward();
  for (const auto& [n, p] : m.named_parameters()) {
    INFO(n);
    REQUIRE(p.grad().defined());
    CHECK(p.grad().shape() == p.shape());
  }
}
