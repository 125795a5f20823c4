// The counting backend (counting_backend.hpp). It includes the kernel interface and the registry,
// never an op: it registers, for every kernel and dtype the cpu backend has, a trampoline that counts
// the call and forwards it.
#include "backend/counting_backend.hpp"

#include <catch2/catch.hpp>
#include <molm/backend/cpu/register.hpp>
#include <molm/backend/kernels.hpp>

#include <utility>

namespace molm::testing {
namespace {

template <class K, int D, class Fn> struct Trampoline;
template <class K, int D, class... A> struct Trampoline<K, D, void(A...)> {
  static void run(A... args) {
    ++counting_calls()[K::name];
    backend::kernel_of<K>(backend::kCpu, static_cast<DType>(D))(std::forward<A>(args)...);
  }
};

template <class K, int... D> void wrap(backend::BackendId b, std::integer_sequence<int, D...>) {
  ((backend::kernel_of<K>(backend::kCpu, static_cast<DType>(D))
        ? backend::register_kernel<K>(b, static_cast<DType>(D), &Trampoline<K, D, typename K::Fn>::run)
        : void()),
   ...);
}

backend::BackendId register_counting() {
  backend::register_cpu_backends();  // the kernels it forwards to (idempotent)
  const backend::BackendId b = backend::registry().add("counting", DeviceType::cpu);
  backend::for_each_kernel([&]<class K>() { wrap<K>(b, std::make_integer_sequence<int, backend::kNumDTypes>{}); });
  return b;
}

const backend::BackendId registered_at_start = register_counting();

}  // namespace

std::map<std::string, int>& counting_calls() {
  static std::map<std::string, int> calls;
  return calls;
}

backend::BackendId counting_backend() { return registered_at_start; }

TEST_CASE("the counting backend registered itself at start-up with every kernel the cpu backend has") {
  REQUIRE(counting_backend() != backend::kNoBackend);
  CHECK(backend::registry().info(counting_backend()).name == "counting");
  CHECK(backend::registry().info(counting_backend()).device == DeviceType::cpu);
  CHECK(backend::kernel_count(backend::kCpu) > 100);
  CHECK(backend::kernel_count(counting_backend()) == backend::kernel_count(backend::kCpu));
}

}  // namespace molm::testing
