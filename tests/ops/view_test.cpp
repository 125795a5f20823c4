// ops/view.hpp: gradients through every view, copy and conversion.
#include "support/testing.hpp"

using namespace molm;
using molm::testing::gradcheck;

TEST_CASE("views: gradients flow back through every view kind", "[ops][views]") {
  for (int layout = 0; layout < 3; ++layout) {
    Tensor base = testing::random({3, 4, 6}, 21);
    Tensor x = layout == 0 ? base : layout == 1 ? testing::transposed_layout(base) : testing::sliced_layout(base);
    x.set_requires_grad();
    INFO("layout " << layout);
    using V = std::vector<Tensor>;
    gradcheck([](const V& in) { return in[0].reshape({12, 6}); }, {x});
    gradcheck([](const V& in) { return in[0].permute({2, 0, 1}); }, {x});
    gradcheck([](const V& in) { return in[0].transpose(0, 2); }, {x});
    gradcheck([](const V& in) { return in[0].slice(2, 1, 6, 2); }, {x});
    gradcheck([](const V& in) { return in[0].narrow(1, 1, 2); }, {x});
    gradcheck([](const V& in) { return in[0].select(0, 2); }, {x});
    gradcheck([](const V& in) { return in[0].unsqueeze(1).expand({3, 5, 4, 6}); }, {x});
    gradcheck([](const V& in) { return in[0].flatten(1).unsqueeze(0).squeeze(0); }, {x});
    gradcheck([](const V& in) { return in[0].contiguous() * 1.0; }, {x});
    gradcheck([](const V& in) { return in[0].clone(); }, {x});
    gradcheck([](const V& in) { return in[0].to(DType::f32).to(DType::f64); }, {x}, 1e-3, 1e-4, 1e-5);
  }
}

TEST_CASE("views of views accumulate gradients in the right places", "[ops][views]") {
  Tensor x = testing::random({4, 5}, 2).set_requires_grad();
  gradcheck([](const std::vector<Tensor>& in) { return in[0].slice(0, 1, 4) + in[0].slice(0, 0, 3) * 2.0; }, {x});
  gradcheck([](const std::vector<Tensor>& in) { return in[0].select(1, 0) * in[0].select(1, 4); }, {x});
}

TEST_CASE("copies: reference and optimised kernels agree on every dtype", "[ops][views]") {
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i64, DType::i32, DType::u8}) {
    Tensor x = testing::random({17, 33}, 8, DType::f64, 0, 100).to(dt);
    INFO(name(dt));
    testing::require_matches_reference([&] { return x.transpose(0, 1).contiguous(); }, 0.0);
    testing::require_matches_reference([&] { return x.to(DType::f32); }, 0.0);
  }
}
