// ops/normalization.hpp: layer_norm and rms_norm. Finite-difference gradients for x, weight and
// bias on several shapes and layouts, agreement with the same maths composed from primitive ops,
// the HF bf16 rounding of rms_norm, optimised kernels against the reference loops, bad input.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {
Tensor with_layout(const Tensor& base, int layout) {
  return layout == 0 ? base.clone() : layout == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
}

Tensor leaf(Tensor t) {
  t.set_requires_grad();
  return t;
}

/// layer_norm spelled out with primitive ops (f64), the oracle for the fused op.
Tensor composed_layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  Tensor centred = x - mean(x, {-1}, true);
  Tensor y = centred * rsqrt(mean(centred * centred, {-1}, true) + eps);
  if (w.defined()) y = y * w;
  if (b.defined()) y = y + b;
  return y;
}

Tensor composed_rms_norm(const Tensor& x, const Tensor& w, double eps) {
  Tensor y = x * rsqrt(mean(x * x, {-1}, true) + eps);
  return w.defined() ? y * w : y;
}

/// Gradients {dx, dw, db} of Σ f(x, w, b) ⊙ dy through fresh leaves that keep the inputs' layouts.
template <class F> std::vector<Tensor> grads(F f, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy) {
  Tensor xl = leaf(x.detach()), wl = leaf(w.detach()), bl = b.defined() ? leaf(b.detach()) : Tensor();
  f(xl, wl, bl).backward(dy);
  return {xl.grad(), wl.grad(), b.defined() ? bl.grad() : Tensor()};
}
}  // namespace

TEST_CASE("layer_norm: gradients for x, weight and bias match finite differences", "[ops][normalization]") {
  for (const Shape& shape : {Shape{5}, Shape{3, 6}, Shape{2, 3, 4}})
    for (int layout = 0; layout < 3; ++layout)
      for (int affine = 0; affine < 3; ++affine) {  // 0: no weight/bias, 1: weight only, 2: both
        const std::int64_t C = shape.back();
        Tensor x = leaf(with_layout(testing::random(shape, 1, DType::f64, -2, 2), layout));
        std::vector<Tensor> inputs{x};  // gradcheck takes only defined tensors
        if (affine >= 1) inputs.push_back(leaf(with_layout(testing::random({C}, 2, DType::f64, 0.5, 1.5), layout)));
        if (affine == 2) inputs.push_back(leaf(testing::random({C}, 3, DType::f64)));
        INFO(shape.str() << " layout " << layout << " affine " << affine);
        gradcheck(
            [](const std::vector<Tensor>& in) {
              return layer_norm(in[0], in.size() > 1 ? in[1] : Tensor(), in.size() > 2 ? in[2] : Tensor(), 1e-5);
            },
            inputs);
      }
}

TEST_CASE("rms_norm: gradients for x and weight match finite differences", "[ops][normalization]") {
  for (const Shape& shape : {Shape{5}, Shape{3, 6}, Shape{2, 3, 4}})
    for (int layout = 0; layout < 3; ++layout)
      for (bool weighted : {false, true}) {
        const std::int64_t C = shape.back();
        Tensor x = leaf(with_layout(testing::random(shape, 4, DType::f64, -2, 2), layout));
        std::vector<Tensor> inputs{x};
        if (weighted) inputs.push_back(leaf(with_layout(testing::random({C}, 5, DType::f64, 0.5, 1.5), layout)));
        INFO(shape.str() << " layout " << layout << " weighted " << weighted);
        gradcheck([](const std::vector<Tensor>& in) { return rms_norm(in[0], in.size() > 1 ? in[1] : Tensor(), 1e-6); },
                  inputs);
      }
  // Only the weight requires grad (a frozen activation feeding a trainable norm).
  Tensor x = testing::random({4, 6}, 6, DType::f64, -2, 2);
  Tensor w = leaf(testing::random({6}, 7, DType::f64, 0.5, 1.5));
  gradcheck([](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1]); }, {x, w});
}

TEST_CASE("norms: fused ops equal the maths composed from primitive ops", "[ops][normalization]") {
  for (bool reference : {false, true}) {
    backend::ReferenceGuard guard(reference);
    Tensor x = testing::random({3, 4, 10}, 8, DType::f64, -3, 5);
    Tensor w = testing::random({10}, 9, DType::f64, 0.5, 1.5), b = testing::random({10}, 10, DType::f64);
    INFO("reference " << reference);
    testing::require_close(layer_norm(x, w, b, 1e-5), composed_layer_norm(x, w, b, 1e-5), 1e-12, 1e-12);
    testing::require_close(layer_norm(x), composed_layer_norm(x, Tensor(), Tensor(), 1e-5), 1e-12, 1e-12);
    testing::require_close(rms_norm(x, w, 1e-6), composed_rms_norm(x, w, 1e-6), 1e-12, 1e-12);
    testing::require_close(rms_norm(x), composed_rms_norm(x, Tensor(), 1e-6), 1e-12, 1e-12);
    // eps matters for rows of small variance: a constant row normalises to 0, not NaN.
    for (double v : testing::values(layer_norm(full({2, 8}, 3.0, DType::f64)))) CHECK(v == 0.0);
  }
}

TEST_CASE("rms_norm: bf16 rounds the normalised value before the weight multiply, like HF Llama",
          "[ops][normalization]") {
  const std::int64_t C = 64;
  Tensor x = testing::random({8, C}, 11, DType::bf16, -3, 3);
  Tensor w = testing::random({C}, 12, DType::bf16, 0.5, 1.5);
  // Expected, computed the HF way: float32 statistics, h rounded to bf16, then weight · h in bf16.
  std::vector<float> twice(static_cast<std::size_t>(8 * C)), once(twice.size());
  const bfloat16* px = x.data<bfloat16>();
  const bfloat16* pw = w.data<bfloat16>();
  for (std::int64_t r = 0; r < 8; ++r) {
    float ss = 0;
    for (std::int64_t j = 0; j < C; ++j) ss += static_cast<float>(px[r * C + j]) * static_cast<float>(px[r * C + j]);
    const float rs = 1.0f / std::sqrt(ss / static_cast<float>(C) + 1e-6f);
    for (std::int64_t j = 0; j < C; ++j) {
      const float h = static_cast<float>(px[r * C + j]) * rs;
      const auto i = static_cast<std::size_t>(r * C + j);
      twice[i] = static_cast<float>(bfloat16(static_cast<float>(pw[j]) * static_cast<float>(bfloat16(h))));
      once[i] = static_cast<float>(bfloat16(static_cast<float>(pw[j]) * h));
    }
  }
  const Tensor expect = from_vector(twice, {8, C});
  // The single-rounding variant must differ somewhere, or this test could not tell them apart.
  CHECK(testing::closeness(from_vector(once, {8, C}), expect, 0.0, 0.0) > 0.0);
  {
    backend::ReferenceGuard guard;  // same summation order as above: bit-identical
    testing::require_close(rms_norm(x, w), expect, 0.0);
  }
  // The optimised kernel may sum in another order: allow one bf16 ulp, but require nearly every
  // element to match exactly (single rounding would differ in far more places).
  const Tensor y = rms_norm(x, w);
  testing::require_close(y, expect, 1.0 / 128);
  const auto a = testing::values(y), e = testing::values(expect);
  std::size_t exact = 0;
  for (std::size_t i = 0; i < a.size(); ++i) exact += a[i] == e[i];
  CHECK(exact >= a.size() * 98 / 100);
}

TEST_CASE("norms: optimised kernels equal the reference loops, forward and backward", "[ops][normalization]") {
  // 96 rows x 384 = 36864 elements: enough work for the optimised kernels to use several threads.
  const Shape shape{2, 48, 384};
  for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
    const double rtol = dt == DType::bf16 ? 1e-2 : dt == DType::f32 ? 1e-5 : 1e-12;
    const double atol = dt == DType::bf16 ? 2e-2 : dt == DType::f32 ? 1e-5 : 1e-12;
    Tensor x = testing::random(shape, 13, dt, -2, 3);
    Tensor xt = testing::transposed_layout(x);
    Tensor w = testing::random({384}, 14, dt, 0.5, 1.5), ws = testing::sliced_layout(w);
    Tensor b = testing::random({384}, 15, dt);
    Tensor dy = testing::random(shape, 16, dt);
    INFO(name(dt));
    auto ln = [](const Tensor& a, const Tensor& w_, const Tensor& b_) { return layer_norm(a, w_, b_); };
    auto rms = [](const Tensor& a, const Tensor& w_, const Tensor&) { return rms_norm(a, w_); };
    testing::require_matches_reference([&] { return layer_norm(xt, ws, b); }, rtol, atol);
    testing::require_matches_reference([&] { return layer_norm(x); }, rtol, atol);
    testing::require_matches_reference([&] { return rms_norm(xt, ws); }, rtol, atol);
    for (int k = 0; k < 3; ++k) {
      INFO("gradient " << k);
      // dw and db sum 96 rows, so they carry a larger absolute error than dx.
      const double gatol = k == 0 ? atol : 10 * atol;
      testing::require_matches_reference([&] { return grads(ln, xt, ws, b, dy)[k]; }, rtol, gatol);
      if (k < 2) testing::require_matches_reference([&] { return grads(rms, xt, ws, Tensor(), dy)[k]; }, rtol, gatol);
    }
  }
}

TEST_CASE("norms reject bad input with the op and the shapes in the message", "[ops][normalization][errors]") {
  Tensor x = testing::random({2, 4}, 1, DType::f32);
  REQUIRE_THROWS_WITH(layer_norm(x, ones({5})), Catch::Contains("[layer_norm]") && Catch::Contains("weight") &&
                                                    Catch::Contains("[5]") && Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(layer_norm(x, ones({4}), zeros({2, 4})),
                      Catch::Contains("[layer_norm]") && Catch::Contains("bias") && Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(layer_norm(x, ones({4}, DType::f64)),
                      Catch::Contains("[layer_norm]") && Catch::Contains("f64") && Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(rms_norm(x, ones({3})), Catch::Contains("[rms_norm]") && Catch::Contains("[3]") &&
                                                  Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(rms_norm(arange(4)), Catch::Contains("[rms_norm]") && Catch::Contains("floating"));
  REQUIRE_THROWS_WITH(layer_norm(scalar_tensor(1.0)), Catch::Contains("[layer_norm]") && Catch::Contains("1-d"));
  REQUIRE_THROWS_WITH(rms_norm(x, Tensor(), -1.0), Catch::Contains("[rms_norm]") && Catch::Contains("eps"));
}
