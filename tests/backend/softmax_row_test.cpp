// backend/cpu/kernels/softmax_row.hpp: both paths (libm expf, and AVX-512 where the CPU has it)
// against a double-precision softmax, and against each other, on rows of every length from 1 to
// 100 (all tail masks), with masked (-inf) keys, a fully masked row, and logits spread over the
// whole float exp range. Against double the bound is 2e-5 relative: the float difference x - max
// is rounded before exp, and exp turns its absolute error (up to ~240 · 6e-8 here) into a relative
// one. The two float paths see the same differences, so they agree far closer (1e-6).
#include "support/testing.hpp"

#include <molm/backend/cpu/kernels/softmax_row.hpp>

#include <random>

using namespace molm::backend;

namespace {

std::vector<float> random_row(std::int64_t n, std::mt19937& rng, double spread, double masked_fraction) {
  std::uniform_real_distribution<double> value(-spread, spread), coin(0, 1);
  std::vector<float> row(static_cast<std::size_t>(n));
  for (auto& x : row) x = coin(rng) < masked_fraction ? -INFINITY : static_cast<float>(value(rng));
  return row;
}

std::vector<double> softmax_f64(const std::vector<float>& row) {
  double m = -INFINITY;
  for (const float x : row) m = std::max(m, double(x));
  std::vector<double> out(row.size(), 0.0);
  if (m == -INFINITY) return out;
  double total = 0;
  for (std::size_t j = 0; j < row.size(); ++j) total += out[j] = row[j] == -INFINITY ? 0.0 : std::exp(row[j] - m);
  for (auto& p : out) p /= total;
  return out;
}

/// Largest |got - want| relative to max(want, 1e-30); -inf entries must be exactly 0.
double check_row(const std::vector<float>& input, const std::vector<float>& got) {
  const auto want = softmax_f64(input);
  double worst = 0;
  for (std::size_t j = 0; j < input.size(); ++j) {
    INFO("j = " << j << " of " << input.size() << ", logit " << input[j]);
    if (input[j] == -INFINITY) REQUIRE(got[j] == 0.0f);
    REQUIRE(std::isfinite(got[j]));
    if (want[j] > 1e-30) worst = std::max(worst, std::abs(got[j] - want[j]) / want[j]);
    else REQUIRE(got[j] < 1e-29);  // underflow: 0 or a denormal
  }
  return worst;
}

std::vector<std::vector<float>> test_rows() {
  std::mt19937 rng(7);
  std::vector<std::vector<float>> rows;
  for (std::int64_t n = 1; n <= 100; ++n)
    for (const double spread : {1.0, 20.0, 120.0})
      for (const double masked : {0.0, 0.3}) {
        auto row = random_row(n, rng, spread, masked);
        if (std::all_of(row.begin(), row.end(), [](float x) { return x == -INFINITY; })) row[0] = 0.5f;
        rows.push_back(std::move(row));
      }
  return rows;
}

template <class Softmax> double worst_error(Softmax&& softmax) {
  double worst = 0;
  for (const auto& row : test_rows()) {
    auto got = row;
    softmax(got.data(), static_cast<std::int64_t>(got.size()));
    worst = std::max(worst, check_row(row, got));
  }
  return worst;
}

}  // namespace

TEST_CASE("softmax_row, libm path, equals a double softmax within 2e-5 relative") {
  const double worst = worst_error([](float* s, std::int64_t n) { softmax_row_scalar(s, n); });
  CHECK(worst < 2e-5);
  WARN("scalar path: largest relative error " << worst);
}

TEST_CASE("softmax_row, AVX-512 path, equals a double softmax within 2e-5 and the libm path within 1e-6") {
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (!softmax_row_uses_avx512()) {
    WARN("this CPU lacks AVX-512 F, BW or VL: the AVX-512 path is not run (the dispatcher takes the libm path)");
    CHECK(!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl")));
    return;
  }
  const double worst = worst_error([](float* s, std::int64_t n) { softmax_row_avx512(s, n); });
  CHECK(worst < 2e-5);
  double apart = 0;
  for (const auto& row : test_rows()) {
    auto a = row, b = row;
    const auto n = static_cast<std::int64_t>(row.size());
    softmax_row_avx512(a.data(), n);
    softmax_row_scalar(b.data(), n);
    for (std::size_t j = 0; j < row.size(); ++j)
      if (b[j] > 1e-30f) apart = std::max(apart, std::abs(double(a[j]) - b[j]) / b[j]);
  }
  CHECK(apart < 1e-6);
  WARN("AVX-512 path: largest relative error " << worst << " (vs double), " << apart << " (vs libm path)");
#else
  WARN("not an x86-64 GCC/Clang build: no AVX-512 path");
  CHECK(!softmax_row_uses_avx512());
#endif
}

TEST_CASE("softmax_row: masked rows, single elements, the dispatcher") {
  for (const std::int64_t n : {1, 15, 16, 17, 72}) {
    std::vector<float> row(static_cast<std::size_t>(n), -INFINITY);
    softmax_row(row.data(), n);
    CHECK(std::all_of(row.begin(), row.end(), [](float p) { return p == 0.0f; }));
    row.assign(static_cast<std::size_t>(n), -INFINITY);
    row[static_cast<std::size_t>(n - 1)] = -3.0f;  // one visible key takes all the weight
    softmax_row(row.data(), n);
    CHECK(row.back() == 1.0f);
    CHECK(std::count(row.begin(), row.end(), 0.0f) == n - 1);
  }
  std::vector<float> same(40, 2.5f);
  softmax_row(same.data(), 40);
  for (const float p : same) CHECK(p == Approx(1.0 / 40).epsilon(1e-6));
  std::vector<double> d = {0.0, 1.0, -INFINITY};
  softmax_row(d.data(), 3);
  CHECK(d[0] == Approx(1 / (1 + std::exp(1.0))).epsilon(1e-15));
  CHECK(d[2] == 0.0);
}

TEST_CASE("softmax_row, log: equals a double log-softmax on both paths; masked entries stay -inf") {
  using Row = void (*)(float*, std::int64_t, bool);
  std::vector<std::pair<const char*, Row>> paths = {{"libm", [](float* s, std::int64_t n, bool log) { softmax_row_scalar(s, n, log); }}};
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (softmax_row_uses_avx512()) paths.emplace_back("AVX-512", [](float* s, std::int64_t n, bool log) { softmax_row_avx512(s, n, log); });
#endif
  for (const auto& [name, row_fn] : paths) {
    double worst = 0;
    for (const auto& row : test_rows()) {
      auto got = row;
      row_fn(got.data(), static_cast<std::int64_t>(got.size()), true);
      const auto p = softmax_f64(row);
      const float m = *std::max_element(row.begin(), row.end());
      for (std::size_t j = 0; j < row.size(); ++j) {
        INFO(name << ": j = " << j << " of " << row.size() << ", logit " << row[j]);
        if (row[j] == -INFINITY) {
          REQUIRE(got[j] == -INFINITY);
          continue;
        }
        // x - (m + log Σ) in float: rounded at the magnitude of x and of m (up to 120 here), plus the
        // relative error of Σ (the exp's, ~5e-7) as an absolute one.
        const double want = std::log(p[j]);
        const double tol = 2e-6 + 2.4e-7 * (std::abs(row[j]) + std::abs(m));
        REQUIRE(std::abs(got[j] - want) <= tol);
        worst = std::max(worst, std::abs(got[j] - want) / tol);
      }
    }
    WARN(name << " path, log: largest error / tolerance " << worst);
    for (const std::int64_t n : {1, 16, 17}) {
      std::vector<float> masked(static_cast<std::size_t>(n), -INFINITY);
      row_fn(masked.data(), n, true);
      CHECK(std::all_of(masked.begin(), masked.end(), [](float v) { return v == -INFINITY; }));
    }
  }
}

TEST_CASE("softmax_row: a NaN or +inf anywhere makes the whole row NaN, on both paths, softmax and log") {
  std::vector<void (*)(float*, std::int64_t, bool)> paths = {[](float* s, std::int64_t n, bool log) { softmax_row_scalar(s, n, log); }};
#ifdef MOLM_HAVE_AVX512_KERNELS
  if (softmax_row_uses_avx512()) paths.push_back([](float* s, std::int64_t n, bool log) { softmax_row_avx512(s, n, log); });
#endif
  for (const auto row_fn : paths)
    for (const bool log : {false, true})
      for (const std::int64_t n : {1, 5, 16, 17, 40})
        for (const float bad : {NAN, INFINITY})
          for (const std::int64_t at : {std::int64_t{0}, n / 2, n - 1}) {  // n - 1: the last, tail lane
            std::vector<float> row(static_cast<std::size_t>(n));
            for (std::int64_t j = 0; j < n; ++j) row[static_cast<std::size_t>(j)] = j % 3 == 1 ? -INFINITY : 0.1f * float(j);
            row[static_cast<std::size_t>(at)] = bad;
            row_fn(row.data(), n, log);
            INFO("n = " << n << ", " << bad << " at " << at << (log ? ", log" : ""));
            CHECK(std::all_of(row.begin(), row.end(), [](float v) { return std::isnan(v); }));
          }
  // Double rows (libm path) too, and a row of only NaN.
  std::vector<double> d = {1.0, NAN, -INFINITY};
  softmax_row(d.data(), 3);
  CHECK(std::all_of(d.begin(), d.end(), [](double v) { return std::isnan(v); }));
  std::vector<float> all_nan(20, NAN);
  softmax_row(all_nan.data(), 20);
  CHECK(std::all_of(all_nan.begin(), all_nan.end(), [](float v) { return std::isnan(v); }));
}
