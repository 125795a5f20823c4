// Shared test helpers: value extraction, closeness checks, finite-difference gradient checks,
// reference-vs-optimised comparison, non-contiguous variants of inputs, golden-file paths, scratch
// folders, file bytes and error texts.
#pragma once

#include <catch2/catch.hpp>
#include <molm/molm.hpp>
#include <molm/backend/cpu/reference/loops.hpp>
#include <molm/data/conformer_cache.hpp>
#include <molm/io/llama2c.hpp>
#include <molm/io/lora_file.hpp>
#include <molm/io/npy.hpp>
#include <molm/io/torch_checkpoint.hpp>

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace molm::testing {

/// All elements of t (any dtype, any strides) as doubles, in row-major order.
inline std::vector<double> values(const Tensor& t) {
  Tensor c = t.detach().to(DType::f64).contiguous();
  const double* p = c.data<double>();
  return {p, p + c.numel()};
}

/// Largest |a-b| / (atol + rtol*|b|) over all elements; <= 1 means close.
inline double closeness(const Tensor& a, const Tensor& b, double rtol, double atol) {
  REQUIRE(a.shape() == b.shape());
  const auto va = values(a), vb = values(b);
  double worst = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) && std::isnan(vb[i])) continue;
    if (std::isinf(va[i]) && va[i] == vb[i]) continue;
    worst = std::max(worst, std::abs(va[i] - vb[i]) / (atol + rtol * std::abs(vb[i])));
    if (std::isnan(va[i]) != std::isnan(vb[i])) worst = INFINITY;
  }
  return worst;
}

/// Check |a - b| <= atol + rtol·|b| elementwise, reporting the first offending element.
inline void require_close(const Tensor& a, const Tensor& b, double rtol, double atol = 0.0) {
  INFO("shapes " << a.shape().str() << " vs " << b.shape().str());
  REQUIRE(a.shape() == b.shape());
  const auto va = values(a), vb = values(b);
  for (std::size_t i = 0; i < va.size(); ++i) {
    const bool both_nan = std::isnan(va[i]) && std::isnan(vb[i]);
    const bool same_inf = std::isinf(va[i]) && va[i] == vb[i];
    if (both_nan || same_inf) continue;
    INFO("element " << i << ": " << va[i] << " vs " << vb[i] << " (rtol " << rtol << ", atol " << atol << ")");
    REQUIRE(std::abs(va[i] - vb[i]) <= atol + rtol * std::abs(vb[i]));
  }
}

/// A random tensor with values in [low, high), from a fixed seed.
inline Tensor random(const Shape& shape, std::uint64_t seed, DType dtype = DType::f64, double low = -1.0,
                     double high = 1.0) {
  Generator g(seed);
  return rand(shape, g, dtype, low, high);
}

/// The same values as `t` but laid out transposed in memory (a non-contiguous leaf).
inline Tensor transposed_layout(const Tensor& t) {
  if (t.dim() < 2) return t.detach().clone();
  Tensor store = t.detach().transpose(-1, -2).contiguous();  // memory holds t^T densely
  return store.transpose(-1, -2).detach();                   // a view with t's shape, non-contiguous
}

/// The same values as `t` but as a strided slice of a larger buffer (every other element, last dim).
inline Tensor sliced_layout(const Tensor& t) {
  Shape big = t.shape();
  if (big.empty()) return t.detach().clone();
  big[big.size() - 1] *= 2;
  Tensor store = zeros(big, t.dtype());
  no_grad ng;
  Tensor view = store.slice(-1, 0, big.back(), 2);
  view.copy_(t.detach());
  return view.detach();
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

/// Finite-difference gradient check (central differences, f64). `inputs` are leaves (any layout);
/// those with requires_grad are checked. The scalar checked is L = Σ f(x) ⊙ w for a fixed random w,
/// so every output element's gradient path is exercised.
inline void gradcheck(const Fn& f, std::vector<Tensor> inputs, double eps = 1e-6, double rtol = 1e-5,
                      double atol = 1e-7) {
  for (auto& x : inputs) REQUIRE((!x.requires_grad() || x.dtype() == DType::f64));
  Tensor y0;
  {
    no_grad ng;
    y0 = f(inputs);
  }
  const Tensor w = random(y0.shape(), 0xC0FFEE, DType::f64, 0.5, 1.5);
  auto loss = [&](const std::vector<Tensor>& xs) {
    no_grad ng;
    return sum(mul(f(xs), w)).item<double>();
  };
  for (auto& x : inputs) x.zero_grad();
  Tensor L = sum(mul(f(inputs), w));
  L.backward();
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    Tensor x = inputs[k];
    if (!x.requires_grad()) continue;
    const Tensor analytic = x.grad();
    REQUIRE(analytic.defined());
    REQUIRE(analytic.shape() == x.shape());
    const auto an = values(analytic);
    // Perturb each element through the tensor's own strides.
    double* base = static_cast<double*>(x.storage()->data());
    std::int64_t lin = 0;
    backend::reference::for_each_index(x.shape(), [&](const auto& idx) {
      double* p = base + x.offset() + backend::reference::offset_of(idx, x.strides());
      const double orig = *p;
      *p = orig + eps;
      const double lp = loss(inputs);
      *p = orig - eps;
      const double lm = loss(inputs);
      *p = orig;
      const double numeric = (lp - lm) / (2 * eps);
      INFO("input " << k << " " << x.shape().str() << " element " << lin << ": analytic " << an[lin]
                    << " numeric " << numeric);
      REQUIRE(std::abs(an[lin] - numeric) <= atol + rtol * std::abs(numeric) + 1e-6 * std::abs(numeric));
      ++lin;
    });
  }
}

/// Run f with the reference kernels and with the optimised kernels; results must agree.
inline void require_matches_reference(const std::function<Tensor()>& f, double rtol, double atol = 0.0) {
  Tensor ref;
  {
    backend::ReferenceGuard g;
    ref = f();
  }
  Tensor opt = f();
  require_close(opt, ref, rtol, atol);
}

/// Directory of committed golden files (tests/golden/data).
inline std::filesystem::path golden_dir() { return std::filesystem::path(MOLM_SOURCE_DIR) / "tests/golden/data"; }

/// ../shared/data, or MOLM_DATA_DIR when set.
inline std::filesystem::path shared_data_dir() {
  if (const char* d = std::getenv("MOLM_DATA_DIR")) return d;
  return MOLM_SHARED_DATA_DIR;
}

/// Skip the whole test program (exit 77, which CTest reports as skipped) unless every path exists,
/// saying which one is absent. Call it before any TEST_CASE runs (e.g. from a namespace-scope
/// initializer), so a skip never hides a failure.
inline void skip_unless_present(std::initializer_list<std::filesystem::path> paths) {
  for (const auto& p : paths) {
    if (std::filesystem::exists(p)) continue;
    std::fprintf(stderr, "SKIP: %s is absent (set MOLM_DATA_DIR to the shared data folder)\n", p.c_str());
    std::exit(77);
  }
}

/// This process's scratch folder (named by pid, so parallel or sanitizer runs of a test cannot
/// collide), removed when the test program exits.
inline const std::filesystem::path& scratch_root() {
  static const struct Root {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("molm_test_" + std::to_string(::getpid()));
    Root() { std::filesystem::create_directories(path); }
    ~Root() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } root;
  return root.path;
}

/// A fresh, empty folder `sub` under scratch_root().
inline std::filesystem::path scratch_dir(const std::string& sub) {
  const auto dir = scratch_root() / sub;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// The whole file, as text bytes or as std::byte.
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
inline std::vector<std::byte> read_file_bytes(const std::filesystem::path& p) {
  const std::string s = read_file(p);
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

/// The message of the molm::error `f` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

}  // namespace molm::testing
