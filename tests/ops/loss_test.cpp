// ops/loss.hpp: cross_entropy. Finite-difference gradients (ignore_index, label smoothing, every
// reduction, [N, C] and [B, T, C], strided logits and targets), values against a direct
// computation from log_softmax, all-ignored batches, optimised kernels against the reference
// loops, bad input.
#include "support/testing.hpp"

#include <cmath>

using namespace molm;
using molm::testing::gradcheck;

namespace {
Tensor with_layout(const Tensor& base, int layout) {
  return layout == 0 ? base.clone() : layout == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
}

CrossEntropyOptions options(double smoothing, Reduction reduction, std::int64_t ignore = -100) {
  CrossEntropyOptions o;
  o.label_smoothing = smoothing;
  o.reduction = reduction;
  o.ignore_index = ignore;
  return o;
}

const char* name_of(Reduction r) { return r == Reduction::none ? "none" : r == Reduction::mean ? "mean" : "sum"; }

/// The losses written out from log_softmax in double, one row at a time.
double expected_loss(const Tensor& logits, const std::vector<std::int64_t>& targets, const CrossEntropyOptions& o,
                     std::vector<double>* per_row = nullptr) {
  const std::int64_t C = logits.shape().back();
  const auto lp = testing::values(log_softmax(logits.detach().to(DType::f64)));
  double total = 0;
  std::int64_t counted = 0;
  for (std::size_t r = 0; r < targets.size(); ++r) {
    double loss = 0;
    if (targets[r] != o.ignore_index) {
      double all = 0;
      for (std::int64_t c = 0; c < C; ++c) all -= lp[r * static_cast<std::size_t>(C) + static_cast<std::size_t>(c)];
      const double target = -lp[r * static_cast<std::size_t>(C) + static_cast<std::size_t>(targets[r])];
      loss = (1 - o.label_smoothing) * target + o.label_smoothing / static_cast<double>(C) * all;
      ++counted;
    }
    if (per_row) per_row->push_back(loss);
    total += loss;
  }
  return o.reduction == Reduction::mean ? total / static_cast<double>(counted) : total;
}
}  // namespace

TEST_CASE("cross_entropy: gradients match finite differences", "[ops][loss]") {
  // Rows 1 and 4 are ignored: they must get zero gradient and not be counted by the mean.
  const std::vector<std::int64_t> targets{3, -100, 0, 6, -100, 2};
  for (double smoothing : {0.0, 0.1})
    for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::none})
      for (const Shape& shape : {Shape{6, 7}, Shape{2, 3, 7}})
        for (int layout = 0; layout < 3; ++layout) {
          Shape tshape = shape;
          tshape.erase(tshape.size() - 1);
          Tensor t = with_layout(from_vector(targets, tshape), layout);
          Tensor x = with_layout(testing::random(shape, 21, DType::f64, -3, 3), layout).set_requires_grad();
          INFO("smoothing " << smoothing << " " << name_of(red) << " " << shape.str() << " layout " << layout);
          const CrossEntropyOptions o = options(smoothing, red);
          gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, o); }, {x});
          // Ignored rows get exactly zero gradient.
          x.zero_grad();
          sum(cross_entropy(x, t, o)).backward();
          const auto g = testing::values(x.grad());
          for (std::size_t r : {std::size_t{1}, std::size_t{4}})
            for (std::size_t c = 0; c < 7; ++c) CHECK(g[r * 7 + c] == 0.0);
        }
}

TEST_CASE("cross_entropy: values equal the formula written out from log_softmax", "[ops][loss]") {
  const std::vector<std::int64_t> targets{4, 0, -100, 9, 9, 1, 7, -100};
  Tensor t = from_vector(targets);
  for (bool reference : {false, true}) {
    backend::ReferenceGuard guard(reference);
    for (DType dt : {DType::f64, DType::f32})
      for (double smoothing : {0.0, 0.1, 1.0})
        for (Reduction red : {Reduction::mean, Reduction::sum, Reduction::none}) {
          Tensor x = testing::random({8, 10}, 22, DType::f64, -4, 4).to(dt);
          const CrossEntropyOptions o = options(smoothing, red);
          const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
          INFO("reference " << reference << " " << name(dt) << " smoothing " << smoothing << " " << name_of(red));
          std::vector<double> rows;
          const double total = expected_loss(x, targets, o, &rows);
          Tensor loss = cross_entropy(x, t, o);
          REQUIRE(loss.dtype() == dt);
          if (red == Reduction::none) {
            REQUIRE(loss.shape() == Shape{8});
            testing::require_close(loss, from_vector(rows), tol, tol);
          } else {
            REQUIRE(loss.dim() == 0);
            CHECK(loss.item<double>() == Approx(total).epsilon(tol));
          }
        }
  }
  // A non-default ignore_index inside the class range ignores that class's rows.
  Tensor x = testing::random({8, 10}, 23, DType::f64, -4, 4);
  const CrossEntropyOptions o = options(0.0, Reduction::mean, 9);
  CHECK(cross_entropy(x, from_vector<std::int64_t>({4, 0, 2, 9, 9, 1, 7, 3}), o).item<double>() ==
        Approx(expected_loss(x, {4, 0, 2, 9, 9, 1, 7, 3}, o)).epsilon(1e-12));
  // i32 targets give the same result as i64.
  CHECK(cross_entropy(x, from_vector<std::int32_t>({4, 0, 2, 9, 9, 1, 7, 3})).item<double>() ==
        cross_entropy(x, from_vector<std::int64_t>({4, 0, 2, 9, 9, 1, 7, 3})).item<double>());
}

TEST_CASE("cross_entropy: a batch with every target ignored gives NaN (mean) or 0 (sum) and zero gradient",
          "[ops][loss]") {
  for (bool reference : {false, true}) {
    backend::ReferenceGuard guard(reference);
    Tensor x = testing::random({3, 5}, 24, DType::f64).set_requires_grad();
    Tensor t = full({3}, -100, DType::i64);
    Tensor mean_loss = cross_entropy(x, t, options(0.1, Reduction::mean));
    CHECK(std::isnan(mean_loss.item<double>()));  // PyTorch 2.1 gives nan: 0 / 0
    mean_loss.backward();
    for (double g : testing::values(x.grad())) CHECK(g == 0.0);
    CHECK(cross_entropy(x, t, options(0.1, Reduction::sum)).item<double>() == 0.0);
    for (double v : testing::values(cross_entropy(x, t, options(0.1, Reduction::none)))) CHECK(v == 0.0);
  }
}

TEST_CASE("cross_entropy: optimised kernels equal the reference loops, forward and backward", "[ops][loss]") {
  // 300 rows x 130 classes = 39000 logits: enough work for several threads.
  const std::int64_t N = 300, C = 130;
  Generator gen(25);
  Tensor t = randint(-1, C, {N}, gen);
  {
    no_grad ng;
    std::int64_t* p = t.data<std::int64_t>();
    for (std::int64_t i = 0; i < N; ++i)
      if (p[i] < 0) p[i] = -100;  // about 1 in 131 rows ignored
  }
  for (DType dt : {DType::f32, DType::bf16, DType::f64})
    for (Reduction red : {Reduction::mean, Reduction::none}) {
      const double rtol = dt == DType::bf16 ? 1e-2 : dt == DType::f32 ? 1e-5 : 1e-12;
      const double atol = dt == DType::bf16 ? 1e-3 : dt == DType::f32 ? 1e-6 : 1e-14;
      Tensor x = testing::random({C, N}, 26, dt, -5, 5).transpose(0, 1);  // strided logits
      const CrossEntropyOptions o = options(0.1, red);
      INFO(name(dt) << " " << name_of(red));
      testing::require_matches_reference([&] { return cross_entropy(x, t, o); }, rtol, atol);
      testing::require_matches_reference(
          [&] {
            Tensor xl = x.detach();
            xl.set_requires_grad();
            Tensor loss = cross_entropy(xl, t, o);
            loss.backward(red == Reduction::none ? testing::random({N}, 27, dt, 0.5, 1.5) : ones_like(loss));
            return xl.grad();
          },
          rtol, atol);
    }
}

TEST_CASE("cross_entropy rejects bad input with the op, the value and the shapes", "[ops][loss][errors]") {
  Tensor x = testing::random({3, 5}, 1, DType::f32);
  REQUIRE_THROWS_WITH(cross_entropy(x, from_vector<std::int64_t>({0, 7, 1})),
                      Catch::Contains("[cross_entropy]") && Catch::Contains("target 7") && Catch::Contains("[3, 5]") &&
                          Catch::Contains("[3]"));
  REQUIRE_THROWS_WITH(cross_entropy(x, from_vector<std::int64_t>({0, -1, 1})),
                      Catch::Contains("[cross_entropy]") && Catch::Contains("target -1"));
  // Out-of-range is an error in every reduction, and also with the reference kernels.
  {
    backend::ReferenceGuard guard;
    REQUIRE_THROWS_AS(cross_entropy(x, from_vector<std::int64_t>({5, 0, 0}), options(0, Reduction::none)),
                      molm::error);
  }
  REQUIRE_THROWS_WITH(cross_entropy(x, from_vector<std::int64_t>({0, 1})),
                      Catch::Contains("[cross_entropy]") && Catch::Contains("[2]") && Catch::Contains("[3, 5]"));
  REQUIRE_THROWS_WITH(cross_entropy(x, from_vector<float>({0, 1, 2})),
                      Catch::Contains("[cross_entropy]") && Catch::Contains("f32") && Catch::Contains("i64"));
  REQUIRE_THROWS_WITH(cross_entropy(arange(15).view({3, 5}), from_vector<std::int64_t>({0, 1, 2})),
                      Catch::Contains("[cross_entropy]") && Catch::Contains("floating"));
  REQUIRE_THROWS_WITH(cross_entropy(x, from_vector<std::int64_t>({0, 1, 2}), options(1.5, Reduction::mean)),
                      Catch::Contains("[cross_entropy]") && Catch::Contains("label_smoothing"));
}
