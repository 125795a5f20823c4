// ops/unary.hpp: forward vs reference kernels, finite-difference gradients on several layouts.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {
struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> f;
  double low, high;  // input domain
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return neg(x); }, -2, 2},
      {"exp", [](const Tensor& x) { return exp(x); }, -2, 2},
      {"log", [](const Tensor& x) { return log(x); }, 0.2, 3},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.2, 3},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, 0.2, 3},
      {"pow2.5", [](const Tensor& x) { return pow(x, 2.5); }, 0.2, 3},
      {"pow-1", [](const Tensor& x) { return pow(x, -1.0); }, 0.2, 3},
      {"tanh", [](const Tensor& x) { return tanh(x); }, -3, 3},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, -4, 4},
      {"relu", [](const Tensor& x) { return relu(x); }, -2, 2},
      {"gelu", [](const Tensor& x) { return gelu(x); }, -3, 3},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, GeluApprox::tanh); }, -3, 3},
      {"silu", [](const Tensor& x) { return silu(x); }, -4, 4},
  };
}
}  // namespace

TEST_CASE("unary ops: gradients match finite differences on contiguous and strided inputs", "[ops][unary]") {
  for (const auto& c : unary_cases()) {
    for (const Shape& shape : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}}) {
      Tensor base = testing::random(shape, 11, DType::f64, c.low, c.high);
      for (int layout = 0; layout < 3; ++layout) {
        Tensor x = layout == 0 ? base.clone() : layout == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
        x.set_requires_grad();
        INFO(c.name << " " << shape.str() << " layout " << layout);
        gradcheck([&](const std::vector<Tensor>& in) { return c.f(in[0]); }, {x});
      }
    }
  }
}

TEST_CASE("unary ops: optimised kernels equal the reference loops", "[ops][unary]") {
  for (const auto& c : unary_cases()) {
    for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
      Tensor x = testing::random({67, 129}, 5, dt, c.low, c.high);
      Tensor xt = testing::transposed_layout(x);
      INFO(c.name << " " << name(dt));
      testing::require_matches_reference([&] { return c.f(x); }, dt == DType::bf16 ? 1e-2 : 1e-6, 1e-6);
      testing::require_matches_reference([&] { return c.f(xt); }, dt == DType::bf16 ? 1e-2 : 1e-6, 1e-6);
    }
  }
}

TEST_CASE("unary ops: known values", "[ops][unary]") {
  Tensor x = from_vector<double>({-1.0, 0.0, 0.5, 2.0});
  auto v = testing::values(gelu(x));
  // x * Phi(x): Phi(-1) = 0.158655253931457, Phi(0.5) = 0.691462461274013, Phi(2) = 0.977249868051821
  CHECK(v[0] == Approx(-0.158655253931457).epsilon(1e-12));
  CHECK(v[1] == 0.0);
  CHECK(v[2] == Approx(0.5 * 0.691462461274013).epsilon(1e-12));
  CHECK(v[3] == Approx(2 * 0.977249868051821).epsilon(1e-12));
  auto s = testing::values(sigmoid(x));
  CHECK(s[1] == 0.5);
  CHECK(s[3] == Approx(0.8807970779778823).epsilon(1e-12));
  auto r = testing::values(relu(x));
  CHECK(r == std::vector<double>{0, 0, 0.5, 2});
}

TEST_CASE("unary ops reject integer tensors", "[ops][unary][errors]") {
  Tensor i = arange(5);
  REQUIRE_THROWS_WITH(exp(i), Catch::Contains("[exp]") && Catch::Contains("floating"));
}

TEST_CASE("gelu: the vectorised float kernel and its gradient agree with double precision", "[ops][unary]") {
  // 100,003 points over [-8, 8]: every chunk size and tail of the kernel, both clamps of its erf.
  const std::int64_t n = 100003;
  Tensor x64 = Tensor::empty({n}, DType::f64);
  for (std::int64_t i = 0; i < n; ++i) x64.data<double>()[i] = -8.0 + 16.0 * static_cast<double>(i) / (n - 1);
  Tensor x32 = x64.to(DType::f32);
  x32.set_requires_grad(true);
  Tensor xd = x32.detach().to(DType::f64);
  xd.set_requires_grad(true);
  sum(gelu(x32)).backward();
  sum(gelu(xd)).backward();
  // float's 1 + erf(x) cancellation bounds the absolute error near 1e-6 for x < 0; large x are exact.
  testing::require_close(gelu(x32.detach()), gelu(xd.detach()), 1e-6, 1e-6);
  testing::require_close(x32.grad(), xd.grad(), 1e-6, 2e-6);
}
