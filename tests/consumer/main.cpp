// An installed molm, used from outside: y = sum(tanh(x * w)) with x [2,3] and w [3] broadcast over
// rows; autograd's gradients are compared with the derivatives worked out by hand:
//   dy/dx[i][j] = w[j] * (1 - tanh(x[i][j] w[j])^2)
//   dy/dw[j]    = sum_i x[i][j] * (1 - tanh(x[i][j] w[j])^2)
#include <molm/molm.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  const std::vector<float> xs = {-1.0f, 0.5f, 2.0f, 0.25f, -0.75f, 1.5f};
  const std::vector<float> ws = {0.7f, -1.2f, 0.3f};

  molm::Tensor x = molm::from_vector<float>(xs, {2, 3});
  molm::Tensor w = molm::from_vector<float>(ws);
  x.set_requires_grad();
  w.set_requires_grad();

  molm::Tensor y = molm::sum(molm::tanh(x * w));
  y.backward();

  double y_by_hand = 0;
  std::vector<double> dw_by_hand(3, 0.0);
  int wrong = 0;
  const float* dx = x.grad().data<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      const double t = std::tanh(double(xs[i * 3 + j]) * ws[j]);
      y_by_hand += t;
      dw_by_hand[j] += xs[i * 3 + j] * (1 - t * t);
      const double expect = ws[j] * (1 - t * t);
      if (std::abs(dx[i * 3 + j] - expect) > 1e-5) {
        std::printf("dy/dx[%d][%d] = %.7f, by hand %.7f\n", i, j, dx[i * 3 + j], expect);
        ++wrong;
      }
    }
  const float* dw = w.grad().data<float>();
  for (int j = 0; j < 3; ++j)
    if (std::abs(dw[j] - dw_by_hand[j]) > 1e-5) {
      std::printf("dy/dw[%d] = %.7f, by hand %.7f\n", j, dw[j], dw_by_hand[j]);
      ++wrong;
    }
  if (std::abs(y.item<double>() - y_by_hand) > 1e-5) {
    std::printf("y = %.7f, by hand %.7f\n", y.item<double>(), y_by_hand);
    ++wrong;
  }

  std::printf("molm %s: y = %.6f, dy/dw = [%.6f, %.6f, %.6f]: %s\n", molm::version(), y.item<double>(), dw[0], dw[1],
              dw[2], wrong ? "MISMATCH" : "gradients match the analytic derivative");
  return wrong ? 1 : 0;
}
