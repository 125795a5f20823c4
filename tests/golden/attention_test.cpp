// Golden checks against PyTorch (tests/golden/gen_attention.py): attention with an additive bias and
// key padding, HF Llama rotary embedding (transformers 4.35), Uni-Mol's Gaussian basis kernel.
#include "support/testing.hpp"

using namespace molm;

namespace {
Tensor golden(const std::string& name) {
  const auto path = testing::golden_dir() / "attention" / (name + ".npy");
  INFO("golden file " << path.string());
  REQUIRE(std::filesystem::exists(path));
  return load_npy(path);
}
}  // namespace

TEST_CASE("golden: attention with bias and key padding matches PyTorch, output, scores and grads",
          "[golden][attention]") {
  for (DType dt : {DType::f64, DType::f32}) {
    for (bool reference : {false, true}) {
      INFO(name(dt) << (reference ? " reference" : " optimised"));
      backend::ReferenceGuard guard(reference);
      Tensor q = golden("attn_q").to(dt).set_requires_grad(), k = golden("attn_k").to(dt).set_requires_grad();
      Tensor v = golden("attn_v").to(dt).set_requires_grad(), bias = golden("attn_bias").to(dt).set_requires_grad();
      AttentionResult r = scaled_dot_product_attention(
          q, k, v, {.bias = bias, .key_padding_mask = golden("attn_pad"), .return_scores = true});
      // PyTorch's loss weighs only the finite scores; the op ignores gradient on masked (-inf) ones.
      r.output.backward(golden("attn_w_out").to(dt), /*retain_graph=*/true);
      r.scores.backward(golden("attn_w_scores").to(dt));
      const double rtol = dt == DType::f64 ? 1e-12 : 2e-5, atol = dt == DType::f64 ? 1e-13 : 2e-6;
      testing::require_close(r.output, golden("attn_out"), rtol, atol);
      testing::require_close(r.scores, golden("attn_scores"), rtol, atol);
      testing::require_close(q.grad(), golden("attn_dq"), rtol, atol);
      testing::require_close(k.grad(), golden("attn_dk"), rtol, atol);
      testing::require_close(v.grad(), golden("attn_dv"), rtol, atol);
      testing::require_close(bias.grad(), golden("attn_dbias"), rtol, atol);
    }
  }
}

TEST_CASE("golden: rotary embedding matches transformers 4.35 LlamaRotaryEmbedding + apply_rotary_pos_emb",
          "[golden][rotary]") {
  SECTION("apply to q with per-batch position ids, and its gradient") {
    Tensor q = golden("rope_q").set_requires_grad();
    RotaryTables t = rotary_cos_sin(golden("rope_position_ids"), 8);
    Tensor y = rotary_embedding(q, t.cos, t.sin);
    y.backward(golden("rope_w"));
    testing::require_close(y, golden("rope_q_embed"), 1e-6, 1e-7);
    testing::require_close(q.grad(), golden("rope_dq"), 1e-6, 1e-7);
  }
  SECTION("Llama-7B head dim 128, positions up to 2047") {
    RotaryTables t = rotary_cos_sin(golden("rope128_positions"), 128);
    // torch's float32 cos/sin are within one ulp of the correctly rounded values molm computes.
    testing::require_close(t.cos, golden("rope128_cos"), 0, 1.2e-7);
    testing::require_close(t.sin, golden("rope128_sin"), 0, 1.2e-7);
  }
}

TEST_CASE("golden: Gaussian basis matches a PyTorch re-statement of Uni-Mol's GaussianLayer",
          "[golden][gaussian]") {
  const Tensor dist0 = golden("gbf_dist"), edge = golden("gbf_edge");
  for (bool reference : {false, true}) {
    INFO((reference ? "reference" : "optimised"));
    backend::ReferenceGuard guard(reference);
    Tensor dist = dist0.clone().set_requires_grad();
    Tensor means = golden("gbf_means").set_requires_grad(), stds = golden("gbf_stds").set_requires_grad();
    Tensor mul = golden("gbf_mul").set_requires_grad(), bias = golden("gbf_bias").set_requires_grad();
    Tensor y = gaussian_basis(dist, edge, means, stds, mul, bias);
    y.backward(golden("gbf_w"));
    testing::require_close(y, golden("gbf_out"), 1e-6, 1e-7);
    // PyTorch sums the parameter gradients in float32, molm in double.
    testing::require_close(dist.grad(), golden("gbf_ddist"), 1e-5, 1e-6);
    testing::require_close(means.grad(), golden("gbf_dmeans"), 1e-5, 1e-5);
    testing::require_close(stds.grad(), golden("gbf_dstds"), 1e-5, 1e-5);
    testing::require_close(mul.grad(), golden("gbf_dmul"), 1e-5, 1e-6);
    testing::require_close(bias.grad(), golden("gbf_dbias"), 1e-5, 1e-6);
  }
  SECTION("bf16 parameters, float32 distances") {
    const Tensor p = golden("gbf_bf16_params").to(DType::bf16);  // means | stds | mul | bias
    const std::int64_t K = golden("gbf_means").numel(), E = golden("gbf_mul").numel();
    Tensor y = gaussian_basis(dist0, edge, p.slice(0, 0, K).view({1, K}), p.slice(0, K, 2 * K).view({1, K}),
                              p.slice(0, 2 * K, 2 * K + E).view({E, 1}), p.slice(0, 2 * K + E, 2 * K + 2 * E).view({E, 1}));
    CHECK(y.dtype() == DType::bf16);
    testing::require_close(y, golden("gbf_bf16_out"), 8e-3, 1e-6);  // at most one bf16 rounding step apart
  }
}
