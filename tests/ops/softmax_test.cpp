// ops/softmax.hpp: finite-difference gradients (plain, broadcast mask, strided inputs), masked and
// fully masked rows, optimised kernels against the reference loops, known values, bad input.
#include "support/testing.hpp"

#include <limits>

using namespace molm;
using molm::testing::gradcheck;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

using SoftmaxFn = Tensor (*)(const Tensor&, const Tensor&);
struct Variant {
  const char* name;
  SoftmaxFn f;
};
const Variant kVariants[] = {
    {"softmax", [](const Tensor& x, const Tensor& m) { return softmax(x, m); }},
    {"log_softmax", [](const Tensor& x, const Tensor& m) { return log_softmax(x, m); }},
};

/// 0: contiguous copy, 1: transposed in memory, 2: every other element of a wider buffer.
Tensor with_layout(const Tensor& base, int layout) {
  return layout == 0 ? base.clone() : layout == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
}

/// A copy of `t` with the listed flat (row-major) positions set to v.
Tensor with_values(const Tensor& t, const std::vector<std::int64_t>& positions, double v) {
  Tensor c = t.detach().contiguous().clone();
  for (auto i : positions) c.data<double>()[i] = v;
  return c;
}

/// Gradient of Σ f(x, mask) ⊙ w with respect to x (and the mask when it is given), through fresh
/// leaves that keep the inputs' memory layout.
std::pair<Tensor, Tensor> grads(SoftmaxFn f, const Tensor& x, const Tensor& mask, const Tensor& w) {
  Tensor xl = x.detach(), ml = mask.defined() ? mask.detach() : Tensor();
  xl.set_requires_grad();
  if (ml.defined()) ml.set_requires_grad();
  f(xl, ml).backward(w);
  return {xl.grad(), mask.defined() ? ml.grad() : Tensor()};
}
}  // namespace

TEST_CASE("softmax: gradients match finite differences on contiguous and strided inputs", "[ops][softmax]") {
  for (const auto& v : kVariants)
    for (const Shape& shape : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}})
      for (int layout = 0; layout < 3; ++layout) {
        Tensor x = with_layout(testing::random(shape, 3, DType::f64, -3, 3), layout).set_requires_grad();
        INFO(v.name << " " << shape.str() << " layout " << layout);
        gradcheck([&](const std::vector<Tensor>& in) { return v.f(in[0], Tensor()); }, {x});
      }
}

TEST_CASE("softmax: gradients flow to x and to a broadcast additive mask", "[ops][softmax]") {
  // Attention shapes: scores [B, H, N, N] with a key mask [B, 1, 1, N], a per-query mask
  // [B, 1, N, N], a 1-d mask [N], and a full-shape mask in transposed memory.
  const Shape scores{2, 3, 4, 4};
  for (const auto& v : kVariants)
    for (const Shape& mshape : {Shape{2, 1, 1, 4}, Shape{2, 1, 4, 4}, Shape{4}, scores})
      for (int layout = 0; layout < 3; ++layout) {
        Tensor x = with_layout(testing::random(scores, 5, DType::f64, -2, 2), layout).set_requires_grad();
        Tensor m = with_layout(testing::random(mshape, 6, DType::f64, -3, 0), layout).set_requires_grad();
        INFO(v.name << " mask " << mshape.str() << " layout " << layout);
        gradcheck([&](const std::vector<Tensor>& in) { return v.f(in[0], in[1]); }, {x, m});
      }
}

TEST_CASE("softmax: -inf mask entries get zero probability and zero gradient", "[ops][softmax][mask]") {
  // Key mask [2, 1, 1, 5]: batch 0 masks key 1, batch 1 masks keys 0 and 4.
  Tensor m = with_values(zeros({2, 1, 1, 5}, DType::f64), {1, 5, 9}, -kInf).set_requires_grad();
  Tensor x = testing::random({2, 3, 2, 5}, 8, DType::f64, -2, 2).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0], in[1]); }, {x, m});
  // log_softmax is -inf at masked entries; exp() makes a finite function of it to differentiate.
  gradcheck([](const std::vector<Tensor>& in) { return exp(log_softmax(in[0], in[1])); }, {x, m});

  const auto p = testing::values(softmax(x, m));
  const auto lp = testing::values(log_softmax(x, m));
  for (std::size_t i = 0; i < p.size(); ++i) {
    const std::int64_t b = static_cast<std::int64_t>(i) / 30, key = static_cast<std::int64_t>(i) % 5;
    const bool masked = (b == 0 && key == 1) || (b == 1 && (key == 0 || key == 4));
    INFO("element " << i);
    CHECK((p[i] == 0.0) == masked);
    CHECK((lp[i] == -kInf) == masked);
  }
  // Even with a nonzero upstream gradient at masked entries, their log_softmax gradient is 0 and
  // they add nothing to the row's Σ dy: dx_j = 1 − p_j · (number of unmasked keys) for dy = 1.
  x.zero_grad();
  m.zero_grad();
  log_softmax(x, m).backward(ones_like(x));
  const auto dx = testing::values(x.grad());
  for (std::size_t i = 0; i < dx.size(); ++i) {
    const std::int64_t b = static_cast<std::int64_t>(i) / 30;
    const double unmasked = b == 0 ? 4 : 3;
    INFO("element " << i);
    CHECK(dx[i] == Approx(p[i] == 0.0 ? 0.0 : 1.0 - p[i] * unmasked).margin(1e-12));
  }
  const auto dm = testing::values(m.grad());
  CHECK(dm[1] == 0.0);
  CHECK(dm[5] == 0.0);
  CHECK(dm[9] == 0.0);
}

TEST_CASE("softmax: a fully masked row gives zeros (log_softmax: -inf) and zero gradient, never NaN",
          "[ops][softmax][mask]") {
  Tensor m = with_values(zeros({3, 4}, DType::f64), {0, 1, 2, 3, 5}, -kInf);  // row 0 fully, row 1 partly
  for (bool reference : {false, true}) {
    backend::ReferenceGuard guard(reference);
    for (DType dt : {DType::f64, DType::f32, DType::bf16}) {
      INFO("reference " << reference << " " << name(dt));
      Tensor x = testing::random({3, 4}, 2, DType::f64, -2, 2).to(dt).set_requires_grad();
      Tensor mm = m.detach().to(dt).set_requires_grad();
      Tensor p = softmax(x, mm);
      const auto pv = testing::values(p);
      for (int j = 0; j < 4; ++j) CHECK(pv[static_cast<std::size_t>(j)] == 0.0);
      CHECK(pv[5] == 0.0);
      CHECK(pv[4] + pv[6] + pv[7] == Approx(1.0).epsilon(dt == DType::bf16 ? 1e-2 : 1e-6));
      p.backward(testing::random({3, 4}, 4, dt));
      for (double g : testing::values(x.grad())) CHECK(std::isfinite(g));
      for (int j = 0; j < 4; ++j) CHECK(testing::values(x.grad())[static_cast<std::size_t>(j)] == 0.0);
      for (double g : testing::values(mm.grad())) CHECK(std::isfinite(g));

      x.zero_grad();
      mm.zero_grad();
      Tensor lp = log_softmax(x, mm);
      const auto lv = testing::values(lp);
      for (int j = 0; j < 4; ++j) CHECK(lv[static_cast<std::size_t>(j)] == -kInf);
      CHECK(lv[5] == -kInf);
      CHECK(std::isfinite(lv[4]));
      lp.backward(testing::random({3, 4}, 4, dt));
      for (double g : testing::values(x.grad())) CHECK(std::isfinite(g));
      for (int j = 0; j < 4; ++j) CHECK(testing::values(x.grad())[static_cast<std::size_t>(j)] == 0.0);
    }
  }
}

TEST_CASE("softmax: known values, stability and NaN propagation", "[ops][softmax]") {
  const auto p = testing::values(softmax(from_vector<double>({1, 2, 3})));
  CHECK(p[0] == Approx(0.09003057317038046).epsilon(1e-14));
  CHECK(p[1] == Approx(0.24472847105479767).epsilon(1e-14));
  CHECK(p[2] == Approx(0.6652409557748219).epsilon(1e-14));
  const auto lp = testing::values(log_softmax(from_vector<double>({1, 2, 3})));
  CHECK(lp[2] == Approx(-0.40760596444438013).epsilon(1e-14));
  // Large logits must not overflow: the row maximum is subtracted first.
  const auto big = testing::values(softmax(from_vector<float>({1000.f, 1000.f})));
  CHECK(big[0] == 0.5);
  // The finfo(float32).min additive mask of the Q-Former (reference-model.md §3.4): every score
  // becomes -3.4e38 and compares equal, so the softmax is uniform instead of NaN.
  Tensor fmin = full({1, 4}, -3.4028234663852886e38, DType::f32);
  for (double v : testing::values(softmax(from_vector<float>({0.1f, 0.2f, -0.3f, 0.4f}, {1, 4}), fmin)))
    CHECK(v == 0.25);
  // A NaN spreads to its whole row and nowhere else.
  const auto n = testing::values(softmax(from_vector<double>({1, NAN, 3, 1, 2, 3}, {2, 3})));
  for (int j = 0; j < 3; ++j) CHECK(std::isnan(n[static_cast<std::size_t>(j)]));
  for (int j = 3; j < 6; ++j) CHECK(std::isfinite(n[static_cast<std::size_t>(j)]));
}

TEST_CASE("softmax: optimised kernels equal the reference loops, forward and backward", "[ops][softmax]") {
  // 2·4·65·70 = 36400 elements: large enough for the optimised kernel to use several threads.
  const Shape shape{2, 4, 65, 70};
  for (const auto& v : kVariants)
    for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
      const double rtol = dt == DType::bf16 ? 1e-2 : dt == DType::f32 ? 1e-5 : 1e-12;
      // Gradients cancel (dy − Σ…), so values near 0 carry the absolute error of O(1) terms.
      const double atol = dt == DType::bf16 ? 1e-3 : dt == DType::f32 ? 1e-6 : 1e-14;
      // The mask gradient sums 4·65 rows of dx, so its absolute error grows accordingly.
      const double mask_atol = dt == DType::bf16 ? 5e-2 : dt == DType::f32 ? 1e-5 : 1e-13;
      Tensor x = testing::random(shape, 9, dt, -4, 4);
      Tensor xt = testing::transposed_layout(x);
      Tensor m = with_values(testing::random({2, 1, 1, 70}, 10, DType::f64, -2, 0), {3, 4, 75}, -kInf).to(dt);
      Tensor w = testing::random(shape, 11, dt);
      INFO(v.name << " " << name(dt));
      testing::require_matches_reference([&] { return v.f(x, m); }, rtol, atol);
      testing::require_matches_reference([&] { return v.f(xt, Tensor()); }, rtol, atol);
      testing::require_matches_reference([&] { return grads(v.f, xt, m, w).first; }, rtol, atol);
      testing::require_matches_reference([&] { return grads(v.f, x, m, w).second; }, rtol, mask_atol);
    }
}

TEST_CASE("softmax rejects bad input with the op and the shapes in the message", "[ops][softmax][errors]") {
  Tensor x = testing::random({2, 4}, 1, DType::f32);
  REQUIRE_THROWS_WITH(softmax(x, zeros({3})), Catch::Contains("[softmax]") && Catch::Contains("[3]") &&
                                                  Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(log_softmax(x, zeros({2, 2, 4})), Catch::Contains("[log_softmax]") &&
                                                            Catch::Contains("[2, 2, 4]") && Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(softmax(x, zeros({4}, DType::f64)), Catch::Contains("[softmax]") && Catch::Contains("f64") &&
                                                              Catch::Contains("[2, 4]"));
  REQUIRE_THROWS_WITH(softmax(arange(4)), Catch::Contains("[softmax]") && Catch::Contains("floating"));
  REQUIRE_THROWS_WITH(softmax(scalar_tensor(1.0)), Catch::Contains("[softmax]") && Catch::Contains("1-d"));
  REQUIRE_THROWS_AS(softmax(Tensor()), molm::error);
}

TEST_CASE("softmax: in f32 and bf16 too, a NaN spreads to its whole row only, and +inf makes its row NaN",
          "[ops][softmax]") {
  // 37 columns: two full 16-float vectors and a tail, so the row loop's vector path sees the NaN.
  for (DType dt : {DType::f32, DType::bf16})
    for (const auto& v : kVariants) {
      Tensor x = testing::random({4, 37}, 12, DType::f64, -3, 3);
      x.data<double>()[5] = NAN;            // row 0
      x.data<double>()[2 * 37 + 36] = kInf;  // row 2, last column
      const auto y = testing::values(v.f(x.to(dt), Tensor()));
      INFO(v.name << " " << name(dt));
      for (std::size_t i = 0; i < y.size(); ++i) {
        const std::size_t row = i / 37;
        INFO("element " << i);
        CHECK(std::isnan(y[i]) == (row == 0 || row == 2));
      }
    }
}
