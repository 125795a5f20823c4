// A whole-tensor sum runs on every thread with fixed chunking (backend/cpu/reduce.hpp,
// sum_contiguous): the result must not depend on the thread count, and must equal the exact sum to
// the accuracy of its accumulator.
#include "support/testing.hpp"

#include <cstring>

using namespace molm;

namespace {
/// The bits of a one-element tensor's value.
template <class T> std::uint64_t bits_of(const Tensor& t) {
  T v = t.contiguous().data<T>()[0];
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
}  // namespace

TEST_CASE("sum of a large tensor is identical for 1, 2, 3 and 4 threads") {
  Generator gen(7);
  const std::int64_t n = 3 * (std::int64_t{1} << 16) + 12345;  // chunks plus a ragged tail
  const Tensor x = randn({n}, gen);
  const int saved = num_threads();
  std::vector<std::uint64_t> f32, mean32, bf16;
  const Tensor xb = x.to(DType::bf16);
  for (int t : {1, 2, 3, 4}) {
    set_num_threads(t);
    f32.push_back(bits_of<float>(sum(x)));
    mean32.push_back(bits_of<float>(mean(x)));
    bf16.push_back(bits_of<bfloat16>(sum(xb)));
  }
  set_num_threads(saved);
  for (std::size_t i = 1; i < f32.size(); ++i) {
    CHECK(f32[i] == f32[0]);
    CHECK(mean32[i] == mean32[0]);
    CHECK(bf16[i] == bf16[0]);
  }
}

TEST_CASE("sum of a large tensor equals the exact sum (f32 via double, bf16 via float)") {
  Generator gen(8);
  const std::int64_t n = 1 << 20;
  const Tensor x = randn({n}, gen, DType::f32, 1.0, 2.0);  // mean 1: the sum is far from 0, cancellation is mild
  const float* p = x.data<float>();
  long double exact = 0;
  for (std::int64_t i = 0; i < n; ++i) exact += p[i];
  const double got = sum(x).item<double>();
  CHECK(std::abs(got - static_cast<double>(exact)) <= 1e-6 * std::abs(static_cast<double>(exact)));
  CHECK(std::abs(mean(x).item<double>() - static_cast<double>(exact) / n) <= 1e-6);
  // The reference backend's one sequential loop agrees to f32 rounding.
  Tensor ref;
  {
    backend::ReferenceGuard guard;
    ref = sum(x);
  }
  CHECK(std::abs(ref.item<double>() - got) <= 1e-6 * std::abs(got));

  const Tensor xb = x.to(DType::bf16);
  const Tensor xb32 = xb.to(DType::f32);
  long double exact_b = 0;
  for (std::int64_t i = 0; i < n; ++i) exact_b += xb32.data<float>()[i];
  // Float accumulators (4096 elements per lane in a chunk): relative error well under 1e-5,
  // then one bf16 rounding (2^-8).
  CHECK(std::abs(sum(xb).item<double>() - static_cast<double>(exact_b)) <= 5e-3 * static_cast<double>(exact_b));
}

TEST_CASE("strided and small sums keep the exact sequential order") {
  Generator gen(9);
  const Tensor x = randn({512, 300}, gen);
  const Tensor xt = x.transpose(0, 1);  // not contiguous: the per-output path
  Tensor ref;
  {
    backend::ReferenceGuard guard;
    ref = sum(xt);
  }
  CHECK(bits_of<float>(sum(xt)) == bits_of<float>(ref));
  const Tensor small = randn({1000}, gen);
  Tensor ref_small;
  {
    backend::ReferenceGuard guard;
    ref_small = sum(small);
  }
  CHECK(bits_of<float>(sum(small)) == bits_of<float>(ref_small));
}
