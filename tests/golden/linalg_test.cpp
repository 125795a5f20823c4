// Golden values from PyTorch 2.1.2 (tests/golden/gen_linalg.py → tests/golden/data/linalg/) for
// torch.matmul with broadcast batch dims, a shared right operand and a vector operand, and F.linear
// with and without bias: outputs, and gradients of the weighted-sum loss Σ y ⊙ w. Every case runs on
// dense inputs and again on inputs laid out transposed in memory (strided operands).
//
// Tolerances: f64 rtol 1e-10, atol 1e-12 — both sides sum ≤ 40 double products, in different
// orders. f32 rtol 1e-5, atol 1e-5 — float accumulation on both sides (oneDNN against MKL);
// atol covers outputs and gradients that cancel to near 0.
#include "support/testing.hpp"

#include <filesystem>
#include <functional>
#include <map>
#include <string>

using namespace molm;

namespace {
struct Tolerance {
  double rtol, atol;
};
const std::map<std::string, Tolerance> kTolerance{{"f64", {1e-10, 1e-12}}, {"f32", {1e-5, 1e-5}}};

std::filesystem::path golden_file(const std::string& name, const std::string& dt, const std::string& tensor) {
  return testing::golden_dir() / "linalg" / (name + "_" + dt + "_" + tensor + ".npy");
}

/// Run `f` on the case's inputs (f64 and f32; dense and transposed in memory), compare its output
/// with PyTorch's, backpropagate w and compare the gradient of every input.
void check_golden(const std::string& name, const std::vector<std::string>& inputs,
                  const std::function<Tensor(const std::map<std::string, Tensor>&)>& f) {
  for (const auto& [dt, tol] : kTolerance)
    for (bool transposed : {false, true}) {
      INFO(name << " " << dt << (transposed ? " transposed layout" : " dense"));
      std::map<std::string, Tensor> in;
      for (const auto& k : inputs) {
        Tensor t = load_npy(golden_file(name, dt, k));
        in[k] = transposed ? testing::transposed_layout(t) : t;
        in[k].set_requires_grad();
      }
      Tensor y = f(in);
      {
        INFO("output");
        testing::require_close(y, load_npy(golden_file(name, dt, "y")), tol.rtol, tol.atol);
      }
      y.backward(load_npy(golden_file(name, dt, "w")));
      for (const auto& k : inputs) {
        INFO("gradient d" << k);
        testing::require_close(in[k].grad(), load_npy(golden_file(name, dt, "d" + k)), tol.rtol, tol.atol);
      }
    }
}

Tensor matmul_of(const std::map<std::string, Tensor>& in) { return matmul(in.at("a"), in.at("b")); }
}  // namespace

TEST_CASE("golden linalg: matmul with broadcast batch dims", "[golden][linalg]") {
  check_golden("matmul_bcast", {"a", "b"}, matmul_of);       // [2, 1, 3, 4] @ [5, 4, 2]
  check_golden("matmul_bcast_wide", {"a", "b"}, matmul_of);  // [3, 1, 7, 40] @ [4, 40, 9]
}

TEST_CASE("golden linalg: matmul with a shared right operand and with a vector", "[golden][linalg]") {
  check_golden("matmul_shared_b", {"a", "b"}, matmul_of);   // [2, 3, 8, 16] @ [16, 6]
  check_golden("matmul_vec_batch", {"a", "b"}, matmul_of);  // [5] @ [3, 5, 4]
}

TEST_CASE("golden linalg: linear with and without bias", "[golden][linalg]") {
  check_golden("linear", {"x", "weight", "bias"},
               [](const auto& in) { return linear(in.at("x"), in.at("weight"), in.at("bias")); });
  check_golden("linear_nobias", {"x", "weight"}, [](const auto& in) { return linear(in.at("x"), in.at("weight")); });
}
