// The dispatch seam (backend/registry.hpp): ops reach a backend registered from another translation
// unit (counting_backend_test.cpp) that no op header knows; a missing kernel is a clear error; an
// explicit fallback serves what a backend lacks; the reference backend is reached the same way.
#include "backend/counting_backend.hpp"
#include "support/testing.hpp"

using namespace molm;
using molm::testing::counting_calls;

namespace {
Tensor sample(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen);
}
}  // namespace

TEST_CASE("ops reach a backend registered in another translation unit, and give the cpu results") {
  const Tensor x = sample({4, 6}, 1), w = sample({6, 3}, 2), b = sample({3}, 3);
  const Tensor expect = sum(log_softmax(gelu(linear(x, w.transpose(0, 1), b)) * 2.0));

  counting_calls().clear();
  Tensor got;
  {
    backend::BackendGuard guard(testing::counting_backend());
    CHECK(backend::current(kCPU) == testing::counting_backend());
    got = sum(log_softmax(gelu(linear(x, w.transpose(0, 1), b)) * 2.0));
  }
  CHECK(backend::current(kCPU) == backend::kCpu);
  const auto& calls = counting_calls();
  CHECK(calls.count("matmul") == 1);
  CHECK(calls.at("unary") >= 2);  // gelu, ·2
  CHECK(calls.at("softmax_forward") == 1);
  CHECK(calls.at("sum") == 1);
  CHECK(testing::values(got) == testing::values(expect));  // the same kernels ran: bit-identical

  // Outside the guard nothing more is counted.
  const int before = calls.at("unary");
  (void)gelu(x);
  CHECK(counting_calls().at("unary") == before);
}

TEST_CASE("backward passes reach the guarded backend too") {
  Tensor x = sample({3, 5}, 4).set_requires_grad();
  counting_calls().clear();
  {
    backend::BackendGuard guard("counting");
    Tensor y = sum(silu(x) * x);
    y.backward();
  }
  CHECK(counting_calls().at("unary_backward") == 1);
  CHECK(counting_calls().at("binary") >= 3);  // forward mul, backward muls and the gradient sum
  CHECK(x.grad().defined());
}

TEST_CASE("a kernel a backend lacks is an error naming the op, dtype and backend; a fallback serves it") {
  const backend::BackendId partial = backend::registry().add("partial-test", DeviceType::cpu);
  // It implements only f32 fill, by forwarding to the cpu backend.
  backend::register_kernel<backend::Fill>(partial, DType::f32, backend::kernel_of<backend::Fill>(backend::kCpu, DType::f32));
  const Tensor a = ones({2, 2});
  Tensor z;
  {
    backend::BackendGuard guard(partial);
    z = zeros({2, 2});  // fill f32: present
    const std::string e = testing::error_of([&] { (void)(a + a); });
    CHECK_THAT(e, Catch::Contains("partial-test"));
    CHECK_THAT(e, Catch::Contains("binary"));
    CHECK_THAT(e, Catch::Contains("f32"));
    CHECK_THAT(e, Catch::Contains("(it has: none)"));
    const std::string e2 = testing::error_of([&] { (void)zeros({2}, DType::bf16); });
    CHECK_THAT(e2, Catch::Contains("no fill kernel for dtype bf16"));
    CHECK_THAT(e2, Catch::Contains("(it has: f32)"));
  }
  CHECK(testing::values(z) == std::vector<double>(4, 0.0));  // read back on the cpu backend
  backend::registry().set_fallback(partial, backend::kCpu);
  {
    backend::BackendGuard guard(partial);
    CHECK(testing::values(a + a) == std::vector<double>(4, 2.0));
  }
  backend::registry().set_fallback(partial, backend::kNoBackend);
}

TEST_CASE("the reference backend is reached through the same seam, and differs from cpu where it should") {
  const Tensor x = sample({64, 64}, 5);
  CHECK_FALSE(backend::use_reference());
  {
    backend::ReferenceGuard guard;
    CHECK(backend::use_reference());
    CHECK(backend::current(kCPU) == backend::kReference);
  }
  CHECK(backend::kernel_count(backend::kReference) == backend::kernel_count(backend::kCpu));
  // Both backends registered the same kernels as different functions.
  CHECK(backend::kernel_of<backend::Matmul>(backend::kCpu, DType::f32) !=
        backend::kernel_of<backend::Matmul>(backend::kReference, DType::f32));
  Tensor ref;
  {
    backend::ReferenceGuard guard;
    ref = matmul(x, x);
  }
  CHECK(testing::closeness(matmul(x, x), ref, 1e-4, 1e-4) <= 1.0);
}

TEST_CASE("registry errors: unknown backend names, guards on other devices, full slots") {
  CHECK_THAT(testing::error_of([] { backend::BackendGuard g("no-such-backend"); }),
             Catch::Contains("no backend named 'no-such-backend'"));
  CHECK_THAT(testing::error_of([] { backend::registry().add("counting", DeviceType::cuda); }),
             Catch::Contains("already registered for another device"));
  // A CUDA tensor cannot exist in a CPU-only build, so the lookup for its device says so.
  CHECK_THAT(testing::error_of([] { backend::lookup<backend::Fill>(Device{DeviceType::cuda, 0}, DType::f32); }),
             Catch::Contains("no backend serves device cuda:0"));
}
