// A tour of molm's tensors and autograd in one file, meant to be read top to bottom:
//   1. make tensors and combine them (broadcasting, reductions);
//   2. let autograd differentiate a small expression and check it against calculus by hand;
//   3. fit a two-layer network to y = sin(x) with gradient descent written out in a few lines.
// Build and run:  cmake --build build --target example_autograd_tour && build/bin/example_autograd_tour
#include <molm/molm.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <vector>

using molm::Tensor;

namespace {

// ---- 1. tensors ----------------------------------------------------------------------------------
void tensors() {
  std::cout << "== 1. tensors\n";
  Tensor a = molm::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});  // 2 rows, 3 columns
  Tensor row = molm::from_vector<float>({10, 20, 30});              // shape [3]
  // Shapes broadcast like NumPy: [2,3] + [3] adds `row` to each row of `a`.
  Tensor b = a + row;
  std::cout << "a       = " << a << "\n";
  std::cout << "a + row = " << b << "\n";
  // Reductions take the dimensions to reduce; none means all of them.
  std::cout << "sum(a, dim 1) = " << molm::sum(a, {1}) << "\n";
  std::cout << "mean(a)       = " << molm::mean(a).item<float>() << "\n";
  // A transposed view shares a's memory: no copy is made.
  std::cout << "a^T           = " << a.transpose(0, 1) << "\n\n";
}

// ---- 2. autograd ---------------------------------------------------------------------------------
// y = sum(tanh(w * x)), so dy/dx_i = w * (1 - tanh(w x_i)^2): compare autograd with that formula.
void autograd() {
  std::cout << "== 2. autograd\n";
  const std::vector<float> xs = {-1.0f, 0.5f, 2.0f};
  const float w = 0.7f;
  Tensor x = molm::from_vector<float>(xs);
  x.set_requires_grad();  // a leaf whose gradient we want

  Tensor y = molm::sum(molm::tanh(x * w));  // the graph is recorded as the ops run
  y.backward();                              // fills x.grad()

  const float* g = x.grad().data<float>();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const float t = std::tanh(w * xs[i]);
    std::printf("dy/dx[%zu]: autograd %.6f   by hand %.6f\n", i, g[i], w * (1 - t * t));
  }
  std::cout << "\n";
}

// ---- 3. a two-layer network, trained ---------------------------------------------------------------
// prediction(x) = sum_j w2[j] * tanh(w1[j] * x + b1[j]) + b2, a network with one input, H hidden
// units and one output. With one input feature, the first layer's matrix product is a broadcast
// multiply ([N,1] * [1,H] -> [N,H]) and the second layer's is a multiply and a sum over H.
bool train() {
  std::cout << "== 3. fit y = sin(x) with a 1-16-1 tanh network, plain gradient descent\n";
  constexpr int N = 64, H = 16, steps = 200;
  constexpr double learning_rate = 0.1;

  // Data: N points on [-3, 3] and their targets.
  std::vector<float> xv(N), yv(N);
  for (int i = 0; i < N; ++i) {
    xv[i] = -3.0f + 6.0f * static_cast<float>(i) / (N - 1);
    yv[i] = std::sin(xv[i]);
  }
  const Tensor x = molm::from_vector<float>(xv, {N, 1});
  const Tensor target = molm::from_vector<float>(yv, {N});

  // Parameters: seeded random weights, zero biases. Same seed, same run, on any thread count.
  molm::Generator gen(42);
  Tensor w1 = molm::randn({1, H}, gen, molm::DType::f32, 0.0, 1.0);
  Tensor b1 = molm::zeros({H});
  Tensor w2 = molm::randn({H}, gen, molm::DType::f32, 0.0, 1.0 / std::sqrt(double(H)));
  Tensor b2 = molm::zeros({1});
  std::vector<Tensor*> params = {&w1, &b1, &w2, &b2};
  for (Tensor* p : params) p->set_requires_grad();

  double first_loss = 0, last_loss = 0;
  for (int step = 0; step <= steps; ++step) {
    // Forward: the graph is rebuilt every step.
    Tensor hidden = molm::tanh(x * w1 + b1);                // [N, H]
    Tensor prediction = molm::sum(hidden * w2, {1}) + b2;   // [N]
    Tensor loss = molm::mean(molm::pow(prediction - target, 2.0));

    // Backward: gradients of the loss land in each parameter's grad().
    loss.backward();

    // Update: p <- p - lr * dloss/dp. Under no_grad, so the update is not part of any graph.
    {
      molm::no_grad no_recording;
      for (Tensor* p : params) {
        p->copy_(*p - p->grad() * learning_rate);
        p->zero_grad();  // gradients accumulate otherwise
      }
    }

    last_loss = loss.item<double>();
    if (step == 0) first_loss = last_loss;
    if (step % 20 == 0) std::printf("step %3d   loss %.5f\n", step, last_loss);
  }

  // A few predictions next to the truth.
  molm::no_grad no_recording;
  const Tensor prediction = molm::sum(molm::tanh(x * w1 + b1) * w2, {1}) + b2;
  const float* p = prediction.data<float>();
  for (int i : {0, 16, 32, 48, 63}) std::printf("x = %+.2f   sin(x) = %+.3f   network = %+.3f\n", xv[i], yv[i], p[i]);

  const bool learned = last_loss < first_loss / 4;
  std::printf("loss %.5f -> %.5f: %s\n", first_loss, last_loss, learned ? "the network learned" : "NOT learning");
  return learned;
}

}  // namespace

int main() {
  tensors();
  autograd();
  return train() ? 0 : 1;
}
