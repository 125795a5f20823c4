// ops/attention.hpp: finite-difference gradients (bias, masks, causal with a KV cache, scores fed on
// as the next layer's bias, strided q/k/v), optimised kernels against the reference loops, the
// masking conventions, and bad inputs.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {

Tensor leaf(const Shape& shape, std::uint64_t seed, DType dt = DType::f64) {
  return testing::random(shape, seed, dt).set_requires_grad();
}

/// bool [B, Lk] with `pad[b]` padding slots at the end of each row.
Tensor padding_mask(std::int64_t Lk, const std::vector<std::int64_t>& pad) {
  std::vector<std::uint8_t> v;
  for (std::int64_t n : pad)
    for (std::int64_t j = 0; j < Lk; ++j) v.push_back(j >= Lk - n);
  return from_vector(v, {static_cast<std::int64_t>(pad.size()), Lk}).to(DType::boolean);
}

Tensor sdpa(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o = {}) {
  return scaled_dot_product_attention(q, k, v, o).output;
}

/// Forward, then backward with fixed random gradients for the output and (if returned) the scores,
/// masked entries included (they must be ignored). Returns {out, scores, dq, dk, dv, dbias}.
std::vector<Tensor> forward_backward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& o) {
  for (const Tensor* t : {&q, &k, &v, &o.bias})
    if (t->defined()) t->zero_grad();
  AttentionResult r = scaled_dot_product_attention(q, k, v, o);
  r.output.backward(testing::random(r.output.shape(), 99, r.output.dtype(), 0.5, 1.5), /*retain_graph=*/true);
  if (o.return_scores) r.scores.backward(testing::random(r.scores.shape(), 98, r.scores.dtype(), 0.5, 1.5));
  return {r.output, r.scores, q.grad(), k.grad(), v.grad(), o.bias.defined() ? o.bias.grad() : Tensor()};
}

void require_all_close(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double rtol, double atol) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("result " << i);
    REQUIRE(a[i].defined() == b[i].defined());
    if (a[i].defined()) testing::require_close(a[i], b[i], rtol, atol);
  }
}

}  // namespace

TEST_CASE("attention: gradients with a bias that requires grad, full and broadcast", "[ops][attention]") {
  const std::int64_t B = 2, H = 2, Lq = 3, Lk = 4, D = 3, Dv = 2;
  for (const Shape& bias_shape : {Shape{B, H, Lq, Lk}, Shape{B, 1, 1, Lk}, Shape{Lq, Lk}, Shape{H, 1, Lk}}) {
    INFO("bias " << bias_shape.str());
    Tensor q = leaf({B, H, Lq, D}, 1), k = leaf({B, H, Lk, D}, 2), v = leaf({B, H, Lk, Dv}, 3);
    Tensor bias = leaf(bias_shape, 4);
    gradcheck([](const std::vector<Tensor>& in) { return sdpa(in[0], in[1], in[2], {.bias = in[3]}); },
              {q, k, v, bias});
  }
}

TEST_CASE("attention: f32 gradients through the batched-GEMM backward equal central differences",
          "[ops][attention]") {
  // The f32 kernel (oneDNN GEMMs over all heads), inside casts so gradcheck's f64 leaves reach it:
  // f32 rounding makes the differences noisy, hence eps 1e-3 and a tolerance of 3e-3.
  const std::int64_t B = 2, H = 3, Lq = 5, Lk = 7, D = 4, Dv = 3;
  Tensor q = leaf({B, H, Lq, D}, 31), k = leaf({B, H, Lk, D}, 32), v = leaf({B, H, Lk, Dv}, 33);
  Tensor bias = leaf({B, 1, Lq, Lk}, 34);
  const Tensor pad = padding_mask(Lk, {2, 0});
  for (const bool causal : {false, true}) {
    INFO("causal " << causal);
    Tensor hidden = zeros({B, 1, Lq, Lk}, DType::boolean);  // the -inf scores, left out of the loss
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t i = 0; i < Lq; ++i)
        for (std::int64_t j = 0; j < Lk; ++j)
          hidden.data<bool>()[(b * Lq + i) * Lk + j] =
              pad.data<bool>()[b * Lk + j] || (causal && j > i + (Lk - Lq));
    gradcheck(
        [&](const std::vector<Tensor>& in) {
          const auto f32 = [](const Tensor& t) { return t.to(DType::f32); };
          const AttentionResult r = scaled_dot_product_attention(
              f32(in[0]), f32(in[1]), f32(in[2]),
              {.bias = f32(in[3]), .key_padding_mask = pad, .causal = causal, .return_scores = true});
          // the output and the (finite) scores both carry gradient, as in Uni-Mol
          const Tensor finite_scores = masked_fill(r.scores, hidden, 0.0);
          return add(sum(r.output, {-1}), sum(finite_scores, {-1})).to(DType::f64);
        },
        {q, k, v, bias}, 1e-3, 3e-3, 3e-4);
  }
}

TEST_CASE("attention: gradients with a key padding mask, a causal mask and a custom scale", "[ops][attention]") {
  const std::int64_t B = 2, H = 3, D = 4;
  SECTION("key padding, bias") {
    Tensor q = leaf({B, H, 3, D}, 5), k = leaf({B, H, 5, D}, 6), v = leaf({B, H, 5, 2}, 7), bias = leaf({B, H, 3, 5}, 8);
    Tensor pad = padding_mask(5, {2, 0});
    gradcheck([&](const std::vector<Tensor>& in) {
      return sdpa(in[0], in[1], in[2], {.bias = in[3], .key_padding_mask = pad});
    }, {q, k, v, bias});
  }
  SECTION("causal with Lq < Lk (queries are the last Lq positions, as with a KV cache)") {
    Tensor q = leaf({B, H, 2, D}, 9), k = leaf({B, H, 5, D}, 10), v = leaf({B, H, 5, 3}, 11);
    gradcheck([](const std::vector<Tensor>& in) { return sdpa(in[0], in[1], in[2], {.causal = true}); }, {q, k, v});
  }
  SECTION("causal and key padding together, custom scale, reference kernels") {
    backend::ReferenceGuard ref;
    Tensor q = leaf({B, H, 4, D}, 12), k = leaf({B, H, 4, D}, 13), v = leaf({B, H, 4, 3}, 14), bias = leaf({1, H, 4, 4}, 15);
    Tensor pad = padding_mask(4, {1, 0});
    gradcheck([&](const std::vector<Tensor>& in) {
      return sdpa(in[0], in[1], in[2], {.bias = in[3], .key_padding_mask = pad, .causal = true, .scale = 0.7});
    }, {q, k, v, bias});
  }
  SECTION("only v requires grad") {
    Tensor q = testing::random({B, H, 3, D}, 16), k = testing::random({B, H, 3, D}, 17), v = leaf({B, H, 3, 2}, 18);
    gradcheck([&](const std::vector<Tensor>& in) { return sdpa(q, k, in[0]); }, {v});
  }
}

TEST_CASE("attention: gradients flow through both the output and the scores", "[ops][attention]") {
  const std::int64_t B = 2, H = 2, L = 4, D = 3;
  SECTION("loss on output and scores") {
    Tensor q = leaf({B, H, L, D}, 20), k = leaf({B, H, L, D}, 21), v = leaf({B, H, L, 2}, 22), bias = leaf({B, H, L, L}, 23);
    Tensor w = testing::random({B, H, L, L}, 24);
    gradcheck([&](const std::vector<Tensor>& in) {
      AttentionResult r = scaled_dot_product_attention(in[0], in[1], in[2], {.bias = in[3], .return_scores = true});
      return add(sum(r.output), sum(mul(r.scores, w)));
    }, {q, k, v, bias});
  }
  SECTION("causal: the finite part of the scores") {
    // With Lq = 2 < Lk = 4 only key 3 of query 0 is masked, so scores[..., :3] is finite.
    Tensor q = leaf({B, H, 2, D}, 25), k = leaf({B, H, 4, D}, 26), v = leaf({B, H, 4, 2}, 27);
    gradcheck([&](const std::vector<Tensor>& in) {
      AttentionResult r = scaled_dot_product_attention(in[0], in[1], in[2], {.causal = true, .return_scores = true});
      return add(sum(r.output), sum(r.scores.slice(-1, 0, 3)));
    }, {q, k, v});
  }
  SECTION("Uni-Mol: one layer's scores are the next layer's bias, -inf padding columns included") {
    Tensor q1 = leaf({B, H, L, D}, 30), k1 = leaf({B, H, L, D}, 31), v1 = leaf({B, H, L, 2}, 32);
    Tensor q2 = leaf({B, H, L, D}, 33), k2 = leaf({B, H, L, D}, 34), v2 = leaf({B, H, L, 2}, 35);
    Tensor bias0 = leaf({B, H, L, L}, 36);
    Tensor pad = padding_mask(L, {1, 2});
    gradcheck([&](const std::vector<Tensor>& in) {
      const double scale = 1.0 / std::sqrt(static_cast<double>(D));
      AttentionResult a = scaled_dot_product_attention(mul(in[0], scale), in[1], in[2],
          {.bias = in[6], .key_padding_mask = pad, .scale = 1.0, .return_scores = true});
      AttentionResult b = scaled_dot_product_attention(mul(in[3], scale), in[4], in[5],
          {.bias = a.scores, .key_padding_mask = pad, .scale = 1.0, .return_scores = true});
      return add(b.output, a.output);
    }, {q1, k1, v1, q2, k2, v2, bias0});
  }
}

TEST_CASE("attention: strided q, k, v (a permuted [B,L,H,D] projection, transposed and sliced leaves)",
          "[ops][attention]") {
  const std::int64_t B = 2, L = 3, H = 2, D = 4;
  SECTION("permuted views") {
    Tensor x = leaf({B, L, 3 * H, D}, 40);  // q | k | v heads side by side, as a fused projection gives
    Tensor bias = leaf({B, H, L, L}, 41);
    gradcheck([](const std::vector<Tensor>& in) {
      Tensor t = in[0].permute({0, 2, 1, 3});  // [B, 3H, L, D]
      return sdpa(t.slice(1, 0, H), t.slice(1, H, 2 * H), t.slice(1, 2 * H, 3 * H), {.bias = in[1]});
    }, {x, bias});
  }
  SECTION("transposed and sliced leaves") {
    Tensor q = testing::transposed_layout(testing::random({B, H, L, D}, 42)).set_requires_grad();
    Tensor k = testing::sliced_layout(testing::random({B, H, 5, D}, 43)).set_requires_grad();
    Tensor v = testing::transposed_layout(testing::random({B, H, 5, 3}, 44)).set_requires_grad();
    Tensor bias = testing::sliced_layout(testing::random({B, H, L, 5}, 45)).set_requires_grad();
    REQUIRE_FALSE(q.is_contiguous());
    REQUIRE_FALSE(k.is_contiguous());
    gradcheck([](const std::vector<Tensor>& in) { return sdpa(in[0], in[1], in[2], {.bias = in[3]}); }, {q, k, v, bias});
  }
}

TEST_CASE("attention: optimised kernels equal the reference loops, forward and backward", "[ops][attention]") {
  const std::int64_t B = 2, H = 3, Lq = 17, Lk = 23, D = 8, Dv = 5;
  for (DType dt : {DType::f32, DType::bf16, DType::f16, DType::f64}) {
    for (int variant = 0; variant < 3; ++variant) {
      INFO(name(dt) << " variant " << variant);
      // q from a permuted [B,Lq,H,D] buffer; k sliced; v and bias dense; the bias broadcasts over heads.
      Tensor q = testing::random({B, Lq, H, D}, 50, dt).permute({0, 2, 1, 3}).detach().set_requires_grad();
      Tensor k = testing::sliced_layout(testing::random({B, H, Lk, D}, 51, dt)).set_requires_grad();
      Tensor v = testing::random({B, H, Lk, Dv}, 52, dt).set_requires_grad();
      Tensor bias = testing::random({B, 1, Lq, Lk}, 53, dt).set_requires_grad();
      AttentionOptions o{.bias = bias, .return_scores = true};
      if (variant >= 1) o.key_padding_mask = padding_mask(Lk, {5, 0});
      if (variant == 2) o.causal = true;
      std::vector<Tensor> ref;
      {
        backend::ReferenceGuard g;
        ref = forward_backward(q, k, v, o);
      }
      std::vector<Tensor> opt = forward_backward(q, k, v, o);
      const bool half = dt == DType::bf16 || dt == DType::f16;
      require_all_close(opt, ref, half ? 2e-2 : 1e-5, half ? 2e-2 : 1e-6);
    }
  }
}

TEST_CASE("attention: optimised backward equals the reference when only the scores carry a gradient",
          "[ops][attention]") {
  // Uni-Mol's pattern where a layer's output is unused: the output gradient is absent, dv is zero.
  for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
    INFO(name(dt));
    const Tensor q = leaf({2, 3, 9, 8}, 60, dt), k = leaf({2, 3, 11, 8}, 61, dt), v = leaf({2, 3, 11, 4}, 62, dt);
    const Tensor bias = leaf({2, 3, 9, 11}, 63, dt);
    const AttentionOptions o{.bias = bias, .key_padding_mask = padding_mask(11, {0, 4}), .return_scores = true};
    auto run = [&] {
      for (const Tensor* t : {&q, &k, &v, &bias}) t->zero_grad();
      const AttentionResult r = scaled_dot_product_attention(q, k, v, o);
      r.scores.backward(testing::random(r.scores.shape(), 64, dt, 0.5, 1.5));
      return std::vector<Tensor>{q.grad(), k.grad(), v.grad(), bias.grad()};
    };
    std::vector<Tensor> ref;
    {
      backend::ReferenceGuard g;
      ref = run();
    }
    const bool half = dt == DType::bf16;
    require_all_close(run(), ref, half ? 2e-2 : 1e-5, half ? 2e-2 : 1e-6);
  }
}

TEST_CASE("attention: masking conventions", "[ops][attention]") {
  const std::int64_t B = 2, H = 2, L = 5, D = 4;
  Tensor q = testing::random({B, H, L, D}, 60), k = testing::random({B, H, L, D}, 61), v = testing::random({B, H, L, 3}, 62);
  SECTION("padding keys are the same as absent keys") {
    Tensor pad = padding_mask(L, {2, 2});
    Tensor masked = sdpa(q, k, v, {.key_padding_mask = pad});
    Tensor dropped = sdpa(q, k.slice(2, 0, L - 2), v.slice(2, 0, L - 2));
    testing::require_close(masked, dropped, 1e-12, 1e-14);
  }
  SECTION("causal equals a -inf upper-triangular bias; scores show -inf where masked") {
    std::vector<double> tri;
    for (std::int64_t i = 0; i < L; ++i)
      for (std::int64_t j = 0; j < L; ++j) tri.push_back(j > i ? -INFINITY : 0.0);
    Tensor bias = from_vector(tri, {L, L});
    AttentionResult c = scaled_dot_product_attention(q, k, v, {.causal = true, .return_scores = true});
    testing::require_close(c.output, sdpa(q, k, v, {.bias = bias}), 1e-12, 1e-14);
    auto s = testing::values(c.scores);
    CHECK(std::isinf(s[1]));       // [0,0,0,1]
    CHECK(std::isfinite(s[L]));    // [0,0,1,0]
  }
  SECTION("scores are scale·q·kᵀ + bias; the default scale is 1/sqrt(D)") {
    Tensor bias = testing::random({L, L}, 63);
    AttentionResult r = scaled_dot_product_attention(q, k, v, {.bias = bias, .return_scores = true});
    auto qv = testing::values(q), kv = testing::values(k), bv = testing::values(bias), sv = testing::values(r.scores);
    // element [1, 1, 2, 3]
    const std::int64_t b = 1, h = 1, i = 2, j = 3;
    double dot = 0;
    for (std::int64_t d = 0; d < D; ++d) dot += qv[((b * H + h) * L + i) * D + d] * kv[((b * H + h) * L + j) * D + d];
    CHECK(sv[((b * H + h) * L + i) * L + j] == Approx(dot / 2.0 + bv[i * L + j]).epsilon(1e-12));
    testing::require_close(r.output, sdpa(q, k, v, {.bias = bias, .scale = 0.5}), 1e-14, 0);
  }
  SECTION("a fully masked row gives a zero output and finite gradients") {
    Tensor ql = testing::random({1, 1, 3, D}, 64).set_requires_grad();
    Tensor kl = testing::random({1, 1, 2, D}, 65).set_requires_grad();
    Tensor vl = testing::random({1, 1, 2, 3}, 66).set_requires_grad();
    // Lq = 3 > Lk = 2 with causal: query 0 may see keys j <= 0 - 1, i.e. none.
    Tensor out = sdpa(ql, kl, vl, {.causal = true});
    auto o = testing::values(out);
    CHECK(o[0] == 0.0);
    CHECK(o[1] == 0.0);
    CHECK(o[2] == 0.0);
    CHECK(o[3] != 0.0);
    sum(out).backward();
    for (const Tensor* t : {&ql, &kl, &vl})
      for (double g : testing::values(t->grad())) REQUIRE(std::isfinite(g));
  }
}

TEST_CASE("attention: bad inputs name the op and the shapes", "[ops][attention][errors]") {
  Tensor q = testing::random({2, 3, 4, 5}, 1), k = testing::random({2, 3, 6, 5}, 2), v = testing::random({2, 3, 6, 7}, 3);
  auto op = Catch::Contains("[scaled_dot_product_attention]");
  REQUIRE_NOTHROW(sdpa(q, k, v));
  REQUIRE_THROWS_WITH(sdpa(q.select(0, 0), k, v), op && Catch::Contains("[3, 4, 5]") && Catch::Contains("[2, 3, 6, 5]"));
  REQUIRE_THROWS_WITH(sdpa(q, testing::random({2, 3, 6, 4}, 2), v),
                      op && Catch::Contains("[2, 3, 6, 4]") && Catch::Contains("[2, 3, 4, 5]"));
  REQUIRE_THROWS_WITH(sdpa(q, k, testing::random({2, 3, 5, 7}, 3)),
                      op && Catch::Contains("[2, 3, 5, 7]") && Catch::Contains("[2, 3, 6, 5]"));
  REQUIRE_THROWS_WITH(sdpa(q, k, v, {.bias = testing::random({3, 6}, 4)}),
                      op && Catch::Contains("[3, 6]") && Catch::Contains("[2, 3, 4, 6]"));
  REQUIRE_THROWS_WITH(sdpa(q, k, v, {.key_padding_mask = padding_mask(5, {0, 0})}),
                      op && Catch::Contains("[2, 5]") && Catch::Contains("key_padding_mask"));
  REQUIRE_THROWS_WITH(sdpa(q, k, v, {.key_padding_mask = zeros({2, 6}, DType::f32)}), op && Catch::Contains("bool"));
  REQUIRE_THROWS_WITH(sdpa(q, k.to(DType::f32), v), op && Catch::Contains("dtypes differ"));
  REQUIRE_THROWS_WITH(sdpa(q, k, v, {.bias = testing::random({4, 6}, 4, DType::f32)}), op && Catch::Contains("dtypes differ"));
  REQUIRE_THROWS_WITH(sdpa(q.to(DType::i64), k.to(DType::i64), v.to(DType::i64)), op && Catch::Contains("floating"));
}
