// backend/cpu/kernels/gelu.hpp: the vectorised f32 GELU's backward against its own forward, by
// central differences taken in double from the f32 outputs, and against the analytic derivative
// Φ(x) + x·φ(x) in double. Points cover the far negative tail (x < -5, the erfc branch), the switch
// at x = -3, the derivative's zero near -0.75, the neighbourhood of 0, and large positive x; array
// sizes are not multiples of the 16-float vector and one spans two of the kernel's 4096-element
// chunks, so every point is also met in a vector tail.
//
// The checks must be able to fail: the same tolerances reject plausible wrong derivatives (the x·φ
// term dropped, φ without its 1/√(2π), the tail branch with erfc's sign flipped, the tanh GELU's
// derivative), which the last test case asserts.
#include "support/testing.hpp"

#include <molm/backend/cpu/kernels/gelu.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>

using namespace molm;

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440, kInvSqrt2Pi = 0.39894228040143267794;

double phi(double x) { return kInvSqrt2Pi * std::exp(-0.5 * x * x); }  // standard normal density
double Phi(double x) { return 0.5 * std::erfc(-x * kInvSqrt2); }       // its CDF, accurate in the tail
double gelu(double x) { return x * Phi(x); }
double gelu_grad(double x) { return Phi(x) + x * phi(x); }

/// The test points: hand-picked ones in every region and a sweep over [-12, 12] with a step that
/// is no round number.
std::vector<float> points() {
  std::vector<float> p = {-12.0f, -11.0f, -10.0f, -9.5f, -8.0f, -7.0f, -6.0f, -5.5f, -5.25f, -5.0f, -4.0f, -3.5f,
                          -3.01f, -3.0f, -2.99f, -2.5f, -2.0f, -1.5f, -1.0f, -0.7518f, -0.5f, -0.25f, -1e-2f, -1e-3f,
                          -1e-6f, 0.0f, 1e-6f, 1e-3f, 1e-2f, 0.25f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f,
                          5.0f, 6.0f, 8.0f, 10.0f, 20.0f, 100.0f, 1e3f, 1e4f};
  for (double x = -12.0; x <= 12.0; x += 0.0371) p.push_back(static_cast<float>(x));
  return p;
}

/// The kernel's forward / backward (dy = 1: the derivative itself) on `x` as one array.
std::vector<float> kernel_forward(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  backend::gelu_forward_f32(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  return y;
}
std::vector<float> kernel_backward(const std::vector<float>& x, const std::vector<float>& dy) {
  std::vector<float> dx(x.size());
  backend::gelu_backward_f32(dy.data(), x.data(), dx.data(), static_cast<std::int64_t>(x.size()));
  return dx;
}

/// Step of the central difference at x, and the allowed |derivative - central difference|. The
/// error of a central difference is its truncation, ~ h²·|f‴|/6, plus the noise of the two f32
/// values, ~ (rounding of f) / h; the step balances the two in each region:
///   x < -3 (the erfc branch): f and f' are tiny but keep their relative precision, except that the
///     rounding of the argument x/√2 moves erfc by ~x²·6e-8 relative, so a difference is only good
///     to ~|x|·6e-8/h relative; f‴/f' grows like x²: h = 2⁻⁹ and a relative tolerance.
///   -3 ≤ x ≤ 1: 1 + erf(x/√2) cancels below -1, where Eigen's packet erf carries ~1e-7 of rounding
///     noise, and |f‴| ≤ 0.75: h = 2⁻⁶ keeps both near 2e-5 (and spans the switch to erfc at -3).
///   x > 1: f is almost x, so its rounding grows with x, and so does the step.
/// Measured: the worst difference is a third of its tolerance. A wrong derivative still fails: see
/// the last test case.
double step(float x) { return x < -3 ? 1.0 / 512 : x <= 1 ? 1.0 / 64 : double(x) / 64; }
double fd_tolerance(float x, double want) {
  return x < -5 ? 1e-3 * std::abs(want) : x < -3 ? 3e-4 * std::abs(want) : 1e-4 + 1e-4 * std::abs(want);
}

/// Allowed |kernel derivative - analytic derivative in double|. Eigen's erf is within 4e-7 of erf,
/// so Φ within 2e-7: absolute 1e-6 plus relative 1e-5 above the tail; relative 1e-5 in the tail
/// (erfc and exp in f32). Measured worst cases: 1.5e-7 absolute, 3.7e-6 relative in the tail.
double analytic_tolerance(float x, double want) {
  return x < -3 ? 1e-5 * std::abs(want) : 1e-6 + 1e-5 * std::abs(want);
}

/// Central differences of the f32 forward at every x, with all x + h and all x - h in one call each.
std::vector<double> central_differences(const std::vector<float>& x) {
  std::vector<float> xp(x.size()), xm(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    xp[i] = static_cast<float>(x[i] + step(x[i]));
    xm[i] = static_cast<float>(x[i] - step(x[i]));
  }
  const auto yp = kernel_forward(xp), ym = kernel_forward(xm);
  std::vector<double> fd(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    fd[i] = (double(yp[i]) - double(ym[i])) / (double(xp[i]) - double(xm[i]));  // the steps as rounded
  return fd;
}

/// How many points a derivative misses the central differences at (with fd_tolerance).
std::size_t fd_misses(const std::vector<float>& x, const std::vector<double>& fd, const std::function<double(float)>& d) {
  std::size_t misses = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!(std::abs(d(x[i]) - fd[i]) <= fd_tolerance(x[i], gelu_grad(x[i])))) ++misses;
  return misses;
}

/// Points reordered at random and cut to `n` (repeating them where n is larger), so each lands at
/// many lane positions across the sizes.
std::vector<float> arrange(std::size_t n, unsigned seed) {
  std::vector<float> p = points();
  std::shuffle(p.begin(), p.end(), std::mt19937(seed));
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = p[i % p.size()];
  return out;
}

const std::size_t kSizes[] = {1, 7, 15, 17, 31, 33, 100, 1001, 4096 + 13};

}  // namespace

TEST_CASE("gelu f32: the forward equals x·Φ(x) in double", "[backend][gelu]") {
  for (const std::size_t n : kSizes) {
    const auto x = arrange(n, static_cast<unsigned>(n));
    const auto y = kernel_forward(x);
    double worst = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double want = gelu(x[i]);
      INFO("n = " << n << ", x = " << x[i] << ": " << y[i] << " vs " << want);
      // Eigen's erf: 4e-7 absolute on erf, so 2e-7·|x| on y; the tail's erfc keeps relative precision.
      const double tol = x[i] < -3 ? 1e-5 * std::abs(want) : 2e-7 * std::abs(x[i]) + 1e-6 * std::abs(want) + 1e-30;
      CHECK(std::abs(y[i] - want) <= tol);
      worst = std::max(worst, std::abs(y[i] - want) / tol);
    }
    CHECK(worst <= 1.0);
  }
}

TEST_CASE("gelu f32: the backward equals central differences of the forward", "[backend][gelu]") {
  for (const std::size_t n : kSizes) {
    const auto x = arrange(n, static_cast<unsigned>(n) + 1);
    const auto fd = central_differences(x);
    const auto dx = kernel_backward(x, std::vector<float>(n, 1.0f));
    double worst = 0;  // of error / tolerance
    for (std::size_t i = 0; i < n; ++i) {
      const double err = std::abs(dx[i] - fd[i]);
      INFO("n = " << n << ", x = " << x[i] << ": backward " << dx[i] << ", central difference " << fd[i]
                  << ", analytic " << gelu_grad(x[i]));
      CHECK(err <= fd_tolerance(x[i], gelu_grad(x[i])));
      worst = std::max(worst, err / fd_tolerance(x[i], gelu_grad(x[i])));
    }
    if (n == kSizes[std::size(kSizes) - 1])
      WARN("largest |backward - central difference| / tolerance: " << worst);
  }
}

TEST_CASE("gelu f32: the backward equals Φ(x) + x·φ(x) in double, times dy", "[backend][gelu]") {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> coin(-2.0f, 2.0f);
  for (const std::size_t n : kSizes) {
    const auto x = arrange(n, static_cast<unsigned>(n) + 2);
    std::vector<float> dy(n);
    for (auto& g : dy) g = coin(rng);
    const auto ones = kernel_backward(x, std::vector<float>(n, 1.0f));
    const auto dx = kernel_backward(x, dy);
    double worst_tail = 0, worst_rest = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double want = gelu_grad(x[i]);
      INFO("n = " << n << ", x = " << x[i] << ": " << ones[i] << " vs " << want);
      CHECK(std::abs(ones[i] - want) <= analytic_tolerance(x[i], want));
      CHECK(std::abs(dx[i] - double(dy[i]) * want) <= std::abs(dy[i]) * analytic_tolerance(x[i], want));
      if (x[i] < -3) worst_tail = std::max(worst_tail, std::abs(ones[i] - want) / std::abs(want));
      else worst_rest = std::max(worst_rest, std::abs(ones[i] - want));
    }
    if (n == kSizes[std::size(kSizes) - 1])
      WARN("largest |backward - analytic|: " << worst_tail << " relative (x < -3), " << worst_rest
                                             << " absolute (elsewhere)");
  }
  // Exact values where they are exact: the derivative is 1/2 at 0 and 1 far out.
  CHECK(kernel_backward({0.0f}, {1.0f})[0] == 0.5f);
  CHECK(kernel_backward({1e4f}, {1.0f})[0] == 1.0f);
  CHECK(kernel_backward({-1e4f}, {1.0f})[0] == 0.0f);
}

TEST_CASE("gelu f32: the same tolerances reject wrong derivatives", "[backend][gelu]") {
  const auto x = arrange(4096 + 13, 3);
  const auto fd = central_differences(x);
  const std::size_t n = x.size();
  REQUIRE(fd_misses(x, fd, [](float v) { return gelu_grad(v); }) == 0);
  const auto analytic_misses = [&](const std::function<double(float)>& d) {
    std::size_t misses = 0;
    for (const float v : x)
      if (!(std::abs(d(v) - gelu_grad(v)) <= analytic_tolerance(v, gelu_grad(v)))) ++misses;
    return misses;
  };
  const struct {
    const char* what;
    std::function<double(float)> d;
    double min_fraction;  // of all points that the central differences must reject
  } wrong[] = {
      {"x·φ(x) dropped", [](float v) { return Phi(v); }, 0.5},
      {"φ without 1/√(2π)", [](float v) { return Phi(v) + v * std::exp(-0.5 * double(v) * v); }, 0.5},
      {"tail branch with erfc's sign flipped",
       [](float v) { return v < -3 ? 0.5 * std::erfc(v * kInvSqrt2) + v * phi(v) : gelu_grad(v); }, 0.1},
      {"the tanh GELU's derivative",
       [](float v) {
         const double c = 0.79788456080286535588, a = 0.044715, u = c * (v + a * double(v) * v * v);
         const double t = std::tanh(u);
         return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * a * double(v) * v);
       },
       0.2},
  };
  for (const auto& w : wrong) {
    const std::size_t misses = fd_misses(x, fd, w.d);
    INFO(w.what << ": rejected at " << misses << " of " << n << " points");
    CHECK(double(misses) >= w.min_fraction * double(n));
    CHECK(double(analytic_misses(w.d)) >= w.min_fraction * double(n));
  }
  // Only in the tail: the Φ(x) term dropped there, where x·φ(x) is nearly all of the derivative.
  const auto tail_only = [](float v) { return v < -5 ? v * phi(v) : gelu_grad(v); };
  std::size_t tail_points = 0;
  for (const float v : x) tail_points += v < -5;
  CHECK(fd_misses(x, fd, tail_only) == tail_points);
}
