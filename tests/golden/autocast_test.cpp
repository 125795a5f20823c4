// Golden values from PyTorch 2.1.2 (tests/golden/gen_autocast.py → tests/golden/data/autocast/): a
// chain with one op of each autocast rule of autograd/autocast.hpp — linear and matmul (bf16 result),
// LayerNorm on a bf16 input with f32 parameters (bf16 result), GELU and softmax on bf16, an f32 + bf16
// add (f32 result), cross-entropy on bf16 logits (f32 loss) — run under torch.autocast("cpu",
// bfloat16) and under molm's autocast on the same f32 leaves: every intermediate's dtype equals
// torch's; values and the f32 leaves' gradients agree to bf16 precision.
//
// Tolerances: both sides round the same f32 values to bf16 at the same points, so most elements are
// bit-identical; the GEMMs (oneDNN 2.6 against torch's bundled oneDNN) may sum in another order and
// land one bf16 step (2⁻⁸ relative) apart, which later steps can carry: rtol 2e-2, atol 1e-2 for
// values, rtol 3e-2 and atol 3e-2 for gradients (they pass through bf16 products), and the first
// product must match bit for bit in ≥ 90% of its elements.
#include "support/testing.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

using namespace molm;

namespace {
std::filesystem::path autocast_dir() { return testing::golden_dir() / "autocast"; }
Tensor autocast_golden(const std::string& name) { return load_npy(autocast_dir() / (name + ".npy")); }

DType autocast_torch_dtype(const nlohmann::json& dtypes, const std::string& name) {
  const std::string t = dtypes.at(name).get<std::string>();
  return t == "bfloat16" ? DType::bf16 : t == "float32" ? DType::f32 : DType::f64;
}
}  // namespace

TEST_CASE("golden autocast: dtypes, values and gradients equal torch 2.1.2's CPU bf16 autocast", "[autocast]") {
  std::ifstream in(autocast_dir() / "dtypes.json");
  REQUIRE(in);
  const nlohmann::json dtypes = nlohmann::json::parse(in);
  std::map<std::string, Tensor> p;
  for (const char* k : {"x", "W", "b", "g", "beta", "x2", "M"}) {
    p[k] = autocast_golden(k);
    REQUIRE(p[k].dtype() == DType::f32);
    p[k].set_requires_grad();
  }
  const Tensor t = autocast_golden("t"), w = autocast_golden("w");

  std::map<std::string, Tensor> step;
  {
    autocast guard;
    step["h"] = linear(p["x"], p["W"], p["b"]);
    step["n"] = layer_norm(step["h"], p["g"], p["beta"]);
    step["a"] = gelu(step["n"]);
    step["r"] = add(step["a"], p["x2"]);
    step["m"] = matmul(step["r"], p["M"]);
    step["s"] = softmax(step["m"]);
    step["ce"] = cross_entropy(step["m"].reshape({10, 6}), t, {.label_smoothing = 0.1});
    step["loss"] = add(step["ce"], sum(mul(step["s"].to(DType::f32), w)));
  }
  for (const auto& [k, v] : step) {
    INFO("step " << k);
    CHECK(v.dtype() == autocast_torch_dtype(dtypes, k));
    testing::require_close(v, autocast_golden(k), 2e-2, 1e-2);
  }
  // The first product: the same rounding points, so bit-identical but for summation order.
  const auto mine = testing::values(step["h"]), theirs = testing::values(autocast_golden("h"));
  std::size_t same = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) same += mine[i] == theirs[i];
  INFO(same << " of " << mine.size() << " elements of h bit-identical");
  CHECK(same >= 9 * mine.size() / 10);

  step["loss"].backward();
  for (const auto& [k, v] : p) {
    INFO("gradient d" << k);
    CHECK(v.grad().dtype() == autocast_torch_dtype(dtypes, "d" + k));
    testing::require_close(v.grad(), autocast_golden("d" + k), 3e-2, 3e-2);
  }
}
