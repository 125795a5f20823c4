// ops/gaussian.hpp: Uni-Mol's Gaussian basis kernel — gradients for dist and all four parameter
// tensors, optimised vs reference kernels (with enough pairs for several backward chunks), a value
// worked by hand, and bad inputs.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

namespace {
struct GaussianInputs {
  Tensor dist, edge, means, stds, mul, bias;
};

/// B molecules of N atoms, E edge types, K kernels; stds mixes signs (|stds| is what counts).
GaussianInputs make_inputs(std::int64_t B, std::int64_t N, std::int64_t E, std::int64_t K, DType dt, std::uint64_t seed) {
  Generator g(seed);
  GaussianInputs in;
  in.dist = testing::random({B, N, N}, seed + 1, dt, 0.0, 4.0);
  in.edge = randint(0, E, {B, N, N}, g);
  in.means = testing::random({1, K}, seed + 2, dt, 0.0, 3.0);
  in.stds = testing::random({1, K}, seed + 3, dt, 0.5, 1.5);
  if (K > 1) {  // one negative std
    no_grad ng;
    in.stds.select(1, 1).fill_(-0.8);
  }
  in.mul = testing::random({E, 1}, seed + 4, dt, 0.5, 1.5);
  in.bias = testing::random({E, 1}, seed + 5, dt, -0.5, 0.5);
  return in;
}

Tensor run(const GaussianInputs& in) { return gaussian_basis(in.dist, in.edge, in.means, in.stds, in.mul, in.bias); }
}  // namespace

TEST_CASE("gaussian basis: gradients for dist, means, stds, mul and bias", "[ops][gaussian]") {
  for (bool reference : {false, true}) {
    backend::ReferenceGuard guard(reference);
    for (int layout = 0; layout < 2; ++layout) {
      INFO("reference " << reference << " layout " << layout);
      GaussianInputs in = make_inputs(2, 3, 5, 4, DType::f64, 10);
      if (layout == 1) in.dist = testing::transposed_layout(in.dist);
      for (Tensor* t : {&in.dist, &in.means, &in.stds, &in.mul, &in.bias}) t->set_requires_grad();
      gradcheck([&](const std::vector<Tensor>& x) { return gaussian_basis(x[0], in.edge, x[1], x[2], x[3], x[4]); },
                {in.dist, in.means, in.stds, in.mul, in.bias});
    }
  }
  SECTION("only dist requires grad; a [K] / [E] parameter layout") {
    GaussianInputs in = make_inputs(1, 4, 3, 6, DType::f64, 20);
    Tensor d = in.dist.set_requires_grad();
    gradcheck([&](const std::vector<Tensor>& x) {
      return gaussian_basis(x[0], in.edge, in.means.view({6}), in.stds.view({6}), in.mul.view({3}), in.bias.view({3}));
    }, {d});
  }
}

TEST_CASE("gaussian basis: optimised kernels equal the reference loops", "[ops][gaussian]") {
  // 2·40·40 = 3200 pairs: more than one backward chunk, so the chunked edge-type scatter is exercised.
  for (DType dt : {DType::f32, DType::bf16, DType::f64}) {
    INFO(name(dt));
    GaussianInputs in = make_inputs(2, 40, 31, 16, dt, 30);
    for (Tensor* t : {&in.dist, &in.means, &in.stds, &in.mul, &in.bias}) t->set_requires_grad();
    Tensor dy = testing::random({2, 40, 40, 16}, 31, dt);
    auto grads = [&]() {
      for (Tensor* t : {&in.dist, &in.means, &in.stds, &in.mul, &in.bias}) t->zero_grad();
      Tensor y = run(in);
      y.backward(dy);
      return std::vector<Tensor>{y, in.dist.grad(), in.means.grad(), in.stds.grad(), in.mul.grad(), in.bias.grad()};
    };
    std::vector<Tensor> ref;
    {
      backend::ReferenceGuard g;
      ref = grads();
    }
    std::vector<Tensor> opt = grads();
    const double rtol = dt == DType::bf16 ? 1e-2 : 1e-5;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      INFO("result " << i);
      testing::require_close(opt[i], ref[i], rtol, dt == DType::bf16 ? 1e-2 : 1e-6);
    }
  }
  SECTION("f32 distances with bf16 parameters: the output takes the parameters' dtype") {
    GaussianInputs in = make_inputs(1, 6, 4, 8, DType::bf16, 40);
    in.dist = testing::random({1, 6, 6}, 41, DType::f32, 0.0, 4.0);
    Tensor y = run(in);
    CHECK(y.dtype() == DType::bf16);
    CHECK(y.shape() == Shape{1, 6, 6, 8});
    testing::require_matches_reference([&] { return run(in); }, 1e-2, 1e-3);
  }
}

TEST_CASE("gaussian basis: a value worked by hand, with Uni-Mol's literal pi", "[ops][gaussian]") {
  Tensor dist = from_vector<float>({1.5f}, {1, 1, 1});
  Tensor edge = from_vector<std::int64_t>({2}, {1, 1, 1});
  Tensor means = from_vector<float>({0.5f, 2.0f}, {1, 2});
  Tensor stds = from_vector<float>({-0.7f, 1.2f}, {1, 2});
  Tensor mul = from_vector<float>({1.0f, 1.0f, 2.0f}, {3, 1});
  Tensor bias = from_vector<float>({0.0f, 0.0f, -0.25f}, {3, 1});
  auto g = testing::values(gaussian_basis(dist, edge, means, stds, mul, bias));
  const double x = 2.0 * 1.5 - 0.25, a = std::sqrt(2 * 3.14159);
  for (int k = 0; k < 2; ++k) {
    const double mu = k == 0 ? 0.5 : 2.0, s = (k == 0 ? 0.7 : 1.2) + 1e-5;
    const double z = (x - mu) / s;
    CHECK(g[k] == Approx(std::exp(-0.5 * z * z) / (a * s)).epsilon(1e-6));
  }
}

TEST_CASE("gaussian basis: bad inputs name the op and the shapes", "[ops][gaussian][errors]") {
  GaussianInputs in = make_inputs(2, 3, 5, 4, DType::f32, 50);
  auto op = Catch::Contains("[gaussian_basis]");
  REQUIRE_NOTHROW(run(in));
  {
    GaussianInputs bad = in;
    bad.edge = full({2, 3, 3}, 5, DType::i64);
    REQUIRE_THROWS_WITH(run(bad), op && Catch::Contains("edge type 5") && Catch::Contains("[5, 1]"));
    bad.edge = full({2, 3, 3}, -1, DType::i64);
    REQUIRE_THROWS_WITH(run(bad), op && Catch::Contains("edge type -1"));
  }
  {
    GaussianInputs bad = in;
    bad.edge = in.edge.slice(2, 0, 2);
    REQUIRE_THROWS_WITH(run(bad), op && Catch::Contains("[2, 3, 2]") && Catch::Contains("[2, 3, 3]"));
  }
  {
    GaussianInputs bad = in;
    bad.stds = testing::random({1, 3}, 1, DType::f32);
    REQUIRE_THROWS_WITH(run(bad), op && Catch::Contains("[1, 3]") && Catch::Contains("[1, 4]"));
  }
  {
    GaussianInputs bad = in;
    bad.bias = testing::random({5, 2}, 1, DType::f32);
    REQUIRE_THROWS_WITH(run(bad), op && Catch::Contains("[5, 2]") && Catch::Contains("[5, 1]"));
  }
  {
    GaussianInputs bad = in;
    bad.mul = in.mul.to(DType::f64);
    REQUIRE_THROWS_WITH(run(bad), op && Catch::Contains("dtypes differ"));
  }
  {
    GaussianInputs bad = in;
    bad.edge = in.edge.to(DType::f32);
    REQUIRE_THROWS_WITH(run(bad), op && Catch::Contains("edge_type must be i64"));
  }
}
